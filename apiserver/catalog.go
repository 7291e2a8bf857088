package apiserver

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ProductStatus says whether shoppers can see a product.
type ProductStatus string

// Product statuses.
const (
	StatusDraft     ProductStatus = "draft"
	StatusPublished ProductStatus = "published"
)

// Valid reports whether s is a known status.
func (s ProductStatus) Valid() bool { return s == StatusDraft || s == StatusPublished }

// Price is an amount in minor units (cents) of an ISO 4217 currency.
type Price struct {
	Currency string `json:"currency"`
	Amount   int64  `json:"amount"`
}

// Variant is one sellable SKU of a product.
type Variant struct {
	SKU        string            `json:"sku"`
	Attributes map[string]string `json:"attributes"`
	Prices     []Price           `json:"prices"`
}

// Product is a catalog entry as the API shows it. Version grows by one on every
// write; it is the ETag of the product and the version of its events.
type Product struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Status      ProductStatus     `json:"status"`
	CategoryIDs []string          `json:"category_ids"`
	Attributes  map[string]string `json:"attributes"`
	Images      []string          `json:"images"`
	Variants    []Variant         `json:"variants"`
	Version     int64             `json:"version"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	// Deleted is set only on the snapshot returned by DeleteProduct.
	Deleted bool `json:"-"`
}

// ProductInput is the writable part of a product: the body of POST and, with every
// field optional, of PATCH.
type ProductInput struct {
	Name        *string            `json:"name"`
	Description *string            `json:"description"`
	Status      *ProductStatus     `json:"status"`
	CategoryIDs *[]string          `json:"category_ids"`
	Attributes  *map[string]string `json:"attributes"`
	Images      *[]string          `json:"images"`
	Variants    *[]Variant         `json:"variants"`
}

// Catalog limits, mirrored in openapi.yaml.
const (
	MaxNameLen        = 200
	MaxDescriptionLen = 10000
	MaxAttributes     = 50
	MaxAttrValueLen   = 500
	MaxVariants       = 100
	MaxPrices         = 20
	MaxImages         = 20
	MaxCategoryIDs    = 20
	MaxAmount         = 1_000_000_000_000 // minor units
	DefaultPageSize   = 20
	MaxPageSize       = 100
)

var (
	skuRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	attrKeyRE  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	catSlugRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$`)
)

// ValidID reports whether s is a lower-case UUID, the form of every object id. It
// runs on every request, hence no regular expression.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// Validate checks the fields present in in; create also requires a name and at least
// one variant. The database repeats the important checks as constraints.
func (in *ProductInput) Validate(create bool) error {
	if create {
		if in.Name == nil {
			return FieldErrorf("name", "A product needs a name.")
		}
		if in.Variants == nil || len(*in.Variants) == 0 {
			return FieldErrorf("variants", "A product needs at least one variant.")
		}
	}
	if in.Name != nil {
		if strings.TrimSpace(*in.Name) == "" {
			return FieldErrorf("name", "Name must not be blank.")
		}
		if err := ValidText("name", *in.Name, MaxNameLen); err != nil {
			return err
		}
	}
	if in.Description != nil {
		if err := ValidText("description", *in.Description, MaxDescriptionLen); err != nil {
			return err
		}
	}
	if in.Status != nil && !in.Status.Valid() {
		return FieldErrorf("status", "Status must be draft or published.")
	}
	if in.CategoryIDs != nil {
		if err := validIDs("category_ids", *in.CategoryIDs, MaxCategoryIDs); err != nil {
			return err
		}
	}
	if in.Attributes != nil {
		if err := validAttributes("attributes", *in.Attributes); err != nil {
			return err
		}
	}
	if in.Images != nil {
		if err := validImages(*in.Images); err != nil {
			return err
		}
	}
	if in.Variants != nil {
		if err := validVariants(*in.Variants); err != nil {
			return err
		}
	}
	return nil
}

func validIDs(field string, ids []string, max int) error {
	if len(ids) > max {
		return FieldErrorf(field, "At most %d ids.", max)
	}
	seen := map[string]bool{}
	for i, id := range ids {
		f := fmt.Sprintf("%s[%d]", field, i)
		if !ValidID(id) {
			return FieldErrorf(f, "Ids are lower-case UUIDs.")
		}
		if seen[id] {
			return FieldErrorf(f, "Id %s is listed twice.", id)
		}
		seen[id] = true
	}
	return nil
}

func validAttributes(field string, attrs map[string]string) error {
	if len(attrs) > MaxAttributes {
		return FieldErrorf(field, "At most %d attributes.", MaxAttributes)
	}
	for k, v := range attrs {
		if !attrKeyRE.MatchString(k) {
			return FieldErrorf(field+"."+k, "Attribute names are lower-case letters, digits and underscores, starting with a letter, at most 40 long.")
		}
		if err := ValidText(field+"."+k, v, MaxAttrValueLen); err != nil {
			return err
		}
	}
	return nil
}

func validImages(images []string) error {
	if len(images) > MaxImages {
		return FieldErrorf("images", "At most %d images.", MaxImages)
	}
	for i, s := range images {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(s) > 2048 || ValidText("images", s, 2048) != nil {
			return FieldErrorf(fmt.Sprintf("images[%d]", i), "Images are absolute http(s) URLs of at most 2048 characters.")
		}
	}
	return nil
}

func validVariants(vs []Variant) error {
	if len(vs) > MaxVariants {
		return FieldErrorf("variants", "At most %d variants.", MaxVariants)
	}
	skus := map[string]bool{}
	for i, v := range vs {
		f := fmt.Sprintf("variants[%d]", i)
		if !skuRE.MatchString(v.SKU) {
			return FieldErrorf(f+".sku", "SKUs are 1 to 64 letters, digits, dots, dashes and underscores, starting with a letter or digit.")
		}
		if skus[v.SKU] {
			return FieldErrorf(f+".sku", "SKU %s is listed twice.", v.SKU)
		}
		skus[v.SKU] = true
		if err := validAttributes(f+".attributes", v.Attributes); err != nil {
			return err
		}
		if len(v.Prices) > MaxPrices {
			return FieldErrorf(f+".prices", "At most %d prices.", MaxPrices)
		}
		cur := map[string]bool{}
		for j, p := range v.Prices {
			pf := fmt.Sprintf("%s.prices[%d]", f, j)
			if !currencyRE.MatchString(p.Currency) {
				return FieldErrorf(pf+".currency", "Currencies are ISO 4217 codes such as EUR.")
			}
			if cur[p.Currency] {
				return FieldErrorf(pf+".currency", "Currency %s is listed twice.", p.Currency)
			}
			cur[p.Currency] = true
			if p.Amount < 0 || p.Amount > MaxAmount {
				return FieldErrorf(pf+".amount", "Amounts are whole minor units (cents) from 0 to %d.", int64(MaxAmount))
			}
		}
	}
	return nil
}

// ProductSort orders product lists; a leading "-" means descending.
type ProductSort string

// The supported sort orders.
const (
	SortCreatedAsc  ProductSort = "created_at"
	SortCreatedDesc ProductSort = "-created_at"
	SortNameAsc     ProductSort = "name"
	SortNameDesc    ProductSort = "-name"
)

// Valid reports whether s is supported.
func (s ProductSort) Valid() bool {
	switch s {
	case SortCreatedAsc, SortCreatedDesc, SortNameAsc, SortNameDesc:
		return true
	}
	return false
}

// ProductFilter selects a page of products. Cursor is the NextCursor of the previous
// page, opaque to clients and bound to the same filter and sort.
type ProductFilter struct {
	CategoryID string        // this category and its descendants
	Status     ProductStatus // "" for any
	Query      string        // case-insensitive substring of the name
	Sort       ProductSort
	Limit      int
	Cursor     string
}

// Normalize applies defaults and checks the bounds.
func (f *ProductFilter) Normalize() error {
	if f.Sort == "" {
		f.Sort = SortCreatedDesc
	}
	if !f.Sort.Valid() {
		return FieldErrorf("sort", "Sort must be one of created_at, -created_at, name, -name.")
	}
	if f.Limit == 0 {
		f.Limit = DefaultPageSize
	}
	if f.Limit < 1 || f.Limit > MaxPageSize {
		return FieldErrorf("limit", "Limit must be between 1 and %d.", MaxPageSize)
	}
	if f.Status != "" && !f.Status.Valid() {
		return FieldErrorf("status", "Status must be draft or published.")
	}
	if f.CategoryID != "" && !ValidID(f.CategoryID) {
		return FieldErrorf("category", "Category ids are lower-case UUIDs.")
	}
	if err := ValidText("q", f.Query, 200); err != nil {
		return err
	}
	if err := ValidText("cursor", f.Cursor, 1000); err != nil {
		return err
	}
	return nil
}

// ProductPage is one page of a product list.
type ProductPage struct {
	Items      []*Product `json:"items"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// Category is a node of the tenant's category tree.
type Category struct {
	ID        string    `json:"id"`
	ParentID  *string   `json:"parent_id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CategoryInput is the body of POST (slug and name required) and PATCH /categories.
// ParentID set to "" in a PATCH moves the category to the root.
type CategoryInput struct {
	ParentID *string `json:"parent_id"`
	Slug     *string `json:"slug"`
	Name     *string `json:"name"`
}

// Validate checks the fields present.
func (in *CategoryInput) Validate(create bool) error {
	if create && (in.Slug == nil || in.Name == nil) {
		if in.Slug == nil {
			return FieldErrorf("slug", "A category needs a slug.")
		}
		return FieldErrorf("name", "A category needs a name.")
	}
	if in.Slug != nil && !catSlugRE.MatchString(*in.Slug) {
		return FieldErrorf("slug", "Slugs are lower-case letters, digits and dashes, at most 100 long.")
	}
	if in.Name != nil {
		if strings.TrimSpace(*in.Name) == "" {
			return FieldErrorf("name", "Name must not be blank.")
		}
		if err := ValidText("name", *in.Name, MaxNameLen); err != nil {
			return err
		}
	}
	if in.ParentID != nil && *in.ParentID != "" && !ValidID(*in.ParentID) {
		return FieldErrorf("parent_id", "Parent ids are lower-case UUIDs.")
	}
	return nil
}

// CatalogService reads and writes the catalog of the tenant in ctx. Every write bumps
// the version and appends its event to the outbox in the same transaction.
type CatalogService interface {
	// CreateProduct errors: ErrInvalid, ErrConflict (SKU taken), ErrNotFound (category).
	CreateProduct(ctx context.Context, in ProductInput) (*Product, error)
	// GetProduct returns a product that is not deleted. Errors: ErrNotFound.
	GetProduct(ctx context.Context, id string) (*Product, error)
	// ListProducts errors: ErrInvalid (bad cursor or filter).
	ListProducts(ctx context.Context, f ProductFilter) (*ProductPage, error)
	// UpdateProduct changes the fields present in in; ifVersion > 0 requires the
	// current version to equal it. Errors: ErrInvalid, ErrNotFound, ErrConflict,
	// ErrPreconditionFailed.
	UpdateProduct(ctx context.Context, id string, in ProductInput, ifVersion int64) (*Product, error)
	// DeleteProduct soft-deletes a product and returns its final snapshot.
	// Errors: ErrNotFound, ErrPreconditionFailed.
	DeleteProduct(ctx context.Context, id string, ifVersion int64) (*Product, error)

	// CreateCategory errors: ErrInvalid, ErrConflict (slug taken), ErrNotFound (parent).
	CreateCategory(ctx context.Context, in CategoryInput) (*Category, error)
	// GetCategory errors: ErrNotFound.
	GetCategory(ctx context.Context, id string) (*Category, error)
	// ListCategories returns the whole tree, parents before children.
	ListCategories(ctx context.Context) ([]*Category, error)
	// UpdateCategory errors: ErrInvalid (cycle), ErrNotFound, ErrConflict.
	UpdateCategory(ctx context.Context, id string, in CategoryInput) (*Category, error)
}

// ProductPageAppender is implemented by a CatalogService that can encode a page of
// ListProducts straight from storage — the bytes ProductPage.AppendJSON would
// append, without building the page's products and attribute maps first. A list
// cache miss uses it when the service has it.
type ProductPageAppender interface {
	// AppendProductPageJSON errors: those of ListProducts.
	AppendProductPageJSON(ctx context.Context, dst []byte, f ProductFilter) ([]byte, error)
}

// Document is an encoded API representation, as the read cache stores it, so a cache
// hit is written to the client without decoding and encoding again.
type Document struct {
	ETag string
	Body []byte
	// Status is the product status, for visibility checks on cached products.
	Status ProductStatus
	// Release, when set, is for the writer to call once it is done with Body, which
	// it must not touch after: Body's buffer is then reused (a list cache miss
	// encodes ~25 kB, and allocating that per request was most of its garbage).
	Release func()
}

// CatalogReader serves encoded product reads, through a cache where one is configured.
type CatalogReader interface {
	// ProductDocument errors: ErrNotFound.
	ProductDocument(ctx context.Context, id string) (*Document, error)
	// ProductListDocument errors: ErrInvalid.
	ProductListDocument(ctx context.Context, f ProductFilter) (*Document, error)
}

// AppendJSON appends the page as encoding/json encodes it, byte for byte (HTML-safe
// escapes, map keys in order, times in RFC 3339), without reflection and with one
// allocation for a map's keys instead of several: a list cache miss encodes a page of
// ~25 kB. (A json.Marshaler would not help: encoding/json re-validates what a
// Marshaler returns, and that scan costs most of what encoding does.)
func (p *ProductPage) AppendJSON(dst []byte) ([]byte, error) {
	dst = slices.Grow(dst, 64+1536*len(p.Items)) // a demo product is ~1.3 kB: one allocation, not ten
	dst = append(dst, `{"items":`...)
	if p.Items == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, it := range p.Items {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = it.AppendJSON(dst); err != nil {
				return nil, err
			}
		}
		dst = append(dst, ']')
	}
	if p.NextCursor != "" {
		dst = append(dst, `,"next_cursor":`...)
		dst = AppendJSONString(dst, p.NextCursor)
	}
	return append(dst, '}'), nil
}

// AppendJSON appends the product as encoding/json encodes it; see ProductPage.AppendJSON.
func (p *Product) AppendJSON(dst []byte) ([]byte, error) {
	if p == nil {
		return append(dst, "null"...), nil
	}
	dst = append(dst, `{"id":`...)
	dst = AppendJSONString(dst, p.ID)
	dst = append(dst, `,"name":`...)
	dst = AppendJSONString(dst, p.Name)
	dst = append(dst, `,"description":`...)
	dst = AppendJSONString(dst, p.Description)
	dst = append(dst, `,"status":`...)
	dst = AppendJSONString(dst, string(p.Status))
	dst = append(dst, `,"category_ids":`...)
	dst = appendJSONStrings(dst, p.CategoryIDs)
	dst = append(dst, `,"attributes":`...)
	dst = AppendJSONMap(dst, p.Attributes)
	dst = append(dst, `,"images":`...)
	dst = appendJSONStrings(dst, p.Images)
	dst = append(dst, `,"variants":`...)
	if p.Variants == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range p.Variants {
			if i > 0 {
				dst = append(dst, ',')
			}
			v := &p.Variants[i]
			dst = append(dst, `{"sku":`...)
			dst = AppendJSONString(dst, v.SKU)
			dst = append(dst, `,"attributes":`...)
			dst = AppendJSONMap(dst, v.Attributes)
			dst = append(dst, `,"prices":`...)
			if v.Prices == nil {
				dst = append(dst, "null"...)
			} else {
				dst = append(dst, '[')
				for j, pr := range v.Prices {
					if j > 0 {
						dst = append(dst, ',')
					}
					dst = append(dst, `{"currency":`...)
					dst = AppendJSONString(dst, pr.Currency)
					dst = append(dst, `,"amount":`...)
					dst = strconv.AppendInt(dst, pr.Amount, 10)
					dst = append(dst, '}')
				}
				dst = append(dst, ']')
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, p.Version, 10)
	var err error
	dst = append(dst, `,"created_at":"`...)
	if dst, err = p.CreatedAt.AppendText(dst); err != nil {
		return nil, err
	}
	dst = append(dst, `","updated_at":"`...)
	if dst, err = p.UpdatedAt.AppendText(dst); err != nil {
		return nil, err
	}
	return append(dst, `"}`...), nil
}

func appendJSONStrings(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, s)
	}
	return append(dst, ']')
}

// AppendJSONMap appends m as encoding/json encodes it (keys in order, HTML-safe).
func AppendJSONMap(dst []byte, m map[string]string) []byte {
	if m == nil {
		return append(dst, "null"...)
	}
	var buf [8]string
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, k)
		dst = append(dst, ':')
		dst = AppendJSONString(dst, m[k])
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// AppendJSONString quotes s as encoding/json does with HTML escaping on: <, > and &
// as \u003c, \u003e and \u0026, control characters escaped, invalid UTF-8 as
// \ufffd, U+2028 and U+2029 escaped. s may be bytes, so that text read from a
// database row is quoted without first being copied into a string.
func AppendJSONString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))])) // at most 4 bytes: no allocation
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
