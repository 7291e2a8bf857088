package search

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Backend is a search engine holding one index (alias) per storefront. Elasticsearch
// and Bleve implement it; the conformance suite in searchtest runs against both.
//
// Index names come from IndexName. Methods return *Error with CodeUnavailable when the
// engine cannot be reached and CodeInvalid for a bad index name; Search on an index
// that does not exist yet returns an empty Response, because a storefront whose
// catalog has not been indexed simply has no results.
type Backend interface {
	// Name is "elasticsearch" or "bleve".
	Name() string
	// EnsureIndex creates the index with the service's mappings behind its alias if
	// it does not exist. It is idempotent and safe to call from several replicas.
	EnsureIndex(ctx context.Context, index string) error
	// Get returns the stored documents with their revisions; missing ids are absent
	// from the map.
	Get(ctx context.Context, index string, ids []string) (map[string]Stored, error)
	// Write applies conditional writes: each succeeds only if the document still has
	// the revision it was read at (or, for Create, does not exist). The result has one
	// entry per write, in order; err is set only when the whole request failed.
	Write(ctx context.Context, index string, writes []Write) ([]WriteResult, error)
	// Search runs a compiled request.
	Search(ctx context.Context, index string, req Request) (Response, error)
	// Reindex rebuilds the index into a fresh physical index with the current
	// mappings and atomically points the alias at it, while writes continue.
	Reindex(ctx context.Context, index string) error
	// Refresh makes every write so far visible to Search (tests and benchmarks).
	Refresh(ctx context.Context, index string) error
	// DeleteIndex removes the alias and every physical index behind it.
	DeleteIndex(ctx context.Context, index string) error
	// Ping reports whether the engine answers.
	Ping(ctx context.Context) error
	Close() error
}

// Rev is the revision a document was read at, opaque to callers. The zero Rev means
// "not stored". Index names the physical index the document was read from: a write
// based on it goes to that index, so a revision read before a reindex can never match
// an unrelated document of the new index by chance.
type Rev struct {
	Index       string
	SeqNo       int64
	PrimaryTerm int64
}

// Exists reports whether the revision is of a stored document.
func (r Rev) Exists() bool { return r.PrimaryTerm != 0 }

// Stored is a document as read from an index.
type Stored struct {
	Doc Document
	Rev Rev
}

// Write is one conditional write: Doc replaces the stored document if it still has
// Rev, or, when Rev is zero, if no document with that id exists.
type Write struct {
	Doc Document
	Rev Rev
}

// WriteStatus is the outcome of one Write.
type WriteStatus int

const (
	// Written: the document is stored.
	Written WriteStatus = iota
	// Conflict: the stored revision moved on; read again and merge.
	Conflict
	// Rejected: the engine refuses this document for good (e.g. a mapping error);
	// retrying cannot help.
	Rejected
	// Failed: a transient failure (overload, shard unavailable); retry later.
	Failed
)

func (s WriteStatus) String() string {
	switch s {
	case Written:
		return "written"
	case Conflict:
		return "conflict"
	case Rejected:
		return "rejected"
	default:
		return "failed"
	}
}

// WriteResult is the outcome of one Write.
type WriteResult struct {
	ID     string
	Status WriteStatus
	Err    error
}

// Request is a query compiled by the Searcher into engine-neutral clauses.
type Request struct {
	TenantID string
	// Text is nil for "match everything".
	Text    *TextQuery
	Filters Filters
	// Boosts add score to documents matching them, without filtering.
	Boosts []BoostClause
	Sort   []SortField
	// After continues after the hit with these sort values (keyset pagination);
	// From skips hits (bounded pagination, relevance order only).
	After  []any
	From   int
	Size   int
	Facets FacetRequest
}

// TextQuery matches documents where every clause matches in one of Fields, or whose
// SKU equals SKU.
type TextQuery struct {
	Clauses  []Clause
	Fields   []FieldWeight
	SKU      string
	SKUBoost float64
}

// Clause matches when any alternative matches.
type Clause struct {
	Alts []Alt
}

// Alt is one way of matching a clause: a term (fuzzy or prefix) or, with several
// terms, a phrase. Terms are already analyzed (lower-case tokens).
type Alt struct {
	Terms     []string
	Fuzziness int
	Prefix    bool
	Boost     float64
}

// FieldWeight is a text field and its boost.
type FieldWeight struct {
	Field string // FieldName or FieldDescription
	Boost float64
}

// Text fields.
const (
	FieldName        = "name"
	FieldDescription = "description"
	FieldBrand       = "brand"      // the value of the "brand" attribute
	FieldAttributes  = "attributes" // every attribute value
)

// Filters restrict the hits; none of them affects scores.
type Filters struct {
	Categories []string            // any of
	Attrs      map[string][]string // key -> any of the values; all keys must match
	Currency   string              // lowercase; required with MinPrice/MaxPrice
	MinPrice   *int64
	MaxPrice   *int64
	InStock    *bool
	// HasPrice keeps only documents with a price in Currency (price sorting).
	HasPrice bool
}

// BoostClause adds Weight to the score of documents having Attr ("key=value") or
// Category.
type BoostClause struct {
	Attr     string
	Category string
	Weight   float64
}

// SortField orders hits; Field is "_score", "price" (in Filters.Currency),
// "name_sort", "updated_at" or "product_id".
type SortField struct {
	Field string
	Desc  bool
}

// FacetRequest asks for term counts.
type FacetRequest struct {
	Categories bool
	Attrs      bool
	InStock    bool
	Size       int
}

// Response is what an engine answered.
type Response struct {
	Hits   []ResponseHit
	Total  int64
	Facets map[string][]FacetCount // "category_ids", "attrs", "in_stock"
	// Took is the engine's own time for the query (Elasticsearch's "took").
	Took time.Duration
}

// ResponseHit is one matching document.
type ResponseHit struct {
	ID    string
	Score float64
	Sort  []any // values for After, normalized to int64/float64/string
	Doc   Document
}

// FacetCount is one term and how many hits have it.
type FacetCount struct {
	Value string
	Count int64
}

// IndexName is the alias of a storefront's product index: the tenant's index prefix
// and the storefront name, e.g. "kommerce-acme-web".
func IndexName(indexPrefix, storefront string) string { return indexPrefix + "-" + storefront }

var validIndex = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,199}$`)

// ValidIndex reports whether name is acceptable as an alias on both backends.
func ValidIndex(name string) error {
	if !validIndex.MatchString(name) {
		return &Error{Code: CodeInvalid, Field: "index", Message: fmt.Sprintf("index name %q must be lower-case letters, digits, '-' or '_' (at most 200)", name)}
	}
	return nil
}

// Code classifies an Error.
type Code string

// Error codes.
const (
	// CodeInvalid: the caller sent something wrong; maps to HTTP 400.
	CodeInvalid Code = "invalid_argument"
	// CodeUnavailable: the engine did not answer; maps to HTTP 503.
	CodeUnavailable Code = "unavailable"
	// CodeInternal: the engine answered something unexpected; maps to HTTP 500.
	CodeInternal Code = "internal"
)

// Error is the one error type of this package. Message is a sentence safe to show
// to a client for CodeInvalid; Field names the query parameter at fault.
type Error struct {
	Code    Code
	Field   string
	Message string
	Err     error
}

func (e *Error) Error() string {
	s := string(e.Code) + ": " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns the Code of err, CodeInternal when it is not an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

func invalid(field, format string, args ...any) error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps an engine connection failure.
func Unavailable(what string, err error) error {
	return &Error{Code: CodeUnavailable, Message: what, Err: err}
}

// Internal wraps an unexpected engine answer.
func Internal(what string, err error) error {
	return &Error{Code: CodeInternal, Message: what, Err: err}
}
