// Package cache is the read-through cache of the catalog. It wraps an
// apiserver.CatalogService: reads of single products and product lists are served
// from a Store (Redis, or process memory for a single replica) as ready-to-send JSON,
// and every write refreshes or invalidates what it touched before it returns, so a
// read after a 2xx write never sees the old data.
//
// Products are stored with their version and written with "set if newer": a reader
// that loaded an old version just before a write cannot put it back over the newer
// one the writer stored. Lists are keyed by a per-tenant generation number that every
// catalog write increments, so all cached pages of the tenant become unreachable at
// once. Keys start with the tenant's Redis prefix.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/metrics"
)

// Store is the key-value store under the cache.
type Store interface {
	// Get returns the value of key, or nil without error when it is absent.
	Get(ctx context.Context, key string) ([]byte, error)
	// SetIfNewer stores value (whose first VersionWidth bytes are its version in
	// decimal) unless the stored value has the same or a higher version.
	SetIfNewer(ctx context.Context, key string, version int64, value []byte, ttl time.Duration) error
	// Set stores value unconditionally.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Incr increments the integer at key and returns the new value.
	Incr(ctx context.Context, key string) (int64, error)
}

// VersionWidth is the width of the zero-padded version that starts product entries.
const VersionWidth = 20

// Entry status bytes, after the version.
const (
	entryPublished = 'p'
	entryDraft     = 'd'
	entryDeleted   = 'x'
)

// Catalog is a caching apiserver.CatalogService and apiserver.CatalogReader.
type Catalog struct {
	apiserver.CatalogService
	// Store holds the entries; nil turns caching off (every read loads).
	Store   Store
	TTL     time.Duration
	Logger  *slog.Logger
	Metrics *metrics.Metrics // nil records nothing
}

var (
	_ apiserver.CatalogService = (*Catalog)(nil)
	_ apiserver.CatalogReader  = (*Catalog)(nil)
)

func productKey(t *apiserver.Tenant, id string) string {
	return t.RedisPrefix + "catalog:product:" + id
}
func genKey(t *apiserver.Tenant) string { return t.RedisPrefix + "catalog:gen" }

// ProductETag is the entity tag of a product version.
func ProductETag(version int64) string { return `"v` + strconv.FormatInt(version, 10) + `"` }

func encodeProduct(p *apiserver.Product) ([]byte, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	status := byte(entryDraft)
	switch {
	case p.Deleted:
		status, body = entryDeleted, nil
	case p.Status == apiserver.StatusPublished:
		status = entryPublished
	}
	entry := make([]byte, 0, VersionWidth+1+len(body))
	entry = fmt.Appendf(entry, "%0*d", VersionWidth, p.Version)
	entry = append(entry, status)
	return append(entry, body...), nil
}

func decodeProduct(entry []byte) (*apiserver.Document, bool, error) {
	if len(entry) < VersionWidth+1 {
		return nil, false, fmt.Errorf("cache entry of %d bytes", len(entry))
	}
	v, err := strconv.ParseInt(string(entry[:VersionWidth]), 10, 64)
	if err != nil {
		return nil, false, fmt.Errorf("cache entry version: %w", err)
	}
	doc := &apiserver.Document{ETag: ProductETag(v), Body: entry[VersionWidth+1:], Status: apiserver.StatusDraft}
	switch entry[VersionWidth] {
	case entryDeleted:
		return nil, true, nil
	case entryPublished:
		doc.Status = apiserver.StatusPublished
	}
	return doc, false, nil
}

var errGone = apiserver.Errorf(apiserver.ErrNotFound, "No product with that id.")

func (c *Catalog) log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// ProductDocument implements apiserver.CatalogReader.
func (c *Catalog) ProductDocument(ctx context.Context, id string) (*apiserver.Document, error) {
	t, err := apiserver.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	if !apiserver.ValidID(id) {
		return nil, errGone
	}
	key := productKey(t, id)
	if c.Store != nil {
		entry, err := c.get(ctx, key)
		switch {
		case err != nil:
			// The cache is an optimisation: when it fails, read the source.
			c.Metrics.CacheLookup(metrics.Product, metrics.Error)
			c.log().WarnContext(ctx, "cache read failed", "key", key, "error", err)
		case entry == nil:
			c.Metrics.CacheLookup(metrics.Product, metrics.Miss)
		default:
			doc, gone, err := decodeProduct(entry)
			switch {
			case err != nil:
				c.Metrics.CacheLookup(metrics.Product, metrics.Error)
				c.log().WarnContext(ctx, "cache entry unreadable", "key", key, "error", err)
			case gone:
				c.Metrics.CacheLookup(metrics.Product, metrics.Hit)
				return nil, errGone
			default:
				c.Metrics.CacheLookup(metrics.Product, metrics.Hit)
				return doc, nil
			}
		}
	}
	p, err := c.GetProduct(ctx, id)
	if err != nil {
		return nil, err
	}
	entry, err := encodeProduct(p)
	if err != nil {
		return nil, err
	}
	c.store(ctx, key, p.Version, entry)
	doc, _, err := decodeProduct(entry)
	return doc, err
}

func (c *Catalog) store(ctx context.Context, key string, version int64, entry []byte) {
	if c.Store == nil {
		return
	}
	if err := c.Store.SetIfNewer(ctx, key, version, entry, c.TTL); err != nil {
		c.Metrics.CacheWriteFailed(metrics.Store)
		c.log().WarnContext(ctx, "cache write failed", "key", key, "error", err)
	}
}

// listKey is where a page of a filtered list is cached. Entries start with the
// generation they were filled under; a write bumps the generation, which makes every
// older entry a miss without touching it.
func listKey(t *apiserver.Tenant, f apiserver.ProductFilter) string {
	fb, _ := json.Marshal(f)
	h := sha256.Sum256(fb)
	return t.RedisPrefix + "catalog:list:" + hex.EncodeToString(h[:12])
}

// listETagLen is the length of `"l` + 16 hex digits + `"`.
const listETagLen = 19

// listETag is the entity tag of a list page: a 64-bit xxHash of its bytes. An entity
// tag needs to change when the bytes do, not to resist forgery, and SHA-256 cost a
// list cache miss ~10 % of its CPU (13× xxHash's time on a 25 kB page); a cached
// entry keeps the tag it was stored with, so replicas that computed tags another
// way only cost a client a 200 instead of a 304.
func listETag(body []byte) string {
	var b [listETagLen]byte
	b[0], b[1], b[listETagLen-1] = '"', 'l', '"'
	hex.Encode(b[2:listETagLen-1], binary.BigEndian.AppendUint64(nil, xxhash.Sum64(body)))
	return string(b[:])
}

func (c *Catalog) get(ctx context.Context, key string) ([]byte, error) {
	return c.Store.Get(ctx, key)
}

// ProductListDocument implements apiserver.CatalogReader.
func (c *Catalog) ProductListDocument(ctx context.Context, f apiserver.ProductFilter) (*apiserver.Document, error) {
	t, err := apiserver.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	if err := f.Normalize(); err != nil {
		return nil, err
	}
	var key string
	var gen []byte
	if c.Store != nil {
		key = listKey(t, f)
		if gen, err = c.get(ctx, genKey(t)); err != nil {
			c.Metrics.CacheLookup(metrics.ProductList, metrics.Error)
			c.log().WarnContext(ctx, "cache read failed", "key", genKey(t), "error", err)
			key = ""
		} else {
			n, _ := strconv.ParseInt(string(gen), 10, 64) // absent: generation 0
			gen = fmt.Appendf(nil, "%0*d", VersionWidth, n)
			entry, err := c.get(ctx, key)
			switch {
			case err != nil:
				c.Metrics.CacheLookup(metrics.ProductList, metrics.Error)
				c.log().WarnContext(ctx, "cache read failed", "key", key, "error", err)
			case len(entry) > VersionWidth+listETagLen && string(entry[:VersionWidth]) == string(gen):
				c.Metrics.CacheLookup(metrics.ProductList, metrics.Hit)
				return &apiserver.Document{ETag: string(entry[VersionWidth : VersionWidth+listETagLen]), Body: entry[VersionWidth+listETagLen:]}, nil
			default: // absent, or filled under an older generation
				c.Metrics.CacheLookup(metrics.ProductList, metrics.Miss)
			}
		}
	}
	buf := pageBuffers.Get().(*[]byte)
	body, err := c.encodePage(ctx, (*buf)[:0], f)
	if err != nil {
		pageBuffers.Put(buf)
		return nil, err
	}
	etag := listETag(body)
	if key != "" {
		entry := make([]byte, 0, VersionWidth+listETagLen+len(body))
		entry = append(append(append(entry, gen...), etag...), body...)
		if err := c.Store.Set(ctx, key, entry, c.TTL); err != nil {
			c.Metrics.CacheWriteFailed(metrics.Store)
			c.log().WarnContext(ctx, "cache write failed", "key", key, "error", err)
		}
	}
	release := func() { // the entry above is a copy: nothing else holds body
		if cap(body) <= maxPooledPage {
			*buf = body
			pageBuffers.Put(buf)
		}
	}
	return &apiserver.Document{ETag: etag, Body: body, Release: release}, nil
}

// pageBuffers holds buffers for encoding list pages, handed back through
// Document.Release once the page is written.
var pageBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }} // a page of 20 demo products is ~25 kB

// maxPooledPage bounds the buffers kept in pageBuffers (a page of 100 large products
// is not kept around for pages of 20).
const maxPooledPage = 256 << 10

// encodePage reads and encodes a page of products: straight from the rows where the
// service can (apiserver.ProductPageAppender), else through ProductPage.AppendJSON
// (encoding/json's bytes, at a fraction of its cost: apiserver/catalog_json_test.go).
func (c *Catalog) encodePage(ctx context.Context, buf []byte, f apiserver.ProductFilter) ([]byte, error) {
	if a, ok := c.CatalogService.(apiserver.ProductPageAppender); ok {
		return a.AppendProductPageJSON(ctx, buf, f)
	}
	page, err := c.ListProducts(ctx, f)
	if err != nil {
		return nil, err
	}
	return page.AppendJSON(buf)
}

// afterWrite refreshes the product entry (when p is set) and invalidates every
// cached list of the tenant. A failure here cannot undo the committed write, so it
// is logged; entries expire after TTL at the latest.
func (c *Catalog) afterWrite(ctx context.Context, p *apiserver.Product) {
	if c.Store == nil {
		return
	}
	t := apiserver.TenantFromContext(ctx)
	if t == nil {
		return
	}
	if p != nil {
		entry, err := encodeProduct(p)
		if err == nil {
			c.store(ctx, productKey(t, p.ID), p.Version, entry)
		}
	}
	if _, err := c.Store.Incr(ctx, genKey(t)); err != nil {
		c.Metrics.CacheWriteFailed(metrics.Invalidate)
		c.log().ErrorContext(ctx, "cache invalidation failed", "key", genKey(t), "error", err)
	}
}

// CreateProduct implements apiserver.CatalogService.
func (c *Catalog) CreateProduct(ctx context.Context, in apiserver.ProductInput) (*apiserver.Product, error) {
	p, err := c.CatalogService.CreateProduct(ctx, in)
	if err == nil {
		c.afterWrite(ctx, p)
	}
	return p, err
}

// UpdateProduct implements apiserver.CatalogService.
func (c *Catalog) UpdateProduct(ctx context.Context, id string, in apiserver.ProductInput, ifVersion int64) (*apiserver.Product, error) {
	p, err := c.CatalogService.UpdateProduct(ctx, id, in, ifVersion)
	if err == nil {
		c.afterWrite(ctx, p)
	}
	return p, err
}

// DeleteProduct implements apiserver.CatalogService.
func (c *Catalog) DeleteProduct(ctx context.Context, id string, ifVersion int64) (*apiserver.Product, error) {
	p, err := c.CatalogService.DeleteProduct(ctx, id, ifVersion)
	if err == nil {
		c.afterWrite(ctx, p)
	}
	return p, err
}

// CreateCategory implements apiserver.CatalogService.
func (c *Catalog) CreateCategory(ctx context.Context, in apiserver.CategoryInput) (*apiserver.Category, error) {
	cat, err := c.CatalogService.CreateCategory(ctx, in)
	if err == nil {
		c.afterWrite(ctx, nil)
	}
	return cat, err
}

// UpdateCategory implements apiserver.CatalogService: a moved category changes which
// products a category filter matches, so lists are invalidated.
func (c *Catalog) UpdateCategory(ctx context.Context, id string, in apiserver.CategoryInput) (*apiserver.Category, error) {
	cat, err := c.CatalogService.UpdateCategory(ctx, id, in)
	if err == nil {
		c.afterWrite(ctx, nil)
	}
	return cat, err
}

// Refresh stores the current version of products that changed without going through
// this Catalog (a product import, an image upload) and invalidates the tenant's
// cached lists, so reads after it see the change at once. Failures are logged, as
// after any write; entries expire after TTL at the latest.
func (c *Catalog) Refresh(ctx context.Context, ids ...string) {
	if c.Store == nil {
		return
	}
	for _, id := range ids {
		p, err := c.CatalogService.GetProduct(ctx, id)
		if err != nil {
			c.log().WarnContext(ctx, "cache refresh failed", "product", id, "error", err)
			continue
		}
		c.afterWrite(ctx, p)
	}
	if len(ids) == 0 {
		c.afterWrite(ctx, nil)
	}
}
