package search

import (
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds of a query. They keep one request's cost small whatever a client sends.
const (
	DefaultLimit     = 20
	MaxLimit         = 100
	MaxTextLen       = 200 // runes
	MaxTokens        = 16
	MaxCategories    = 20
	MaxAttrKeys      = 10
	MaxAttrValues    = 20
	MaxValueLen      = 200
	MaxPrice         = int64(1_000_000_000_000) // minor units
	MaxDepth         = 1000                     // hits reachable by paging in relevance order
	DefaultSuggest   = 8
	MaxSuggest       = 50
	MaxSuggestLen    = 100
	DefaultFacetSize = 50
)

// Sort orders of a search.
type Sort string

// The sort orders clients may ask for.
const (
	SortRelevance Sort = "relevance"
	SortPriceAsc  Sort = "price_asc"
	SortPriceDesc Sort = "price_desc"
	SortNewest    Sort = "newest"
	SortName      Sort = "name"
)

// Sorts lists the accepted sort orders, for messages and the API spec.
var Sorts = []Sort{SortRelevance, SortPriceAsc, SortPriceDesc, SortNewest, SortName}

// Query is a shopper's product search, as the HTTP layer parses it from
// GET /api/v1/search.
type Query struct {
	// Text is free text; empty lists everything matching the filters.
	Text string
	// Categories keeps products in any of these category ids.
	Categories []string
	// Attributes keeps products having, for every key, one of the values.
	Attributes map[string][]string
	// MinPrice and MaxPrice bound the lowest variant price, in minor units of
	// Currency (inclusive).
	MinPrice *int64
	MaxPrice *int64
	// Currency of prices (ISO 4217); empty means the storefront's currency.
	Currency string
	// InStock keeps only products with (true) or without (false) available stock.
	InStock *bool
	Sort    Sort
	// Limit is the page size, 1..MaxLimit (0 means DefaultLimit).
	Limit int
	// Cursor continues a previous result (its NextCursor).
	Cursor string
}

// SuggestQuery is an autocomplete request (GET /api/v1/search/suggest).
type SuggestQuery struct {
	// Text is what the shopper typed so far; the last word may be incomplete.
	Text  string
	Limit int
}

// Query parameters of GET /api/v1/search. Attribute filters are "attr.<key>=<value>",
// repeatable.
var queryParams = map[string]bool{
	"q": true, "category": true, "min_price": true, "max_price": true, "currency": true,
	"in_stock": true, "sort": true, "limit": true, "cursor": true,
}

// ParseQuery reads a Query from URL query parameters: q, category (repeatable or
// comma-separated), attr.<key> (repeatable), min_price, max_price, currency,
// in_stock, sort, limit, cursor. Unknown parameters are refused so a typo such as
// min-price does not silently return unfiltered results. The result is validated;
// errors are *Error with CodeInvalid naming the parameter.
func ParseQuery(v url.Values) (Query, error) {
	var q Query
	for k, vals := range v {
		if strings.HasPrefix(k, "attr.") {
			key := NormalizeAttrKey(strings.TrimPrefix(k, "attr."))
			if key == "" {
				return q, invalid(k, "attribute filter %q must be attr.<key> with a key of letters, digits, '_' or '-'", k)
			}
			if q.Attributes == nil {
				q.Attributes = map[string][]string{}
			}
			q.Attributes[key] = append(q.Attributes[key], vals...)
			continue
		}
		if !queryParams[k] {
			return q, invalid(k, "unknown query parameter %q", k)
		}
		if k != "category" && len(vals) > 1 {
			return q, invalid(k, "%s may be given only once", k)
		}
	}
	q.Text = v.Get("q")
	for _, c := range v["category"] {
		for _, id := range strings.Split(c, ",") {
			if id = strings.TrimSpace(id); id != "" {
				q.Categories = append(q.Categories, id)
			}
		}
	}
	var err error
	if q.MinPrice, err = parsePrice(v, "min_price"); err != nil {
		return q, err
	}
	if q.MaxPrice, err = parsePrice(v, "max_price"); err != nil {
		return q, err
	}
	q.Currency = v.Get("currency")
	if s := v.Get("in_stock"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, invalid("in_stock", "in_stock must be true or false")
		}
		q.InStock = &b
	}
	q.Sort = Sort(v.Get("sort"))
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return q, invalid("limit", "limit must be a whole number between 1 and %d", MaxLimit)
		}
		if n == 0 { // an explicit 0 is a mistake, not "the default"
			return q, invalid("limit", "limit must be between 1 and %d", MaxLimit)
		}
		q.Limit = n
	}
	q.Cursor = v.Get("cursor")
	return q, q.Validate()
}

func parsePrice(v url.Values, name string) (*int64, error) {
	s := v.Get(name)
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, invalid(name, "%s must be a whole number of minor currency units (e.g. cents)", name)
	}
	return &n, nil
}

// Validate checks every bound; errors are *Error with CodeInvalid.
func (q Query) Validate() error {
	if err := validText("q", q.Text, MaxTextLen); err != nil {
		return err
	}
	if len(q.Categories) > MaxCategories {
		return invalid("category", "at most %d categories may be given", MaxCategories)
	}
	for _, c := range q.Categories {
		if c == "" || len(c) > MaxValueLen || !utf8.ValidString(c) {
			return invalid("category", "category ids must be 1 to %d bytes of UTF-8", MaxValueLen)
		}
	}
	if len(q.Attributes) > MaxAttrKeys {
		return invalid("attr", "at most %d attribute keys may be filtered on", MaxAttrKeys)
	}
	for k, vals := range q.Attributes {
		if NormalizeAttrKey(k) != k {
			return invalid("attr."+k, "attribute key %q must be lower-case letters, digits, '_' or '-'", k)
		}
		if len(vals) == 0 || len(vals) > MaxAttrValues {
			return invalid("attr."+k, "attr.%s takes 1 to %d values", k, MaxAttrValues)
		}
		for _, val := range vals {
			if val == "" || len(val) > MaxValueLen || !utf8.ValidString(val) {
				return invalid("attr."+k, "attribute values must be 1 to %d bytes of UTF-8", MaxValueLen)
			}
		}
	}
	for _, p := range []struct {
		name string
		v    *int64
	}{{"min_price", q.MinPrice}, {"max_price", q.MaxPrice}} {
		if p.v != nil && (*p.v < 0 || *p.v > MaxPrice) {
			return invalid(p.name, "%s must be between 0 and %d", p.name, MaxPrice)
		}
	}
	if q.MinPrice != nil && q.MaxPrice != nil && *q.MinPrice > *q.MaxPrice {
		return invalid("min_price", "min_price must not be greater than max_price")
	}
	if q.Currency != "" && !validCurrency(strings.ToLower(q.Currency)) {
		return invalid("currency", "currency must be a three-letter ISO 4217 code such as USD")
	}
	if q.Sort != "" && !validSort(q.Sort) {
		return invalid("sort", "sort must be one of %s", joinSorts())
	}
	if q.Limit < 0 || q.Limit > MaxLimit {
		return invalid("limit", "limit must be between 1 and %d", MaxLimit)
	}
	if q.Cursor != "" {
		if _, err := decodeCursor(q.Cursor); err != nil {
			return err
		}
	}
	return nil
}

// ParseSuggest reads a SuggestQuery from q and limit.
func ParseSuggest(v url.Values) (SuggestQuery, error) {
	var s SuggestQuery
	for k, vals := range v {
		if k != "q" && k != "limit" {
			return s, invalid(k, "unknown query parameter %q", k)
		}
		if len(vals) > 1 {
			return s, invalid(k, "%s may be given only once", k)
		}
	}
	s.Text = v.Get("q")
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return s, invalid("limit", "limit must be a whole number between 1 and %d", MaxSuggest)
		}
		s.Limit = n
	}
	return s, s.Validate()
}

// Validate checks the bounds of an autocomplete request.
func (s SuggestQuery) Validate() error {
	if strings.TrimSpace(s.Text) == "" {
		return invalid("q", "q is required")
	}
	if err := validText("q", s.Text, MaxSuggestLen); err != nil {
		return err
	}
	if s.Limit < 0 || s.Limit > MaxSuggest {
		return invalid("limit", "limit must be between 1 and %d", MaxSuggest)
	}
	return nil
}

func validText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return invalid(field, "%s must be valid UTF-8", field)
	}
	if utf8.RuneCountInString(s) > max {
		return invalid(field, "%s must be at most %d characters", field, max)
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' {
			return invalid(field, "%s must not contain control characters", field)
		}
	}
	return nil
}

func validSort(s Sort) bool {
	for _, x := range Sorts {
		if s == x {
			return true
		}
	}
	return false
}

func joinSorts() string {
	s := make([]string, len(Sorts))
	for i, x := range Sorts {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}

// normalized returns the query with defaults applied and lists sorted, so that two
// equivalent queries have the same fingerprint.
func (q Query) normalized(st Settings) Query {
	n := q
	if n.Limit == 0 {
		n.Limit = DefaultLimit
	}
	if n.Sort == "" {
		n.Sort = SortRelevance
	}
	if n.Currency == "" {
		n.Currency = st.currency()
	}
	n.Currency = strings.ToLower(n.Currency)
	n.Categories = append([]string(nil), q.Categories...)
	sort.Strings(n.Categories)
	if len(q.Attributes) > 0 {
		n.Attributes = make(map[string][]string, len(q.Attributes))
		for k, v := range q.Attributes {
			vals := append([]string(nil), v...)
			sort.Strings(vals)
			n.Attributes[k] = vals
		}
	}
	return n
}

// fingerprint identifies everything in a query that decides its result order, so a
// cursor cannot be replayed against a different query.
func (q Query) fingerprint() uint32 {
	var b strings.Builder
	b.WriteString(q.Text)
	b.WriteByte(0)
	b.WriteString(strings.Join(q.Categories, "\x01"))
	b.WriteByte(0)
	keys := make([]string, 0, len(q.Attributes))
	for k := range q.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(k + "=" + strings.Join(q.Attributes[k], "\x01") + "\x02")
	}
	b.WriteByte(0)
	for _, p := range []*int64{q.MinPrice, q.MaxPrice} {
		if p != nil {
			b.WriteString(strconv.FormatInt(*p, 10))
		}
		b.WriteByte(0)
	}
	b.WriteString(q.Currency)
	b.WriteByte(0)
	if q.InStock != nil {
		b.WriteString(strconv.FormatBool(*q.InStock))
	}
	b.WriteByte(0)
	b.WriteString(string(q.Sort))
	return fnv32(b.String())
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// autoFuzziness is the number of typos tolerated in a word of n runes, the same
// rule as Elasticsearch's AUTO: none up to 2, one up to 5, two beyond.
func autoFuzziness(n int) int {
	switch {
	case n <= 2:
		return 0
	case n <= 5:
		return 1
	default:
		return 2
	}
}

// safeFloat turns a settings weight into a usable boost.
func safeFloat(f, def float64) float64 {
	if f <= 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return def
	}
	return f
}
