package tenant

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestHolds(t *testing.T) {
	tn := testTenant()
	pods := int32(10)
	tn.Spec.Quota.Pods = &pods
	desired := desiredQuota(tn, "acme-shop")
	current := func(mutate func(*corev1.ResourceQuota)) client.Object {
		q := &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{
				Name: QuotaName, Namespace: "acme-shop", Labels: tenantLabels(tn),
				ResourceVersion: "42", UID: "server-set",
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "kommerce.io/v1alpha1", Kind: "Tenant", Name: "acme", UID: "uid-acme",
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
		{"value changed", current(func(q *corev1.ResourceQuota) { q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("11") }), false},
		{"limit someone added", current(func(q *corev1.ResourceQuota) { q.Spec.Hard[corev1.ResourceServices] = resource.MustParse("1") }), true},
		{"tenant label removed", current(func(q *corev1.ResourceQuota) { delete(q.Labels, "kommerce.io/tenant") }), false},
		{"owner is another tenant", current(func(q *corev1.ResourceQuota) { q.OwnerReferences[0].UID = "other" }), false},
		{"second owner added", current(func(q *corev1.ResourceQuota) {
			q.OwnerReferences = append(q.OwnerReferences, metav1.OwnerReference{Kind: "X", Name: "y"})
		}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := holds(tt.current, desired)
			if err != nil || got != tt.want {
				t.Errorf("holds = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
