package bleve

import (
	"context"
	"fmt"
	"math"
	"strconv"

	bv "github.com/blevesearch/bleve/v2"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/kommerce/kommerce/internal/search"
)

// Search implements search.Backend.
func (b *Backend) Search(ctx context.Context, alias string, req search.Request) (search.Response, error) {
	ix, err := b.open(alias, false)
	if err != nil {
		return search.Response{}, err
	}
	if ix == nil {
		return search.Response{Facets: map[string][]search.FacetCount{}}, nil
	}
	sr, err := buildRequest(req)
	if err != nil {
		return search.Response{}, err
	}
	ix.mu.RLock()
	res, err := ix.bidx.SearchInContext(ctx, sr)
	if err != nil {
		ix.mu.RUnlock()
		if ctx.Err() != nil {
			return search.Response{}, search.Unavailable("bleve search cancelled", ctx.Err())
		}
		return search.Response{}, search.Internal("bleve search", err)
	}
	total := int64(min(res.Total, math.MaxInt64)) //nolint:gosec // clamped to the int64 range
	out := search.Response{Total: total, Took: res.Took, Facets: map[string][]search.FacetCount{}}
	for _, h := range res.Hits {
		raw, _ := h.Fields[stateField].(string)
		st, err := decodeState(h.ID, []byte(raw))
		if err != nil {
			ix.mu.RUnlock()
			return search.Response{}, search.Internal("bleve hit state "+h.ID, err)
		}
		out.Hits = append(out.Hits, search.ResponseHit{ID: h.ID, Score: h.Score, Sort: sortValues(req.Sort, h.DecodedSort), Doc: st.Doc})
	}
	ix.mu.RUnlock()
	for name, fr := range res.Facets {
		for _, t := range fr.Terms.Terms() {
			v := t.Term
			if name == "in_stock" { // Bleve indexes booleans as T / F
				v = strconv.FormatBool(v == "T")
			}
			out.Facets[name] = append(out.Facets[name], search.FacetCount{Value: v, Count: int64(t.Count)})
		}
	}
	return out, nil
}

func buildRequest(req search.Request) (*bv.SearchRequest, error) {
	filters := []query.Query{term("tenant_id", req.TenantID), boolField("visible", true)}
	f := req.Filters
	if len(f.Categories) > 0 {
		filters = append(filters, anyTerm("category_ids", f.Categories))
	}
	for k, vals := range f.Attrs {
		pairs := make([]string, len(vals))
		for i, v := range vals {
			pairs[i] = k + "=" + v
		}
		filters = append(filters, anyTerm("attrs", pairs))
	}
	priceField := "prices." + f.Currency
	if f.MinPrice != nil || f.MaxPrice != nil || f.HasPrice {
		lo, hi := -1e18, math.Inf(1) // Bleve needs one bound; prices are never that low
		if f.MinPrice != nil {
			lo = float64(*f.MinPrice)
		}
		if f.MaxPrice != nil {
			hi = float64(*f.MaxPrice)
		}
		incl := true
		q := bv.NewNumericRangeInclusiveQuery(finite(lo), finite(hi), &incl, &incl)
		q.SetField(priceField)
		filters = append(filters, q)
	}
	if f.InStock != nil {
		filters = append(filters, boolField("in_stock", *f.InStock))
	}

	var must query.Query = bv.NewMatchAllQuery()
	if req.Text != nil {
		must = textQuery(req.Text)
	}
	var should []query.Query
	for _, bc := range req.Boosts {
		var q *query.TermQuery
		if bc.Attr != "" {
			q = term("attrs", bc.Attr)
		} else {
			q = term("category_ids", bc.Category)
		}
		q.SetBoost(bc.Weight)
		should = append(should, q)
	}
	bq := query.NewBooleanQuery([]query.Query{must}, should, nil)
	bq.AddFilter(bv.NewConjunctionQuery(filters...))

	sr := bv.NewSearchRequestOptions(bq, req.Size, req.From, false)
	sr.Fields = []string{stateField}
	var order bsearch.SortOrder
	for _, s := range req.Sort {
		switch s.Field {
		case "_score":
			order = append(order, &bsearch.SortScore{Desc: s.Desc})
		case "price":
			order = append(order, &bsearch.SortField{Field: priceField, Desc: s.Desc, Type: bsearch.SortFieldAsNumber, Missing: bsearch.SortFieldMissingLast})
		case "updated_at":
			order = append(order, &bsearch.SortField{Field: "updated_at", Desc: s.Desc, Type: bsearch.SortFieldAsNumber, Missing: bsearch.SortFieldMissingLast})
		case "name_sort", "product_id":
			order = append(order, &bsearch.SortField{Field: s.Field, Desc: s.Desc, Type: bsearch.SortFieldAsString, Missing: bsearch.SortFieldMissingLast})
		default:
			return nil, search.Internal("unknown sort field "+s.Field, nil)
		}
	}
	sr.SortByCustom(order)
	if len(req.After) > 0 {
		if len(req.After) != len(req.Sort) {
			return nil, &search.Error{Code: search.CodeInvalid, Field: "cursor", Message: "cursor does not belong to this query"}
		}
		after := make([]string, len(req.After))
		for i, v := range req.After {
			after[i] = afterString(v)
		}
		sr.SearchAfter = after
		sr.From = 0
	}
	if req.Facets.Categories {
		sr.AddFacet("category_ids", bv.NewFacetRequest("category_ids", req.Facets.Size))
	}
	if req.Facets.Attrs {
		sr.AddFacet("attrs", bv.NewFacetRequest("attrs", 4*req.Facets.Size))
	}
	if req.Facets.InStock {
		sr.AddFacet("in_stock", bv.NewFacetRequest("in_stock", 2))
	}
	return sr, nil
}

// textQuery: every clause must match in some field (each alternative on each field,
// scores summed), or the SKU matches exactly.
func textQuery(tq *search.TextQuery) query.Query {
	clauses := make([]query.Query, 0, len(tq.Clauses))
	for _, c := range tq.Clauses {
		var alts []query.Query
		for _, a := range c.Alts {
			for _, fw := range tq.Fields {
				alts = append(alts, altQuery(a, fw))
			}
		}
		clauses = append(clauses, bv.NewDisjunctionQuery(alts...))
	}
	var q query.Query = bv.NewConjunctionQuery(clauses...)
	if tq.SKU != "" {
		sku := term("skus", tq.SKU)
		sku.SetBoost(tq.SKUBoost)
		q = bv.NewDisjunctionQuery(q, sku)
	}
	return q
}

func altQuery(a search.Alt, fw search.FieldWeight) query.Query {
	boost := a.Boost * fw.Boost
	switch {
	case len(a.Terms) > 1:
		q := bv.NewPhraseQuery(a.Terms, fw.Field)
		q.SetBoost(boost)
		return q
	case a.Prefix:
		q := bv.NewPrefixQuery(a.Terms[0])
		q.SetField(fw.Field)
		q.SetBoost(boost)
		return q
	case a.Fuzziness > 0:
		q := bv.NewFuzzyQuery(a.Terms[0])
		q.SetField(fw.Field)
		q.SetFuzziness(a.Fuzziness)
		q.SetBoost(boost)
		return q
	default:
		q := term(fw.Field, a.Terms[0])
		q.SetBoost(boost)
		return q
	}
}

func term(field, value string) *query.TermQuery {
	q := bv.NewTermQuery(value)
	q.SetField(field)
	return q
}

func anyTerm(field string, values []string) query.Query {
	qs := make([]query.Query, len(values))
	for i, v := range values {
		qs[i] = term(field, v)
	}
	return bv.NewDisjunctionQuery(qs...)
}

func boolField(field string, v bool) query.Query {
	q := bv.NewBoolFieldQuery(v)
	q.SetField(field)
	return q
}

func finite(f float64) *float64 {
	if math.IsInf(f, 0) {
		return nil
	}
	return &f
}

// sortValues normalizes Bleve's decoded sort values: numbers to int64 (prices and
// timestamps are whole numbers), strings as they are.
func sortValues(order []search.SortField, decoded []string) []any {
	out := make([]any, len(decoded))
	for i, v := range decoded {
		if i < len(order) {
			switch order[i].Field {
			case "price", "updated_at":
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					out[i] = int64(f)
					continue
				}
			case "_score":
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					out[i] = f
					continue
				}
			}
		}
		out[i] = v
	}
	return out
}

func afterString(v any) string {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}
