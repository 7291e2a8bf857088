package search

import (
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
)

// Text analysis shared by the query layer and the Bleve backend: Unicode word
// segmentation (UAX #29, as Elasticsearch's standard tokenizer does) and lower-casing,
// without stop words or stemming. Query terms are analyzed here once, so both engines
// receive the same terms.
var (
	tokenizer = unicode.NewUnicodeTokenizer()
	lower     = lowercase.NewLowerCaseFilter()
)

// token is one word of a text with its byte offsets.
type token struct {
	term       string
	start, end int
}

// Analyze splits text into lower-case words.
func Analyze(text string) []string {
	toks := analyzeOffsets(text)
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = t.term
	}
	return out
}

func analyzeOffsets(text string) []token {
	stream := lower.Filter(tokenizer.Tokenize([]byte(text)))
	out := make([]token, 0, len(stream))
	for _, t := range stream {
		if t.Type == analysis.Shingle {
			continue
		}
		out = append(out, token{term: string(t.Term), start: t.Start, end: t.End})
	}
	return out
}
