package k8s

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// holds reports whether applying want (desired as a JSON object) to current would
// change nothing: current already contains every field of want, and the operator
// owns no field (per current's managed fields) that want no longer sets, which the
// apply would remove. It may answer false for an object an apply would not change
// (an owner reference someone else added, a value the server normalises), which
// costs one no-op apply; it never answers true for an object an apply would change.
func holds(current client.Object, want map[string]any) (bool, error) {
	owned, err := ownedFields(current)
	if err != nil || owned == nil || !setsAll(want, owned) {
		return false, err
	}
	have, err := toJSONMap(current)
	if err != nil {
		return false, err
	}
	for k, v := range want {
		if k == "apiVersion" || k == "kind" {
			continue // typed objects read from a client carry no type meta
		}
		if hv, ok := have[k]; !ok || !subset(v, hv) {
			return false, nil
		}
	}
	return true, nil
}

// subset reports whether want is contained in have: every key of a map in want is
// in have with a contained value; a list must have the same length and contained
// elements, so an element someone added to a list the operator sets is drift too.
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

// ownedFields returns the fields FieldManager applied to obj, as the JSON of its
// managed fields entry (FieldsV1: {"f:data": {"f:currency": {}}, ...}), or nil when
// it applied none (the object was made by someone else, or its managed fields were
// stripped) — then the apply must run to take ownership.
func ownedFields(obj client.Object) (map[string]any, error) {
	for _, m := range obj.GetManagedFields() {
		if m.Manager != FieldManager || m.Operation != metav1.ManagedFieldsOperationApply || m.Subresource != "" || m.FieldsV1 == nil {
			continue
		}
		var owned map[string]any
		if err := json.Unmarshal(m.FieldsV1.Raw, &owned); err != nil {
			return nil, fmt.Errorf("decode managed fields: %w", err)
		}
		return owned, nil
	}
	return nil, nil
}

// setsAll reports whether want still sets every map field of owned. List elements
// (the "k:", "v:" and "i:" entries) are not followed: subset compares whole lists,
// so an element the operator stopped setting already makes the lists differ.
func setsAll(want, owned map[string]any) bool {
	for k, sub := range owned {
		name, ok := strings.CutPrefix(k, "f:")
		if !ok {
			continue
		}
		wv, ok := want[name]
		if !ok {
			return false
		}
		wm, wIsMap := wv.(map[string]any)
		om, oIsMap := sub.(map[string]any)
		if wIsMap && oIsMap && !setsAll(wm, om) {
			return false
		}
	}
	return true
}
