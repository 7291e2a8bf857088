package tenant

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/kommerce/kommerce/internal/k8s"
)

// secretAt is a Secret ns/s at resourceVersion rv with uid and the desired-state
// hash h ("" for none).
func secretAt(uid, rv, h string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns", UID: types.UID(uid), ResourceVersion: rv}}
	if h != "" {
		s.Annotations = map[string]string{k8s.HashAnnotation: h}
	}
	return s
}

// create runs w's bookkeeping of a create of want that the API server answers
// with got (or err).
func create(w *ownWrites, want, got *corev1.Secret, err error) {
	k := createKeyOf(want)
	p := w.creating(want)
	w.wrote(p, func() {
		if w.creates[k] == p {
			delete(w.creates, k)
		}
	}, got, err)
}

func TestOwnWritesSkipOnlyTheCreateEventOfTheVersionCreated(t *testing.T) {
	tests := []struct {
		name  string
		write func(w *ownWrites) // the create, and whether its event comes before it returns
		event *corev1.Secret
		skip  bool
	}{
		{"the version created",
			func(w *ownWrites) { create(w, secretAt("", "", "h1"), secretAt("a", "10", "h1"), nil) },
			secretAt("a", "10", "h1"), true},
		{"a later version of the same object (changed while the watch was away)",
			func(w *ownWrites) { create(w, secretAt("", "", "h1"), secretAt("a", "10", "h1"), nil) },
			secretAt("a", "11", "h1"), false},
		{"nothing created",
			func(*ownWrites) {},
			secretAt("a", "10", "h1"), false},
		{"the create failed",
			func(w *ownWrites) {
				create(w, secretAt("", "", "h1"), secretAt("", "", "h1"), errors.New("already exists"))
			},
			secretAt("b", "10", "h1"), false},
		{"in flight: the object as it is being created",
			func(w *ownWrites) { w.creating(secretAt("", "", "h1")) },
			secretAt("a", "10", "h1"), true},
		{"in flight: the same name with another desired state",
			func(w *ownWrites) { w.creating(secretAt("", "", "h1")) },
			secretAt("a", "10", "h0"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newOwnWrites()
			tt.write(w)
			p := w.predicate()
			if got := !p.Create(event.CreateEvent{Object: tt.event}); got != tt.skip {
				t.Errorf("create event skipped = %v, want %v", got, tt.skip)
			}
			if tt.skip && !p.Create(event.CreateEvent{Object: tt.event}) {
				// Each write's event is skipped once.
				t.Error("the same event was skipped twice")
			}
		})
	}
}

func TestOwnWritesSkipOnlyTheUpdateEventOfThePatch(t *testing.T) {
	tests := []struct {
		name     string
		from     string // resourceVersion patched from
		result   string // resourceVersion the patch produced ("" in flight)
		err      error
		old, new string // the update event
		skip     bool
	}{
		{"the patch", "10", "11", nil, "10", "11", true},
		{"the patch and a later change in one event (a relist)", "10", "11", nil, "10", "12", false},
		{"another change from the same version (the patch failed)", "10", "", errors.New("conflict"), "10", "11", false},
		{"a change from another version", "10", "11", nil, "11", "12", false},
		{"in flight: the change from the version patched", "10", "", nil, "10", "11", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newOwnWrites()
			k, p := w.patching(secretAt("a", tt.from, ""))
			if tt.result != "" || tt.err != nil {
				w.wrote(p, func() { delete(w.patches, k) }, secretAt("a", tt.result, ""), tt.err)
			}
			pr := w.predicate()
			ev := event.UpdateEvent{ObjectOld: secretAt("a", tt.old, ""), ObjectNew: secretAt("a", tt.new, "")}
			if got := !pr.Update(ev); got != tt.skip {
				t.Errorf("update event skipped = %v, want %v", got, tt.skip)
			}
			if !pr.Delete(event.DeleteEvent{Object: secretAt("a", tt.new, "")}) {
				t.Error("a delete event was dropped; only creates and updates of own writes are")
			}
		})
	}
}

// A write whose event never comes (the object went away before the informer saw
// it) is forgotten after the TTL: the sets hold at most one TTL's worth of writes.
func TestOwnWritesForgetWritesWhoseEventNeverCame(t *testing.T) {
	now := time.Date(2026, 12, 5, 18, 0, 0, 0, time.UTC)
	w := newOwnWrites()
	w.now = func() time.Time { return now }
	for i := range 1000 {
		s := secretAt("", "", "h")
		s.Name = time.Duration(i).String()
		w.creating(s)
		w.patching(secretAt(s.Name, "1", ""))
	}
	if w.len() != 2000 {
		t.Fatalf("%d writes remembered, want 2000", w.len())
	}
	now = now.Add(ownWriteTTL / 2)
	w.creating(secretAt("", "", "h"))
	if w.len() != 2001 {
		t.Fatalf("%d writes remembered half a TTL later, want 2001 (nothing expired yet)", w.len())
	}
	now = now.Add(ownWriteTTL/2 + time.Second)
	w.patching(secretAt("late", "1", ""))
	if got := w.len(); got != 2 {
		t.Errorf("%d writes remembered after the TTL, want 2 (the 2000 old ones forgotten)", got)
	}
	old := secretAt("x", "1", "h")
	old.Name = "0s"
	if !w.predicate().Create(event.CreateEvent{Object: old}) {
		t.Error("the event of a forgotten create was still skipped")
	}
	if w.predicate().Create(event.CreateEvent{Object: secretAt("x", "1", "h")}) {
		t.Error("a create within its TTL was forgotten")
	}
}
