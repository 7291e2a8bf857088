package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/events"
)

// CatalogService implements apiserver.CatalogService. Each write appends its event
// (internal/events) to the outbox in the same transaction.
type CatalogService struct{ DB *DB }

var _ apiserver.CatalogService = (*CatalogService)(nil)

// loadProducts completes product rows with their categories, variants and prices in
// three queries, whatever the number of products.
func loadProducts(ctx context.Context, q *dbq.Queries, tid string, rows []dbq.Product) ([]*apiserver.Product, error) {
	out := make([]*apiserver.Product, len(rows))
	byID := make(map[string]*apiserver.Product, len(rows))
	ids := make([]string, len(rows))
	for i, r := range rows {
		p := &apiserver.Product{ID: r.ID, Name: r.Name, Description: r.Description, Status: apiserver.ProductStatus(r.Status),
			CategoryIDs: []string{}, Attributes: map[string]string{}, Images: r.Images, Variants: []apiserver.Variant{},
			Version: r.Version, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Deleted: r.DeletedAt != nil}
		if p.Images == nil {
			p.Images = []string{}
		}
		if err := json.Unmarshal(r.Attributes, &p.Attributes); err != nil {
			return nil, fmt.Errorf("product %s attributes: %w", r.ID, err)
		}
		out[i], byID[r.ID], ids[i] = p, p, r.ID
	}
	if len(rows) == 0 {
		return out, nil
	}
	cats, err := q.ProductCategoryIDs(ctx, dbq.ProductCategoryIDsParams{TenantID: tid, ProductIds: ids})
	if err != nil {
		return nil, err
	}
	for _, c := range cats {
		p := byID[c.ProductID]
		p.CategoryIDs = append(p.CategoryIDs, c.CategoryID)
	}
	vars, err := q.ProductVariants(ctx, dbq.ProductVariantsParams{TenantID: tid, ProductIds: ids})
	if err != nil {
		return nil, err
	}
	type loc struct {
		p *apiserver.Product
		i int
	}
	bySKU := make(map[string]loc, len(vars))
	for _, v := range vars {
		p := byID[v.ProductID]
		av := apiserver.Variant{SKU: v.Sku, Attributes: map[string]string{}, Prices: []apiserver.Price{}}
		if err := json.Unmarshal(v.Attributes, &av.Attributes); err != nil {
			return nil, fmt.Errorf("variant %s attributes: %w", v.Sku, err)
		}
		p.Variants = append(p.Variants, av)
		bySKU[v.Sku] = loc{p, len(p.Variants) - 1}
	}
	prices, err := q.ProductPrices(ctx, dbq.ProductPricesParams{TenantID: tid, ProductIds: ids})
	if err != nil {
		return nil, err
	}
	for _, pr := range prices {
		l := bySKU[pr.Sku]
		v := &l.p.Variants[l.i]
		v.Prices = append(v.Prices, apiserver.Price{Currency: pr.Currency, Amount: pr.Amount})
	}
	return out, nil
}

func loadProduct(ctx context.Context, q *dbq.Queries, tid string, row dbq.Product) (*apiserver.Product, error) {
	ps, err := loadProducts(ctx, q, tid, []dbq.Product{row})
	if err != nil {
		return nil, err
	}
	return ps[0], nil
}

// setCategories replaces the product's categories.
func setCategories(ctx context.Context, q *dbq.Queries, tid, pid string, ids []string) error {
	if err := q.DeleteProductCategories(ctx, dbq.DeleteProductCategoriesParams{TenantID: tid, ProductID: pid}); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	return q.InsertProductCategories(ctx, dbq.InsertProductCategoriesParams{TenantID: tid, ProductID: pid, CategoryIds: ids})
}

// setVariants makes the product's variants exactly vs: SKUs no longer listed are
// removed, the others inserted or updated, and their prices replaced.
func setVariants(ctx context.Context, q *dbq.Queries, tid, pid string, vs []apiserver.Variant) error {
	skus := make([]string, len(vs))
	for i, v := range vs {
		skus[i] = v.SKU
	}
	if err := q.DeleteVariantsNotIn(ctx, dbq.DeleteVariantsNotInParams{TenantID: tid, ProductID: pid, Skus: skus}); err != nil {
		return err
	}
	var pSKUs, pCur []string
	var pAmt []int64
	for i, v := range vs {
		attrs, err := json.Marshal(nonNil(v.Attributes))
		if err != nil {
			return err
		}
		n, err := q.UpsertVariant(ctx, dbq.UpsertVariantParams{TenantID: tid, Sku: v.SKU, ProductID: pid, Position: int32(i), Attributes: attrs})
		if err != nil {
			return err
		}
		if n == 0 {
			return &apiserver.Error{Code: apiserver.ErrConflict, Field: fmt.Sprintf("variants[%d].sku", i), Message: fmt.Sprintf("SKU %s already belongs to another product.", v.SKU)}
		}
		for _, p := range v.Prices {
			pSKUs, pCur, pAmt = append(pSKUs, v.SKU), append(pCur, p.Currency), append(pAmt, p.Amount)
		}
	}
	if err := q.DeletePrices(ctx, dbq.DeletePricesParams{TenantID: tid, Skus: skus}); err != nil {
		return err
	}
	if len(pSKUs) == 0 {
		return nil
	}
	return q.InsertPrices(ctx, dbq.InsertPricesParams{TenantID: tid, Skus: pSKUs, Currencies: pCur, Amounts: pAmt})
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// productEvent appends the product's snapshot to the outbox.
func productEvent(ctx context.Context, q *dbq.Queries, tid string, typ events.Type, p *apiserver.Product) error {
	snap := events.Product{ID: p.ID, Version: p.Version, Name: p.Name, Description: p.Description, Status: string(p.Status),
		Deleted: p.Deleted, CategoryIDs: p.CategoryIDs, Attributes: p.Attributes, Images: p.Images, UpdatedAt: p.UpdatedAt}
	snap.Variants = make([]events.Variant, len(p.Variants))
	for i, v := range p.Variants {
		ev := events.Variant{SKU: v.SKU, Attributes: v.Attributes, Prices: make([]events.Price, len(v.Prices))}
		for j, pr := range v.Prices {
			ev.Prices[j] = events.Price{Currency: pr.Currency, Amount: pr.Amount}
		}
		snap.Variants[i] = ev
	}
	return outbox(ctx, q, tid, "product", p.ID, typ, snap)
}

// categoryEvent is the data of category.* events: the category after the change.
func categoryEvent(c *apiserver.Category) events.Category {
	return events.Category{ID: c.ID, ParentID: c.ParentID, Slug: c.Slug, Name: c.Name, Version: c.Version,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

// outbox appends one event; payload must be the Go type of typ's contract
// (events.Encode), so no event leaves with another shape.
func outbox(ctx context.Context, q *dbq.Queries, tid, aggType, aggID string, typ events.Type, payload any) error {
	b, err := events.Encode(typ, payload)
	if err != nil {
		return err
	}
	return q.InsertOutbox(ctx, dbq.InsertOutboxParams{TenantID: tid, AggregateType: aggType, AggregateID: aggID, EventType: string(typ), Payload: b})
}

// writeError turns constraint violations of catalog writes into client errors.
func writeError(err error, op string) error {
	var ae *apiserver.Error
	if err == nil || errors.As(err, &ae) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return apiserver.Errorf(apiserver.ErrNotFound, "No product with that id.")
	}
	code, constraint := pgCode(err)
	switch {
	case code == pgUniqueViolation && strings.HasPrefix(constraint, "variants"):
		return &apiserver.Error{Code: apiserver.ErrConflict, Field: "variants", Message: "A SKU of this product already belongs to another product."}
	case code == pgUniqueViolation && strings.HasPrefix(constraint, "categories"):
		return &apiserver.Error{Code: apiserver.ErrConflict, Field: "slug", Message: "Another category already has this slug."}
	case code == pgForeignKeyViolation && strings.Contains(constraint, "category"):
		return apiserver.FieldErrorf("category_ids", "A listed category does not exist.")
	case code == pgForeignKeyViolation && strings.Contains(constraint, "parent"):
		return apiserver.FieldErrorf("parent_id", "The parent category does not exist.")
	case code == pgCheckViolation:
		return apiserver.Errorf(apiserver.ErrInvalid, "A value is outside what the catalog accepts (%s).", constraint)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// CreateProduct implements apiserver.CatalogService.
func (s *CatalogService) CreateProduct(ctx context.Context, in apiserver.ProductInput) (*apiserver.Product, error) {
	if err := in.Validate(true); err != nil {
		return nil, err
	}
	var out *apiserver.Product
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		attrs, err := json.Marshal(nonNil(deref(in.Attributes)))
		if err != nil {
			return err
		}
		status := apiserver.StatusDraft
		if in.Status != nil {
			status = *in.Status
		}
		row, err := q.InsertProduct(ctx, dbq.InsertProductParams{TenantID: tid, Name: *in.Name, Description: deref(in.Description),
			Status: string(status), Attributes: attrs, Images: nonNilSlice(deref(in.Images))})
		if err != nil {
			return err
		}
		if err := setCategories(ctx, q, tid, row.ID, deref(in.CategoryIDs)); err != nil {
			return err
		}
		if err := setVariants(ctx, q, tid, row.ID, *in.Variants); err != nil {
			return err
		}
		if out, err = loadProduct(ctx, q, tid, row); err != nil {
			return err
		}
		return productEvent(ctx, q, tid, events.ProductCreated, out)
	})
	if err != nil {
		return nil, writeError(err, "create product")
	}
	return out, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func nonNilSlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// GetProduct implements apiserver.CatalogService, in one query and one round trip.
func (s *CatalogService) GetProduct(ctx context.Context, id string) (*apiserver.Product, error) {
	if !apiserver.ValidID(id) {
		return nil, apiserver.Errorf(apiserver.ErrNotFound, "No product with that id.")
	}
	var row dbq.GetProductFullRow
	err := s.DB.ReadInTenant(ctx, func(q *dbq.Queries, tid string) error {
		var err error
		row, err = q.GetProductFull(ctx, dbq.GetProductFullParams{TenantID: tid, ID: id})
		return err
	})
	if err != nil {
		return nil, notFound(err, "product")
	}
	p := &apiserver.Product{ID: row.ID, Name: row.Name, Description: row.Description, Status: apiserver.ProductStatus(row.Status),
		Images: nonNilSlice(row.Images), Version: row.Version, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt}
	if err := json.Unmarshal(row.Attributes, &p.Attributes); err != nil {
		return nil, fmt.Errorf("product %s attributes: %w", id, err)
	}
	if err := json.Unmarshal(row.CategoryIds, &p.CategoryIDs); err != nil {
		return nil, fmt.Errorf("product %s categories: %w", id, err)
	}
	if err := json.Unmarshal(row.Variants, &p.Variants); err != nil {
		return nil, fmt.Errorf("product %s variants: %w", id, err)
	}
	for i := range p.Variants {
		if p.Variants[i].Attributes == nil {
			p.Variants[i].Attributes = map[string]string{}
		}
	}
	return p, nil
}

// lockForWrite locks a live product and checks the caller's expected version.
func lockForWrite(ctx context.Context, q *dbq.Queries, tid, id string, ifVersion int64) (dbq.Product, error) {
	row, err := q.LockProduct(ctx, dbq.LockProductParams{TenantID: tid, ID: id})
	if err != nil {
		return row, err
	}
	if ifVersion > 0 && row.Version != ifVersion {
		return row, apiserver.Errorf(apiserver.ErrPreconditionFailed, "The product changed since you read it: it is at version %d, not %d.", row.Version, ifVersion)
	}
	return row, nil
}

// UpdateProduct implements apiserver.CatalogService.
func (s *CatalogService) UpdateProduct(ctx context.Context, id string, in apiserver.ProductInput, ifVersion int64) (*apiserver.Product, error) {
	if !apiserver.ValidID(id) {
		return nil, apiserver.Errorf(apiserver.ErrNotFound, "No product with that id.")
	}
	if err := in.Validate(false); err != nil {
		return nil, err
	}
	var out *apiserver.Product
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		cur, err := lockForWrite(ctx, q, tid, id, ifVersion)
		if err != nil {
			return err
		}
		p := dbq.UpdateProductParams{TenantID: tid, ID: id, Name: cur.Name, Description: cur.Description, Status: cur.Status, Attributes: cur.Attributes, Images: nonNilSlice(cur.Images)}
		if in.Name != nil {
			p.Name = *in.Name
		}
		if in.Description != nil {
			p.Description = *in.Description
		}
		if in.Status != nil {
			p.Status = string(*in.Status)
		}
		if in.Attributes != nil {
			if p.Attributes, err = json.Marshal(nonNil(*in.Attributes)); err != nil {
				return err
			}
		}
		if in.Images != nil {
			p.Images = nonNilSlice(*in.Images)
		}
		row, err := q.UpdateProduct(ctx, p)
		if err != nil {
			return err
		}
		if in.CategoryIDs != nil {
			if err := setCategories(ctx, q, tid, id, *in.CategoryIDs); err != nil {
				return err
			}
		}
		if in.Variants != nil {
			if len(*in.Variants) == 0 {
				return apiserver.FieldErrorf("variants", "A product needs at least one variant.")
			}
			if err := setVariants(ctx, q, tid, id, *in.Variants); err != nil {
				return err
			}
		}
		if out, err = loadProduct(ctx, q, tid, row); err != nil {
			return err
		}
		return productEvent(ctx, q, tid, events.ProductUpdated, out)
	})
	if err != nil {
		return nil, writeError(err, "update product")
	}
	return out, nil
}

// DeleteProduct implements apiserver.CatalogService.
func (s *CatalogService) DeleteProduct(ctx context.Context, id string, ifVersion int64) (*apiserver.Product, error) {
	if !apiserver.ValidID(id) {
		return nil, apiserver.Errorf(apiserver.ErrNotFound, "No product with that id.")
	}
	var out *apiserver.Product
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		if _, err := lockForWrite(ctx, q, tid, id, ifVersion); err != nil {
			return err
		}
		row, err := q.SoftDeleteProduct(ctx, dbq.SoftDeleteProductParams{TenantID: tid, ID: id})
		if err != nil {
			return err
		}
		if out, err = loadProduct(ctx, q, tid, row); err != nil {
			return err
		}
		return productEvent(ctx, q, tid, events.ProductDeleted, out)
	})
	if err != nil {
		return nil, writeError(err, "delete product")
	}
	return out, nil
}

// cursor is the position after the last item of a page, bound to the filter that
// produced it so it cannot be replayed against another one.
type cursor struct {
	Sort    apiserver.ProductSort `json:"s"`
	Created time.Time             `json:"c"`
	Name    string                `json:"n"`
	ID      string                `json:"i"`
	Filter  string                `json:"f"`
}

func filterHash(f apiserver.ProductFilter) string {
	h := sha256.Sum256([]byte(f.CategoryID + "\x00" + string(f.Status) + "\x00" + f.Query))
	return hex.EncodeToString(h[:6])
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, f apiserver.ProductFilter) (*cursor, error) {
	bad := apiserver.FieldErrorf("cursor", "The cursor is not one this list returned; start again without it.")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Sort != f.Sort || c.Filter != filterHash(f) || !apiserver.ValidID(c.ID) || apiserver.ValidText("cursor", c.Name, apiserver.MaxNameLen) != nil {
		return nil, bad
	}
	return &c, nil
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ListProducts implements apiserver.CatalogService: one statement (ListProductPage)
// in one round trip (ReadInTenant).
func (s *CatalogService) ListProducts(ctx context.Context, f apiserver.ProductFilter) (*apiserver.ProductPage, error) {
	params, err := listPageParams(&f)
	if err != nil {
		return nil, err
	}
	var rows []dbq.ListProductPageRow
	err = s.DB.ReadInTenant(ctx, func(q *dbq.Queries, tid string) error {
		params.TenantID = tid
		var err error
		rows, err = q.ListProductPage(ctx, params)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	page := &apiserver.ProductPage{}
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		last := rows[len(rows)-1]
		page.NextCursor = cursor{Sort: f.Sort, Created: last.CreatedAt, Name: last.Name, ID: last.ID, Filter: filterHash(f)}.encode()
	}
	if page.Items, err = pageProducts(rows); err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return page, nil
}

// listPageParams normalizes f and turns it into the parameters of ListProductPage
// (all but the tenant), which fetches one row more than the page to tell whether a
// next page exists.
func listPageParams(f *apiserver.ProductFilter) (dbq.ListProductPageParams, error) {
	if err := f.Normalize(); err != nil {
		return dbq.ListProductPageParams{}, err
	}
	params := dbq.ListProductPageParams{Sort: string(f.Sort), Lim: int32(f.Limit + 1)} //nolint:gosec // Normalize bounds Limit to MaxPageSize
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor, *f)
		if err != nil {
			return dbq.ListProductPageParams{}, err
		}
		params.AfterID, params.AfterCreated, params.AfterName = &c.ID, &c.Created, &c.Name
	}
	if f.Status != "" {
		params.Status = new(string(f.Status))
	}
	if f.Query != "" {
		params.NameLike = new("%" + likeEscaper.Replace(f.Query) + "%")
	}
	if f.CategoryID != "" {
		params.CategoryID = &f.CategoryID
	}
	return params, nil
}

// pageProducts builds the products of ListProductPage rows. The structs of a page are
// allocated in a few blocks rather than one by one: a page is built on every list
// cache miss.
func pageProducts(rows []dbq.ListProductPageRow) ([]*apiserver.Product, error) {
	nv := 0
	for i := range rows {
		nv += len(rows[i].Skus)
	}
	items := make([]*apiserver.Product, len(rows))
	products := make([]apiserver.Product, len(rows))
	variants := make([]apiserver.Variant, nv)
	for i := range rows {
		r := &rows[i]
		if len(r.VariantAttributes) != len(r.Skus) || len(r.PriceCounts) != len(r.Skus) || len(r.PriceCurrencies) != len(r.PriceAmounts) {
			return nil, fmt.Errorf("product %s: inconsistent page row", r.ID)
		}
		p := &products[i]
		*p = apiserver.Product{ID: r.ID, Name: r.Name, Description: r.Description, Status: apiserver.ProductStatus(r.Status),
			CategoryIDs: nonNilSlice(r.CategoryIds), Images: nonNilSlice(r.Images), Version: r.Version, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
		var err error
		if p.Attributes, err = stringMap(r.Attributes); err != nil {
			return nil, fmt.Errorf("product %s attributes: %w", r.ID, err)
		}
		p.Variants, variants = variants[:len(r.Skus):len(r.Skus)], variants[len(r.Skus):]
		prices := make([]apiserver.Price, len(r.PriceCurrencies))
		for j := range prices {
			prices[j] = apiserver.Price{Currency: r.PriceCurrencies[j], Amount: r.PriceAmounts[j]}
		}
		k := 0 // the next entry of prices
		for j, sku := range r.Skus {
			n := int(r.PriceCounts[j])
			if n < 0 || k+n > len(prices) {
				return nil, fmt.Errorf("product %s: inconsistent page row", r.ID)
			}
			v := &p.Variants[j]
			v.SKU, v.Prices = sku, prices[k:k+n:k+n]
			if v.Attributes, err = stringMap(r.VariantAttributes[j]); err != nil {
				return nil, fmt.Errorf("variant %s attributes: %w", sku, err)
			}
			k += n
		}
		items[i] = p
	}
	return items, nil
}

// stringMap decodes a JSON object of strings as PostgreSQL prints jsonb. Most are
// read without encoding/json, keys and values sharing the memory of s: jsonb's text
// form is regular ({"k": "v", "k2": "v2"}), and a page holds a hundred such objects.
// Anything else — an escape in a string, another layout — goes to json.Unmarshal.
func stringMap(s string) (map[string]string, error) {
	if m, ok := plainStringMap(s); ok {
		return m, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	return nonNil(m), nil
}

// plainStringMap is the fast path of stringMap: ok is false unless s is exactly
// jsonb's layout of an object whose keys and values are strings without escapes.
func plainStringMap(s string) (map[string]string, bool) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, false
	}
	body := s[1 : len(s)-1]
	if body == "" {
		return map[string]string{}, true
	}
	m := make(map[string]string, strings.Count(body, `", "`)+1)
	for {
		k, rest, ok := plainString(body)
		if !ok || !strings.HasPrefix(rest, ": ") {
			return nil, false
		}
		v, rest, ok := plainString(rest[2:])
		if !ok {
			return nil, false
		}
		m[k] = v
		if rest == "" {
			return m, true
		}
		if !strings.HasPrefix(rest, ", ") {
			return nil, false
		}
		body = rest[2:]
	}
}

// plainString reads a JSON string without escapes at the start of s.
func plainString(s string) (str, rest string, ok bool) {
	if s == "" || s[0] != '"' {
		return "", "", false
	}
	end := strings.IndexByte(s[1:], '"')
	if end < 0 {
		return "", "", false
	}
	str = s[1 : 1+end]
	if strings.IndexByte(str, '\\') >= 0 {
		return "", "", false
	}
	return str, s[2+end:], true
}

func categoryOf(c dbq.Category) *apiserver.Category {
	return &apiserver.Category{ID: c.ID, ParentID: c.ParentID, Slug: c.Slug, Name: c.Name, Version: c.Version, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

func emptyToNil(p *string) *string {
	if p == nil || *p == "" {
		return nil
	}
	return p
}

// CreateCategory implements apiserver.CatalogService.
func (s *CatalogService) CreateCategory(ctx context.Context, in apiserver.CategoryInput) (*apiserver.Category, error) {
	if err := in.Validate(true); err != nil {
		return nil, err
	}
	var out *apiserver.Category
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		row, err := q.InsertCategory(ctx, dbq.InsertCategoryParams{TenantID: tid, ParentID: emptyToNil(in.ParentID), Slug: *in.Slug, Name: *in.Name})
		if err != nil {
			return err
		}
		out = categoryOf(row)
		return outbox(ctx, q, tid, "category", out.ID, events.CategoryCreated, categoryEvent(out))
	})
	if err != nil {
		return nil, writeError(err, "create category")
	}
	return out, nil
}

// GetCategory implements apiserver.CatalogService.
func (s *CatalogService) GetCategory(ctx context.Context, id string) (*apiserver.Category, error) {
	if !apiserver.ValidID(id) {
		return nil, apiserver.Errorf(apiserver.ErrNotFound, "No category with that id.")
	}
	var out *apiserver.Category
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		row, err := q.GetCategory(ctx, dbq.GetCategoryParams{TenantID: tid, ID: id})
		out = categoryOf(row)
		return err
	})
	if err != nil {
		return nil, notFound(err, "category")
	}
	return out, nil
}

// ListCategories implements apiserver.CatalogService.
func (s *CatalogService) ListCategories(ctx context.Context) ([]*apiserver.Category, error) {
	out := []*apiserver.Category{}
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		rows, err := q.ListCategories(ctx, tid)
		for _, r := range rows {
			out = append(out, &apiserver.Category{ID: r.ID, ParentID: r.ParentID, Slug: r.Slug, Name: r.Name, Version: r.Version, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt})
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	return out, nil
}

// UpdateCategory implements apiserver.CatalogService.
func (s *CatalogService) UpdateCategory(ctx context.Context, id string, in apiserver.CategoryInput) (*apiserver.Category, error) {
	if !apiserver.ValidID(id) {
		return nil, apiserver.Errorf(apiserver.ErrNotFound, "No category with that id.")
	}
	if err := in.Validate(false); err != nil {
		return nil, err
	}
	var out *apiserver.Category
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		if in.ParentID != nil {
			// Taken before the row, by every move, so moves queue in one order and each
			// sees the tree as the one before it left it.
			if err := q.LockCategoryTree(ctx, tid); err != nil {
				return err
			}
		}
		cur, err := q.LockCategory(ctx, dbq.LockCategoryParams{TenantID: tid, ID: id})
		if err != nil {
			return apiserver.Errorf(apiserver.ErrNotFound, "No category with that id.")
		}
		p := dbq.UpdateCategoryParams{TenantID: tid, ID: id, ParentID: cur.ParentID, Slug: cur.Slug, Name: cur.Name}
		if in.Slug != nil {
			p.Slug = *in.Slug
		}
		if in.Name != nil {
			p.Name = *in.Name
		}
		if in.ParentID != nil {
			p.ParentID = emptyToNil(in.ParentID)
		}
		if p.ParentID != nil {
			// Moving under one of its own descendants (or itself) would make a cycle.
			up, err := q.CategoryAncestors(ctx, dbq.CategoryAncestorsParams{TenantID: tid, ID: *p.ParentID})
			if err != nil {
				return err
			}
			for _, a := range up {
				if a == id {
					return apiserver.FieldErrorf("parent_id", "A category cannot be moved under itself or one of its descendants.")
				}
			}
		}
		row, err := q.UpdateCategory(ctx, p)
		if err != nil {
			return err
		}
		out = categoryOf(row)
		return outbox(ctx, q, tid, "category", out.ID, events.CategoryUpdated, categoryEvent(out))
	})
	if err != nil {
		if apiserver.ErrorCode(err) == apiserver.ErrNotFound {
			return nil, err
		}
		return nil, writeError(err, "update category")
	}
	return out, nil
}
