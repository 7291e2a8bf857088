package tenant

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// apply server-side applies obj, unless the cached copy already holds every field of
// it. Most passes change nothing (they are triggered by the operator's own writes or
// by unrelated events), and skipping their no-op applies halves the API calls per
// Tenant. Drift is still repaired: the watch updates the cache, the comparison fails
// and the apply runs.
func (r *Reconciler) apply(ctx context.Context, obj runtime.ApplyConfiguration) error {
	if current, key := cachedCounterpart(obj); current != nil {
		err := r.Client.Get(ctx, key, current)
		switch {
		case err == nil:
			if same, cerr := holds(current, obj); cerr == nil && same {
				return nil
			}
		case !apierrors.IsNotFound(err):
			return fmt.Errorf("read %s: %w", key, err)
		}
	}
	return r.Client.Apply(ctx, obj, client.FieldOwner(FieldManager), client.ForceOwnership)
}

// cachedCounterpart returns an empty typed object to read obj's current state into.
func cachedCounterpart(obj runtime.ApplyConfiguration) (client.Object, types.NamespacedName) {
	key := func(name, ns *string) types.NamespacedName {
		k := types.NamespacedName{Name: *name}
		if ns != nil {
			k.Namespace = *ns
		}
		return k
	}
	switch o := obj.(type) {
	case *corev1ac.NamespaceApplyConfiguration:
		return &corev1.Namespace{}, key(o.Name, nil)
	case *corev1ac.ResourceQuotaApplyConfiguration:
		return &corev1.ResourceQuota{}, key(o.Name, o.Namespace)
	case *corev1ac.LimitRangeApplyConfiguration:
		return &corev1.LimitRange{}, key(o.Name, o.Namespace)
	case *corev1ac.SecretApplyConfiguration:
		return &corev1.Secret{}, key(o.Name, o.Namespace)
	case *networkingv1ac.NetworkPolicyApplyConfiguration:
		return &networkingv1.NetworkPolicy{}, key(o.Name, o.Namespace)
	case *rbacv1ac.RoleApplyConfiguration:
		return &rbacv1.Role{}, key(o.Name, o.Namespace)
	case *rbacv1ac.RoleBindingApplyConfiguration:
		return &rbacv1.RoleBinding{}, key(o.Name, o.Namespace)
	}
	return nil, types.NamespacedName{}
}

// holds reports whether current already contains every field desired sets.
func holds(current client.Object, desired runtime.ApplyConfiguration) (bool, error) {
	have, err := runtime.DefaultUnstructuredConverter.ToUnstructured(current)
	if err != nil {
		return false, err
	}
	raw, err := json.Marshal(desired)
	if err != nil {
		return false, err
	}
	var want map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		return false, err
	}
	delete(want, "apiVersion")
	delete(want, "kind")
	// The converter and encoding/json disagree on number types; compare through JSON.
	raw, err = json.Marshal(have)
	if err != nil {
		return false, err
	}
	var haveJSON map[string]any
	if err := json.Unmarshal(raw, &haveJSON); err != nil {
		return false, err
	}
	return subset(want, haveJSON), nil
}

// subset reports whether want is contained in have: every map key of want is in have
// with a contained value; lists must have the same length and contained elements, so
// an element someone added is drift too.
func subset(want, have any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			hv, ok := h[k]
			if !ok || !subset(wv, hv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !subset(w[i], h[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(want, have)
	}
}
