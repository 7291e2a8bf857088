package recs

import (
	"encoding/json"
	"fmt"
	"os"
)

// StaticPopularity is a fixed ranking, e.g. the .popularity.json file `kommerce
// train recommendations` writes next to the model.
type StaticPopularity []string

// Top implements Popularity.
func (p StaticPopularity) Top(n int) []string { return p[:min(n, len(p))] }

// ReadPopularity reads a ranking file: [{"id": "...", "score": ...}, ...], best first.
func ReadPopularity(path string) (StaticPopularity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read popularity ranking: %w", err)
	}
	var ranked []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &ranked); err != nil {
		return nil, fmt.Errorf("popularity ranking %s: %w", path, err)
	}
	p := make(StaticPopularity, 0, len(ranked))
	for _, r := range ranked {
		if r.ID != "" {
			p = append(p, r.ID)
		}
	}
	return p, nil
}
