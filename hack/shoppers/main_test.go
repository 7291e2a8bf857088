package main

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestChoose(t *testing.T) {
	clusterOf := map[string]string{"a": "x", "b": "x", "c": "y"}
	tests := []struct {
		name      string
		items     []string
		pIn, pOut float64
		want      int
	}{
		{"a shopper always clicks the first item of its taste", []string{"c", "b", "a"}, 1, 0, 1},
		{"never an item of another taste", []string{"c"}, 1, 0, -1},
		{"no answer, no click", nil, 1, 1, -1},
		{"any item when every item is clicked", []string{"c", "a"}, 1, 1, 0},
	}
	for _, tt := range tests {
		rng := rand.New(rand.NewPCG(1, 2))
		if got := choose(rng, tt.items, clusterOf, "x", tt.pIn, tt.pOut); got != tt.want {
			t.Errorf("%s: choose = %d; want %d", tt.name, got, tt.want)
		}
	}
}

func TestChooseFollowsTheTaste(t *testing.T) {
	clusterOf := map[string]string{"in": "x", "out": "y"}
	rng := rand.New(rand.NewPCG(3, 4))
	in, out := 0, 0
	for range 2000 {
		if choose(rng, []string{"in"}, clusterOf, "x", 0.3, 0.03) == 0 {
			in++
		}
		if choose(rng, []string{"out"}, clusterOf, "x", 0.3, 0.03) == 0 {
			out++
		}
	}
	if in < 5*out {
		t.Fatalf("%d clicks on items of the taste, %d on others: want the taste to dominate", in, out)
	}
}

func TestShuffledKeepsIDsAndClusterSizes(t *testing.T) {
	c := []Product{{ID: "1", Cluster: "a"}, {ID: "2", Cluster: "a"}, {ID: "3", Cluster: "b"}, {ID: "4", Cluster: "c"}}
	got := shuffled(c, 7)
	var ids, clusters, want []string
	for i, it := range got {
		ids = append(ids, it.ID)
		clusters = append(clusters, it.Cluster)
		want = append(want, c[i].Cluster)
	}
	slices.Sort(clusters)
	slices.Sort(want)
	if !slices.Equal(ids, []string{"1", "2", "3", "4"}) || !slices.Equal(clusters, want) {
		t.Fatalf("shuffled ids %v clusters %v; want the same ids and cluster sizes %v", ids, clusters, want)
	}
}
