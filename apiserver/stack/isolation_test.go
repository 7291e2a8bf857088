package stack_test

import (
	"context"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
)

// TestTenantIsolationMatrix: every object of tenant B is 404 to tenant A's callers,
// and a token of A is refused by B (OWASP API1: object-level authorisation).
func TestTenantIsolationMatrix(t *testing.T) {
	e := startAPI(t, nil)
	a := e.tenant("tenant-a")
	b := e.tenant("tenant-b")
	adminA := e.user(a, "admin@a.test", apiserver.RoleAdmin)
	adminB := e.user(b, "admin@b.test", apiserver.RoleAdmin)
	custA := e.user(a, "jane@a.test", apiserver.RoleCustomer)

	catB := e.do("POST", "/api/v1/categories", "tenant-b", adminB, map[string]string{"slug": "secret", "name": "Secret"}).want(201, "").str("id")
	prodB := e.do("POST", "/api/v1/products", "tenant-b", adminB, product("B only", "SKU-B", "published", nil)).want(201, "").str("id")
	// The same SKU in another tenant is fine: SKUs are unique per tenant.
	e.do("POST", "/api/v1/products", "tenant-a", adminA, product("A's", "SKU-B", "published", nil)).want(201, "")

	for _, tc := range []struct {
		name   string
		method string
		path   string
		token  string
		body   any
	}{
		{"admin reads B's product", "GET", "/api/v1/products/" + prodB, adminA, nil},
		{"customer reads B's product", "GET", "/api/v1/products/" + prodB, custA, nil},
		{"anonymous reads B's product", "GET", "/api/v1/products/" + prodB, "", nil},
		{"admin patches B's product", "PATCH", "/api/v1/products/" + prodB, adminA, map[string]string{"name": "pwned"}},
		{"admin publishes B's product", "POST", "/api/v1/products/" + prodB + "/unpublish", adminA, nil},
		{"admin deletes B's product", "DELETE", "/api/v1/products/" + prodB, adminA, nil},
		{"admin reads B's category", "GET", "/api/v1/categories/" + catB, adminA, nil},
		{"admin moves B's category", "PATCH", "/api/v1/categories/" + catB, adminA, map[string]string{"name": "pwned"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.do(tc.method, tc.path, "tenant-a", tc.token, tc.body).want(404, apiserver.ErrNotFound)
		})
	}
	t.Run("B's category cannot be referenced from A", func(t *testing.T) {
		e.do("POST", "/api/v1/products", "tenant-a", adminA, product("X", "SKU-X", "draft", map[string]any{"category_ids": []string{catB}})).want(400, apiserver.ErrInvalid)
		e.do("POST", "/api/v1/categories", "tenant-a", adminA, map[string]string{"slug": "sub", "name": "Sub", "parent_id": catB}).want(400, apiserver.ErrInvalid)
	})
	t.Run("A's token is refused by B", func(t *testing.T) {
		e.do("GET", "/api/v1/products/"+prodB, "tenant-b", adminA, nil).want(401, apiserver.ErrInvalidToken)
		e.do("PATCH", "/api/v1/products/"+prodB, "tenant-b", adminA, map[string]string{"name": "pwned"}).want(401, apiserver.ErrInvalidToken)
		e.do("GET", "/api/v1/me", "tenant-b", custA, nil).want(401, apiserver.ErrInvalidToken)
	})
	t.Run("lists stay within the tenant", func(t *testing.T) {
		for _, id := range ids(e.do("GET", "/api/v1/products", "tenant-a", adminA, nil).want(200, "")) {
			if id == prodB {
				t.Fatal("tenant A's list shows B's product")
			}
		}
		if got := ids(e.do("GET", "/api/v1/categories", "tenant-a", adminA, nil).want(200, "")); len(got) != 0 {
			t.Fatalf("tenant A sees categories %v", got)
		}
	})
	if r := e.do("GET", "/api/v1/products/"+prodB, "tenant-b", adminB, nil).want(200, ""); r.json["name"] != "B only" || r.json["status"] != "published" {
		t.Fatalf("B's product was changed through A: %s", r.raw)
	}
}

// TestRowLevelSecurity proves the database half: a query that forgets its tenant
// filter sees only the tenant bound to the transaction, and nothing without one.
func TestRowLevelSecurity(t *testing.T) {
	e := startAPI(t, nil)
	a := e.tenant("tenant-a")
	b := e.tenant("tenant-b")
	for _, tn := range []*apiserver.Tenant{a, b} {
		admin := e.user(tn, "admin@x.test", apiserver.RoleAdmin)
		e.do("POST", "/api/v1/products", tn.Slug, admin, product("P", "SKU-1", "published", nil)).want(201, "")
	}
	tables := []string{"products", "variants", "prices", "users", "refresh_tokens", "signing_keys", "outbox", "tenants"}
	ctx := context.Background()
	count := func(setting, value, table string) int {
		t.Helper()
		tx, err := e.db.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if setting != "" {
			if _, err := tx.Exec(ctx, "SELECT set_config($1, $2, true)", setting, value); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		// Deliberately no WHERE tenant_id = ...
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, table := range tables {
		t.Run(table, func(t *testing.T) {
			all := count("kommerce.platform", "on", table)
			onlyA := count("kommerce.tenant_id", a.ID, table)
			none := count("", "", table)
			if none != 0 {
				t.Errorf("without a tenant the query sees %d rows", none)
			}
			if onlyA == 0 || onlyA >= all {
				t.Errorf("tenant A sees %d of %d rows; want its own only", onlyA, all)
			}
		})
	}
	t.Run("insert for another tenant is refused", func(t *testing.T) {
		tx, err := e.db.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.tenant_id', $1, true)", a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO products (tenant_id, name) VALUES ($1, 'smuggled')", b.ID); err == nil {
			t.Fatal("tenant A wrote a row of tenant B")
		}
	})
}
