// Package elasticsearch is the production search.Backend, on go-elasticsearch v8.
//
// Each storefront has an alias (search.IndexName) pointing at one physical index
// "<alias>-NNNNNN" that this package creates with its own settings and mappings
// (nothing relies on index templates or plugins: the test cluster ships only core
// modules). Writes are bulk requests of conditional operations: "create" for a new
// document, "index" with if_seq_no/if_primary_term against the physical index the
// document was read from for an update, so concurrent writers and writes racing a
// reindex end in a conflict that the caller resolves by reading and merging again.
package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/kommerce/kommerce/internal/search"
)

// Backend talks to one Elasticsearch cluster. Create it with New.
type Backend struct {
	client *es.Client

	mu      sync.Mutex
	ensured map[string]bool // aliases known to exist
}

// New connects to the cluster at url (no request is made until first use).
func New(url string) (*Backend, error) {
	client, err := es.NewClient(es.Config{
		Addresses:     []string{url},
		MaxRetries:    2,
		RetryOnStatus: []int{502, 503, 504},
		RetryBackoff:  func(attempt int) time.Duration { return time.Duration(attempt) * 100 * time.Millisecond },
		Transport: &http.Transport{
			MaxIdleConnsPerHost:   32,
			ResponseHeaderTimeout: 60 * time.Second,
			IdleConnTimeout:       90 * time.Second,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch client: %w", err)
	}
	return &Backend{client: client, ensured: map[string]bool{}}, nil
}

// Name implements search.Backend.
func (b *Backend) Name() string { return "elasticsearch" }

// Close implements search.Backend.
func (b *Backend) Close() error { return nil }

// Ping implements search.Backend.
func (b *Backend) Ping(ctx context.Context) error {
	_, _, err := b.do(ctx, esapi.ClusterHealthRequest{})
	return err
}

// apiError is an Elasticsearch error body.
type apiError struct {
	Error struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
	Status int `json:"status"`
}

// do performs a request and returns the status and body. Transport failures are
// CodeUnavailable; answers are returned whatever their status.
func (b *Backend) do(ctx context.Context, req esapi.Request) (int, []byte, error) {
	res, err := req.Do(ctx, b.client)
	if err != nil {
		return 0, nil, search.Unavailable("elasticsearch request", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, search.Unavailable("elasticsearch response", err)
	}
	return res.StatusCode, body, nil
}

// ok performs a request that must answer 2xx.
func (b *Backend) ok(ctx context.Context, what string, req esapi.Request) ([]byte, error) {
	status, body, err := b.do(ctx, req)
	if err != nil {
		return nil, err
	}
	if status/100 != 2 {
		return nil, statusError(what, status, body)
	}
	return body, nil
}

func statusError(what string, status int, body []byte) error {
	var e apiError
	_ = json.Unmarshal(body, &e)
	msg := fmt.Errorf("%s: status %d %s: %s", what, status, e.Error.Type, truncate(e.Error.Reason, 300))
	if status == http.StatusTooManyRequests || status >= 500 {
		return search.Unavailable(what, msg)
	}
	return search.Internal(what, msg)
}

func errorType(body []byte) string {
	var e apiError
	_ = json.Unmarshal(body, &e)
	return e.Error.Type
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// mappingVersion is recorded in each physical index's _meta; bump it with any
// mapping change and run a reindex.
const mappingVersion = 2

// indexBody is the settings and mappings of a physical index. Text fields use the
// built-in standard analyzer (Unicode words, lower-cased) — the same analysis as
// search.Analyze — and "name" indexes edge prefixes with the core index_prefixes
// option, which makes autocomplete prefix queries cheap without edge n-gram filters.
func indexBody(alias string, withAlias bool) []byte {
	body := map[string]any{
		"settings": map[string]any{
			"index": map[string]any{
				"number_of_shards":   1,
				"number_of_replicas": 0,
				"max_result_window":  search.MaxDepth + search.MaxLimit + 1,
			},
		},
		"mappings": map[string]any{
			"dynamic": "strict",
			"_meta":   map[string]any{"kommerce_mapping": mappingVersion},
			"dynamic_templates": []any{
				map[string]any{"prices": map[string]any{"path_match": "prices.*", "mapping": map[string]any{"type": "long"}}},
			},
			"properties": map[string]any{
				"tenant_id":       map[string]any{"type": "keyword"},
				"product_id":      map[string]any{"type": "keyword"},
				"version":         map[string]any{"type": "long"},
				"product_version": map[string]any{"type": "long"},
				"visible":         map[string]any{"type": "boolean"},
				"in_stock":        map[string]any{"type": "boolean"},
				"name": map[string]any{"type": "text", "analyzer": "standard",
					"index_prefixes": map[string]any{"min_chars": 1, "max_chars": 10}},
				"name_sort":    map[string]any{"type": "keyword"},
				"description":  map[string]any{"type": "text", "analyzer": "standard"},
				"brand":        map[string]any{"type": "text", "analyzer": "standard"},
				"attributes":   map[string]any{"type": "text", "analyzer": "standard"},
				"category_ids": map[string]any{"type": "keyword"},
				"attrs":        map[string]any{"type": "keyword"},
				"skus":         map[string]any{"type": "keyword"},
				"prices":       map[string]any{"type": "object", "dynamic": true},
				"updated_at":   map[string]any{"type": "date", "format": "epoch_millis"},
				"state":        map[string]any{"type": "object", "enabled": false},
			},
		},
	}
	if withAlias {
		body["aliases"] = map[string]any{alias: map[string]any{"is_write_index": true}}
	}
	b, _ := json.Marshal(body)
	return b
}

func physicalName(alias string, gen int) string { return fmt.Sprintf("%s-%06d", alias, gen) }

func generation(alias, physical string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(physical, alias+"-"))
	if err != nil {
		return 0
	}
	return n
}

// EnsureIndex implements search.Backend.
func (b *Backend) EnsureIndex(ctx context.Context, alias string) error {
	if err := search.ValidIndex(alias); err != nil {
		return err
	}
	b.mu.Lock()
	known := b.ensured[alias]
	b.mu.Unlock()
	if known {
		return nil
	}
	current, err := b.ensureExists(ctx, alias)
	if err != nil {
		return err
	}
	// An index made by an older release is rebuilt with the current mappings, online.
	if v, err := b.indexMappingVersion(ctx, current); err != nil {
		return err
	} else if v < mappingVersion {
		if err := b.reindex(ctx, alias, current); err != nil {
			return fmt.Errorf("upgrade index %s from mapping %d to %d: %w", alias, v, mappingVersion, err)
		}
	}
	b.mu.Lock()
	b.ensured[alias] = true
	b.mu.Unlock()
	return nil
}

// ensureExists creates the first physical index of alias if there is none and
// returns the physical index behind it.
func (b *Backend) ensureExists(ctx context.Context, alias string) (string, error) {
	current, err := b.resolve(ctx, alias)
	if err != nil || current != "" {
		return current, err
	}
	first := physicalName(alias, 1)
	status, body, err := b.do(ctx, esapi.IndicesCreateRequest{Index: first, Body: bytes.NewReader(indexBody(alias, true))})
	if err != nil {
		return "", err
	}
	// Another replica may have created it a moment ago: that is success too.
	if status/100 != 2 && errorType(body) != "resource_already_exists_exception" {
		return "", statusError("create index "+alias, status, body)
	}
	return b.resolve(ctx, alias)
}

// indexMappingVersion reads the kommerce_mapping version from a physical index.
func (b *Backend) indexMappingVersion(ctx context.Context, physical string) (int, error) {
	raw, err := b.ok(ctx, "get mapping", esapi.IndicesGetMappingRequest{Index: []string{physical}})
	if err != nil {
		return 0, err
	}
	var m map[string]struct {
		Mappings struct {
			Meta struct {
				Version int `json:"kommerce_mapping"`
			} `json:"_meta"`
		} `json:"mappings"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return 0, search.Internal("decode mapping", err)
	}
	return m[physical].Mappings.Meta.Version, nil
}

// resolve returns the physical index behind alias, "" if there is none. A concrete
// index named like the alias is an error: something else owns that name.
func (b *Backend) resolve(ctx context.Context, alias string) (string, error) {
	status, body, err := b.do(ctx, esapi.IndicesGetAliasRequest{Name: []string{alias}})
	if err != nil {
		return "", err
	}
	if status == http.StatusNotFound {
		return "", nil
	}
	if status/100 != 2 {
		return "", statusError("get alias "+alias, status, body)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return "", search.Internal("decode alias", err)
	}
	var names []string
	for k := range m {
		names = append(names, k)
	}
	if len(names) != 1 {
		return "", search.Internal(fmt.Sprintf("alias %s points at %d indices %v", alias, len(names), names), nil)
	}
	return names[0], nil
}

// DeleteIndex implements search.Backend.
func (b *Backend) DeleteIndex(ctx context.Context, alias string) error {
	if err := search.ValidIndex(alias); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.ensured, alias)
	b.mu.Unlock()
	current, err := b.resolve(ctx, alias)
	if err != nil || current == "" {
		return err
	}
	_, err = b.ok(ctx, "delete index", esapi.IndicesDeleteRequest{Index: []string{current}})
	return err
}

// Refresh implements search.Backend.
func (b *Backend) Refresh(ctx context.Context, alias string) error {
	status, body, err := b.do(ctx, esapi.IndicesRefreshRequest{Index: []string{alias}})
	if err != nil {
		return err
	}
	if status/100 != 2 && status != http.StatusNotFound {
		return statusError("refresh", status, body)
	}
	return nil
}

// Get implements search.Backend.
func (b *Backend) Get(ctx context.Context, alias string, ids []string) (map[string]search.Stored, error) {
	out := make(map[string]search.Stored, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	if err := search.ValidIndex(alias); err != nil {
		return nil, err
	}
	body, _ := json.Marshal(map[string]any{"ids": ids})
	status, raw, err := b.do(ctx, esapi.MgetRequest{Index: alias, Body: bytes.NewReader(body), SourceIncludes: []string{"state"}, Realtime: boolPtr(true)})
	if err != nil {
		return nil, err
	}
	if status == http.StatusNotFound && errorType(raw) == "index_not_found_exception" {
		return out, nil
	}
	if status/100 != 2 {
		return nil, statusError("mget", status, raw)
	}
	var res struct {
		Docs []struct {
			Index       string `json:"_index"`
			ID          string `json:"_id"`
			Found       bool   `json:"found"`
			SeqNo       int64  `json:"_seq_no"`
			PrimaryTerm int64  `json:"_primary_term"`
			Source      struct {
				State search.Document `json:"state"`
			} `json:"_source"`
			Error json.RawMessage `json:"error"`
		} `json:"docs"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, search.Internal("decode mget", err)
	}
	for _, d := range res.Docs {
		if len(d.Error) > 0 {
			var e struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(d.Error, &e) == nil && e.Type == "index_not_found_exception" {
				continue
			}
			return nil, search.Unavailable("mget "+d.ID, errors.New(truncate(string(d.Error), 300)))
		}
		if d.Found {
			out[d.ID] = search.Stored{Doc: d.Source.State, Rev: search.Rev{Index: d.Index, SeqNo: d.SeqNo, PrimaryTerm: d.PrimaryTerm}}
		}
	}
	return out, nil
}

func boolPtr(v bool) *bool { return &v }

// source is the stored form of a document: the derived fields the mapping indexes
// and the full state for read-merge-write.
func source(d search.Document) map[string]any {
	f := d.Fields()
	return map[string]any{
		"tenant_id": f.TenantID, "product_id": f.ProductID, "version": f.Version,
		"product_version": f.ProductVersion, "visible": f.Visible, "in_stock": f.InStock,
		"name": f.Name, "name_sort": f.NameSort, "description": f.Description, "brand": f.Brand, "attributes": f.AttrText,
		"category_ids": f.CategoryIDs, "attrs": f.Attrs, "skus": f.SKUs, "prices": f.Prices,
		"updated_at": f.UpdatedAt.UnixMilli(), "state": d,
	}
}

// Write implements search.Backend.
func (b *Backend) Write(ctx context.Context, alias string, writes []search.Write) ([]search.WriteResult, error) {
	if err := search.ValidIndex(alias); err != nil {
		return nil, err
	}
	if len(writes) == 0 {
		return nil, nil
	}
	if err := b.EnsureIndex(ctx, alias); err != nil {
		return nil, err
	}
	res, err := b.writeTo(ctx, alias, true, writes)
	for i, r := range res {
		if !writes[i].Rev.Exists() && r.Status == search.Failed && strings.Contains(fmt.Sprint(r.Err), "index_not_found") {
			// The index was deleted behind our back: create it again next time.
			b.mu.Lock()
			delete(b.ensured, alias)
			b.mu.Unlock()
			break
		}
	}
	return res, err
}

// writeTo sends writes as one bulk request; creates go to target (an alias or, during
// a reindex, the new physical index), updates to the index their revision names.
func (b *Backend) writeTo(ctx context.Context, target string, targetIsAlias bool, writes []search.Write) ([]search.WriteResult, error) {
	buf := getBulkBuf()
	body := buf.AvailableBuffer()
	for _, w := range writes {
		body = appendMeta(body, w, target, targetIsAlias)
		var err error
		if body, err = appendSource(body, w.Doc); err != nil {
			return nil, search.Internal("encode bulk", err)
		}
	}
	buf.Write(body)
	// Only the fields read below come back: the engine writes less and the answer
	// is decoded into structs, not a map per item.
	raw, err := b.ok(ctx, "bulk", esapi.BulkRequest{Body: buf, FilterPath: bulkFilter})
	if err != nil {
		// The HTTP transport may still be reading a body it failed to send:
		// leave this buffer to the garbage collector.
		return nil, err
	}
	putBulkBuf(buf)
	var res struct {
		// Each item has one key, the operation: create or index.
		Items []struct {
			Create *bulkItem `json:"create"`
			Index  *bulkItem `json:"index"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, search.Internal("decode bulk", err)
	}
	if len(res.Items) != len(writes) {
		return nil, search.Internal(fmt.Sprintf("bulk answered %d items for %d writes", len(res.Items), len(writes)), nil)
	}
	out := make([]search.WriteResult, len(writes))
	for i, item := range res.Items {
		for _, r := range []*bulkItem{item.Create, item.Index} {
			if r != nil {
				out[i] = classify(writes[i], r.ID, r.Status, r.Error)
			}
		}
	}
	return out, nil
}

// bulkFilter is the part of the bulk answer writeTo reads, and the error of a
// refused request, which statusError reads (Elasticsearch 8.19 does not filter an
// error answer anyway; TestBulkFilterKeepsTheRequestError checks it stays readable).
var bulkFilter = []string{"items.*._id", "items.*.status", "items.*.error.type", "items.*.error.reason", "error.type", "error.reason"}

// bulkItem is the outcome of one operation of a bulk request.
type bulkItem struct {
	ID     string     `json:"_id"`
	Status int        `json:"status"`
	Error  *bulkError `json:"error"`
}

type bulkError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

func classify(w search.Write, id string, status int, e *bulkError) search.WriteResult {
	res := search.WriteResult{ID: id}
	var err error
	if e != nil {
		err = fmt.Errorf("%s: %s", e.Type, truncate(e.Reason, 300))
	}
	switch {
	case status/100 == 2:
		res.Status = search.Written
	case status == http.StatusConflict:
		res.Status = search.Conflict
	case w.Rev.Exists() && (status == http.StatusNotFound || status == http.StatusForbidden):
		// The physical index it was read from is gone or write-blocked by a
		// reindex: read again through the alias.
		res.Status = search.Conflict
	case status == http.StatusTooManyRequests || status >= 500 || status == http.StatusForbidden || status == http.StatusNotFound:
		res.Status, res.Err = search.Failed, err
	default:
		res.Status, res.Err = search.Rejected, err
	}
	return res
}
