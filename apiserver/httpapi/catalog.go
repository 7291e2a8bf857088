package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/cache"
)

func isStaff(c *gin.Context) bool {
	p := apiserver.PrincipalFromContext(c.Request.Context())
	return p != nil && p.Role.AtLeast(apiserver.RoleStaff)
}

// notModified answers 304 when If-None-Match lists etag (or is *).
func notModified(c *gin.Context, etag string) bool {
	inm := c.GetHeader("If-None-Match")
	if inm == "" {
		return false
	}
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			c.Header("ETag", etag)
			c.Status(http.StatusNotModified)
			return true
		}
	}
	return false
}

var (
	hvRevalidate = []string{"private, no-cache"}
	hvVary       = []string{"Authorization, X-Kommerce-Tenant, Origin"}
)

// writeDocument sends a pre-encoded representation with its ETag. Catalog reads may
// be stored by browsers but must be revalidated, so a write shows up at once.
func writeDocument(c *gin.Context, doc *apiserver.Document) {
	if doc.Release != nil {
		defer doc.Release() // c.Data has written Body out (or copied it) when it returns
	}
	hd := c.Writer.Header()
	hd["Cache-Control"] = hvRevalidate
	hd["Vary"] = hvVary
	if notModified(c, doc.ETag) {
		return
	}
	hd["Etag"] = []string{doc.ETag}
	c.Data(http.StatusOK, "application/json; charset=utf-8", doc.Body)
}

// productFilter reads the list parameters; shoppers only ever see published products.
func productFilter(c *gin.Context) (apiserver.ProductFilter, error) {
	limit, _ := strconv.Atoi(c.Query("limit")) // the validator checks it is an integer in range
	f := apiserver.ProductFilter{
		CategoryID: c.Query("category"),
		Status:     apiserver.ProductStatus(c.Query("status")),
		Query:      c.Query("q"),
		Sort:       apiserver.ProductSort(c.Query("sort")),
		Limit:      limit,
		Cursor:     c.Query("cursor"),
	}
	if !isStaff(c) {
		if f.Status == apiserver.StatusDraft {
			return f, &apiserver.Error{Code: apiserver.ErrForbidden, Field: "status", Message: "Only staff can list draft products."}
		}
		f.Status = apiserver.StatusPublished
	}
	return f, nil
}

func (h *handler) listProducts(c *gin.Context) {
	f, err := productFilter(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	doc, err := h.Reader.ProductListDocument(c.Request.Context(), f)
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeDocument(c, doc)
}

func (h *handler) getProduct(c *gin.Context) {
	doc, err := h.Reader.ProductDocument(c.Request.Context(), c.Param("id"))
	if err == nil && doc.Status != apiserver.StatusPublished && !isStaff(c) {
		err = apiserver.Errorf(apiserver.ErrNotFound, "No product with that id.")
	}
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeDocument(c, doc)
}

// writeProduct answers a write with the product and its new ETag.
func writeProduct(c *gin.Context, status int, p *apiserver.Product) {
	c.Header("ETag", cache.ProductETag(p.Version))
	c.Header("Cache-Control", "no-store")
	c.JSON(status, p)
}

func (h *handler) createProduct(c *gin.Context) {
	var in apiserver.ProductInput
	if err := decode(c, &in); err != nil {
		h.writeError(c, err)
		return
	}
	p, err := h.Catalog.CreateProduct(c.Request.Context(), in)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Location", "/api/v1/products/"+p.ID)
	writeProduct(c, http.StatusCreated, p)
}

// ifMatch reads If-Match: absent or * means any version, otherwise it must be an
// ETag this API returned for the product.
func ifMatch(c *gin.Context) (int64, error) {
	v := strings.TrimSpace(c.GetHeader("If-Match"))
	if v == "" || v == "*" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(v, `"v`), `"`), 10, 64)
	if err != nil || n < 1 || cache.ProductETag(n) != v {
		return 0, apiserver.Errorf(apiserver.ErrPreconditionFailed, "If-Match must be an ETag this API returned for the product.")
	}
	return n, nil
}

func (h *handler) updateProduct(c *gin.Context) {
	version, err := ifMatch(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	var in apiserver.ProductInput
	if err := decode(c, &in); err != nil {
		h.writeError(c, err)
		return
	}
	p, err := h.Catalog.UpdateProduct(c.Request.Context(), c.Param("id"), in, version)
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeProduct(c, http.StatusOK, p)
}

func (h *handler) deleteProduct(c *gin.Context) {
	version, err := ifMatch(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	if _, err := h.Catalog.DeleteProduct(c.Request.Context(), c.Param("id"), version); err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *handler) setStatus(c *gin.Context, s apiserver.ProductStatus) {
	p, err := h.Catalog.UpdateProduct(c.Request.Context(), c.Param("id"), apiserver.ProductInput{Status: &s}, 0)
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeProduct(c, http.StatusOK, p)
}

func (h *handler) publishProduct(c *gin.Context)   { h.setStatus(c, apiserver.StatusPublished) }
func (h *handler) unpublishProduct(c *gin.Context) { h.setStatus(c, apiserver.StatusDraft) }

// writeJSONDocument sends v with an ETag computed from its bytes, for reads that are
// not cached but should still answer If-None-Match.
func (h *handler) writeJSONDocument(c *gin.Context, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		h.writeError(c, err)
		return
	}
	sum := sha256.Sum256(body)
	writeDocument(c, &apiserver.Document{ETag: `"c` + hex.EncodeToString(sum[:8]) + `"`, Body: body})
}

func (h *handler) listCategories(c *gin.Context) {
	cats, err := h.Catalog.ListCategories(c.Request.Context())
	if err != nil {
		h.writeError(c, err)
		return
	}
	h.writeJSONDocument(c, gin.H{"items": cats})
}

func (h *handler) getCategory(c *gin.Context) {
	cat, err := h.Catalog.GetCategory(c.Request.Context(), c.Param("id"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	h.writeJSONDocument(c, cat)
}

func (h *handler) createCategory(c *gin.Context) {
	var in apiserver.CategoryInput
	if err := decode(c, &in); err != nil {
		h.writeError(c, err)
		return
	}
	cat, err := h.Catalog.CreateCategory(c.Request.Context(), in)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Location", "/api/v1/categories/"+cat.ID)
	c.JSON(http.StatusCreated, cat)
}

// categoryPatch tells "parent_id": null (move to the root) from an absent parent_id.
type categoryPatch struct {
	ParentID json.RawMessage `json:"parent_id"`
	Slug     *string         `json:"slug"`
	Name     *string         `json:"name"`
}

func (h *handler) updateCategory(c *gin.Context) {
	var req categoryPatch
	if err := decode(c, &req); err != nil {
		h.writeError(c, err)
		return
	}
	in := apiserver.CategoryInput{Slug: req.Slug, Name: req.Name}
	if req.ParentID != nil {
		parent := ""
		if string(req.ParentID) != "null" {
			if err := json.Unmarshal(req.ParentID, &parent); err != nil {
				h.writeError(c, apiserver.FieldErrorf("parent_id", "parent_id must be a category id or null."))
				return
			}
		}
		in.ParentID = &parent
	}
	cat, err := h.Catalog.UpdateCategory(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, cat)
}
