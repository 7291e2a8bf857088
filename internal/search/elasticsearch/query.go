package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/kommerce/kommerce/internal/search"
)

type obj = map[string]any

var requestCache = true

// Search implements search.Backend.
func (b *Backend) Search(ctx context.Context, alias string, req search.Request) (search.Response, error) {
	if err := search.ValidIndex(alias); err != nil {
		return search.Response{}, err
	}
	body, err := json.Marshal(buildQuery(req))
	if err != nil {
		return search.Response{}, search.Internal("encode query", err)
	}
	// request_cache: each shard keeps its query-phase result (the top hits and the
	// facet aggregations, the costly part) for an identical body until its next refresh
	// that changes data, so a repeated query costs the fetch phase alone and never sees
	// older data than a fresh one would. Elasticsearch caches only size-0 requests
	// unless asked; no query here uses "now", which would make it uncacheable.
	status, raw, err := b.do(ctx, esapi.SearchRequest{Index: []string{alias}, Body: bytes.NewReader(body), RequestCache: &requestCache})
	if err != nil {
		return search.Response{}, err
	}
	if status == http.StatusNotFound && errorType(raw) == "index_not_found_exception" {
		return search.Response{Facets: map[string][]search.FacetCount{}}, nil
	}
	if status/100 != 2 {
		return search.Response{}, statusError("search", status, raw)
	}
	return decodeResponse(raw)
}

func decodeResponse(raw []byte) (search.Response, error) {
	var res struct {
		Took int64 `json:"took"`
		Hits struct {
			Total struct {
				Value int64 `json:"value"`
			} `json:"total"`
			Hits []struct {
				ID     string          `json:"_id"`
				Score  *float64        `json:"_score"`
				Sort   json.RawMessage `json:"sort"`
				Source struct {
					State search.Document `json:"state"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
		Aggregations map[string]struct {
			Buckets []struct {
				Key         any    `json:"key"`
				KeyAsString string `json:"key_as_string"`
				DocCount    int64  `json:"doc_count"`
			} `json:"buckets"`
		} `json:"aggregations"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return search.Response{}, search.Internal("decode search", err)
	}
	out := search.Response{
		Total:  res.Hits.Total.Value,
		Took:   time.Duration(res.Took) * time.Millisecond,
		Facets: map[string][]search.FacetCount{},
	}
	for _, h := range res.Hits.Hits {
		hit := search.ResponseHit{ID: h.ID, Doc: h.Source.State}
		if h.Score != nil {
			hit.Score = *h.Score
		}
		if len(h.Sort) > 0 {
			dec := json.NewDecoder(bytes.NewReader(h.Sort))
			dec.UseNumber()
			var vals []any
			if err := dec.Decode(&vals); err != nil {
				return out, search.Internal("decode sort values", err)
			}
			hit.Sort = normalize(vals)
		}
		out.Hits = append(out.Hits, hit)
	}
	for name, agg := range res.Aggregations {
		for _, bk := range agg.Buckets {
			v := bk.KeyAsString // booleans: "true" / "false"
			if v == "" {
				v, _ = bk.Key.(string)
			}
			out.Facets[name] = append(out.Facets[name], search.FacetCount{Value: v, Count: bk.DocCount})
		}
	}
	return out, nil
}

// normalize turns JSON sort values into int64 (prices, timestamps), float64 (scores)
// or strings, the forms search.Request.After carries.
func normalize(vals []any) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case json.Number:
			if n, err := x.Int64(); err == nil {
				out[i] = n
			} else if f, err := x.Float64(); err == nil {
				out[i] = f
			} else {
				out[i] = x.String()
			}
		default:
			out[i] = v
		}
	}
	return out
}

func buildQuery(req search.Request) obj {
	filters := []any{term("tenant_id", req.TenantID), term("visible", true)}
	f := req.Filters
	if len(f.Categories) > 0 {
		filters = append(filters, obj{"terms": obj{"category_ids": f.Categories}})
	}
	for k, vals := range f.Attrs {
		pairs := make([]string, len(vals))
		for i, v := range vals {
			pairs[i] = k + "=" + v
		}
		filters = append(filters, obj{"terms": obj{"attrs": pairs}})
	}
	priceField := "prices." + f.Currency
	if f.MinPrice != nil || f.MaxPrice != nil {
		r := obj{}
		if f.MinPrice != nil {
			r["gte"] = *f.MinPrice
		}
		if f.MaxPrice != nil {
			r["lte"] = *f.MaxPrice
		}
		filters = append(filters, obj{"range": obj{priceField: r}})
	}
	if f.HasPrice {
		filters = append(filters, obj{"exists": obj{"field": priceField}})
	}
	if f.InStock != nil {
		filters = append(filters, term("in_stock", *f.InStock))
	}

	var must any = obj{"match_all": obj{}}
	if req.Text != nil {
		must = textQuery(req.Text)
	}
	var should []any
	for _, bc := range req.Boosts {
		if bc.Attr != "" {
			should = append(should, obj{"term": obj{"attrs": obj{"value": bc.Attr, "boost": bc.Weight}}})
		} else {
			should = append(should, obj{"term": obj{"category_ids": obj{"value": bc.Category, "boost": bc.Weight}}})
		}
	}
	boolQ := obj{"must": []any{must}, "filter": filters}
	if len(should) > 0 {
		boolQ["should"] = should
	}
	body := obj{
		"query":            obj{"bool": boolQ},
		"size":             req.Size,
		"track_total_hits": true,
		"_source":          []string{"state"},
	}
	var sort []any
	for _, s := range req.Sort {
		order := "asc"
		if s.Desc {
			order = "desc"
		}
		switch s.Field {
		case "_score":
			sort = append(sort, obj{"_score": obj{"order": order}})
		case "price":
			sort = append(sort, obj{priceField: obj{"order": order, "missing": "_last", "unmapped_type": "long"}})
		default:
			sort = append(sort, obj{s.Field: obj{"order": order}})
		}
	}
	body["sort"] = sort
	if len(req.After) > 0 {
		body["search_after"] = req.After
	} else if req.From > 0 {
		body["from"] = req.From
	}
	aggs := obj{}
	if req.Facets.Categories {
		aggs["category_ids"] = obj{"terms": obj{"field": "category_ids", "size": req.Facets.Size}}
	}
	if req.Facets.Attrs {
		aggs["attrs"] = obj{"terms": obj{"field": "attrs", "size": 4 * req.Facets.Size}}
	}
	if req.Facets.InStock {
		aggs["in_stock"] = obj{"terms": obj{"field": "in_stock", "size": 2}}
	}
	if len(aggs) > 0 {
		body["aggs"] = aggs
	}
	return body
}

// textQuery: every clause must match in some field (each alternative on each field,
// scores summed), or the SKU matches exactly.
func textQuery(tq *search.TextQuery) any {
	clauses := make([]any, 0, len(tq.Clauses))
	for _, c := range tq.Clauses {
		var alts []any
		for _, a := range c.Alts {
			for _, fw := range tq.Fields {
				alts = append(alts, altQuery(a, fw))
			}
		}
		clauses = append(clauses, obj{"bool": obj{"should": alts, "minimum_should_match": 1}})
	}
	q := any(obj{"bool": obj{"must": clauses}})
	if tq.SKU != "" {
		q = obj{"bool": obj{"should": []any{q, obj{"term": obj{"skus": obj{"value": tq.SKU, "boost": tq.SKUBoost}}}}, "minimum_should_match": 1}}
	}
	return q
}

func altQuery(a search.Alt, fw search.FieldWeight) any {
	boost := a.Boost * fw.Boost
	switch {
	case len(a.Terms) > 1:
		return obj{"match_phrase": obj{fw.Field: obj{"query": strings.Join(a.Terms, " "), "boost": boost}}}
	case a.Prefix:
		return obj{"prefix": obj{fw.Field: obj{"value": a.Terms[0], "boost": boost}}}
	case a.Fuzziness > 0:
		// Plain Levenshtein distance (no transpositions) and no exact prefix, to
		// match what the Bleve backend tolerates.
		return obj{"fuzzy": obj{fw.Field: obj{"value": a.Terms[0], "fuzziness": a.Fuzziness,
			"transpositions": false, "prefix_length": 0, "max_expansions": 50, "boost": boost}}}
	default:
		return obj{"term": obj{fw.Field: obj{"value": a.Terms[0], "boost": boost}}}
	}
}

func term(field string, v any) any { return obj{"term": obj{field: v}} }
