package bleve_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kommerce/kommerce/internal/events"

	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/bleve"
	"github.com/kommerce/kommerce/internal/search/searchtest"
	"github.com/kommerce/kommerce/internal/testenv"
)

func TestConformance(t *testing.T) {
	searchtest.Run(t, func(t *testing.T) (search.Backend, string) {
		b, err := bleve.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b, testenv.Name(t, "test", "-")
	})
}

// TestOlderIndexIsRebuiltOnOpen: an index whose recorded mapping version is older is
// rebuilt (keeping its documents) when the backend opens it.
func TestOlderIndexIsRebuiltOnOpen(t *testing.T) {
	dir := t.TempDir()
	b, err := bleve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d := search.Document{TenantID: "t", ProductID: "p1"}
	d.ApplyProduct(events.Product{ID: "p1", Version: 1, Name: "Desk Lamp", Status: "published"})
	if _, err := search.Upsert(ctx, b, "shop", []search.Document{d}, search.UpsertOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := bleve.SetMappingVersionForTest(b, "shop", "1"); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	b, err = bleve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	res, err := search.NewSearcher(b).Search(ctx, search.Storefront{TenantID: "t", Index: "shop"}, search.Query{Text: "lamp"})
	if err != nil || res.Total != 1 {
		t.Fatalf("after rebuild: %v %+v", err, res)
	}
	if _, err := os.Stat(filepath.Join(dir, "shop", "g000002")); err != nil {
		t.Fatalf("no rebuilt generation: %v", err)
	}
}
