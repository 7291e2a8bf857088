package searchtest

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/search"
)

// Factory returns the backend under test and a fresh index name (alias) owned by t;
// the backend must delete that index when t ends.
type Factory func(t *testing.T) (search.Backend, string)

// Run runs the whole conformance suite.
func Run(t *testing.T, newBackend Factory) {
	t.Run("RevisionContract", func(t *testing.T) { testRevisions(t, newBackend) })
	t.Run("MissingIndex", func(t *testing.T) { testMissingIndex(t, newBackend) })
	t.Run("RejectsBadIndexName", func(t *testing.T) { testBadIndexName(t, newBackend) })
	t.Run("Reindex", func(t *testing.T) { testReindex(t, newBackend) })
	t.Run("ReindexWhileWriting", func(t *testing.T) { testReindexWhileWriting(t, newBackend) })
	t.Run("UpsertConverges", func(t *testing.T) { testUpsert(t, newBackend) })

	// The relevance sanity set shares one loaded catalog.
	b, index := newBackend(t)
	load(t, b, index)
	s := search.NewSearcher(b)
	t.Run("Relevance", func(t *testing.T) { testRelevance(t, s, index) })
	t.Run("Facets", func(t *testing.T) { testFacets(t, s, index) })
	t.Run("Filters", func(t *testing.T) { testFilters(t, s, index) })
	t.Run("Sorting", func(t *testing.T) { testSorting(t, s, index) })
	t.Run("Paging", func(t *testing.T) { testPaging(t, s, index) })
	t.Run("Highlights", func(t *testing.T) { testHighlights(t, s, index) })
	t.Run("Suggest", func(t *testing.T) { testSuggest(t, s, index) })
	t.Run("TenantIsolation", func(t *testing.T) { testTenantIsolation(t, s, index) })
	t.Run("StockAndVersions", func(t *testing.T) { testStockAndVersions(t, b, s, index) })
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// load writes the fixture catalog plus one product of another tenant.
func load(t *testing.T, b search.Backend, index string) {
	t.Helper()
	if err := b.EnsureIndex(ctx(t), index); err != nil {
		t.Fatalf("ensure index: %v", err)
	}
	var writes []search.Write
	for _, p := range catalog {
		writes = append(writes, search.Write{Doc: p.document()})
	}
	other := fixtureProduct{id: "x01", name: "Desk Lamp Deluxe", desc: "Another tenant's lamp.", cats: []string{"lighting"}, attrs: map[string]string{"brand": "lumen"}, usd: 100, stock: 9, day: 1}
	od := search.Document{TenantID: OtherTenant, ProductID: other.id}
	od.ApplyProduct(other.product(1))
	writes = append(writes, search.Write{Doc: od})
	mustWrite(t, b, index, writes)
}

func mustWrite(t *testing.T, b search.Backend, index string, writes []search.Write) {
	t.Helper()
	res, err := b.Write(ctx(t), index, writes)
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	for _, r := range res {
		if r.Status != search.Written {
			t.Fatalf("write %s: %s %v", r.ID, r.Status, r.Err)
		}
	}
	if err := b.Refresh(ctx(t), index); err != nil {
		t.Fatalf("refresh: %v", err)
	}
}

func sf(index string, st search.Settings) search.Storefront {
	return search.Storefront{TenantID: Tenant, Index: index, Settings: st}
}

func run(t *testing.T, s *search.Searcher, index string, st search.Settings, params string) *search.Result {
	t.Helper()
	v, err := url.ParseQuery(params)
	if err != nil {
		t.Fatalf("bad test params %q: %v", params, err)
	}
	q, err := search.ParseQuery(v)
	if err != nil {
		t.Fatalf("parse %q: %v", params, err)
	}
	res, err := s.Search(ctx(t), sf(index, st), q)
	if err != nil {
		t.Fatalf("search %q: %v", params, err)
	}
	return res
}

func ids(res *search.Result) []string {
	out := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		out[i] = h.ID
	}
	return out
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}

func testRevisions(t *testing.T, newBackend Factory) {
	b, index := newBackend(t)
	if err := b.EnsureIndex(ctx(t), index); err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureIndex(ctx(t), index); err != nil {
		t.Fatalf("second EnsureIndex must be a no-op: %v", err)
	}
	doc := catalog[0].document()
	res, err := b.Write(ctx(t), index, []search.Write{{Doc: doc}, {Doc: doc}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != search.Written || res[1].Status != search.Conflict {
		t.Fatalf("create twice in one request = %v, %v; want written, conflict", res[0].Status, res[1].Status)
	}
	got, err := b.Get(ctx(t), index, []string{doc.ProductID, "nope"})
	if err != nil {
		t.Fatal(err)
	}
	st, ok := got[doc.ProductID]
	if !ok || !st.Rev.Exists() {
		t.Fatalf("get after write: %+v", got)
	}
	if _, ok := got["nope"]; ok {
		t.Fatal("a missing id must be absent from Get")
	}
	if st.Doc.Product == nil || st.Doc.Product.Name != doc.Product.Name || st.Doc.Stock[sku("p01")].Available != 5 {
		t.Fatalf("stored document differs: %+v", st.Doc)
	}
	// A write based on the current revision wins; one based on the old one loses.
	next := st.Doc.Clone()
	p := *next.Product
	p.Version, p.Name = 2, "Desk Lamp v2"
	next.ApplyProduct(p)
	res, _ = b.Write(ctx(t), index, []search.Write{{Doc: next, Rev: st.Rev}})
	if res[0].Status != search.Written {
		t.Fatalf("write at current revision: %v %v", res[0].Status, res[0].Err)
	}
	res, _ = b.Write(ctx(t), index, []search.Write{{Doc: doc, Rev: st.Rev}})
	if res[0].Status != search.Conflict {
		t.Fatalf("write at stale revision = %v; want conflict", res[0].Status)
	}
	got, _ = b.Get(ctx(t), index, []string{doc.ProductID})
	if n := got[doc.ProductID].Doc.Product.Name; n != "Desk Lamp v2" {
		t.Fatalf("name after stale write = %q; the stale write must not apply", n)
	}
}

func testMissingIndex(t *testing.T, newBackend Factory) {
	b, index := newBackend(t)
	res, err := search.NewSearcher(b).Search(ctx(t), sf(index, search.Settings{}), search.Query{Text: "lamp"})
	if err != nil {
		t.Fatalf("search on a storefront without an index: %v", err)
	}
	if res.Total != 0 || len(res.Hits) != 0 {
		t.Fatalf("got %d hits from a missing index", res.Total)
	}
	got, err := b.Get(ctx(t), index, []string{"p01"})
	if err != nil || len(got) != 0 {
		t.Fatalf("get on missing index = %v, %v", got, err)
	}
}

func testBadIndexName(t *testing.T, newBackend Factory) {
	b, _ := newBackend(t)
	for _, name := range []string{"", "UPPER", "a/b", "_x", "a b", strings.Repeat("a", 300)} {
		if err := b.EnsureIndex(ctx(t), name); search.ErrorCode(err) != search.CodeInvalid {
			t.Errorf("EnsureIndex(%q) = %v; want invalid_argument", name, err)
		}
	}
}

func testReindex(t *testing.T, newBackend Factory) {
	b, index := newBackend(t)
	load(t, b, index)
	before, _ := b.Get(ctx(t), index, []string{"p03"})
	if err := b.Reindex(ctx(t), index); err != nil {
		t.Fatalf("reindex: %v", err)
	}
	if err := b.Refresh(ctx(t), index); err != nil {
		t.Fatal(err)
	}
	s := search.NewSearcher(b)
	if got := sorted(ids(run(t, s, index, search.Settings{}, "q=lamp"))); !slices.Equal(got, []string{"p01", "p02"}) {
		t.Fatalf("after reindex, lamp = %v", got)
	}
	if res := run(t, s, index, search.Settings{}, "limit=100"); res.Total != int64(len(visibleIDs)) {
		t.Fatalf("after reindex %d visible products; want %d", res.Total, len(visibleIDs))
	}
	// A revision read before the reindex must not be accepted afterwards.
	stale := before["p03"]
	d := stale.Doc.Clone()
	p := *d.Product
	p.Version, p.Name = 9, "Stale Jacket"
	d.ApplyProduct(p)
	res, err := b.Write(ctx(t), index, []search.Write{{Doc: d, Rev: stale.Rev}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != search.Conflict {
		t.Fatalf("write with a pre-reindex revision = %v; want conflict", res[0].Status)
	}
	// Writes at the new revision work.
	cur, _ := b.Get(ctx(t), index, []string{"p03"})
	res, _ = b.Write(ctx(t), index, []search.Write{{Doc: d, Rev: cur["p03"].Rev}})
	if res[0].Status != search.Written {
		t.Fatalf("write after reindex: %v %v", res[0].Status, res[0].Err)
	}
	_ = b.Refresh(ctx(t), index)
	if got := ids(run(t, s, index, search.Settings{}, "q=stale")); !slices.Equal(got, []string{"p03"}) {
		t.Fatalf("updated product after reindex: %v", got)
	}
	if err := b.Reindex(ctx(t), index); err != nil {
		t.Fatalf("second reindex: %v", err)
	}
	_ = b.Refresh(ctx(t), index)
	if got := ids(run(t, s, index, search.Settings{}, "q=stale")); !slices.Equal(got, []string{"p03"}) {
		t.Fatalf("after second reindex: %v", got)
	}
}

func testRelevance(t *testing.T, s *search.Searcher, index string) {
	none := search.Settings{}
	syn := search.Settings{Synonyms: [][]string{{"tee", "t-shirt", "tshirt"}, {"couch", "sofa"}}}
	tests := []struct {
		name     string
		settings search.Settings
		params   string
		want     []string // as a set
		first    string   // if set, must rank first
	}{
		{name: "exact word", params: "q=lamp", want: []string{"p01", "p02"}},
		{name: "case and punctuation", params: "q=LAMP!", want: []string{"p01", "p02"}},
		{name: "two words all required", params: "q=desk+lamp", want: []string{"p01"}},
		{name: "typo substitution", params: "q=lanp", want: []string{"p01", "p02"}},
		{name: "typo deletion", params: "q=jackt", want: []string{"p03", "p04"}},
		{name: "two typos in a long word", params: "q=snekaers", want: []string{"p05"}},
		{name: "short words need exact", params: "q=oa", want: nil},
		{name: "exact beats typo", params: "q=boot", want: []string{"p06", "p08"}, first: "p06"},
		{name: "word in names", params: "q=desk", want: []string{"p01", "p10", "p12"}},
		{name: "name outranks description", params: "q=hiking", want: []string{"p04", "p06"}, first: "p06"},
		{name: "description boosted", settings: search.Settings{FieldBoosts: map[string]float64{"description": 10}}, params: "q=hiking", want: []string{"p04", "p06"}, first: "p04"},
		{name: "attribute value", params: "q=yellow", want: []string{"p04"}},
		{name: "brand", params: "q=peak", want: []string{"p04", "p05", "p06"}},
		{name: "no synonyms configured", settings: none, params: "q=tee", want: nil},
		{name: "synonym word", settings: syn, params: "q=tee", want: []string{"p07"}},
		{name: "synonym other way", settings: syn, params: "q=couch", want: []string{"p09"}},
		{name: "synonym phrase", settings: syn, params: "q=tshirt", want: []string{"p07"}},
		{name: "sku", params: "q=SKU-p05", want: []string{"p05"}},
		{name: "drafts and deleted never found", params: "q=secret", want: nil},
		{name: "deleted never found", params: "q=retired", want: nil},
		{name: "boost acme", settings: search.Settings{Boosts: []search.Boost{{Attribute: "brand=acme", Weight: 10}}}, params: "q=jacket", want: []string{"p03", "p04"}, first: "p03"},
		{name: "boost peak", settings: search.Settings{Boosts: []search.Boost{{Attribute: "brand=peak", Weight: 10}}}, params: "q=jacket", want: []string{"p03", "p04"}, first: "p04"},
		{name: "boost category", settings: search.Settings{Boosts: []search.Boost{{Category: "furniture", Weight: 10}}}, params: "q=desk", want: []string{"p01", "p10", "p12"}, first: "p10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, s, index, tt.settings, tt.params)
			got := sorted(ids(res))
			if !slices.Equal(got, sorted(tt.want)) {
				t.Fatalf("hits %v; want %v", ids(res), tt.want)
			}
			if res.Total != int64(len(tt.want)) {
				t.Fatalf("total %d; want %d", res.Total, len(tt.want))
			}
			if tt.first != "" && res.Hits[0].ID != tt.first {
				t.Fatalf("first hit %s; want %s (order %v)", res.Hits[0].ID, tt.first, ids(res))
			}
		})
	}
	// A word found only in descriptions still matches.
	res := run(t, s, index, none, "q=light")
	if got := sorted(ids(res)); !slices.Equal(got, []string{"p02", "p05"}) {
		t.Fatalf("light = %v; want p02 and p05, whose descriptions say light", ids(res))
	}
}

func testFacets(t *testing.T, s *search.Searcher, index string) {
	res := run(t, s, index, search.Settings{}, "")
	wantCats := []search.FacetValue{fv("apparel", 3), fv("outdoor", 3), fv("footwear", 2), fv("furniture", 2), fv("lighting", 2), fv("kitchen", 1), fv("office", 1)}
	if !slices.Equal(res.Facets.Categories, wantCats) {
		t.Errorf("category facets %v; want %v", res.Facets.Categories, wantCats)
	}
	wantBrand := []search.FacetValue{fv("acme", 4), fv("peak", 3), fv("casa", 2), fv("lumen", 2), fv("marina", 1)}
	if !slices.Equal(res.Facets.Attributes["brand"], wantBrand) {
		t.Errorf("brand facets %v; want %v", res.Facets.Attributes["brand"], wantBrand)
	}
	wantColor := []search.FacetValue{fv("black", 3), fv("brown", 3), fv("white", 3), fv("blue", 1), fv("silver", 1), fv("yellow", 1)}
	if !slices.Equal(res.Facets.Attributes["color"], wantColor) {
		t.Errorf("color facets %v; want %v", res.Facets.Attributes["color"], wantColor)
	}
	if res.Facets.InStock != 9 || res.Facets.OutOfStock != 3 {
		t.Errorf("stock facets %d/%d; want 9/3", res.Facets.InStock, res.Facets.OutOfStock)
	}
	// Facets follow the query and filters.
	res = run(t, s, index, search.Settings{}, "q=jacket")
	if !slices.Equal(res.Facets.Categories, []search.FacetValue{fv("apparel", 2), fv("outdoor", 1)}) {
		t.Errorf("jacket category facets %v", res.Facets.Categories)
	}
	if res.Facets.InStock != 2 || res.Facets.OutOfStock != 0 {
		t.Errorf("jacket stock facets %d/%d; want 2/0", res.Facets.InStock, res.Facets.OutOfStock)
	}
}

func testFilters(t *testing.T, s *search.Searcher, index string) {
	tests := []struct {
		params string
		want   []string
	}{
		{"category=outdoor", []string{"p04", "p06", "p08"}},
		{"category=outdoor,footwear", []string{"p04", "p05", "p06", "p08"}},
		{"category=outdoor&category=footwear", []string{"p04", "p05", "p06", "p08"}},
		{"attr.brand=peak&attr.color=white", []string{"p05"}},
		{"attr.color=black&attr.color=white", []string{"p01", "p02", "p03", "p05", "p07", "p12"}},
		{"min_price=9900&max_price=15900", []string{"p04", "p05", "p06"}},
		{"max_price=1500", []string{"p07"}},
		{"currency=EUR&min_price=0", []string{"p01", "p03", "p07"}},
		{"currency=eur&max_price=3200", []string{"p01", "p07"}},
		{"in_stock=false", []string{"p02", "p06", "p10"}},
		{"in_stock=true&category=furniture", []string{"p09"}},
		{"q=lamp&in_stock=true", []string{"p01"}},
		{"category=nope", nil},
	}
	for _, tt := range tests {
		t.Run(tt.params, func(t *testing.T) {
			res := run(t, s, index, search.Settings{}, tt.params+"&limit=100")
			if got := sorted(ids(res)); !slices.Equal(got, sorted(tt.want)) {
				t.Fatalf("hits %v; want %v", got, tt.want)
			}
		})
	}
}

func testSorting(t *testing.T, s *search.Searcher, index string) {
	byPrice := []string{"p07", "p12", "p01", "p02", "p05", "p04", "p06", "p03", "p11", "p10", "p08", "p09"}
	tests := []struct {
		params string
		want   []string
	}{
		{"sort=price_asc", byPrice},
		{"sort=price_desc", reversed(byPrice)},
		{"sort=newest", reversed(visibleIDs)},
		{"sort=name", []string{"p07", "p01", "p12", "p11", "p02", "p06", "p03", "p09", "p10", "p04", "p08", "p05"}},
		{"sort=price_asc&currency=EUR", []string{"p07", "p01", "p03"}},
	}
	for _, tt := range tests {
		t.Run(tt.params, func(t *testing.T) {
			res := run(t, s, index, search.Settings{}, tt.params+"&limit=100")
			if got := ids(res); !slices.Equal(got, tt.want) {
				t.Fatalf("order %v; want %v", got, tt.want)
			}
		})
	}
	res := run(t, s, index, search.Settings{}, "sort=price_asc&limit=1")
	if res.Hits[0].Price == nil || *res.Hits[0].Price != (events.Price{Currency: "USD", Amount: 1500}) {
		t.Fatalf("price of cheapest hit %+v", res.Hits[0].Price)
	}
}

func reversed(s []string) []string {
	c := slices.Clone(s)
	slices.Reverse(c)
	return c
}

func testPaging(t *testing.T, s *search.Searcher, index string) {
	for _, base := range []string{"sort=price_asc", "sort=name", "sort=newest", "", "q=desk", "sort=price_desc&in_stock=true"} {
		t.Run("pages of "+base, func(t *testing.T) {
			all := ids(run(t, s, index, search.Settings{}, base+"&limit=100"))
			var paged []string
			params := base + "&limit=5"
			for page := 0; ; page++ {
				if page > 10 {
					t.Fatal("paging does not end")
				}
				res := run(t, s, index, search.Settings{}, params)
				paged = append(paged, ids(res)...)
				if res.Total != int64(len(all)) {
					t.Fatalf("total %d on page %d; want %d", res.Total, page, len(all))
				}
				if res.NextCursor == "" {
					break
				}
				params = base + "&limit=5&cursor=" + url.QueryEscape(res.NextCursor)
			}
			if base == "" || strings.HasPrefix(base, "q=") {
				// Relevance order may tie; the pages must still cover every hit once.
				if !slices.Equal(sorted(paged), sorted(all)) {
					t.Fatalf("paged %v; want the set %v", paged, all)
				}
				return
			}
			if !slices.Equal(paged, all) {
				t.Fatalf("paged %v; want %v", paged, all)
			}
		})
	}
	// A cursor only fits its own query.
	res := run(t, s, index, search.Settings{}, "sort=price_asc&limit=2")
	q := search.Query{Sort: search.SortName, Limit: 2, Cursor: res.NextCursor}
	if _, err := s.Search(ctx(t), sf(index, search.Settings{}), q); search.ErrorCode(err) != search.CodeInvalid {
		t.Fatalf("cursor of another query: %v; want invalid_argument", err)
	}
}

func testHighlights(t *testing.T, s *search.Searcher, index string) {
	res := run(t, s, index, search.Settings{}, "q=lanp&attr.brand=lumen")
	if len(res.Hits) != 1 || res.Hits[0].Highlights["name"] != "Desk <em>Lamp</em>" {
		t.Fatalf("typo highlight: %+v", res.Hits)
	}
	if got := res.Hits[0].Highlights["description"]; got != "A bright LED <em>lamp</em> for your desk." {
		t.Fatalf("description highlight %q", got)
	}
	res = run(t, s, index, search.Settings{}, "q=espresso")
	want := "Brews café-quality <em>espresso</em> &amp; more &lt;fast&gt;."
	if len(res.Hits) != 1 || res.Hits[0].Highlights["description"] != want {
		t.Fatalf("escaped highlight: %+v; want %q", res.Hits, want)
	}
	syn := search.Settings{Synonyms: [][]string{{"tee", "t-shirt"}}}
	res = run(t, s, index, syn, "q=tee")
	if len(res.Hits) != 1 || res.Hits[0].Highlights["name"] != "Cotton <em>T</em>-<em>Shirt</em>" {
		t.Fatalf("synonym highlight: %+v", res.Hits)
	}
}

func testSuggest(t *testing.T, s *search.Searcher, index string) {
	tests := []struct {
		text string
		want []string
	}{
		{"des", []string{"Desk Lamp", "Desk Organizer", "Oak Desk"}},
		{"desk l", []string{"Desk Lamp"}},
		{"dsk lam", []string{"Desk Lamp"}},
		{"leath", []string{"Leather Jacket", "Leather Sofa"}},
		{"zzz", nil},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got, err := s.Suggest(ctx(t), sf(index, search.Settings{}), search.SuggestQuery{Text: tt.text})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, g := range got {
				names = append(names, g.Text)
				if !strings.Contains(g.Highlighted, "<em>") {
					t.Errorf("suggestion %q has no highlight: %q", g.Text, g.Highlighted)
				}
			}
			if !slices.Equal(sorted(names), sorted(tt.want)) {
				t.Fatalf("suggestions %v; want %v", names, tt.want)
			}
		})
	}
	got, err := s.Suggest(ctx(t), sf(index, search.Settings{}), search.SuggestQuery{Text: "des", Limit: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("limit 1: %v %v", got, err)
	}
	off := search.Settings{Autocomplete: search.Autocomplete{Disabled: true}}
	if got, _ := s.Suggest(ctx(t), sf(index, off), search.SuggestQuery{Text: "des"}); len(got) != 0 {
		t.Fatalf("disabled autocomplete returned %v", got)
	}
	min3 := search.Settings{Autocomplete: search.Autocomplete{MinChars: 3}}
	if got, _ := s.Suggest(ctx(t), sf(index, min3), search.SuggestQuery{Text: "de"}); len(got) != 0 {
		t.Fatalf("input below minChars returned %v", got)
	}
}

func testTenantIsolation(t *testing.T, s *search.Searcher, index string) {
	for _, params := range []string{"q=lamp", "q=deluxe", "q=another", "attr.brand=lumen&limit=100", "sort=price_asc&limit=100"} {
		for _, id := range ids(run(t, s, index, search.Settings{}, params)) {
			if id == "x01" {
				t.Fatalf("%s returned another tenant's product", params)
			}
		}
	}
	other := search.Storefront{TenantID: OtherTenant, Index: index}
	res, err := s.Search(ctx(t), other, search.Query{Text: "lamp"})
	if err != nil || len(res.Hits) != 1 || res.Hits[0].ID != "x01" {
		t.Fatalf("the other tenant sees %v, %v; want only x01", res, err)
	}
}

// testStockAndVersions runs the read-merge-write cycle the indexer uses and checks
// that out-of-order and repeated updates end at the newest state, exactly once.
func testStockAndVersions(t *testing.T, b search.Backend, s *search.Searcher, index string) {
	apply := func(fn func(d *search.Document) bool) {
		t.Helper()
		for attempt := 0; attempt < 5; attempt++ {
			got, err := b.Get(ctx(t), index, []string{"p06"})
			if err != nil {
				t.Fatal(err)
			}
			st := got["p06"]
			d := st.Doc.Clone()
			if !fn(&d) {
				return
			}
			res, err := b.Write(ctx(t), index, []search.Write{{Doc: d, Rev: st.Rev}})
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Status == search.Written {
				_ = b.Refresh(ctx(t), index)
				return
			}
		}
		t.Fatal("no write after 5 attempts")
	}
	p := catalog[5] // p06, out of stock
	apply(func(d *search.Document) bool {
		return d.ApplyStock(events.Stock{SKU: sku("p06"), ProductID: "p06", Available: 3, Version: 5})
	})
	apply(func(d *search.Document) bool { // older stock event arriving late
		return d.ApplyStock(events.Stock{SKU: sku("p06"), ProductID: "p06", Available: 0, Version: 4})
	})
	res := run(t, s, index, search.Settings{}, "q=boot&in_stock=true&category=footwear")
	if !slices.Equal(ids(res), []string{"p06"}) {
		t.Fatalf("after restock, in-stock boots = %v", ids(res))
	}
	renamed := p.product(3)
	renamed.Name = "Hiking Boot Pro"
	apply(func(d *search.Document) bool { return d.ApplyProduct(renamed) })
	apply(func(d *search.Document) bool { return d.ApplyProduct(p.product(2)) }) // stale
	res = run(t, s, index, search.Settings{}, "q=boot")
	if len(res.Hits) != 2 || res.Hits[0].ID != "p06" || res.Hits[0].Name != "Hiking Boot Pro" || res.Hits[0].Version != 3 {
		t.Fatalf("after rename = %+v", res.Hits)
	}
	deleted := p.product(4)
	deleted.Deleted = true
	apply(func(d *search.Document) bool { return d.ApplyProduct(deleted) })
	apply(func(d *search.Document) bool { return d.ApplyProduct(renamed) }) // replay of an older event
	res = run(t, s, index, search.Settings{}, "q=boot")
	if !slices.Equal(ids(res), []string{"p08"}) {
		t.Fatalf("after delete and stale replay, boot = %v; want only p08", ids(res))
	}
}

func fv(v string, n int64) search.FacetValue { return search.FacetValue{Value: v, Count: n} }

// stockDoc is a document carrying only a stock level of a fixture product.
func stockDoc(p fixtureProduct, version, available int64) search.Document {
	d := search.Document{TenantID: Tenant, ProductID: p.id}
	d.ApplyStock(events.Stock{SKU: sku(p.id), ProductID: p.id, Available: available, Version: version})
	return d
}

func testUpsert(t *testing.T, newBackend Factory) {
	b, index := newBackend(t)
	if err := b.EnsureIndex(ctx(t), index); err != nil {
		t.Fatal(err)
	}
	var docs []search.Document
	for _, p := range catalog {
		docs = append(docs, p.document())
	}
	for _, opt := range []search.UpsertOptions{{CreateFirst: true}, {}} {
		res, err := search.Upsert(ctx(t), b, index, docs, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Status != search.Written {
				t.Fatalf("upsert %s (%+v): %v %v; a repeat must be a no-op success", r.ID, opt, r.Status, r.Err)
			}
		}
	}
	// Newer, older and duplicate parts in one call, out of order.
	p := catalog[2]
	renamed := p.product(5)
	renamed.Name = "Leather Jacket II"
	d1 := search.Document{TenantID: Tenant, ProductID: p.id}
	d1.ApplyProduct(renamed)
	d2 := search.Document{TenantID: Tenant, ProductID: p.id}
	d2.ApplyProduct(p.product(4))
	res, err := search.Upsert(ctx(t), b, index, []search.Document{stockDoc(p, 9, 0), d1, stockDoc(p, 3, 50), d2, d1}, search.UpsertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != search.Written {
			t.Fatalf("upsert: %v %v", r.Status, r.Err)
		}
	}
	got, _ := b.Get(ctx(t), index, []string{p.id})
	d := got[p.id].Doc
	if d.Product.Name != "Leather Jacket II" || d.Product.Version != 5 || d.Stock[sku(p.id)] != (search.StockLevel{Available: 0, Version: 9}) {
		t.Fatalf("after out-of-order upsert: %+v %+v", d.Product, d.Stock)
	}
}

// testReindexWhileWriting updates every product's stock round after round from
// several writers while the index is rebuilt twice; afterwards every document must
// hold the last round, and the alias must still serve every product exactly once.
func testReindexWhileWriting(t *testing.T, newBackend Factory) {
	b, index := newBackend(t)
	load(t, b, index)
	const rounds = 15
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for r := int64(1); r <= rounds; r++ {
				var docs []search.Document
				for i, p := range catalog {
					if i%2 == w {
						docs = append(docs, stockDoc(p, 100+r, r))
					}
				}
				res, err := search.Upsert(context.Background(), b, index, docs, search.UpsertOptions{MaxAttempts: 50})
				if err != nil {
					errs <- err
					return
				}
				for _, x := range res {
					if x.Status != search.Written {
						errs <- fmt.Errorf("round %d %s: %v: %w", r, x.ID, x.Status, x.Err)
						return
					}
				}
			}
		}(w)
	}
	for i := 0; i < 2; i++ {
		if err := b.Reindex(ctx(t), index); err != nil {
			t.Fatalf("reindex %d: %v", i, err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var all []string
	for _, p := range catalog {
		all = append(all, p.id)
	}
	got, err := b.Get(ctx(t), index, all)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range catalog {
		d, ok := got[p.id]
		if !ok || d.Doc.Product == nil || d.Doc.Stock[sku(p.id)] != (search.StockLevel{Available: rounds, Version: 100 + rounds}) {
			t.Fatalf("%s after concurrent reindex: %+v", p.id, d.Doc)
		}
	}
	_ = b.Refresh(ctx(t), index)
	res := run(t, search.NewSearcher(b), index, search.Settings{}, "limit=100&in_stock=true")
	if got := ids(res); !slices.Equal(sorted(got), visibleIDs) {
		t.Fatalf("after concurrent reindex, in-stock products %v; want %v", got, visibleIDs)
	}
}
