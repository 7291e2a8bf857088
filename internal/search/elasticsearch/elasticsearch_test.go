package elasticsearch_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
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

// TestRepeatedSearchUsesRequestCache: the same search twice is answered the second
// time from the shards' request cache (its hit count rises), and a write made
// searchable by a refresh is seen at once — the cache never serves older data.
func TestRepeatedSearchUsesRequestCache(t *testing.T) {
	b, index := newBackend(t)
	ctx := context.Background()
	doc := func(id, name string, version int64) search.Document {
		d := search.Document{TenantID: "t", ProductID: id}
		d.ApplyProduct(events.Product{ID: id, Version: version, Name: name, Status: "published"})
		return d
	}
	if _, err := search.Upsert(ctx, b, index, []search.Document{doc("a", "Brass Lamp", 1), doc("b", "Oak Table", 1)}, search.UpsertOptions{CreateFirst: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(ctx, index); err != nil {
		t.Fatal(err)
	}
	s := search.NewSearcher(b)
	sf := search.Storefront{TenantID: "t", Index: index}
	find := func(text string) int64 {
		t.Helper()
		q, err := search.ParseQuery(url.Values{"q": {text}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Search(ctx, sf, q)
		if err != nil {
			t.Fatal(err)
		}
		return res.Total
	}
	hits := func() int64 {
		t.Helper()
		resp, err := http.Get(testenv.ElasticsearchURL(t) + "/" + index + "/_stats/request_cache")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st struct {
			All struct {
				Total struct {
					RequestCache struct {
						HitCount int64 `json:"hit_count"`
					} `json:"request_cache"`
				} `json:"total"`
			} `json:"_all"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st.All.Total.RequestCache.HitCount
	}
	if n := find("lamp"); n != 1 {
		t.Fatalf("first search: %d hits, want 1", n)
	}
	before := hits()
	if n := find("lamp"); n != 1 {
		t.Fatalf("second search: %d hits, want 1", n)
	}
	if after := hits(); after <= before {
		t.Errorf("request cache hit count %d → %d: the repeated search was not served from it", before, after)
	}
	if _, err := search.Upsert(ctx, b, index, []search.Document{doc("c", "Copper Lamp", 1)}, search.UpsertOptions{CreateFirst: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(ctx, index); err != nil {
		t.Fatal(err)
	}
	if n := find("lamp"); n != 2 {
		t.Errorf("after a write and a refresh: %d hits, want 2 (the cache must not keep the old answer)", n)
	}
}
