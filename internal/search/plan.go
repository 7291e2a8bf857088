package search

import (
	"strings"
	"unicode/utf8"
)

// Relative weights of the ways a word can match. An exact word always outranks a
// typo-tolerant or prefix match of it, on both engines, because the exact form
// matches the fuzzy alternative too and the scores add up.
const (
	exactBoost   = 1.0
	synonymBoost = 0.9
	fuzzyBoost   = 0.4
	prefixBoost  = 0.6
)

// compileText turns free text into clauses: one clause per word (or per synonym
// phrase found in the text), each matching the word exactly, with typos (Elasticsearch
// AUTO fuzziness rules) or, for the last word of an autocomplete input, as a prefix.
// Synonym groups from the storefront's settings add their other members as
// alternatives, so synonyms need no analysis chain in the engine and no reindex.
func compileText(text string, syn synonymIndex, prefixLast bool) (*TextQuery, error) {
	tokens := Analyze(text)
	if len(tokens) == 0 {
		return nil, nil
	}
	if len(tokens) > MaxTokens {
		return nil, invalid("q", "q may contain at most %d words", MaxTokens)
	}
	tq := &TextQuery{}
	last := len(tokens) - 1
	for i := 0; i < len(tokens); {
		if e, ok := syn.longestAt(tokens, i); ok && (!prefixLast || i+len(e.member)-1 != last) {
			var c Clause
			for _, m := range e.group {
				b := synonymBoost
				if strings.Join(m, " ") == strings.Join(e.member, " ") {
					b = exactBoost
				}
				c.Alts = append(c.Alts, Alt{Terms: m, Boost: b})
			}
			if len(e.member) == 1 {
				if fz := autoFuzziness(utf8.RuneCountInString(e.member[0])); fz > 0 {
					c.Alts = append(c.Alts, Alt{Terms: e.member, Fuzziness: fz, Boost: fuzzyBoost})
				}
			}
			tq.Clauses = append(tq.Clauses, c)
			i += len(e.member)
			continue
		}
		t := tokens[i]
		c := Clause{Alts: []Alt{{Terms: []string{t}, Boost: exactBoost}}}
		if fz := autoFuzziness(utf8.RuneCountInString(t)); fz > 0 {
			c.Alts = append(c.Alts, Alt{Terms: []string{t}, Fuzziness: fz, Boost: fuzzyBoost})
		}
		if prefixLast && i == last {
			c.Alts = append(c.Alts, Alt{Terms: []string{t}, Prefix: true, Boost: prefixBoost})
		}
		tq.Clauses = append(tq.Clauses, c)
		i++
	}
	return tq, nil
}

// compile builds the engine request of a normalized query.
func compile(sf Storefront, q Query, c cursor, syn synonymIndex) (Request, error) {
	st := sf.Settings
	req := Request{
		TenantID: sf.TenantID,
		Size:     q.Limit + 1, // one more than a page tells whether another page exists
		Filters: Filters{
			Categories: q.Categories,
			Attrs:      q.Attributes,
			Currency:   q.Currency,
			MinPrice:   q.MinPrice,
			MaxPrice:   q.MaxPrice,
			InStock:    q.InStock,
		},
		Facets: FacetRequest{Categories: true, Attrs: true, InStock: true, Size: DefaultFacetSize},
	}
	tq, err := compileText(q.Text, syn, false)
	if err != nil {
		return req, err
	}
	if q.Text != "" && tq == nil {
		return req, invalid("q", "q must contain at least one word")
	}
	if tq != nil {
		tq.Fields = []FieldWeight{
			{Field: FieldName, Boost: st.fieldWeight("name")},
			{Field: FieldDescription, Boost: st.fieldWeight("description")},
			{Field: FieldBrand, Boost: st.fieldWeight("brand")},
			{Field: FieldAttributes, Boost: st.fieldWeight("attributes")},
		}
		tq.SKUBoost = st.fieldWeight("sku")
		if s := strings.TrimSpace(q.Text); !strings.ContainsAny(s, " \t") && len(s) <= MaxValueLen {
			tq.SKU = s
		}
		req.Text = tq
	}
	for _, b := range st.Boosts {
		req.Boosts = append(req.Boosts, BoostClause{Attr: normalizeBoostAttr(b.Attribute), Category: b.Category, Weight: b.Weight})
	}
	tie := SortField{Field: "product_id"}
	switch q.Sort {
	case SortPriceAsc, SortPriceDesc:
		req.Filters.HasPrice = true
		req.Sort = []SortField{{Field: "price", Desc: q.Sort == SortPriceDesc}, tie}
	case SortNewest:
		req.Sort = []SortField{{Field: "updated_at", Desc: true}, tie}
	case SortName:
		req.Sort = []SortField{{Field: "name_sort"}, tie}
	default:
		req.Sort = []SortField{{Field: "_score", Desc: true}, tie}
	}
	if q.Sort == SortRelevance {
		if len(c.A) > 0 {
			return req, invalid("cursor", "cursor does not belong to this query")
		}
		req.From = c.O
		if req.From+q.Limit > MaxDepth {
			req.Size = MaxDepth - req.From
		}
	} else {
		if c.O > 0 || (len(c.A) != 0 && len(c.A) != len(req.Sort)) {
			return req, invalid("cursor", "cursor does not belong to this query")
		}
		req.After = c.A
	}
	return req, nil
}

func normalizeBoostAttr(a string) string {
	k, v, _ := strings.Cut(a, "=")
	return NormalizeAttrKey(k) + "=" + v
}
