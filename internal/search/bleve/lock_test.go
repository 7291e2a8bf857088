package bleve_test

import (
	"context"
	"testing"

	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/bleve"
)

// TestIndexInUseIsUnavailable: an index another holder has open (another process
// on the same data directory) is answered as unavailable after a bounded wait,
// instead of blocking every request for ever; once released it opens.
func TestIndexInUseIsUnavailable(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	first, err := bleve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := search.Document{TenantID: "t", ProductID: "p1"}
	d.ApplyProduct(events.Product{ID: "p1", Version: 1, Name: "Desk Lamp", Status: "published"})
	if _, err := search.Upsert(ctx, first, "shop", []search.Document{d}, search.UpsertOptions{}); err != nil {
		t.Fatal(err)
	}
	second, err := bleve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	q := search.Query{Text: "lamp"}
	sf := search.Storefront{TenantID: "t", Index: "shop"}
	if _, err := search.NewSearcher(second).Search(ctx, sf, q); search.ErrorCode(err) != search.CodeUnavailable {
		t.Fatalf("search of an index in use: %v; want unavailable", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := search.NewSearcher(second).Search(ctx, sf, q)
	if err != nil || res.Total != 1 {
		t.Fatalf("after release: %v %+v", err, res)
	}
}
