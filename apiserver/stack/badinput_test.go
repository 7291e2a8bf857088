package stack_test

import (
	"strings"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
)

// TestBadInput: each bad request gets its exact status and code, and changes nothing.
func TestBadInput(t *testing.T) {
	e := startAPI(t, func(o *stack.Options) { o.MaxBodyBytes = 64 << 10 })
	shop := e.tenant("shop")
	admin := e.user(shop, "admin@shop.test", apiserver.RoleAdmin)
	customer := e.user(shop, "jane@shop.test", apiserver.RoleCustomer)
	existing := e.do("POST", "/api/v1/products", "shop", admin, product("Existing", "TAKEN-1", "published", nil)).want(201, "").str("id")
	before := map[string]int{}
	tables := []string{"products", "variants", "prices", "categories", "users", "outbox"}
	for _, tb := range tables {
		before[tb] = e.count(tb)
	}
	huge := `{"name":"` + strings.Repeat("x", 70<<10) + `","variants":[]}`

	tests := []struct {
		name    string
		method  string
		path    string
		tenant  string
		token   string
		body    any
		headers []string
		status  int
		code    string
		field   string
	}{
		{"malformed JSON", "POST", "/api/v1/products", "shop", admin, `{"name": "x", `, nil, 400, apiserver.ErrMalformedJSON, ""},
		{"not JSON at all", "POST", "/api/v1/auth/register", "shop", "", `email=a@b.co`, nil, 400, apiserver.ErrMalformedJSON, ""},
		{"empty body", "POST", "/api/v1/products", "shop", admin, ``, nil, 400, apiserver.ErrInvalid, "body"},
		{"unknown field", "POST", "/api/v1/products", "shop", admin, product("X", "U-1", "draft", map[string]any{"colour": "red"}), nil, 400, apiserver.ErrUnknownField, "colour"},
		{"unknown nested field", "POST", "/api/v1/products", "shop", admin, `{"name":"X","variants":[{"sku":"U-2","prices":[{"currency":"EUR","amount":1,"discount":5}]}]}`, nil, 400, apiserver.ErrUnknownField, "variants[0].prices[0].discount"},
		{"wrong type: amount as string", "POST", "/api/v1/products", "shop", admin, `{"name":"X","variants":[{"sku":"W-1","prices":[{"currency":"EUR","amount":"10"}]}]}`, nil, 400, apiserver.ErrInvalid, "variants[0].prices[0].amount"},
		{"wrong type: fractional amount", "POST", "/api/v1/products", "shop", admin, `{"name":"X","variants":[{"sku":"W-2","prices":[{"currency":"EUR","amount":9.99}]}]}`, nil, 400, apiserver.ErrInvalid, "variants[0].prices[0].amount"},
		{"wrong type: name as number", "POST", "/api/v1/products", "shop", admin, `{"name":5,"variants":[{"sku":"W-3","prices":[]}]}`, nil, 400, apiserver.ErrInvalid, "name"},
		{"wrong type: status enum", "POST", "/api/v1/products", "shop", admin, product("X", "W-4", "archived", nil), nil, 400, apiserver.ErrInvalid, "status"},
		{"missing required field", "POST", "/api/v1/products", "shop", admin, `{"variants":[{"sku":"W-5","prices":[]}]}`, nil, 400, apiserver.ErrInvalid, "name"},
		{"oversized body", "POST", "/api/v1/products", "shop", admin, huge, nil, 413, apiserver.ErrPayloadTooLarge, ""},
		{"oversized body without length", "POST", "/api/v1/products", "shop", admin, []byte(huge), []string{"Transfer-Encoding", "chunked"}, 413, apiserver.ErrPayloadTooLarge, ""},
		{"page size above the maximum", "GET", "/api/v1/products?limit=101", "shop", "", nil, nil, 400, apiserver.ErrInvalid, "limit"},
		{"page size zero", "GET", "/api/v1/products?limit=0", "shop", "", nil, nil, 400, apiserver.ErrInvalid, "limit"},
		{"page size not a number", "GET", "/api/v1/products?limit=ten", "shop", "", nil, nil, 400, apiserver.ErrInvalid, "limit"},
		{"unknown sort", "GET", "/api/v1/products?sort=price", "shop", "", nil, nil, 400, apiserver.ErrInvalid, "sort"},
		{"bad category id", "GET", "/api/v1/products?category=1", "shop", "", nil, nil, 400, apiserver.ErrInvalid, "category"},
		{"negative price", "POST", "/api/v1/products", "shop", admin, `{"name":"X","variants":[{"sku":"N-1","prices":[{"currency":"EUR","amount":-1}]}]}`, nil, 400, apiserver.ErrInvalid, "variants[0].prices[0].amount"},
		{"huge price", "POST", "/api/v1/products", "shop", admin, `{"name":"X","variants":[{"sku":"N-2","prices":[{"currency":"EUR","amount":1e20}]}]}`, nil, 400, apiserver.ErrInvalid, "variants[0].prices[0].amount"},
		{"bad currency", "POST", "/api/v1/products", "shop", admin, `{"name":"X","variants":[{"sku":"N-3","prices":[{"currency":"euro","amount":1}]}]}`, nil, 400, apiserver.ErrInvalid, "variants[0].prices[0].currency"},
		{"duplicate currency", "POST", "/api/v1/products", "shop", admin, `{"name":"X","variants":[{"sku":"N-4","prices":[{"currency":"EUR","amount":1},{"currency":"EUR","amount":2}]}]}`, nil, 400, apiserver.ErrInvalid, "variants[0].prices[1].currency"},
		{"duplicate SKU in another product", "POST", "/api/v1/products", "shop", admin, product("Dup", "TAKEN-1", "draft", nil), nil, 409, apiserver.ErrConflict, "variants[0].sku"},
		{"duplicate SKU within the request", "POST", "/api/v1/products", "shop", admin, `{"name":"X","variants":[{"sku":"D-1","prices":[]},{"sku":"D-1","prices":[]}]}`, nil, 400, apiserver.ErrInvalid, "variants[1].sku"},
		{"NUL in a name", "POST", "/api/v1/products", "shop", admin, `{"name":"a\u0000b","variants":[{"sku":"Z-1","prices":[]}]}`, nil, 400, apiserver.ErrInvalid, "name"},
		{"NUL in a query", "GET", "/api/v1/products?q=a%00b", "shop", "", nil, nil, 400, apiserver.ErrInvalid, "q"},
		{"blank name", "POST", "/api/v1/products", "shop", admin, product("   ", "B-1", "draft", nil), nil, 400, apiserver.ErrInvalid, "name"},
		{"image not a URL", "POST", "/api/v1/products", "shop", admin, product("X", "I-1", "draft", map[string]any{"images": []string{"javascript:alert(1)"}}), nil, 400, apiserver.ErrInvalid, "images[0]"},
		{"empty patch", "PATCH", "/api/v1/products/" + existing, "shop", admin, `{}`, nil, 400, apiserver.ErrInvalid, "body"},
		{"wrong content type", "POST", "/api/v1/products", "shop", admin, `name=x`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, apiserver.ErrUnsupportedMediaType, ""},
		{"bad product id", "GET", "/api/v1/products/42", "shop", "", nil, nil, 400, apiserver.ErrInvalid, "id"},
		{"upper-case product id", "GET", "/api/v1/products/0F8FAD5B-D9CB-469F-A165-70867728950E", "shop", "", nil, nil, 400, apiserver.ErrInvalid, "id"},
		{"unknown product", "GET", "/api/v1/products/00000000-0000-4000-8000-000000000000", "shop", "", nil, nil, 404, apiserver.ErrNotFound, ""},
		{"no tenant", "GET", "/api/v1/products", "", "", nil, nil, 400, apiserver.ErrTenantRequired, "X-Kommerce-Tenant"},
		{"unknown tenant", "GET", "/api/v1/products", "nope", "", nil, nil, 404, apiserver.ErrUnknownTenant, ""},
		{"malformed tenant", "GET", "/api/v1/products", "", "", nil, []string{"X-Kommerce-Tenant", "../etc"}, 400, apiserver.ErrInvalid, "X-Kommerce-Tenant"},
		{"stale If-Match", "PATCH", "/api/v1/products/" + existing, "shop", admin, `{"name":"late"}`, []string{"If-Match", `"v7"`}, 412, apiserver.ErrPreconditionFailed, ""},
		// Not the current ETag, so it matches no version (RFC 9110 13.1.1): 412, as the spec says.
		{"garbage If-Match", "DELETE", "/api/v1/products/" + existing, "shop", admin, nil, []string{"If-Match", `"x"`}, 412, apiserver.ErrPreconditionFailed, ""},
		{"unknown route", "GET", "/api/v1/nothing", "shop", "", nil, nil, 404, apiserver.ErrNotFound, ""},
		{"wrong method", "PUT", "/api/v1/products", "shop", admin, `{}`, nil, 405, apiserver.ErrMethodNotAllowed, ""},
		// Mass assignment (OWASP API3): fields the spec does not allow never reach a handler.
		{"customer registers as admin", "POST", "/api/v1/auth/register", "shop", "", `{"email":"eve@x.test","password":"long enough pw","role":"admin"}`, nil, 400, apiserver.ErrUnknownField, "role"},
		{"customer picks a tenant", "POST", "/api/v1/auth/register", "shop", "", `{"email":"eve@x.test","password":"long enough pw","tenant_id":"00000000-0000-4000-8000-000000000000"}`, nil, 400, apiserver.ErrUnknownField, "tenant_id"},
		{"client sets the version", "PATCH", "/api/v1/products/" + existing, "shop", admin, `{"version":99}`, nil, 400, apiserver.ErrUnknownField, "version"},
		{"client sets the id", "POST", "/api/v1/products", "shop", admin, product("X", "M-1", "draft", map[string]any{"id": "00000000-0000-4000-8000-000000000000"}), nil, 400, apiserver.ErrUnknownField, "id"},
		{"customer changes a price", "PATCH", "/api/v1/products/" + existing, "shop", customer, `{"variants":[{"sku":"TAKEN-1","prices":[{"currency":"EUR","amount":1}]}]}`, nil, 403, apiserver.ErrForbidden, ""},
		{"customer creates a product", "POST", "/api/v1/products", "shop", customer, product("X", "M-2", "published", nil), nil, 403, apiserver.ErrForbidden, ""},
		{"anonymous creates a product", "POST", "/api/v1/products", "shop", "", product("X", "M-3", "published", nil), nil, 401, apiserver.ErrUnauthenticated, ""},
		{"short password", "POST", "/api/v1/auth/register", "shop", "", `{"email":"eve@x.test","password":"short"}`, nil, 400, apiserver.ErrInvalid, "password"},
		{"bad email", "POST", "/api/v1/auth/register", "shop", "", `{"email":"not-an-email","password":"long enough pw"}`, nil, 400, apiserver.ErrInvalid, "email"},
		{"two JSON values", "POST", "/api/v1/auth/logout", "shop", "", `{"refresh_token":"a"}{"refresh_token":"b"}`, nil, 400, apiserver.ErrMalformedJSON, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, tt.tenant, tt.token, tt.body, tt.headers...).want(tt.status, tt.code)
			if r.field() != tt.field {
				t.Fatalf("field %q, want %q (body %s)", r.field(), tt.field, r.raw)
			}
			if msg, _ := r.json["error"].(map[string]any)["message"].(string); msg == "" {
				t.Fatalf("no message: %s", r.raw)
			}
		})
	}
	for _, tb := range tables {
		if n := e.count(tb); n != before[tb] {
			t.Errorf("table %s went from %d to %d rows after bad requests", tb, before[tb], n)
		}
	}
	if r := e.do("GET", "/api/v1/products/"+existing, "shop", "", nil).want(200, ""); r.json["version"].(float64) != 1 {
		t.Errorf("existing product changed: %s", r.raw)
	}
}
