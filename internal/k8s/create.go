package k8s

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/csaupgrade"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CreateOrApply is Apply for a controller that makes many children at once: an
// object that c does not hold yet is created with a plain create instead of an
// apply, which costs the API server less (no patch machinery, no structured merge
// against an empty object). Everything else is as with Apply: the same desired
// state, controller reference, HashAnnotation and FieldManager, and nothing is sent
// when the object already holds desired.
//
// A create records the fields under FieldManager with operation Update, not Apply,
// and an apply would not release fields owned by that Update entry: a field later
// dropped from desired would stay. So before any apply of an existing object (drift
// repair, or desired changed) CreateOrApply reads the object from live (the API
// server: a controller's cache holds no managedFields) and, if FieldManager still
// has an Update entry, moves its fields into FieldManager's Apply entry with one
// JSON patch (the conversion kubectl uses to move client-side-apply objects to
// server-side apply). The apply that follows then owns every field the create set,
// and leaving one out removes it. The patch carries the resourceVersion it was
// computed from; a concurrent change makes it a conflict, which Result requeues.
//
// A create that finds the object already there (the cache had not seen it yet)
// falls back to that same convert-then-apply path.
func CreateOrApply(ctx context.Context, c client.Client, live client.Reader, owner client.Object, desired runtime.ApplyConfiguration) error {
	want, gvk, key, current, err := prepare(ctx, c, owner, desired)
	if err != nil {
		return err
	}
	what := describe(gvk, key)
	if current == nil {
		obj, err := newObject(c.Scheme(), gvk, want)
		if err != nil {
			return fmt.Errorf("encode %s: %w", what, err)
		}
		err = c.Create(ctx, obj, client.FieldOwner(FieldManager))
		if err == nil {
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s: %w", what, err)
		}
	} else if same, err := holds(current, want); err != nil {
		return fmt.Errorf("compare %s: %w", what, err)
	} else if same {
		return nil
	}
	if err := adoptCreatedFields(ctx, c, live, want, key); err != nil {
		return fmt.Errorf("take over the fields %s was created with: %w", what, err)
	}
	u := &unstructured.Unstructured{Object: want}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s: %w", what, err)
	}
	return nil
}

// adoptCreatedFields moves the fields FieldManager holds through an Update entry
// (the create of CreateOrApply) into its Apply entry, reading the object from
// live. It sends nothing when there is no such entry or the object is gone.
func adoptCreatedFields(ctx context.Context, c client.Writer, live client.Reader, want map[string]any, key types.NamespacedName) error {
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion(fmt.Sprint(want["apiVersion"]))
	obj.SetKind(fmt.Sprint(want["kind"]))
	if err := live.Get(ctx, key, obj); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(obj, sets.New(FieldManager), FieldManager)
	if err != nil {
		return fmt.Errorf("compute managedFields patch: %w", err)
	}
	if patch == nil {
		return nil
	}
	if err := c.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		return fmt.Errorf("patch managedFields: %w", err)
	}
	return nil
}

// newObject is want as the typed object of c's scheme when it knows the kind (a
// typed create goes out as protobuf, which the API server decodes and encodes at
// a fraction of JSON's cost), else as a copy in an Unstructured.
func newObject(scheme *runtime.Scheme, gvk schema.GroupVersionKind, want map[string]any) (client.Object, error) {
	if ro, err := scheme.New(gvk); err == nil {
		if obj, ok := ro.(client.Object); ok {
			raw, err := json.Marshal(want)
			if err != nil {
				return nil, err
			}
			if err := json.Unmarshal(raw, obj); err != nil {
				return nil, err
			}
			return obj, nil
		}
	}
	return &unstructured.Unstructured{Object: runtime.DeepCopyJSON(want)}, nil
}
