package features

import (
	"encoding/json"
	"fmt"
)

// Items decodes the product list of a recommendation graph from its metadata
// (MetaItems): index i of RecsInput and RecsOutputItems is product items[i].
func Items(metadata map[string]string) ([]string, error) {
	raw, ok := metadata[MetaItems]
	if !ok {
		return nil, fmt.Errorf("metadata has no %s", MetaItems)
	}
	var items []string
	if err := json.Unmarshal([]byte(raw), &items); err != nil {
		return nil, fmt.Errorf("metadata %s is not a JSON array of product ids: %w", MetaItems, err)
	}
	return items, nil
}

// DecodeItems maps a row of RecsOutputItems back to product ids, best first,
// skipping the products in exclude (the context itself) and stopping at limit. An
// index outside items is an error: the answer came from a model whose product list
// is not the one the caller holds.
func DecodeItems(indices []int64, items []string, exclude map[string]bool, limit int) ([]string, error) {
	out := make([]string, 0, min(limit, len(indices)))
	for _, i := range indices {
		if len(out) == limit {
			break
		}
		if i < 0 || int(i) >= len(items) {
			return nil, fmt.Errorf("index %d outside the model's %d products", i, len(items))
		}
		if id := items[i]; !exclude[id] {
			out = append(out, id)
		}
	}
	return out, nil
}
