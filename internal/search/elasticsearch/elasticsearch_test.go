package elasticsearch_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/internal/events"

	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/elasticsearch"
	"github.com/kommerce/kommerce/internal/search/searchtest"
	"github.com/kommerce/kommerce/internal/testenv"
)

func newBackend(t *testing.T) (*elasticsearch.Backend, string) {
	t.Helper()
	idx := testenv.NewElasticsearchIndex(t)
	b, err := elasticsearch.New(idx.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteIndex(context.Background(), idx.Index) })
	return b, idx.Index
}

func TestConformance(t *testing.T) {
	searchtest.Run(t, func(t *testing.T) (search.Backend, string) { return newBackend(t) })
}

// TestBulkRejectsOneDocument: Elasticsearch refuses a keyword term longer than
// 32766 bytes; that one document is Rejected while the rest of the bulk is written.
func TestBulkRejectsOneDocument(t *testing.T) {
	b, index := newBackend(t)
	ctx := context.Background()
	doc := func(id, color string) search.Document {
		d := search.Document{TenantID: "t", ProductID: id}
		d.ApplyProduct(events.Product{ID: id, Version: 1, Name: "Lamp " + id, Status: "published", Attributes: map[string]string{"color": color}})
		return d
	}
	docs := []search.Document{doc("a", "red"), doc("b", strings.Repeat("x", 40000)), doc("c", "blue")}
	res, err := search.Upsert(ctx, b, index, docs, search.UpsertOptions{CreateFirst: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []search.WriteStatus{search.Written, search.Rejected, search.Written}
	for i, r := range res {
		if r.Status != want[i] {
			t.Fatalf("%s: %v (%v); want %v", r.ID, r.Status, r.Err, want[i])
		}
	}
	if res[1].Err == nil || !strings.Contains(res[1].Err.Error(), "document_parsing_exception") {
		t.Fatalf("rejection should carry the engine's reason, got %v", res[1].Err)
	}
	got, err := b.Get(ctx, index, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["b"]; ok || len(got) != 2 {
		t.Fatalf("stored %d documents; want a and c only", len(got))
	}
}

func TestUnreachableClusterIsUnavailable(t *testing.T) {
	b, err := elasticsearch.New("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = search.NewSearcher(b).Search(ctx, search.Storefront{TenantID: "t", Index: "x"}, search.Query{Text: "lamp"})
	if search.ErrorCode(err) != search.CodeUnavailable {
		t.Fatalf("search on a dead cluster = %v; want unavailable", err)
	}
}
