package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/searchtest"
	"github.com/kommerce/kommerce/internal/testenv"
)

// bulkDocs are documents with every kind of field: none, empty and nil slices and
// maps, strings encoding/json escapes (HTML, control characters, U+2028, invalid
// UTF-8), stock without a product.
func bulkDocs() []search.Document {
	odd := "a<b>&\"c\\d\n\t\x01\x1f é 😀 \u2028\u2029 \xff\xfe end"
	full := search.Document{TenantID: "t1", ProductID: "p-full"}
	full.ApplyProduct(events.Product{
		ID: "p-full", Version: 7, Name: odd, Description: "Desc " + odd, Status: "published",
		CategoryIDs: []string{"c1", odd}, Attributes: map[string]string{"Brand": "Acme", "color": odd, "bad key!": "x"},
		Images: []string{"https://img/1.png"},
		Variants: []events.Variant{
			{SKU: "S1", Attributes: map[string]string{"size": "M"}, Prices: []events.Price{{Currency: "USD", Amount: 1999}, {Currency: "eur", Amount: -5}}},
			{SKU: odd, Prices: []events.Price{}},
			{SKU: ""},
		},
		UpdatedAt: time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.FixedZone("x", 3600)),
	})
	full.ApplyStock(events.Stock{SKU: "S1", Available: 3, Version: 2})
	full.ApplyStock(events.Stock{SKU: odd, Available: 0, Version: 9})
	bare := search.Document{TenantID: "t1", ProductID: "p-bare"}
	bare.ApplyProduct(events.Product{ID: "p-bare", Version: 1, Deleted: true})
	empty := search.Document{TenantID: "t1", ProductID: "p-empty"}
	empty.ApplyProduct(events.Product{ID: "p-empty", Version: 1, CategoryIDs: []string{}, Attributes: map[string]string{}, Images: []string{}, Variants: []events.Variant{}})
	stockOnly := search.Document{TenantID: "t1", ProductID: "p-stock"}
	stockOnly.ApplyStock(events.Stock{SKU: "S9", Available: 5, Version: 1})
	return []search.Document{full, bare, empty, stockOnly, {TenantID: "t1", ProductID: "p-nothing"}}
}

// mapBody is the bulk body as it was written before appendMeta and appendSource:
// encoding/json of a map per line.
func mapBody(t testing.TB, writes []search.Write, target string, targetIsAlias bool) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, w := range writes {
		var meta map[string]any
		if w.Rev.Exists() {
			meta = map[string]any{"index": map[string]any{"_index": w.Rev.Index, "_id": w.Doc.ProductID, "if_seq_no": w.Rev.SeqNo, "if_primary_term": w.Rev.PrimaryTerm}}
		} else {
			create := map[string]any{"_index": target, "_id": w.Doc.ProductID}
			if targetIsAlias {
				create["require_alias"] = true
			}
			meta = map[string]any{"create": create}
		}
		if err := enc.Encode(meta); err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(source(w.Doc)); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func appendBody(t testing.TB, writes []search.Write, target string, targetIsAlias bool) []byte {
	var b []byte
	for _, w := range writes {
		b = appendMeta(b, w, target, targetIsAlias)
		var err error
		if b, err = appendSource(b, w.Doc); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func parseLines(t *testing.T, body []byte) []any {
	t.Helper()
	var out []any
	for _, line := range bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")) {
		var v any
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("line %s: %v", line, err)
		}
		out = append(out, v)
	}
	return out
}

// TestBulkBodyMatchesMapEncoding: every line of the written body is the same JSON
// value as encoding/json of the former map, for creates (with and without an alias)
// and conditional index operations.
func TestBulkBodyMatchesMapEncoding(t *testing.T) {
	var writes []search.Write
	for i, d := range bulkDocs() {
		writes = append(writes, search.Write{Doc: d})
		writes = append(writes, search.Write{Doc: d, Rev: search.Rev{Index: "idx-00000" + fmt.Sprint(i), SeqNo: int64(i * 1000), PrimaryTerm: 3}})
	}
	for _, alias := range []bool{true, false} {
		want := mapBody(t, writes, "shop<&>", alias)
		got := appendBody(t, writes, "shop<&>", alias)
		if !reflect.DeepEqual(parseLines(t, got), parseLines(t, want)) {
			t.Fatalf("alias %v: bodies differ:\n%s\nwant\n%s", alias, got, want)
		}
		if !bytes.Contains(got, []byte(`\ufffd`)) || !bytes.Contains(got, []byte(`\u003c`)) || !bytes.Contains(got, []byte(`\u2028`)) {
			t.Fatalf("strings not escaped as encoding/json does:\n%s", got)
		}
	}
	// A time encoding/json refuses is refused here too.
	bad := search.Document{TenantID: "t", ProductID: "p"}
	bad.ApplyProduct(events.Product{ID: "p", Version: 1, UpdatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	if _, err := appendSource(nil, bad); err == nil {
		t.Fatal("year 10000 encoded; encoding/json refuses it")
	}
}

func TestAppendString(t *testing.T) {
	for name, s := range map[string]string{
		"empty": "", "plain": "plain", "control": "\x00\x07\x1f\x7f", "html": "<script>&amp;", "quote and backslash": `"\`,
		"invalid byte": "\xff", "cut rune": "a\xe2\x80", "line separators": "\u2028\u2029\u2027", "multibyte": "日本語 😀", "long": strings.Repeat("é", 100),
	} {
		t.Run(name, func(t *testing.T) {
			want, _ := json.Marshal(s)
			if got := appendString(nil, s); string(got) != string(want) {
				t.Errorf("appendString(%q) = %s; encoding/json writes %s", s, got, want)
			}
		})
	}
}

// TestBulkBodyStoresSameSource indexes the same documents through the former map
// encoding into one index and through writeTo into another, and requires the engine
// to hold the same _source for each.
func TestBulkBodyStoresSameSource(t *testing.T) {
	ctx := context.Background()
	esOld := testenv.NewElasticsearchIndex(t)
	esNew := testenv.NewElasticsearchIndex(t)
	b, err := New(esNew.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteIndex(ctx, esOld.Index); _ = b.DeleteIndex(ctx, esNew.Index) })
	docs := bulkDocs()
	var writes []search.Write
	var ids []string
	for _, d := range docs {
		writes = append(writes, search.Write{Doc: d})
		ids = append(ids, d.ProductID)
	}
	for _, alias := range []string{esOld.Index, esNew.Index} {
		if err := b.EnsureIndex(ctx, alias); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := b.ok(ctx, "bulk", esapi.BulkRequest{Body: bytes.NewReader(mapBody(t, writes, esOld.Index, true)), Refresh: "true"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(`"errors":true`)) {
		t.Fatalf("map body refused: %s", raw)
	}
	res, err := b.writeTo(ctx, esNew.Index, true, writes)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != search.Written {
			t.Fatalf("%s: %v %v", r.ID, r.Status, r.Err)
		}
	}
	sources := func(index string) map[string]any {
		body, _ := json.Marshal(map[string]any{"ids": ids})
		raw, err := b.ok(ctx, "mget", esapi.MgetRequest{Index: index, Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Docs []struct {
				ID     string `json:"_id"`
				Found  bool   `json:"found"`
				Source any    `json:"_source"`
			} `json:"docs"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		for _, d := range out.Docs {
			if !d.Found {
				t.Fatalf("%s not stored in %s", d.ID, index)
			}
			m[d.ID] = d.Source
		}
		return m
	}
	old, cur := sources(esOld.Index), sources(esNew.Index)
	if len(old) != len(docs) || !reflect.DeepEqual(old, cur) {
		t.Fatalf("stored sources differ:\n%v\nwant\n%v", cur, old)
	}
}

// TestBulkFilterKeepsTheRequestError: the answer of writeTo's bulk is filtered to the
// fields it reads; a refused request must still say why.
func TestBulkFilterKeepsTheRequestError(t *testing.T) {
	es := testenv.NewElasticsearchIndex(t)
	b, err := New(es.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.ok(context.Background(), "bulk", esapi.BulkRequest{Body: strings.NewReader("{not json\n"), FilterPath: bulkFilter})
	if err == nil || !strings.Contains(err.Error(), "status 400") || !strings.Contains(err.Error(), "_exception: ") {
		t.Fatalf("got %v; want the engine's error type and reason", err)
	}
}

// BenchmarkBulkBody compares appendMeta/appendSource with the former encoding/json of
// a map per document, on the synthetic catalog of hack/bench/ingest.
func BenchmarkBulkBody(b *testing.B) {
	var writes []search.Write
	for i := range 500 {
		p := searchtest.SyntheticProduct(1, i, 1)
		d := search.Document{TenantID: "t1", ProductID: p.ID}
		d.ApplyProduct(p)
		writes = append(writes, search.Write{Doc: d})
	}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1<<20)
		for b.Loop() {
			buf = appendBody(b, writes, "shop", true)[:0]
		}
		_ = buf
	})
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			mapBody(b, writes, "shop", true)
		}
	})
}
