package search

import (
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kommerce/kommerce/internal/events"
)

// Document is what an index holds for one product of a storefront: the newest product
// snapshot and the newest stock level of each SKU, each kept with the version it came
// with.
//
// A search document combines two independently versioned sources (catalog and
// inventory events arrive on different topics, possibly through different consumers),
// so a single external version number cannot order its writes. Instead every part
// keeps its own source version and Merge keeps the newer part; merging is commutative,
// associative and idempotent, so replays, duplicates and out-of-order delivery all
// converge on the same document, and a stale event is a no-op. Backends store the
// document with a revision and only accept a write based on the revision they hold
// (compare-and-set), so two writers never lose each other's parts.
type Document struct {
	TenantID  string `json:"tenant_id"`
	ProductID string `json:"product_id"`
	// Product is nil until the first product event arrived (stock may come first).
	Product *events.Product `json:"product,omitempty"`
	// Stock holds the newest availability per SKU.
	Stock map[string]StockLevel `json:"stock,omitempty"`
}

// StockLevel is the availability of one SKU at a stock version.
type StockLevel struct {
	Available int64 `json:"available"`
	Version   int64 `json:"version"`
}

// ApplyProduct merges a product snapshot and reports whether the document changed.
// A snapshot whose version is not newer than the one held changes nothing.
func (d *Document) ApplyProduct(p events.Product) bool {
	if d.Product != nil && d.Product.Version >= p.Version {
		return false
	}
	cp := p
	d.Product = &cp
	return true
}

// ApplyStock merges a stock level and reports whether the document changed.
func (d *Document) ApplyStock(s events.Stock) bool {
	if cur, ok := d.Stock[s.SKU]; ok && cur.Version >= s.Version {
		return false
	}
	if d.Stock == nil {
		d.Stock = map[string]StockLevel{}
	}
	d.Stock[s.SKU] = StockLevel{Available: s.Available, Version: s.Version}
	return true
}

// Merge folds other into d, keeping the newer version of every part, and reports
// whether d changed. It is how a reindex copies documents without ever rolling one
// back, whatever the order of copies and live writes.
func (d *Document) Merge(other Document) bool {
	changed := false
	if d.TenantID == "" {
		d.TenantID = other.TenantID
	}
	if d.ProductID == "" {
		d.ProductID = other.ProductID
	}
	if other.Product != nil && d.ApplyProduct(*other.Product) {
		changed = true
	}
	for sku, lvl := range other.Stock {
		if d.ApplyStock(events.Stock{SKU: sku, Available: lvl.Available, Version: lvl.Version}) {
			changed = true
		}
	}
	return changed
}

// Version sums the versions of every part. It grows with every change that Merge
// accepts, so it orders the states of one document; hits report it.
func (d Document) Version() int64 {
	var v int64
	if d.Product != nil {
		v += d.Product.Version
	}
	for _, s := range d.Stock {
		v += s.Version
	}
	return v
}

// Clone returns a deep enough copy that merging into it leaves d untouched.
func (d Document) Clone() Document {
	c := d
	if d.Product != nil {
		p := *d.Product
		c.Product = &p
	}
	if d.Stock != nil {
		c.Stock = make(map[string]StockLevel, len(d.Stock))
		for k, v := range d.Stock {
			c.Stock[k] = v
		}
	}
	return c
}

// Fields are the indexed, derived values of a document. Both backends index exactly
// these, so filters, facets and sorting behave the same on each.
type Fields struct {
	TenantID       string           `json:"tenant_id"`
	ProductID      string           `json:"product_id"`
	Version        int64            `json:"version"`
	ProductVersion int64            `json:"product_version"`
	Visible        bool             `json:"visible"`
	Name           string           `json:"name"`
	NameSort       string           `json:"name_sort"`
	Description    string           `json:"description"`
	CategoryIDs    []string         `json:"category_ids"`
	Attrs          []string         `json:"attrs"`      // "key=value", product and variant attributes
	Brand          string           `json:"brand"`      // text of the "brand" attribute
	AttrText       string           `json:"attributes"` // every attribute value, as text
	SKUs           []string         `json:"skus"`
	Prices         map[string]int64 `json:"prices"` // lowercase currency -> lowest amount over variants
	InStock        bool             `json:"in_stock"`
	UpdatedAt      time.Time        `json:"updated_at"`
}

// nameSortLen bounds the sort key, so a long name cannot make the keyword huge.
const nameSortLen = 100

// Fields derives the indexed values. A product is visible (searchable by shoppers)
// when it is published and not deleted; a deleted product keeps its document as a
// tombstone so that an older event replayed later cannot bring it back.
func (d Document) Fields() Fields {
	f := Fields{
		TenantID: d.TenantID, ProductID: d.ProductID, Version: d.Version(),
		CategoryIDs: []string{}, Attrs: []string{}, SKUs: []string{}, Prices: map[string]int64{},
	}
	p := d.Product
	if p == nil {
		return f
	}
	f.ProductVersion = p.Version
	f.Visible = p.Status == "published" && !p.Deleted
	f.Name = p.Name
	f.NameSort = truncateRunes(strings.ToLower(p.Name), nameSortLen)
	f.Description = p.Description
	f.UpdatedAt = p.UpdatedAt.UTC()
	f.CategoryIDs = append(f.CategoryIDs, p.CategoryIDs...)
	attrs := map[string]bool{}
	addAttrs := func(m map[string]string) {
		for k, v := range m {
			if k = NormalizeAttrKey(k); k != "" && v != "" {
				attrs[k+"="+v] = true
			}
		}
	}
	addAttrs(p.Attributes)
	for _, v := range p.Variants {
		addAttrs(v.Attributes)
		if v.SKU != "" {
			f.SKUs = append(f.SKUs, v.SKU)
			if lvl, ok := d.Stock[v.SKU]; ok && lvl.Available > 0 {
				f.InStock = true
			}
		}
		for _, pr := range v.Prices {
			cur := strings.ToLower(pr.Currency)
			if !validCurrency(cur) {
				continue
			}
			if old, ok := f.Prices[cur]; !ok || pr.Amount < old {
				f.Prices[cur] = pr.Amount
			}
		}
	}
	for a := range attrs {
		f.Attrs = append(f.Attrs, a)
	}
	sort.Strings(f.Attrs)
	values := make([]string, 0, len(f.Attrs))
	for _, a := range f.Attrs {
		_, v, _ := strings.Cut(a, "=")
		values = append(values, v)
	}
	f.AttrText = strings.Join(values, " ")
	for k, v := range p.Attributes {
		if NormalizeAttrKey(k) == "brand" {
			f.Brand = v
		}
	}
	return f
}

// NormalizeAttrKey lower-cases an attribute key and keeps it only if it is made of
// letters, digits, '_' and '-' (at most 64 bytes): keys become facet names and query
// parameters, so odd characters would make them ambiguous.
func NormalizeAttrKey(k string) string {
	k = strings.ToLower(strings.TrimSpace(k))
	if k == "" || len(k) > 64 {
		return ""
	}
	for _, r := range k {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' && r != '-' {
			return ""
		}
	}
	return k
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}
