package search

import (
	"html"
	"strings"
	"unicode/utf8"
)

// Highlights are made in the query layer, not by the engine: the words that matched
// are known here (exact, typo or prefix, synonyms included), and doing it once gives
// the same markup on every backend. Text is HTML-escaped and matches wrapped in
// <em>...</em>.

const fragmentLen = 160 // bytes of description around the first match

// highlighter marks words matching any alternative of the text query.
type highlighter struct {
	alts []Alt
}

func newHighlighter(tq *TextQuery) *highlighter {
	if tq == nil {
		return nil
	}
	h := &highlighter{}
	for _, c := range tq.Clauses {
		h.alts = append(h.alts, c.Alts...)
	}
	return h
}

func (h *highlighter) matches(term string) bool {
	for _, a := range h.alts {
		for _, t := range a.Terms {
			switch {
			case t == term:
				return true
			case a.Prefix && strings.HasPrefix(term, t):
				return true
			case a.Fuzziness > 0 && levenshteinWithin(t, term, a.Fuzziness):
				return true
			}
		}
	}
	return false
}

// mark returns text with matching words emphasized, or "" when nothing matched.
// With fragment set, only a window of text around the first match is kept.
func (h *highlighter) mark(text string, fragment bool) string {
	if h == nil || text == "" {
		return ""
	}
	var spans [][2]int
	for _, t := range analyzeOffsets(text) {
		if h.matches(t.term) {
			spans = append(spans, [2]int{t.start, t.end})
		}
	}
	if len(spans) == 0 {
		return ""
	}
	from, to := 0, len(text)
	if fragment && len(text) > fragmentLen {
		from = spans[0][0] - fragmentLen/4
		if from < 0 {
			from = 0
		}
		to = from + fragmentLen
		if to > len(text) {
			to = len(text)
		}
		for from > 0 && !utf8.RuneStart(text[from]) {
			from--
		}
		for to < len(text) && !utf8.RuneStart(text[to]) {
			to++
		}
	}
	var b strings.Builder
	if from > 0 {
		b.WriteString("…")
	}
	pos := from
	for _, s := range spans {
		if s[0] < from || s[1] > to {
			continue
		}
		b.WriteString(html.EscapeString(text[pos:s[0]]))
		b.WriteString("<em>")
		b.WriteString(html.EscapeString(text[s[0]:s[1]]))
		b.WriteString("</em>")
		pos = s[1]
	}
	b.WriteString(html.EscapeString(text[pos:to]))
	if to < len(text) {
		b.WriteString("…")
	}
	return b.String()
}

// levenshteinWithin reports whether a and b are at most max edits apart (insertions,
// deletions, substitutions — the distance both engines' fuzzy queries use here).
func levenshteinWithin(a, b string, max int) bool {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > max || -d > max {
		return false
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > max {
			return false
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)] <= max
}
