// Package k8s is how kommerce controllers write the Kubernetes objects they own.
//
// It exists because every reconciler must write its children the same way: the
// Tenant reconciler today, the Storefront and ModelVersion reconcilers next. Each
// child is applied with server-side apply under one field manager, so the operator
// owns exactly the fields it sets and a user's own labels or fields survive; each
// carries a controller reference to the resource it was made for, so deleting that
// resource lets the garbage collector remove it and Owns() maps its events back;
// and an apply that would change nothing is not sent, so the passes triggered by
// the operator's own writes cost one cache read per child instead of one API call.
// CreateOrApply is the variant for a controller that makes many children at once:
// it creates an absent child with a plain create and keeps the apply semantics for
// every later write.
// Keeping this in one package means a fix to any of the three reaches every
// controller at once.
package k8s

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// FieldManager is the server-side apply field manager of every object the operator
// writes. It never changes: a new name would leave the fields owned by the old one
// behind, and they could then no longer be removed by applying without them.
const FieldManager = "kommerce-operator"

// HashAnnotation holds a hash of the desired state last applied to an object. It
// lets Apply see that desired changed even when the change only removes a field
// (which the object, still holding it, cannot show).
const HashAnnotation = "kommerce.io/desired-hash"

// ErrInvalidOwner means a desired object cannot carry a reference to its owner:
// Kubernetes lets a namespaced owner own only objects in its own namespace. It is a
// bug in the caller's builder, not something a retry fixes.
var ErrInvalidOwner = errors.New("invalid owner")

// applyConfiguration is what client-go's generated apply configurations expose
// about the object they describe.
type applyConfiguration interface {
	runtime.ApplyConfiguration
	GetName() *string
	GetNamespace() *string
	GetKind() *string
	GetAPIVersion() *string
}

// Apply makes desired part of the live object: server-side apply as FieldManager,
// taking over fields another manager holds, with owner set as the object's
// controller. desired is built fresh each pass by a pure function and holds every
// field the operator means to own; a field left out of it is released (and removed
// if no one else owns it).
//
// Before applying, Apply reads the object through c (the manager's cache in a
// controller) and sends nothing when the object already holds every field of
// desired and the HashAnnotation of this very desired state. Drift is still
// repaired: the watch brings the changed object into the cache, the next pass sees
// the difference and applies.
//
// Errors from the API server are wrapped, so apierrors.IsConflict and the like see
// them; Result turns a conflict into a requeue.
func Apply(ctx context.Context, c client.Client, owner client.Object, desired runtime.ApplyConfiguration) error {
	want, gvk, key, current, err := prepare(ctx, c, owner, desired)
	if err != nil {
		return err
	}
	what := describe(gvk, key)
	if current != nil {
		if same, err := holds(current, want); err != nil {
			return fmt.Errorf("compare %s: %w", what, err)
		} else if same {
			return nil
		}
	}
	u := &unstructured.Unstructured{Object: want}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s: %w", what, err)
	}
	return nil
}

// withController returns desired as a JSON object with owner added as its
// controller reference (replacing any reference desired already had to owner) and
// HashAnnotation set.
func withController(scheme *runtime.Scheme, owner client.Object, desired applyConfiguration) (map[string]any, schema.GroupVersionKind, types.NamespacedName, error) {
	var key types.NamespacedName
	if desired.GetName() == nil || desired.GetKind() == nil || desired.GetAPIVersion() == nil {
		return nil, schema.GroupVersionKind{}, key, fmt.Errorf("apply %T: name, kind and apiVersion are required", desired)
	}
	key.Name = *desired.GetName()
	if ns := desired.GetNamespace(); ns != nil {
		key.Namespace = *ns
	}
	gvk := schema.FromAPIVersionAndKind(*desired.GetAPIVersion(), *desired.GetKind())
	ref, err := controllerRef(scheme, owner, key.Namespace)
	if err != nil {
		return nil, gvk, key, fmt.Errorf("apply %s: %w", describe(gvk, key), err)
	}
	obj, err := toJSONMap(desired)
	if err != nil {
		return nil, gvk, key, fmt.Errorf("encode %s: %w", describe(gvk, key), err)
	}
	md, _ := obj["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		obj["metadata"] = md
	}
	refs := []any{ref}
	existing, _ := md["ownerReferences"].([]any)
	for _, r := range existing {
		if m, ok := r.(map[string]any); !ok || m["uid"] != ref["uid"] {
			refs = append(refs, r)
		}
	}
	md["ownerReferences"] = refs
	if err := annotateHash(obj, md); err != nil {
		return nil, gvk, key, fmt.Errorf("hash %s: %w", describe(gvk, key), err)
	}
	return obj, gvk, key, nil
}

// annotateHash sets HashAnnotation in md, the metadata of obj, to a hash of obj.
func annotateHash(obj, md map[string]any) error {
	annotations, _ := md["annotations"].(map[string]any)
	if annotations == nil {
		annotations = map[string]any{}
	}
	delete(annotations, HashAnnotation)
	if len(annotations) == 0 {
		delete(md, "annotations")
	}
	raw, err := json.Marshal(obj) // maps marshal with sorted keys: the same state hashes the same
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	annotations[HashAnnotation] = hex.EncodeToString(sum[:16])
	md["annotations"] = annotations
	return nil
}

// controllerRef is the owner reference that makes owner the controller of an
// object in namespace, as JSON.
func controllerRef(scheme *runtime.Scheme, owner client.Object, namespace string) (map[string]any, error) {
	gvk, err := apiutil.GVKForObject(owner, scheme)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOwner, err)
	}
	switch {
	case owner.GetUID() == "":
		return nil, fmt.Errorf("%w: %s %s has no uid (it was not read from the API server)", ErrInvalidOwner, gvk.Kind, owner.GetName())
	case owner.GetNamespace() != "" && owner.GetNamespace() != namespace:
		return nil, fmt.Errorf("%w: %s %s/%s is namespaced and can only own objects in its own namespace",
			ErrInvalidOwner, gvk.Kind, owner.GetNamespace(), owner.GetName())
	}
	return map[string]any{
		"apiVersion": gvk.GroupVersion().String(), "kind": gvk.Kind,
		"name": owner.GetName(), "uid": string(owner.GetUID()),
		"controller": true, "blockOwnerDeletion": true,
	}, nil
}

// prepare is what Apply and CreateOrApply do first: the desired object with the owner
// as its controller, its kind and key, and the object as c sees it now (nil if absent).
func prepare(ctx context.Context, c client.Client, owner client.Object, desired runtime.ApplyConfiguration) (map[string]any, schema.GroupVersionKind, types.NamespacedName, client.Object, error) {
	var gvk schema.GroupVersionKind
	var key types.NamespacedName
	ac, ok := desired.(applyConfiguration)
	if !ok {
		return nil, gvk, key, nil, fmt.Errorf("apply %T: not a generated apply configuration", desired)
	}
	want, gvk, key, err := withController(c.Scheme(), owner, ac)
	if err != nil {
		return nil, gvk, key, nil, err
	}
	current, err := read(ctx, c, gvk, key)
	if err != nil {
		return nil, gvk, key, nil, fmt.Errorf("read %s: %w", describe(gvk, key), err)
	}
	return want, gvk, key, current, nil
}

// read returns the object's current state through c, or nil when it does not
// exist or its kind is not in c's scheme (then it is simply applied).
func read(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, key types.NamespacedName) (client.Object, error) {
	ro, err := c.Scheme().New(gvk)
	if err != nil {
		return nil, nil //nolint:nilerr // an unknown kind is applied without the check
	}
	obj, ok := ro.(client.Object)
	if !ok {
		return nil, nil
	}
	if err := c.Get(ctx, key, obj); apierrors.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return obj, nil
}

// describe names an object in errors: "ConfigMap shop/settings", "Namespace shop".
func describe(gvk schema.GroupVersionKind, key types.NamespacedName) string {
	if key.Namespace == "" {
		return gvk.Kind + " " + key.Name
	}
	return gvk.Kind + " " + key.String()
}

// toJSONMap encodes v and decodes it as a JSON object, so typed objects, apply
// configurations and numbers all compare in one representation.
func toJSONMap(v any) (map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}
