package training

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// A synthetic shop planted in a real catalog keeps the catalog's ids and its
// clusters: shoppers mostly stay inside one cluster, so a model trained on it
// learns the catalog's own structure.
func TestSyntheticOverACatalog(t *testing.T) {
	var catalog []CatalogItem
	clusterOf := map[string]string{}
	for i := range 120 {
		it := CatalogItem{ID: fmt.Sprintf("prod-%03d", i), Cluster: []string{"shoes", "mugs", "hats"}[i/40]}
		catalog = append(catalog, it)
		clusterOf[it.ID] = it.Cluster
	}
	ds, err := Synthetic{Seed: 3, Users: 300, Catalog: catalog}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ds.Description, "120 products in 3 taste clusters") {
		t.Fatalf("description %q", ds.Description)
	}
	perUser := map[string]map[string]int{}
	for _, in := range ds.Interactions {
		c, ok := clusterOf[in.Item]
		if !ok {
			t.Fatalf("interaction with %q, which is not in the catalog", in.Item)
		}
		if perUser[in.User] == nil {
			perUser[in.User] = map[string]int{}
		}
		perUser[in.User][c]++
	}
	// With taste 0.8 and at most two tastes, the favourite cluster holds well over a
	// third of a shopper's interactions (uniform would be a third).
	var fav, all int
	for _, m := range perUser {
		best := 0
		for _, n := range m {
			best = max(best, n)
			all += n
		}
		fav += best
	}
	if share := float64(fav) / float64(all); share < 0.6 {
		t.Fatalf("favourite-cluster share %.2f, want the planted tastes (> 0.6)", share)
	}

	m, err := TrainALS(ds.Interactions, RecsParams{Factors: 8, Iterations: 6, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Items) != 120 {
		t.Fatalf("model knows %d products, want the catalog's 120", len(m.Items))
	}
}

func TestSyntheticCatalogRefusesRepeatedIDs(t *testing.T) {
	_, err := Synthetic{Seed: 1, Catalog: []CatalogItem{{ID: "a", Cluster: "x"}, {ID: "a", Cluster: "y"}}}.Load(context.Background())
	if err == nil || !strings.Contains(err.Error(), `repeated id "a"`) {
		t.Fatalf("err %v, want the repeated id named", err)
	}
}
