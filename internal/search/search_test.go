package search

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/internal/events"
)

func TestParseQueryRejectsBadInput(t *testing.T) {
	tests := []struct {
		name   string
		params string
		field  string
	}{
		{"unknown parameter", "min-price=5", "min-price"},
		{"repeated sort", "sort=name&sort=newest", "sort"},
		{"bad sort", "sort=cheapest", "sort"},
		{"limit zero", "limit=0", "limit"},
		{"limit too big", "limit=101", "limit"},
		{"limit not a number", "limit=ten", "limit"},
		{"negative price", "min_price=-1", "min_price"},
		{"price not whole", "min_price=9.99", "min_price"},
		{"price too big", "max_price=1000000000001", "max_price"},
		{"inverted range", "min_price=500&max_price=100", "min_price"},
		{"bad currency", "currency=dollars", "currency"},
		{"bad in_stock", "in_stock=maybe", "in_stock"},
		{"text too long", "q=" + strings.Repeat("a", MaxTextLen+1), "q"},
		{"control character", "q=lamp%00", "q"},
		{"bad attribute key", "attr.Col%20or=red", "attr.Col or"},
		{"too many categories", "category=" + strings.Repeat("c,", MaxCategories+1), "category"},
		{"garbage cursor", "cursor=%21%21%21", "cursor"},
		{"cursor not json", "cursor=" + "bm90IGpzb24", "cursor"},
		{"cursor too deep", "cursor=" + encodeCursor(cursor{O: MaxDepth + 1}), "cursor"},
		{"invalid utf8", "q=%ff%fe", "q"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.params)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseQuery(v)
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalid || e.Field != tt.field || e.Message == "" {
				t.Fatalf("ParseQuery(%q) = %v; want invalid_argument on %q", tt.params, err, tt.field)
			}
		})
	}
}

func TestParseQueryAccepts(t *testing.T) {
	v, _ := url.ParseQuery("q=red+lamp&category=a,b&category=c&attr.Color=red&attr.color=blue&min_price=0&max_price=100&currency=eur&in_stock=true&sort=price_asc&limit=5")
	q, err := ParseQuery(v)
	if err != nil {
		t.Fatal(err)
	}
	if q.Text != "red lamp" || len(q.Categories) != 3 || len(q.Attributes["color"]) != 2 || *q.MaxPrice != 100 || !*q.InStock || q.Sort != SortPriceAsc || q.Limit != 5 {
		t.Fatalf("parsed %+v", q)
	}
}

func TestSuggestValidation(t *testing.T) {
	for _, params := range []string{"", "q=", "q=%20%20", "q=a&limit=0", "q=a&limit=51", "q=a&x=1", "q=" + strings.Repeat("b", MaxSuggestLen+1)} {
		v, _ := url.ParseQuery(params)
		if _, err := ParseSuggest(v); ErrorCode(err) != CodeInvalid {
			t.Errorf("ParseSuggest(%q) = %v; want invalid_argument", params, err)
		}
	}
}

func TestCursorRoundTripAndFingerprint(t *testing.T) {
	c := cursor{F: 42, A: []any{int64(1500), "p07"}}
	got, err := decodeCursor(encodeCursor(c))
	if err != nil {
		t.Fatal(err)
	}
	if got.F != 42 || got.A[0] != int64(1500) || got.A[1] != "p07" {
		t.Fatalf("round trip = %+v", got)
	}
	st := Settings{}
	a := Query{Text: "lamp", Sort: SortPriceAsc}.normalized(st)
	b := Query{Text: "lamp", Sort: SortPriceAsc, Limit: 50}.normalized(st)
	c2 := Query{Text: "lamps", Sort: SortPriceAsc}.normalized(st)
	if a.fingerprint() != b.fingerprint() {
		t.Error("page size must not change the fingerprint")
	}
	if a.fingerprint() == c2.fingerprint() {
		t.Error("different text must change the fingerprint")
	}
}

func TestSettingsValidate(t *testing.T) {
	bad := []Settings{
		{Currency: "US"},
		{Synonyms: [][]string{{"only"}}},
		{Synonyms: [][]string{{"a", "!!!"}}},
		{Boosts: []Boost{{Attribute: "brand", Weight: 2}}},
		{Boosts: []Boost{{Attribute: "brand=x", Category: "c", Weight: 2}}},
		{Boosts: []Boost{{Category: "c", Weight: 0}}},
		{Boosts: []Boost{{Category: "c", Weight: 1000}}},
		{FieldBoosts: map[string]float64{"name": -1}},
		{FieldBoosts: map[string]float64{"price": 2}},
		{FieldBoosts: map[string]float64{"category": 2}}, // category names are not searched
		{Autocomplete: Autocomplete{Limit: 51}},
	}
	for i, s := range bad {
		if ErrorCode(s.Validate()) != CodeInvalid {
			t.Errorf("settings %d %+v accepted", i, s)
		}
	}
	good := Settings{Currency: "EUR", Synonyms: [][]string{{"tee", "t-shirt"}}, Boosts: []Boost{{Attribute: "brand=acme", Weight: 2}}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDocumentMergeConverges(t *testing.T) {
	p := func(v int64, name string) events.Product {
		return events.Product{ID: "p", Version: v, Name: name, Status: "published", Variants: []events.Variant{{SKU: "s"}}}
	}
	st := func(v, n int64) events.Stock { return events.Stock{SKU: "s", ProductID: "p", Available: n, Version: v} }
	type op func(*Document) bool
	ops := []op{
		func(d *Document) bool { return d.ApplyProduct(p(1, "one")) },
		func(d *Document) bool { return d.ApplyStock(st(1, 0)) },
		func(d *Document) bool { return d.ApplyProduct(p(3, "three")) },
		func(d *Document) bool { return d.ApplyStock(st(2, 5)) },
		func(d *Document) bool { return d.ApplyProduct(p(2, "two")) },
	}
	// Every order of the same events ends in the same document.
	orders := [][]int{{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 0, 4, 3, 1}, {3, 3, 2, 2, 0, 1, 4, 4}}
	for _, order := range orders {
		var d Document
		for _, i := range order {
			ops[i](&d)
		}
		f := d.Fields()
		if d.Product.Name != "three" || !f.InStock || d.Version() != 5 {
			t.Fatalf("order %v ended at %q in_stock=%v version=%d", order, d.Product.Name, f.InStock, d.Version())
		}
	}
	var d Document
	d.ApplyProduct(p(3, "three"))
	if d.ApplyProduct(p(3, "three again")) || d.ApplyProduct(p(1, "old")) {
		t.Fatal("an event that is not newer must change nothing")
	}
	var a, b Document
	a.ApplyProduct(p(2, "two"))
	b.ApplyStock(st(7, 1))
	if !a.Merge(b) || a.Merge(b) || a.Stock["s"].Version != 7 {
		t.Fatalf("merge: %+v", a)
	}
}

func TestFieldsVisibility(t *testing.T) {
	cases := []struct {
		status  string
		deleted bool
		want    bool
	}{{"published", false, true}, {"draft", false, false}, {"published", true, false}}
	for _, c := range cases {
		var d Document
		d.ApplyProduct(events.Product{ID: "p", Version: 1, Status: c.status, Deleted: c.deleted})
		if got := d.Fields().Visible; got != c.want {
			t.Errorf("%s deleted=%v visible=%v", c.status, c.deleted, got)
		}
	}
	var stockOnly Document
	stockOnly.ApplyStock(events.Stock{SKU: "s", Available: 3, Version: 1})
	if stockOnly.Fields().Visible {
		t.Error("a document with stock but no product must not be visible")
	}
}

func TestCompileSynonymsAndFuzziness(t *testing.T) {
	syn := buildSynonyms([][]string{{"tee", "t-shirt"}, {"couch", "sofa"}})
	tq, err := compileText("red tee couch", syn, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(tq.Clauses) != 3 {
		t.Fatalf("clauses %+v", tq.Clauses)
	}
	// "red": exact + one typo; "tee": both members (t-shirt as a phrase) + fuzzy.
	if len(tq.Clauses[0].Alts) != 2 || tq.Clauses[0].Alts[1].Fuzziness != 1 {
		t.Errorf("red: %+v", tq.Clauses[0].Alts)
	}
	var phrase bool
	for _, a := range tq.Clauses[1].Alts {
		if len(a.Terms) == 2 && a.Terms[0] == "t" && a.Terms[1] == "shirt" {
			phrase = true
		}
	}
	if !phrase {
		t.Errorf("tee lacks the t-shirt phrase: %+v", tq.Clauses[1].Alts)
	}
	if _, err := compileText(strings.Repeat("w ", MaxTokens+1), nil, false); ErrorCode(err) != CodeInvalid {
		t.Errorf("too many words: %v", err)
	}
	// A multi-word member in the text is consumed as one clause.
	tq, _ = compileText("cotton t-shirt", syn, false)
	if len(tq.Clauses) != 2 {
		t.Errorf("t-shirt should be one clause: %+v", tq.Clauses)
	}
}

func TestLevenshteinWithin(t *testing.T) {
	tests := []struct {
		a, b string
		max  int
		want bool
	}{
		{"lamp", "lamp", 0, true}, {"lanp", "lamp", 1, true}, {"jackt", "jacket", 1, true},
		{"shrit", "shirt", 1, false}, {"shrit", "shirt", 2, true}, {"café", "cafe", 1, true},
		{"a", "abc", 1, false},
	}
	for _, tt := range tests {
		if got := levenshteinWithin(tt.a, tt.b, tt.max); got != tt.want {
			t.Errorf("levenshteinWithin(%q, %q, %d) = %v", tt.a, tt.b, tt.max, got)
		}
	}
}

func TestHighlightFragment(t *testing.T) {
	h := newHighlighter(&TextQuery{Clauses: []Clause{{Alts: []Alt{{Terms: []string{"needle"}}}}}})
	long := strings.Repeat("hay ", 100) + "needle " + strings.Repeat("straw ", 100)
	got := h.mark(long, true)
	if !strings.Contains(got, "<em>needle</em>") || !strings.HasPrefix(got, "…") || !strings.HasSuffix(got, "…") || len(got) > fragmentLen+40 {
		t.Fatalf("fragment %q", got)
	}
	if h.mark("nothing here", false) != "" {
		t.Fatal("no match must give no highlight")
	}
}
