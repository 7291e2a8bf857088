package search

import (
	"slices"
	"strings"
)

// Settings are a storefront's search settings (the Storefront resource's spec.search).
// They are applied at query time, so changing them never needs a reindex.
type Settings struct {
	// Currency is the storefront's default price currency (ISO 4217), "USD" if empty.
	Currency string `json:"currency,omitempty"`
	// Synonyms are groups of interchangeable words or phrases, e.g.
	// ["tee", "t-shirt", "tshirt"]: a query for one also finds the others.
	Synonyms [][]string `json:"synonyms,omitempty"`
	// FieldBoosts multiply the default weight of a text match in a field (1 is
	// neutral, 3 triples it; the Storefront's weightPercent / 100). Keys are the
	// BoostFields.
	FieldBoosts map[string]float64 `json:"fieldBoosts,omitempty"`
	// Boosts raise products with an attribute value or in a category.
	Boosts []Boost `json:"boosts,omitempty"`
	// Autocomplete tunes suggestions.
	Autocomplete Autocomplete `json:"autocomplete,omitempty"`
}

// Boost raises the score of products matching Attribute ("key=value") or Category
// by Weight (a positive factor; 1 is neutral-ish, 10 is strong).
type Boost struct {
	Attribute string  `json:"attribute,omitempty"`
	Category  string  `json:"category,omitempty"`
	Weight    float64 `json:"weight"`
}

// Autocomplete settings.
type Autocomplete struct {
	// Disabled turns suggestions off (Suggest returns none).
	Disabled bool `json:"disabled,omitempty"`
	// MinChars is the shortest input that gets suggestions (default 1).
	MinChars int `json:"minChars,omitempty"`
	// Limit is the default number of suggestions (default 8, at most 20).
	Limit int `json:"limit,omitempty"`
}

// Fields a storefront may re-weigh (the Storefront resource's boost fields). A text
// query matches in name, description, brand (the "brand" attribute) and attributes
// (every attribute value); sku is the exact-SKU match. Category names are not
// searched (documents carry category ids), so there is no "category" field to weigh:
// a value boost ({category: id}) raises a category's products instead.
var BoostFields = []string{"name", "description", "brand", "attributes", "sku"}

// defaultFieldWeights are the weights before a storefront's FieldBoosts.
var defaultFieldWeights = map[string]float64{"name": 3, "description": 1, "brand": 2, "attributes": 1, "sku": 10}

func (s Settings) fieldWeight(f string) float64 {
	return defaultFieldWeights[f] * safeFloat(s.FieldBoosts[f], 1)
}

// Settings bounds.
const (
	MaxSynonymGroups  = 500
	MaxSynonymMembers = 20
	MaxBoosts         = 50
	MaxBoostWeight    = 100
)

// Validate checks settings bounds; errors are *Error with CodeInvalid whose Field is
// the setting's JSON path.
func (s Settings) Validate() error {
	if s.Currency != "" && !validCurrency(strings.ToLower(s.Currency)) {
		return invalid("currency", "currency must be a three-letter ISO 4217 code")
	}
	if len(s.Synonyms) > MaxSynonymGroups {
		return invalid("synonyms", "at most %d synonym groups", MaxSynonymGroups)
	}
	for _, g := range s.Synonyms {
		if len(g) < 2 || len(g) > MaxSynonymMembers {
			return invalid("synonyms", "a synonym group has 2 to %d members", MaxSynonymMembers)
		}
		for _, m := range g {
			if len(Analyze(m)) == 0 || len(m) > MaxSuggestLen {
				return invalid("synonyms", "synonym %q must contain a word and be at most %d bytes", m, MaxSuggestLen)
			}
		}
	}
	if len(s.Boosts) > MaxBoosts {
		return invalid("boosts", "at most %d boosts", MaxBoosts)
	}
	for _, b := range s.Boosts {
		if (b.Attribute == "") == (b.Category == "") {
			return invalid("boosts", "a boost names exactly one of attribute or category")
		}
		if b.Attribute != "" {
			k, v, ok := strings.Cut(b.Attribute, "=")
			if !ok || NormalizeAttrKey(k) == "" || v == "" {
				return invalid("boosts", "boost attribute %q must be key=value", b.Attribute)
			}
		}
		if !(b.Weight > 0 && b.Weight <= MaxBoostWeight) {
			return invalid("boosts", "boost weight must be greater than 0 and at most %d", MaxBoostWeight)
		}
	}
	for f, w := range s.FieldBoosts {
		if !slices.Contains(BoostFields, f) {
			return invalid("fieldBoosts", "unknown boost field %q; use one of %s", f, strings.Join(BoostFields, ", "))
		}
		if !(w > 0 && w <= MaxBoostWeight) {
			return invalid("fieldBoosts", "the boost of %s must be greater than 0 and at most %d", f, MaxBoostWeight)
		}
	}
	if s.Autocomplete.MinChars < 0 || s.Autocomplete.MinChars > MaxSuggestLen {
		return invalid("autocomplete.minChars", "minChars must be between 0 and %d", MaxSuggestLen)
	}
	if s.Autocomplete.Limit < 0 || s.Autocomplete.Limit > MaxSuggest {
		return invalid("autocomplete.limit", "limit must be between 0 and %d", MaxSuggest)
	}
	return nil
}

func (s Settings) currency() string {
	if s.Currency == "" {
		return "usd"
	}
	return strings.ToLower(s.Currency)
}

// synonymIndex maps the first token of every synonym member to the groups it starts.
type synonymIndex map[string][]synonymEntry

type synonymEntry struct {
	member []string   // the member's tokens
	group  [][]string // every member of its group, as tokens
}

func buildSynonyms(groups [][]string) synonymIndex {
	idx := synonymIndex{}
	for _, g := range groups {
		var toks [][]string
		for _, m := range g {
			if t := Analyze(m); len(t) > 0 {
				toks = append(toks, t)
			}
		}
		for _, m := range toks {
			idx[m[0]] = append(idx[m[0]], synonymEntry{member: m, group: toks})
		}
	}
	return idx
}

// longestAt returns the longest synonym member matching tokens[i:], if any.
func (idx synonymIndex) longestAt(tokens []string, i int) (synonymEntry, bool) {
	var best synonymEntry
	found := false
	for _, e := range idx[tokens[i]] {
		n := len(e.member)
		if i+n > len(tokens) || (found && n <= len(best.member)) {
			continue
		}
		match := true
		for j := range e.member {
			if tokens[i+j] != e.member[j] {
				match = false
				break
			}
		}
		if match {
			best, found = e, true
		}
	}
	return best, found
}
