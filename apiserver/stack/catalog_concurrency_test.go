package stack_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
)

// TestConcurrentCategoryMoves: two opposite moves sent at once (X under Y, Y under X)
// never fail with a server error (a deadlock between the two row locks used to be a
// 500) and never both succeed (that would make a cycle): at most one is 200, the
// other is refused as a cycle (400 on parent_id) or as a conflict (409). Many trials,
// because whether the two overlap depends on the scheduler.
func TestConcurrentCategoryMoves(t *testing.T) {
	e := startAPI(t, nil)
	shop := e.tenant("shop")
	admin := e.user(shop, "admin@shop.test", apiserver.RoleAdmin)
	const trials = 60
	for i := range trials {
		slug := func(s string) string { return s + "-" + string(rune('a'+i/26)) + string(rune('a'+i%26)) }
		x := e.do("POST", "/api/v1/categories", "shop", admin, map[string]string{"slug": slug("x"), "name": "X"}).want(201, "").str("id")
		y := e.do("POST", "/api/v1/categories", "shop", admin, map[string]string{"slug": slug("y"), "name": "Y"}).want(201, "").str("id")
		out := e.race([]*http.Request{
			e.request("PATCH", "/api/v1/categories/"+x, "shop", admin, map[string]any{"parent_id": y}),
			e.request("PATCH", "/api/v1/categories/"+y, "shop", admin, map[string]any{"parent_id": x}),
		})
		ok := 0
		for _, o := range out {
			switch {
			case o.err != nil:
				t.Fatalf("trial %d: %v", i, o.err)
			case o.status == 200:
				ok++
			case o.status == 400 && o.code == apiserver.ErrInvalid, o.status == 409 && o.code == apiserver.ErrConflict:
			default:
				t.Fatalf("trial %d: status %d %s", i, o.status, o.code)
			}
		}
		if ok > 1 {
			t.Fatalf("trial %d: both opposite moves succeeded", i)
		}
		var cycles int
		e.scalar(&cycles, `SELECT count(*) FROM categories a JOIN categories b ON b.tenant_id = a.tenant_id AND b.id = a.parent_id
			WHERE a.tenant_id = $1 AND b.parent_id = a.id`, shop.ID)
		if cycles != 0 {
			t.Fatalf("trial %d: %d categories in a cycle", i, cycles)
		}
	}
}

// TestConcurrentSKUSwap: two product updates sent at once that each take the other's
// SKU (P: A→B, Q: B→A) lock each other's variant rows in opposite orders; when they
// overlap PostgreSQL aborts one as a deadlock. That is a 409 the client may retry,
// never a 500; run apart, the second is the usual 409 (the SKU belongs to another
// product).
func TestConcurrentSKUSwap(t *testing.T) {
	e := startAPI(t, nil)
	shop := e.tenant("shop")
	admin := e.user(shop, "admin@shop.test", apiserver.RoleAdmin)
	variants := func(sku string) map[string]any {
		return map[string]any{"variants": []any{map[string]any{"sku": sku, "prices": []any{map[string]any{"currency": "EUR", "amount": 100}}}}}
	}
	const trials = 40
	conflicts := 0
	for i := range trials {
		a, b := fmt.Sprintf("SWAP-%d-A", i), fmt.Sprintf("SWAP-%d-B", i)
		p := e.do("POST", "/api/v1/products", "shop", admin, product("P", a, "draft", nil)).want(201, "").str("id")
		q := e.do("POST", "/api/v1/products", "shop", admin, product("Q", b, "draft", nil)).want(201, "").str("id")
		out := e.race([]*http.Request{
			e.request("PATCH", "/api/v1/products/"+p, "shop", admin, variants(b)),
			e.request("PATCH", "/api/v1/products/"+q, "shop", admin, variants(a)),
		})
		for _, o := range out {
			switch {
			case o.err != nil:
				t.Fatalf("trial %d: %v", i, o.err)
			case o.status == 200:
			case o.status == 409 && o.code == apiserver.ErrConflict:
				conflicts++
			default:
				t.Fatalf("trial %d: status %d %s", i, o.status, o.code)
			}
		}
	}
	t.Logf("%d conflicts in %d trials", conflicts, trials)
}
