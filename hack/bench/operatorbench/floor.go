package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/internal/tenantstore"
)

// sameWriter is the floor target 5 names, "the bare writes of the same objects": every
// object a Tenant ends up with under the operator, written with plain calls and no
// controller code. The objects are not built here but copied from one Tenant the
// operator's own reconcile provisioned (capture), with its name, UID and database
// values swapped for each new Tenant's, so they stay the operator's objects as the
// builders change: the seven children with every label, rule and owner reference;
// the finalizer and spec.isolation, written in one patch (the operator's first write
// of a new Tenant); the status with all its conditions; and the Ready Event.
type sameWriter struct {
	c     client.Client
	store tenantstore.Store
	tmpl  template

	events   sync.WaitGroup // Event writes in flight
	mu       sync.Mutex
	eventErr error
}

// template is what capture read, as JSON with the template's identifiers still in.
type template struct {
	name, uid  string
	iso        kv1.TenantIsolation
	finalizers []string
	children   []child // namespace first, then the namespaced objects
	status     string
	events     []eventsv1.Event
}

// child is one object of the template: its kind and its JSON.
type child struct {
	gvk  schema.GroupVersionKind
	json string
}

// childKinds are the kinds a Tenant's namespace holds for it, in creation order.
var childKinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "ResourceQuota"},
	{Version: "v1", Kind: "LimitRange"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
	{Version: "v1", Kind: "Secret"},
}

// capture creates one Tenant, has reconcile provision it, and records what it ended
// up with. The Ready Event is written asynchronously by the recorder, so capture
// waits for it.
func capture(ctx context.Context, c client.Client, w *readyWatch, reconcile writeFunc) (template, error) {
	name := "tmpl-" + runID() + "-000"
	created := benchTenant(name)
	if err := c.Create(ctx, created); err != nil {
		return template{}, err
	}
	if err := reconcile(ctx, created); err != nil {
		return template{}, err
	}
	if _, err := w.wait(ctx, []string{name}, time.Minute); err != nil {
		return template{}, err
	}
	var t kv1.Tenant
	if err := c.Get(ctx, types.NamespacedName{Name: name}, &t); err != nil {
		return template{}, err
	}
	status, err := json.Marshal(t.Status)
	if err != nil {
		return template{}, err
	}
	tm := template{name: name, uid: string(t.UID), iso: t.Spec.Isolation, finalizers: t.Finalizers, status: string(status)}
	if len(t.Status.Namespaces) != 1 {
		return template{}, fmt.Errorf("template tenant has namespaces %v, want one", t.Status.Namespaces)
	}
	ns := t.Status.Namespaces[0]
	objs := []*unstructured.Unstructured{{}}
	objs[0].SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})
	if err := c.Get(ctx, types.NamespacedName{Name: ns}, objs[0]); err != nil {
		return template{}, err
	}
	for _, gvk := range childKinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(ctx, list, client.InNamespace(ns), client.HasLabels{kv1.TenantLabel}); err != nil {
			return template{}, err
		}
		if len(list.Items) == 0 {
			return template{}, fmt.Errorf("template tenant has no %s", gvk.Kind)
		}
		for i := range list.Items {
			objs = append(objs, &list.Items[i])
		}
	}
	for _, o := range objs {
		for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"} {
			unstructured.RemoveNestedField(o.Object, "metadata", f)
		}
		unstructured.RemoveNestedField(o.Object, "status")
		b, err := json.Marshal(o.Object)
		if err != nil {
			return template{}, err
		}
		tm.children = append(tm.children, child{o.GroupVersionKind(), string(b)})
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(tm.events) == 0 {
		var evs eventsv1.EventList
		if err := c.List(ctx, &evs); err != nil {
			return template{}, err
		}
		for _, e := range evs.Items {
			if e.Regarding.UID == t.UID {
				tm.events = append(tm.events, e)
			}
		}
		if time.Now().After(deadline) {
			return template{}, fmt.Errorf("no Event about template tenant %s after 30s", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return tm, nil
}

// write gives name what the template tenant has, overlapping the writes as the
// operator's pass does, so that the floor is not slower for being sequential: after
// the database row, the namespace beside the Tenant patch (finalizer and isolation),
// then the six namespaced children at once, then the status. The Event goes out
// while the worker moves on, as the operator's recorder sends it (wait collects it).
func (s *sameWriter) write(ctx context.Context, t *kv1.Tenant) error {
	t = t.DeepCopy()
	name := t.Name
	rec, err := s.store.Ensure(ctx, tenantstore.Desired{Slug: name, Name: name})
	if err != nil {
		return err
	}
	iso := kv1.TenantIsolation{TenantID: rec.ID, TopicPrefix: rec.TopicPrefix, IndexPrefix: rec.IndexPrefix, RedisPrefix: rec.RedisPrefix}
	// The database values first: a prefix may contain the name.
	swap := strings.NewReplacer(
		s.tmpl.iso.TenantID, iso.TenantID, s.tmpl.iso.TopicPrefix, iso.TopicPrefix,
		s.tmpl.iso.IndexPrefix, iso.IndexPrefix, s.tmpl.iso.RedisPrefix, iso.RedisPrefix,
		s.tmpl.uid, string(t.UID), s.tmpl.name, name)
	objs := make([]client.Object, len(s.tmpl.children))
	for i, ch := range s.tmpl.children {
		// Typed, as the operator writes them: the client sends built-in kinds as
		// protobuf, which the API server decodes for less than JSON.
		ro, err := s.c.Scheme().New(ch.gvk)
		if err != nil {
			return err
		}
		o, ok := ro.(client.Object)
		if !ok {
			return fmt.Errorf("%s is not an object", ch.gvk)
		}
		if err := json.Unmarshal([]byte(swap.Replace(ch.json)), o); err != nil {
			return err
		}
		objs[i] = o
	}
	create := func(o client.Object) error {
		if err := s.c.Create(ctx, o); err != nil {
			return fmt.Errorf("create %s: %w", o.GetObjectKind().GroupVersionKind().Kind, err)
		}
		return nil
	}
	var first errgroup.Group
	first.Go(func() error { return create(objs[0]) })
	first.Go(func() error {
		patch := client.MergeFromWithOptions(t.DeepCopy(), client.MergeFromWithOptimisticLock{})
		t.Finalizers = slices.Clone(s.tmpl.finalizers)
		t.Spec.Isolation = iso
		if err := s.c.Patch(ctx, t, patch); err != nil {
			return fmt.Errorf("patch tenant: %w", err)
		}
		return nil
	})
	if err := first.Wait(); err != nil {
		return err
	}
	var rest errgroup.Group
	for _, o := range objs[1:] {
		rest.Go(func() error { return create(o) })
	}
	if err := rest.Wait(); err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(swap.Replace(s.tmpl.status)), &t.Status); err != nil {
		return err
	}
	now := metav1.Now()
	t.Status.ObservedGeneration = t.Generation
	for i := range t.Status.Conditions {
		t.Status.Conditions[i].ObservedGeneration = t.Generation
		t.Status.Conditions[i].LastTransitionTime = now
	}
	if err := s.c.Status().Update(ctx, t); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	for _, e := range s.tmpl.events {
		ev := &eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: name + "." + runID() + runID(), Namespace: e.Namespace},
			EventTime:  metav1.NewMicroTime(time.Now()), ReportingController: e.ReportingController,
			ReportingInstance: e.ReportingInstance, Action: e.Action, Reason: e.Reason, Note: e.Note, Type: e.Type,
			Regarding: corev1.ObjectReference{
				APIVersion: e.Regarding.APIVersion, Kind: e.Regarding.Kind, Name: name, UID: t.UID, ResourceVersion: t.ResourceVersion,
			},
		}
		s.events.Go(func() {
			if err := s.c.Create(context.WithoutCancel(ctx), ev); err != nil {
				s.mu.Lock()
				s.eventErr = errors.Join(s.eventErr, fmt.Errorf("create event: %w", err))
				s.mu.Unlock()
			}
		})
	}
	return nil
}

// wait returns once every Event write has finished, with their errors.
func (s *sameWriter) wait() error {
	s.events.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eventErr
}
