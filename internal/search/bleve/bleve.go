// Package bleve is the embedded search.Backend: Bleve indexes on local disk, one per
// storefront, for `kommerce dev` and single-node installs that run no Elasticsearch.
//
// Layout under the data directory: <dir>/<alias>/CURRENT names the physical index
// directory (g000001, g000002, ...) the alias points at; a reindex builds the next
// generation and swaps CURRENT atomically (write + rename). Each document's full state
// Each document's full state and revision are a stored (not indexed) field, _state,
// next to the indexed fields. Writes to one index are serialized by a mutex, which is
// what makes the revision check a real compare-and-set.
package bleve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bv "github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/mapping"
	bindex "github.com/blevesearch/bleve_index_api"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/kommerce/kommerce/internal/search"
)

// Backend keeps Bleve indexes under a directory. Create it with Open.
type Backend struct {
	dir string

	mu      sync.Mutex
	indexes map[string]*index
	closed  bool
}

// index is one open alias.
type index struct {
	mu   sync.RWMutex // write lock for writes and reindex; read lock for reads
	gen  int
	bidx bv.Index
}

// Open returns a backend storing its indexes under dir, creating dir if needed.
func Open(dir string) (*Backend, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("bleve data dir: %w", err)
	}
	return &Backend{dir: dir, indexes: map[string]*index{}}, nil
}

// Name implements search.Backend.
func (b *Backend) Name() string { return "bleve" }

// Ping implements search.Backend.
func (b *Backend) Ping(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return search.Unavailable("bleve backend closed", nil)
	}
	return nil
}

// Close closes every open index.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	var errs []error
	for name, ix := range b.indexes {
		ix.mu.Lock()
		errs = append(errs, ix.bidx.Close())
		ix.mu.Unlock()
		delete(b.indexes, name)
	}
	return errors.Join(errs...)
}

func (b *Backend) aliasDir(alias string) string { return filepath.Join(b.dir, alias) }

func genDir(aliasDir string, gen int) string {
	return filepath.Join(aliasDir, genName(gen))
}

// open returns the open index of alias; with create it makes a missing one, without
// it a missing index yields (nil, nil).
func (b *Backend) open(alias string, create bool) (*index, error) {
	if err := search.ValidIndex(alias); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, search.Unavailable("bleve backend closed", nil)
	}
	if ix, ok := b.indexes[alias]; ok {
		return ix, nil
	}
	ad := b.aliasDir(alias)
	gen, err := readCurrent(ad)
	switch {
	case err == nil:
		// Bleve's files are locked by the process that opened them: without a timeout a
		// second process (kommerce api beside kommerce ingest on one data directory)
		// would block here for ever, holding b.mu.
		bidx, err := bv.OpenUsing(genDir(ad, gen), map[string]any{"bolt_timeout": openTimeout.String()})
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, search.Unavailable("bleve index "+alias+" is in use by another process (Bleve serves one process; run api and ingest apart on Elasticsearch)", err)
		}
		if err != nil {
			return nil, search.Internal("open bleve index "+alias, err)
		}
		ix := &index{gen: gen, bidx: bidx}
		// An index written by an older release is rebuilt with the current mapping
		// before anyone uses it.
		if v, _ := bidx.GetInternal(mappingKey); string(v) != mappingVersion {
			if err := reindexLocked(context.Background(), ix, ad); err != nil {
				_ = ix.bidx.Close()
				return nil, fmt.Errorf("upgrade bleve index %s: %w", alias, err)
			}
		}
		b.indexes[alias] = ix
		return ix, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, search.Internal("read bleve alias "+alias, err)
	case !create:
		return nil, nil
	}
	if err := os.MkdirAll(ad, 0o750); err != nil {
		return nil, search.Internal("create bleve alias dir", err)
	}
	bidx, err := newIndex(genDir(ad, 1))
	if err != nil {
		return nil, err
	}
	if err := writeCurrent(ad, 1); err != nil {
		_ = bidx.Close()
		return nil, err
	}
	ix := &index{gen: 1, bidx: bidx}
	b.indexes[alias] = ix
	return ix, nil
}

// openTimeout bounds waiting for another process's lock on an index.
const openTimeout = 2 * time.Second

// mappingVersion is recorded in every index; bump it with any mapping change, and
// indexes of older releases are rebuilt when opened.
const mappingVersion = "3"

var mappingKey = []byte("m/version")

func newIndex(path string) (bv.Index, error) {
	_ = os.RemoveAll(path) // a half-built generation from a crash
	bidx, err := bv.New(path, indexMapping())
	if err != nil {
		return nil, search.Internal("create bleve index", err)
	}
	if err := bidx.SetInternal(mappingKey, []byte(mappingVersion)); err != nil {
		_ = bidx.Close()
		return nil, search.Internal("record bleve mapping version", err)
	}
	return bidx, nil
}

func readCurrent(aliasDir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(aliasDir, "CURRENT"))
	if err != nil {
		return 0, err
	}
	var gen int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "g%06d", &gen); err != nil || gen < 1 {
		return 0, fmt.Errorf("bad CURRENT %q", b)
	}
	return gen, nil
}

func writeCurrent(aliasDir string, gen int) error {
	tmp := filepath.Join(aliasDir, "CURRENT.tmp")
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("g%06d\n", gen)), 0o600); err != nil {
		return search.Internal("write bleve alias", err)
	}
	if err := os.Rename(tmp, filepath.Join(aliasDir, "CURRENT")); err != nil {
		return search.Internal("swap bleve alias", err)
	}
	return nil
}

// EnsureIndex implements search.Backend.
func (b *Backend) EnsureIndex(_ context.Context, alias string) error {
	_, err := b.open(alias, true)
	return err
}

// DeleteIndex implements search.Backend.
func (b *Backend) DeleteIndex(_ context.Context, alias string) error {
	if err := search.ValidIndex(alias); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ix, ok := b.indexes[alias]; ok {
		ix.mu.Lock()
		_ = ix.bidx.Close()
		ix.mu.Unlock()
		delete(b.indexes, alias)
	}
	if err := os.RemoveAll(b.aliasDir(alias)); err != nil {
		return search.Internal("delete bleve index", err)
	}
	return nil
}

// Refresh implements search.Backend; Bleve batches are searchable once applied.
func (b *Backend) Refresh(context.Context, string) error { return nil }

// stateField holds a document's state: stored, not indexed. (Bleve's internal
// key-value store would be the obvious place, but it lives in one BoltDB file that
// grows by gigabytes under batch writes.)
const stateField = "_state"

// state is what the internal store keeps per document.
type state struct {
	Seq int64           `json:"seq"`
	Doc search.Document `json:"doc"`
}

func readState(bidx bv.Index, id string) (*state, error) {
	doc, err := bidx.Document(id)
	if err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, nil
	}
	var raw []byte
	doc.VisitFields(func(f bindex.Field) {
		if f.Name() == stateField {
			raw = f.Value()
		}
	})
	if raw == nil {
		return nil, fmt.Errorf("document %s has no state", id)
	}
	return decodeState(id, raw)
}

func decodeState(id string, raw []byte) (*state, error) {
	var st state
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("decode state of %s: %w", id, err)
	}
	return &st, nil
}

// Get implements search.Backend.
func (b *Backend) Get(_ context.Context, alias string, ids []string) (map[string]search.Stored, error) {
	ix, err := b.open(alias, false)
	if err != nil || ix == nil {
		return map[string]search.Stored{}, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make(map[string]search.Stored, len(ids))
	for _, id := range ids {
		st, err := readState(ix.bidx, id)
		if err != nil {
			return nil, search.Internal("bleve get", err)
		}
		if st != nil {
			out[id] = search.Stored{Doc: st.Doc, Rev: search.Rev{Index: genName(ix.gen), SeqNo: st.Seq, PrimaryTerm: 1}}
		}
	}
	return out, nil
}

// Write implements search.Backend.
func (b *Backend) Write(_ context.Context, alias string, writes []search.Write) ([]search.WriteResult, error) {
	ix, err := b.open(alias, true)
	if err != nil {
		return nil, err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return writeLocked(ix.bidx, genName(ix.gen), writes)
}

func genName(gen int) string { return fmt.Sprintf("g%06d", gen) }

// writeLocked applies conditional writes in one batch; the caller holds the lock.
func writeLocked(bidx bv.Index, gen string, writes []search.Write) ([]search.WriteResult, error) {
	results := make([]search.WriteResult, len(writes))
	batch := bidx.NewBatch()
	pending := map[string]int64{} // seq written earlier in this batch
	for i, w := range writes {
		id := w.Doc.ProductID
		results[i].ID = id
		if id == "" {
			results[i] = search.WriteResult{Status: search.Rejected, Err: errors.New("document has no product id")}
			continue
		}
		var cur int64
		if seq, ok := pending[id]; ok {
			cur = seq
		} else {
			st, err := readState(bidx, id)
			if err != nil {
				return nil, search.Internal("bleve read", err)
			}
			if st != nil {
				cur = st.Seq
			}
		}
		if (w.Rev.Exists() && (w.Rev.SeqNo != cur || w.Rev.Index != gen)) || (!w.Rev.Exists() && cur != 0) {
			results[i].Status = search.Conflict
			continue
		}
		next := cur + 1
		raw, err := json.Marshal(state{Seq: next, Doc: w.Doc})
		if err != nil {
			results[i] = search.WriteResult{ID: id, Status: search.Rejected, Err: err}
			continue
		}
		fields := indexable(w.Doc.Fields())
		fields[stateField] = string(raw)
		if err := batch.Index(id, fields); err != nil {
			results[i] = search.WriteResult{ID: id, Status: search.Rejected, Err: err}
			continue
		}
		pending[id] = next
		results[i].Status = search.Written
	}
	if batch.Size() > 0 || len(pending) > 0 {
		if err := bidx.Batch(batch); err != nil {
			for i := range results {
				if results[i].Status == search.Written {
					results[i] = search.WriteResult{ID: results[i].ID, Status: search.Failed, Err: err}
				}
			}
		}
	}
	return results, nil
}

// indexable turns derived fields into what the Bleve mapping indexes.
func indexable(f search.Fields) map[string]any {
	prices := make(map[string]any, len(f.Prices))
	for c, a := range f.Prices {
		prices[c] = float64(a)
	}
	return map[string]any{
		"tenant_id":       f.TenantID,
		"product_id":      f.ProductID,
		"version":         float64(f.Version),
		"product_version": float64(f.ProductVersion),
		"visible":         f.Visible,
		"name":            f.Name,
		"name_sort":       f.NameSort,
		"description":     f.Description,
		"brand":           f.Brand,
		"attributes":      f.AttrText,
		"category_ids":    f.CategoryIDs,
		"attrs":           f.Attrs,
		"skus":            f.SKUs,
		"prices":          prices,
		"in_stock":        f.InStock,
		"updated_at":      float64(f.UpdatedAt.UnixMilli()),
	}
}

// textAnalyzer mirrors search.Analyze: Unicode words, lower-cased, nothing removed.
const textAnalyzer = "kommerce_text"

func indexMapping() mapping.IndexMapping {
	im := bv.NewIndexMapping()
	im.ScoringModel = "bm25"
	if err := im.AddCustomAnalyzer(textAnalyzer, map[string]any{
		"type":          custom.Name,
		"tokenizer":     unicode.Name,
		"token_filters": []string{lowercase.Name},
	}); err != nil {
		panic(err) // static configuration
	}
	im.DefaultAnalyzer = textAnalyzer
	im.StoreDynamic = false
	im.IndexDynamic = true
	im.DocValuesDynamic = true

	kw := func() *mapping.FieldMapping {
		f := bv.NewKeywordFieldMapping()
		f.Analyzer = keyword.Name
		f.Store = false
		return f
	}
	text := func() *mapping.FieldMapping {
		f := bv.NewTextFieldMapping()
		f.Analyzer = textAnalyzer
		f.Store = false
		f.IncludeTermVectors = true // phrase queries (multi-word synonyms) need positions
		f.DocValues = false
		return f
	}
	num := func() *mapping.FieldMapping {
		f := bv.NewNumericFieldMapping()
		f.Store = false
		return f
	}
	boolean := func() *mapping.FieldMapping {
		f := bv.NewBooleanFieldMapping()
		f.Store = false
		return f
	}
	stored := bv.NewTextFieldMapping()
	stored.Analyzer = keyword.Name
	stored.Index = false
	stored.Store = true
	stored.IncludeInAll = false
	stored.DocValues = false
	dm := bv.NewDocumentStaticMapping()
	dm.AddFieldMappingsAt(stateField, stored)
	for name, fm := range map[string]*mapping.FieldMapping{
		"tenant_id": kw(), "product_id": kw(), "name_sort": kw(),
		"category_ids": kw(), "attrs": kw(), "skus": kw(),
		"name": text(), "description": text(), "brand": text(), "attributes": text(),
		"version": num(), "product_version": num(), "updated_at": num(),
		"visible": boolean(), "in_stock": boolean(),
	} {
		dm.AddFieldMappingsAt(name, fm)
	}
	prices := bv.NewDocumentMapping() // dynamic: one numeric field per currency
	prices.Dynamic = true
	dm.AddSubDocumentMapping("prices", prices)
	im.DefaultMapping = dm
	return im
}
