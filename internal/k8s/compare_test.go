package k8s

import (
	"encoding/json"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestHolds(t *testing.T) {
	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "acme", UID: "uid-shop"}}
	desired := corev1ac.ResourceQuota("quota", "acme").
		WithLabels(map[string]string{"kommerce.io/tenant": "acme"}).
		WithSpec(corev1ac.ResourceQuotaSpec().WithHard(corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")}))
	want, _, _, err := withController(clientgoscheme.Scheme, owner, desired)
	if err != nil {
		t.Fatal(err)
	}
	hash := want["metadata"].(map[string]any)["annotations"].(map[string]any)[HashAnnotation].(string)
	current := func(mutate func(*corev1.ResourceQuota)) client.Object {
		q := &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{
				Name: "quota", Namespace: "acme", Labels: map[string]string{"kommerce.io/tenant": "acme"},
				ResourceVersion: "42", UID: "server-set",
				Annotations: map[string]string{HashAnnotation: hash, "note": "someone's"},
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "ConfigMap", Name: "shop", UID: "uid-shop",
					Controller: ptr(true), BlockOwnerDeletion: ptr(true),
				}},
			},
			Spec:   corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")}},
			Status: corev1.ResourceQuotaStatus{Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")}},
		}
		if mutate != nil {
			mutate(q)
		}
		return q
	}
	tests := []struct {
		name    string
		current client.Object
		want    bool
	}{
		{"identical plus server fields", current(nil), true},
		{"extra label someone added", current(func(q *corev1.ResourceQuota) { q.Labels["team"] = "x" }), true},
		{"limit someone added", current(func(q *corev1.ResourceQuota) { q.Spec.Hard[corev1.ResourceServices] = resource.MustParse("1") }), true},
		{"same quantity written differently", current(func(q *corev1.ResourceQuota) { q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("10000m") }), true},
		{"value changed", current(func(q *corev1.ResourceQuota) { q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("11") }), false},
		{"label removed", current(func(q *corev1.ResourceQuota) { delete(q.Labels, "kommerce.io/tenant") }), false},
		{"no owner reference", current(func(q *corev1.ResourceQuota) { q.OwnerReferences = nil }), false},
		{"owned by another object", current(func(q *corev1.ResourceQuota) { q.OwnerReferences[0].UID = "other" }), false},
		{"not the controller", current(func(q *corev1.ResourceQuota) { q.OwnerReferences[0].Controller = nil }), false},
		{"second owner added", current(func(q *corev1.ResourceQuota) {
			q.OwnerReferences = append(q.OwnerReferences, metav1.OwnerReference{Kind: "X", Name: "y"})
		}), false},
		{"no hash: not applied by the operator", current(func(q *corev1.ResourceQuota) { delete(q.Annotations, HashAnnotation) }), false},
		{"hash of another desired state", current(func(q *corev1.ResourceQuota) { q.Annotations[HashAnnotation] = "0123" }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := holds(tt.current, want)
			if err != nil || got != tt.want {
				t.Errorf("holds = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestWithControllerRefusesAnInvalidOwner(t *testing.T) {
	cm := func(name, ns string) *corev1ac.ConfigMapApplyConfiguration { return corev1ac.ConfigMap(name, ns) }
	tests := []struct {
		name    string
		owner   client.Object
		desired applyConfiguration
	}{
		{"owner in another namespace", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "o", Namespace: "a", UID: "u"}}, cm("x", "b")},
		{"namespaced owner of a cluster-scoped object", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "o", Namespace: "a", UID: "u"}}, corev1ac.Namespace("x")},
		{"owner never read from the server", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "o", Namespace: "a"}}, cm("x", "a")},
		{"owner kind not in the scheme", &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "o", Namespace: "a", UID: "u"}}, cm("x", "a")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := withController(clientgoscheme.Scheme, tt.owner, tt.desired); !errors.Is(err, ErrInvalidOwner) {
				t.Errorf("err = %v, want ErrInvalidOwner", err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// A field the operator stops setting is still in the object, which therefore
// contains the new desired state; only the hash shows the apply must run to remove
// it.
func TestHoldsSeesAFieldNoLongerDesired(t *testing.T) {
	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "acme", UID: "uid-shop"}}
	quota := func(hard corev1.ResourceList) map[string]any {
		want, _, _, err := withController(clientgoscheme.Scheme, owner, corev1ac.ResourceQuota("quota", "acme").
			WithSpec(corev1ac.ResourceQuotaSpec().WithHard(hard)))
		if err != nil {
			t.Fatal(err)
		}
		return want
	}
	before := quota(corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10"), corev1.ResourceServices: resource.MustParse("5")})
	after := quota(corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")})
	// The object as the first apply left it.
	current := &corev1.ResourceQuota{}
	raw, _ := json.Marshal(before)
	if err := json.Unmarshal(raw, current); err != nil {
		t.Fatal(err)
	}
	if same, err := holds(current, before); err != nil || !same {
		t.Fatalf("holds(applied state) = %v, %v; want true", same, err)
	}
	if same, err := holds(current, after); err != nil || same {
		t.Errorf("holds(state without services) = %v, %v; want false", same, err)
	}
}
