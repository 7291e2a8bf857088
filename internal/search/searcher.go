// Package search is product search for storefronts: one Backend interface with an
// Elasticsearch and a Bleve implementation, the Document the ingest indexer keeps in
// them, and the query layer (Searcher) the API calls.
//
// The query layer does what the engines are not asked to: it analyzes the text,
// expands storefront synonyms, decides typo tolerance per word, applies boosts,
// highlights matches and pages with opaque cursors. The engines only run the compiled
// Request, so both give the same answers (the conformance suite in searchtest checks
// it) and the test Elasticsearch, which ships only core modules, needs no analysis
// plugins.
package search

import (
	"context"
	"hash/fnv"
	"html"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kommerce/kommerce/internal/events"
)

// Storefront is what a search runs against: the tenant, the storefront's index
// (IndexName(tenant index prefix, storefront name)) and its settings.
type Storefront struct {
	TenantID string
	Index    string
	Settings Settings
}

// Result is one page of search results.
type Result struct {
	Hits   []Hit  `json:"hits"`
	Total  int64  `json:"total"`
	Facets Facets `json:"facets"`
	// NextCursor fetches the next page; empty on the last one.
	NextCursor string `json:"next_cursor,omitempty"`
	// Took is the engine's own query time, for comparing with the request latency.
	Took time.Duration `json:"-"`
}

// Hit is one product in a result.
type Hit struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	CategoryIDs []string          `json:"category_ids"`
	Attributes  map[string]string `json:"attributes"`
	Images      []string          `json:"images"`
	// Price is the lowest variant price in the query's currency, if any.
	Price   *events.Price `json:"price,omitempty"`
	InStock bool          `json:"in_stock"`
	// Version is the product version the document was built from.
	Version int64   `json:"version"`
	Score   float64 `json:"score"`
	// Highlights has "name" and "description" with matches in <em>, HTML-escaped.
	Highlights map[string]string `json:"highlights,omitempty"`
}

// Facets count the hits per category, attribute value and availability.
type Facets struct {
	Categories []FacetValue            `json:"categories"`
	Attributes map[string][]FacetValue `json:"attributes"`
	InStock    int64                   `json:"in_stock"`
	OutOfStock int64                   `json:"out_of_stock"`
}

// FacetValue is one value and the number of hits having it.
type FacetValue struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// Suggestion is one autocomplete entry.
type Suggestion struct {
	Text string `json:"text"`
	// Highlighted is Text HTML-escaped with the typed words in <em>.
	Highlighted string `json:"highlighted"`
	ProductID   string `json:"product_id"`
}

// Searcher runs shoppers' queries on a Backend. It is safe for concurrent use.
type Searcher struct {
	backend Backend

	mu       sync.Mutex
	synCache map[uint64]synonymIndex
}

// NewSearcher returns a Searcher over b.
func NewSearcher(b Backend) *Searcher {
	return &Searcher{backend: b, synCache: map[uint64]synonymIndex{}}
}

// Search runs q against the storefront's index. Errors: CodeInvalid (bad query or
// cursor, with Field set), CodeUnavailable (engine down), CodeInternal.
func (s *Searcher) Search(ctx context.Context, sf Storefront, q Query) (*Result, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if err := ValidIndex(sf.Index); err != nil {
		return nil, err
	}
	n := q.normalized(sf.Settings)
	var c cursor
	if q.Cursor != "" {
		var err error
		if c, err = decodeCursor(q.Cursor); err != nil {
			return nil, err
		}
		if c.F != n.fingerprint() {
			return nil, invalid("cursor", "cursor does not belong to this query; start again without a cursor")
		}
	}
	req, err := compile(sf, n, c, s.synonyms(sf.Settings.Synonyms))
	if err != nil {
		return nil, err
	}
	resp, err := s.backend.Search(ctx, sf.Index, req)
	if err != nil {
		return nil, err
	}
	res := &Result{Total: resp.Total, Took: resp.Took, Facets: buildFacets(resp.Facets)}
	hits := resp.Hits
	more := len(hits) > n.Limit
	if more {
		hits = hits[:n.Limit]
	}
	hl := newHighlighter(req.Text)
	for _, h := range hits {
		res.Hits = append(res.Hits, renderHit(h, n.Currency, hl))
	}
	if res.Hits == nil {
		res.Hits = []Hit{}
	}
	if more && len(hits) > 0 {
		next := cursor{F: n.fingerprint()}
		if n.Sort == SortRelevance {
			next.O = req.From + n.Limit
		} else {
			next.A = hits[len(hits)-1].Sort
		}
		res.NextCursor = encodeCursor(next)
	}
	return res, nil
}

// Suggest returns autocomplete entries for what the shopper typed: product names
// containing every typed word (typos tolerated) with the last, possibly incomplete,
// word as a prefix. Errors as for Search.
func (s *Searcher) Suggest(ctx context.Context, sf Storefront, q SuggestQuery) ([]Suggestion, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if err := ValidIndex(sf.Index); err != nil {
		return nil, err
	}
	ac := sf.Settings.Autocomplete
	if ac.Disabled || utf8.RuneCountInString(strings.TrimSpace(q.Text)) < max(ac.MinChars, 1) {
		return []Suggestion{}, nil
	}
	limit := q.Limit
	if limit == 0 {
		limit = ac.Limit
	}
	if limit == 0 {
		limit = DefaultSuggest
	}
	prefixLast := !strings.HasSuffix(q.Text, " ")
	tq, err := compileText(q.Text, s.synonyms(sf.Settings.Synonyms), prefixLast)
	if err != nil {
		return nil, err
	}
	if tq == nil {
		return []Suggestion{}, nil
	}
	tq.Fields = []FieldWeight{{Field: FieldName, Boost: 1}}
	req := Request{
		TenantID: sf.TenantID,
		Text:     tq,
		Size:     limit * 3, // names repeat across products; over-fetch, then de-duplicate
		Sort:     []SortField{{Field: "_score", Desc: true}, {Field: "product_id"}},
	}
	resp, err := s.backend.Search(ctx, sf.Index, req)
	if err != nil {
		return nil, err
	}
	hl := newHighlighter(tq)
	seen := map[string]bool{}
	out := []Suggestion{}
	for _, h := range resp.Hits {
		if h.Doc.Product == nil {
			continue
		}
		name := h.Doc.Product.Name
		key := strings.ToLower(name)
		if seen[key] {
			continue
		}
		seen[key] = true
		mark := hl.mark(name, false)
		if mark == "" {
			mark = html.EscapeString(name)
		}
		out = append(out, Suggestion{Text: name, Highlighted: mark, ProductID: h.ID})
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

func renderHit(h ResponseHit, currency string, hl *highlighter) Hit {
	p := h.Doc.Product
	f := h.Doc.Fields()
	out := Hit{ID: h.ID, Score: h.Score, Version: f.ProductVersion, InStock: f.InStock,
		CategoryIDs: []string{}, Attributes: map[string]string{}, Images: []string{}}
	if p == nil {
		return out
	}
	out.Name, out.Description = p.Name, p.Description
	out.CategoryIDs = append(out.CategoryIDs, p.CategoryIDs...)
	for k, v := range p.Attributes {
		out.Attributes[k] = v
	}
	out.Images = append(out.Images, p.Images...)
	if amt, ok := f.Prices[currency]; ok {
		out.Price = &events.Price{Currency: strings.ToUpper(currency), Amount: amt}
	}
	if hl != nil {
		hls := map[string]string{}
		if m := hl.mark(p.Name, false); m != "" {
			hls["name"] = m
		}
		if m := hl.mark(p.Description, true); m != "" {
			hls["description"] = m
		}
		if len(hls) > 0 {
			out.Highlights = hls
		}
	}
	return out
}

func buildFacets(raw map[string][]FacetCount) Facets {
	f := Facets{Categories: []FacetValue{}, Attributes: map[string][]FacetValue{}}
	for _, c := range raw["category_ids"] {
		f.Categories = append(f.Categories, FacetValue(c))
	}
	for _, c := range raw["attrs"] {
		k, v, ok := strings.Cut(c.Value, "=")
		if !ok {
			continue
		}
		f.Attributes[k] = append(f.Attributes[k], FacetValue{Value: v, Count: c.Count})
	}
	for _, c := range raw["in_stock"] {
		switch c.Value {
		case "true":
			f.InStock = c.Count
		case "false":
			f.OutOfStock = c.Count
		}
	}
	sortFacet(f.Categories)
	for _, vs := range f.Attributes {
		sortFacet(vs)
	}
	return f
}

// sortFacet orders by count, then value, so both engines list ties alike.
func sortFacet(vs []FacetValue) {
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].Count != vs[j].Count {
			return vs[i].Count > vs[j].Count
		}
		return vs[i].Value < vs[j].Value
	})
}

// synonyms returns the analyzed synonym index of a settings' groups, cached because
// storefronts keep the same settings for many queries.
func (s *Searcher) synonyms(groups [][]string) synonymIndex {
	if len(groups) == 0 {
		return nil
	}
	h := fnv.New64a()
	for _, g := range groups {
		for _, m := range g {
			h.Write([]byte(m))
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	key := h.Sum64()
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx, ok := s.synCache[key]; ok {
		return idx
	}
	if len(s.synCache) >= 256 {
		clear(s.synCache)
	}
	idx := buildSynonyms(groups)
	s.synCache[key] = idx
	return idx
}
