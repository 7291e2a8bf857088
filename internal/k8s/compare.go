package k8s

import (
	"reflect"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// holds reports whether applying want (desired as a JSON object, carrying its
// HashAnnotation) to current would change nothing: current contains every field of
// want, HashAnnotation included. Containing is not enough on its own: a field the
// operator stops setting is still in current, and only the apply removes it; the
// hash, which changes whenever desired does, catches that. holds may answer false
// for an object an apply would not change (an owner reference someone else added, a
// value the server normalises), which costs one no-op apply; it never answers true
// for an object an apply would change.
func holds(current client.Object, want map[string]any) (bool, error) {
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
