package stack_test

import (
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
