package k8s

import (
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
	current := func(mutate func(*corev1.ResourceQuota)) client.Object {
		q := &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{
				Name: "quota", Namespace: "acme", Labels: map[string]string{"kommerce.io/tenant": "acme"},
				ResourceVersion: "42", UID: "server-set",
				ManagedFields: []metav1.ManagedFieldsEntry{
					managed("kubectl", metav1.ManagedFieldsOperationUpdate, `{"f:metadata":{"f:labels":{"f:team":{}}}}`),
					managed(FieldManager, metav1.ManagedFieldsOperationApply, ownedByOperator),
				},
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
		{"same quantity written differently", current(func(q *corev1.ResourceQuota) { q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("10") }), true},
		{"value changed", current(func(q *corev1.ResourceQuota) { q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("11") }), false},
		{"label removed", current(func(q *corev1.ResourceQuota) { delete(q.Labels, "kommerce.io/tenant") }), false},
		{"no owner reference", current(func(q *corev1.ResourceQuota) { q.OwnerReferences = nil }), false},
		{"owned by another object", current(func(q *corev1.ResourceQuota) { q.OwnerReferences[0].UID = "other" }), false},
		{"not the controller", current(func(q *corev1.ResourceQuota) { q.OwnerReferences[0].Controller = nil }), false},
		{"second owner added", current(func(q *corev1.ResourceQuota) {
			q.OwnerReferences = append(q.OwnerReferences, metav1.OwnerReference{Kind: "X", Name: "y"})
		}), false},
		{"a field the operator applied before and no longer sets", current(func(q *corev1.ResourceQuota) {
			q.Spec.Hard[corev1.ResourceServices] = resource.MustParse("1")
			q.ManagedFields[1] = managed(FieldManager, metav1.ManagedFieldsOperationApply,
				`{"f:spec":{"f:hard":{"f:pods":{},"f:services":{}}},"f:metadata":{"f:labels":{"f:kommerce.io/tenant":{}}}}`)
		}), false},
		{"a label the operator applied before and no longer sets", current(func(q *corev1.ResourceQuota) {
			q.Labels["old"] = "x"
			q.ManagedFields[1] = managed(FieldManager, metav1.ManagedFieldsOperationApply,
				`{"f:spec":{"f:hard":{"f:pods":{}}},"f:metadata":{"f:labels":{"f:kommerce.io/tenant":{},"f:old":{}}}}`)
		}), false},
		{"made by someone else with the same content", current(func(q *corev1.ResourceQuota) { q.ManagedFields = q.ManagedFields[:1] }), false},
		{"the operator only updated it, never applied", current(func(q *corev1.ResourceQuota) {
			q.ManagedFields[1].Operation = metav1.ManagedFieldsOperationUpdate
		}), false},
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

// ownedByOperator is what the API server records for the operator's apply of the
// desired quota in TestHolds.
const ownedByOperator = `{"f:metadata":{"f:labels":{"f:kommerce.io/tenant":{}},"f:ownerReferences":{"k:{\"uid\":\"uid-shop\"}":{}}},"f:spec":{"f:hard":{"f:pods":{}}}}`

func managed(manager string, op metav1.ManagedFieldsOperationType, fields string) metav1.ManagedFieldsEntry {
	return metav1.ManagedFieldsEntry{
		Manager: manager, Operation: op, APIVersion: "v1", FieldsType: "FieldsV1",
		FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)},
	}
}

func ptr[T any](v T) *T { return &v }
