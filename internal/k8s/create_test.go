package k8s_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kommerce/kommerce/internal/k8s"
)

// managers lists an object's field managers as manager/operation.
func managers(o metav1.Object) []string {
	var out []string
	for _, m := range o.GetManagedFields() {
		out = append(out, fmt.Sprintf("%s/%s", m.Manager, m.Operation))
	}
	slices.Sort(out)
	return out
}

// countingCreates wraps f's client so that creates are counted too.
func countingCreates(t *testing.T, f *fixture) (client.Client, *int) {
	t.Helper()
	creates := 0
	c := interceptor.NewClient(mustWithWatch(t, f.c), interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			creates++
			return c.Create(ctx, obj, opts...)
		},
	})
	return c, &creates
}

func mustWithWatch(t *testing.T, c client.Client) client.WithWatch {
	t.Helper()
	w, ok := c.(client.WithWatch)
	if !ok {
		t.Fatalf("%T is not a client.WithWatch", c)
	}
	return w
}

func TestCreateOrApplyCreatesAnAbsentObjectWithoutAnApply(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, creates := countingCreates(t, f)
	if err := k8s.CreateOrApply(ctx, c, f.c, f.owner, f.desired("settings", map[string]string{"currency": "EUR"})); err != nil {
		t.Fatal(err)
	}
	if *creates != 1 || f.applies.Load() != 0 {
		t.Errorf("%d creates and %d applies, want 1 create and no apply", *creates, f.applies.Load())
	}
	got := f.get(t, "settings")
	if got.Data["currency"] != "EUR" || got.Labels["app"] != "shop" || got.Annotations[k8s.HashAnnotation] == "" {
		t.Errorf("created labels %v annotations %v data %v", got.Labels, got.Annotations, got.Data)
	}
	if ref := metav1.GetControllerOf(got); ref == nil || ref.UID != f.owner.UID {
		t.Errorf("owner references %+v, want a controller reference to %s", got.OwnerReferences, f.owner.UID)
	}
	// What a create gives up: its fields are owned through an Update entry.
	if m := managers(got); !slices.Equal(m, []string{k8s.FieldManager + "/Update"}) {
		t.Errorf("field managers %v, want only %s/Update", m, k8s.FieldManager)
	}
	// The next pass recognises the created object as unchanged.
	if err := k8s.CreateOrApply(ctx, c, f.c, f.owner, f.desired("settings", map[string]string{"currency": "EUR"})); err != nil {
		t.Fatal(err)
	}
	if *creates != 1 || f.applies.Load() != 0 {
		t.Errorf("after an unchanged pass: %d creates and %d applies, want 1 and 0", *creates, f.applies.Load())
	}
}

// The property the create must not cost: after a create, a field dropped from the
// desired state is still removed, a drifted one restored, and someone else's kept.
func TestCreateOrApplyStillRemovesAFieldDroppedFromDesired(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	both := map[string]string{"currency": "EUR", "locale": "de-DE"}
	if err := k8s.CreateOrApply(ctx, f.c, f.c, f.owner, f.desired("settings", both)); err != nil {
		t.Fatal(err)
	}
	// Someone edits the object: changes a field the operator owns, adds a label.
	cm := f.get(t, "settings")
	cm.Data["currency"] = "GBP"
	cm.Labels["team"] = "payments"
	if err := f.c.Update(ctx, cm, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	if err := k8s.CreateOrApply(ctx, f.c, f.c, f.owner, f.desired("settings", both)); err != nil {
		t.Fatal(err)
	}
	got := f.get(t, "settings")
	if got.Data["currency"] != "EUR" || got.Data["locale"] != "de-DE" || got.Labels["team"] != "payments" {
		t.Errorf("after drift repair: labels %v data %v", got.Labels, got.Data)
	}
	if m := managers(got); slices.Contains(m, k8s.FieldManager+"/Update") || !slices.Contains(m, k8s.FieldManager+"/Apply") {
		t.Errorf("field managers %v: the create's Update entry was not taken over by the apply", m)
	}
	// The operator stops setting locale: it is removed.
	if err := k8s.CreateOrApply(ctx, f.c, f.c, f.owner, f.desired("settings", map[string]string{"currency": "EUR"})); err != nil {
		t.Fatal(err)
	}
	if got := f.get(t, "settings"); len(got.Data) != 1 || got.Data["currency"] != "EUR" || got.Labels["team"] != "payments" {
		t.Errorf("labels %v data %v: want only currency, and the other manager's label kept", got.Labels, got.Data)
	}
}

// Without drift in between: the first apply after the create is a change of the
// desired state that drops a field, and it is removed too.
func TestCreateOrApplyRemovesAFieldDroppedRightAfterTheCreate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := k8s.CreateOrApply(ctx, f.c, f.c, f.owner, f.desired("settings", map[string]string{"currency": "EUR", "locale": "de-DE"})); err != nil {
		t.Fatal(err)
	}
	if err := k8s.CreateOrApply(ctx, f.c, f.c, f.owner, f.desired("settings", map[string]string{"currency": "EUR"})); err != nil {
		t.Fatal(err)
	}
	got := f.get(t, "settings")
	if len(got.Data) != 1 {
		t.Errorf("data %v: the field no longer desired is still there", got.Data)
	}
	if m := managers(got); !slices.Equal(m, []string{k8s.FieldManager + "/Apply"}) {
		t.Errorf("field managers %v, want only %s/Apply", m, k8s.FieldManager)
	}
}

// The cache may not have seen an object that exists: the create fails with
// AlreadyExists and the object is applied instead.
func TestCreateOrApplyFallsBackToApplyWhenTheObjectExists(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	existing := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: f.ns, Labels: map[string]string{"app": "old"}},
		Data:       map[string]string{"currency": "GBP", "stale": "x"},
	}
	if err := f.c.Create(ctx, existing, client.FieldOwner(k8s.FieldManager)); err != nil {
		t.Fatal(err)
	}
	blind := interceptor.NewClient(mustWithWatch(t, f.c), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*corev1.ConfigMap); ok {
				return apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, key.Name)
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	if err := k8s.CreateOrApply(ctx, blind, f.c, f.owner, f.desired("settings", map[string]string{"currency": "EUR"})); err != nil {
		t.Fatal(err)
	}
	got := f.get(t, "settings")
	if got.Data["currency"] != "EUR" || got.Labels["app"] != "shop" || f.applies.Load() != 1 {
		t.Errorf("labels %v data %v after %d applies", got.Labels, got.Data, f.applies.Load())
	}
	// The object was made with FieldManager's Update entry, which the apply took
	// over: the key the desired state never had is gone.
	if _, ok := got.Data["stale"]; ok {
		t.Errorf("data %v: a field the operator's create set and no longer desires is still there", got.Data)
	}
}

func TestCreateOrApplyRefusesAnInvalidOwner(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	if err := k8s.CreateOrApply(context.Background(), f.c, f.c, other.owner, f.desired("settings", nil)); err == nil {
		t.Fatal("no error for an owner in another namespace")
	}
	var cm corev1.ConfigMap
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "settings"}, &cm); err == nil {
		t.Error("the object was created")
	}
}
