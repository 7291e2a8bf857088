package tenant

import (
	"context"
	"reflect"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/kommerce/kommerce/internal/k8s"
)

// ownWriteTTL is how long a write of the operator is remembered while its watch
// event has not arrived. A watch event normally follows its write within
// milliseconds; one later than this starts a pass, as any event does, which finds
// nothing to do.
const ownWriteTTL = time.Minute

// createKey names an object the operator creates: its Go type (the informers
// deliver the same typed objects), namespace and name.
type createKey struct {
	typ             reflect.Type
	namespace, name string
}

// patchKey names a patch: the object and the resourceVersion it was patched from.
type patchKey struct {
	uid  types.UID
	from string
}

// pending is one write whose event has not come yet.
type pending struct {
	until time.Time
	// rv is the resourceVersion the write produced, "" while the write is in flight.
	rv string
	// hash is a created object's k8s.HashAnnotation: what it was created with.
	hash string
}

// ownWrites remembers the operator's own creates and patches until their watch
// event arrives, so that event does not start a pass. A new Tenant's pass creates
// its children and adds its finalizer; each of those writes used to come back as an
// event that queued a second pass, which read every child from the cache, compared
// it, ran the row's transaction again and found nothing to do.
//
// A write is registered before it is sent (its event may reach the informer before
// the response reaches the writer) and forgotten when it fails. Once it returned,
// only the exact version it produced is skipped: the create event carrying the
// created resourceVersion, the update event from the version patched to the version
// written. While it is in flight, the create event of that object with the hash of
// what is being created, or the update event from the version being patched, is
// skipped. A change by anyone else is another version and starts a pass as before,
// and so does the operator's own apply of a drifted object (applies are not
// recorded).
//
// Skipping is safe because the pass that wrote carried on from what it wrote: the
// Tenant patch returns the stored Tenant, which the pass goes on with, and a created
// child is the desired object. If the write failed — say another writer's event,
// skipped while the write was in flight, is why it failed — the pass fails or falls
// back to an apply, and is requeued or writes again; it does not rely on the event.
type ownWrites struct {
	mu      sync.Mutex
	now     func() time.Time
	ttl     time.Duration
	creates map[createKey]*pending
	patches map[patchKey]*pending
	sweepAt time.Time
}

func newOwnWrites() *ownWrites {
	return &ownWrites{now: time.Now, ttl: ownWriteTTL, creates: map[createKey]*pending{}, patches: map[patchKey]*pending{}}
}

func createKeyOf(o client.Object) createKey {
	return createKey{reflect.TypeOf(o), o.GetNamespace(), o.GetName()}
}

// sweep drops writes whose event has not come within the TTL, at most once per
// TTL, so the sets hold at most one TTL's worth of writes. Called with mu held.
func (w *ownWrites) sweep(now time.Time) {
	if now.Before(w.sweepAt) {
		return
	}
	for k, p := range w.creates {
		if now.After(p.until) {
			delete(w.creates, k)
		}
	}
	for k, p := range w.patches {
		if now.After(p.until) {
			delete(w.patches, k)
		}
	}
	w.sweepAt = now.Add(w.ttl)
}

// creating registers the create of o about to be sent.
func (w *ownWrites) creating(o client.Object) *pending {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	w.sweep(now)
	p := &pending{until: now.Add(w.ttl), hash: o.GetAnnotations()[k8s.HashAnnotation]}
	w.creates[createKeyOf(o)] = p
	return p
}

// patching registers the patch of o (at its current resourceVersion) about to be
// sent; nothing when o has no uid or resourceVersion.
func (w *ownWrites) patching(o client.Object) (patchKey, *pending) {
	k := patchKey{o.GetUID(), o.GetResourceVersion()}
	if k.uid == "" || k.from == "" {
		return k, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	w.sweep(now)
	p := &pending{until: now.Add(w.ttl)}
	w.patches[k] = p
	return k, p
}

// wrote records how a registered write ended: the version it produced, or its
// failure (then it is forgotten). An event the write's registration already
// skipped is not brought back.
func (w *ownWrites) wrote(p *pending, forget func(), o client.Object, err error) {
	if p == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil || o.GetResourceVersion() == "" {
		forget()
		return
	}
	p.rv = o.GetResourceVersion()
}

// created reports whether o, seen created by the informer, is a create of the
// operator, and forgets it then.
func (w *ownWrites) created(o client.Object) bool {
	if o == nil {
		return false
	}
	k := createKeyOf(o)
	w.mu.Lock()
	defer w.mu.Unlock()
	p, ok := w.creates[k]
	if !ok {
		return false
	}
	if p.rv != "" && p.rv != o.GetResourceVersion() || p.rv == "" && p.hash != o.GetAnnotations()[k8s.HashAnnotation] {
		return false
	}
	delete(w.creates, k)
	return true
}

// patched reports whether the update from old to o is a patch of the operator, and
// forgets it then.
func (w *ownWrites) patched(old, o client.Object) bool {
	if old == nil || o == nil {
		return false
	}
	k := patchKey{o.GetUID(), old.GetResourceVersion()}
	w.mu.Lock()
	defer w.mu.Unlock()
	p, ok := w.patches[k]
	if !ok || p.rv != "" && p.rv != o.GetResourceVersion() {
		return false
	}
	delete(w.patches, k)
	return true
}

// len is how many writes are remembered.
func (w *ownWrites) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.creates) + len(w.patches)
}

// predicate drops the create and update events of the operator's own writes. It
// must come first among a watch's predicates, so that it sees (and forgets) every
// such write even when a later predicate would drop the event anyway.
func (w *ownWrites) predicate() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return !w.created(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool { return !w.patched(e.ObjectOld, e.ObjectNew) },
	}
}

// recordingClient is the operator's client with its creates and patches registered
// in own. Status writes are not: specOrLifecycleChanged drops their events.
type recordingClient struct {
	client.Client
	own *ownWrites
}

// Create implements client.Writer.
func (c recordingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	k := createKeyOf(obj)
	p := c.own.creating(obj)
	err := c.Client.Create(ctx, obj, opts...)
	c.own.wrote(p, func() {
		if c.own.creates[k] == p {
			delete(c.own.creates, k)
		}
	}, obj, err)
	return err
}

// Patch implements client.Writer.
func (c recordingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	k, p := c.own.patching(obj)
	err := c.Client.Patch(ctx, obj, patch, opts...)
	c.own.wrote(p, func() {
		if c.own.patches[k] == p {
			delete(c.own.patches, k)
		}
	}, obj, err)
	return err
}
