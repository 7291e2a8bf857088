package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/events"
)

func ids(r *resp) []string {
	var out []string
	items, _ := r.json["items"].([]any)
	for _, it := range items {
		out = append(out, it.(map[string]any)["id"].(string))
	}
	return out
}

func TestCatalogCRUDAndOutbox(t *testing.T) {
	e := startAPI(t, nil)
	shop := e.tenant("shop")
	admin := e.user(shop, "admin@shop.test", apiserver.RoleAdmin)
	staff := e.user(shop, "staff@shop.test", apiserver.RoleStaff)
	customer := e.user(shop, "jane@shop.test", apiserver.RoleCustomer)

	root := e.do("POST", "/api/v1/categories", "shop", admin, map[string]string{"slug": "apparel", "name": "Apparel"}).want(201, "")
	child := e.do("POST", "/api/v1/categories", "shop", staff, map[string]any{"slug": "shirts", "name": "Shirts", "parent_id": root.str("id")}).want(201, "")
	e.do("POST", "/api/v1/categories", "shop", admin, map[string]string{"slug": "apparel", "name": "Again"}).want(409, apiserver.ErrConflict)
	e.do("POST", "/api/v1/categories", "shop", customer, map[string]string{"slug": "mine", "name": "Mine"}).want(403, apiserver.ErrForbidden)
	// A category cannot move under its own descendant.
	e.do("PATCH", "/api/v1/categories/"+root.str("id"), "shop", admin, map[string]any{"parent_id": child.str("id")}).want(400, apiserver.ErrInvalid)
	tree := e.do("GET", "/api/v1/categories", "shop", "", nil).want(200, "")
	if got := ids(tree); len(got) != 2 || got[0] != root.str("id") {
		t.Fatalf("category tree %v", got)
	}

	body := product("Linen Shirt", "SHIRT-1", apiserver.StatusDraft, map[string]any{
		"description": "Breathable.", "category_ids": []string{child.str("id")},
		"attributes": map[string]string{"brand": "Oakline"}, "images": []string{"https://img.example.com/1.jpg"},
	})
	body["variants"] = []any{
		map[string]any{"sku": "SHIRT-1-S", "attributes": map[string]string{"size": "S"}, "prices": []any{map[string]any{"currency": "EUR", "amount": 4999}, map[string]any{"currency": "USD", "amount": 5499}}},
		map[string]any{"sku": "SHIRT-1-M", "attributes": map[string]string{"size": "M"}, "prices": []any{map[string]any{"currency": "EUR", "amount": 4999}}},
	}
	created := e.do("POST", "/api/v1/products", "shop", staff, body).want(201, "")
	id := created.str("id")
	if created.header.Get("ETag") != `"v1"` || created.header.Get("Location") != "/api/v1/products/"+id {
		t.Fatalf("create headers: ETag %q Location %q", created.header.Get("ETag"), created.header.Get("Location"))
	}
	var p apiserver.Product
	if err := json.Unmarshal(created.raw, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Variants) != 2 || p.Variants[0].Prices[1] != (apiserver.Price{Currency: "USD", Amount: 5499}) || p.CategoryIDs[0] != child.str("id") || p.Attributes["brand"] != "Oakline" {
		t.Fatalf("created product %s", created.raw)
	}

	// Drafts are invisible to shoppers, visible to staff.
	e.do("GET", "/api/v1/products/"+id, "shop", customer, nil).want(404, apiserver.ErrNotFound)
	e.do("GET", "/api/v1/products/"+id, "shop", "", nil).want(404, apiserver.ErrNotFound)
	e.do("GET", "/api/v1/products/"+id, "shop", staff, nil).want(200, "")
	if got := ids(e.do("GET", "/api/v1/products", "shop", customer, nil).want(200, "")); len(got) != 0 {
		t.Fatalf("shopper list shows drafts: %v", got)
	}
	e.do("GET", "/api/v1/products?status=draft", "shop", customer, nil).want(403, apiserver.ErrForbidden)

	pub := e.do("POST", "/api/v1/products/"+id+"/publish", "shop", admin, nil).want(200, "")
	if pub.json["status"] != "published" || pub.json["version"].(float64) != 2 {
		t.Fatalf("publish: %s", pub.raw)
	}
	// Read as a shopper (fills the cache), then change, then read again: never stale.
	r := e.do("GET", "/api/v1/products/"+id, "shop", customer, nil).want(200, "")
	etag := r.header.Get("ETag")
	if etag != `"v2"` {
		t.Fatalf("ETag %q", etag)
	}
	e.do("GET", "/api/v1/products/"+id, "shop", customer, nil, "If-None-Match", etag).want(304, "")
	e.do("GET", "/api/v1/products?limit=5", "shop", customer, nil).want(200, "") // fills the list cache
	e.do("PATCH", "/api/v1/products/"+id, "shop", admin, map[string]any{"name": "Stale"}, "If-Match", `"v1"`).want(412, apiserver.ErrPreconditionFailed)
	upd := e.do("PATCH", "/api/v1/products/"+id, "shop", admin, map[string]any{"name": "Linen Shirt II", "variants": []any{
		map[string]any{"sku": "SHIRT-1-M", "prices": []any{map[string]any{"currency": "EUR", "amount": 3999}}},
	}}, "If-Match", etag).want(200, "")
	if upd.header.Get("ETag") != `"v3"` {
		t.Fatalf("update ETag %q", upd.header.Get("ETag"))
	}
	r = e.do("GET", "/api/v1/products/"+id, "shop", customer, nil, "If-None-Match", etag).want(200, "")
	if r.json["name"] != "Linen Shirt II" || len(r.json["variants"].([]any)) != 1 {
		t.Fatalf("read after write is stale: %s", r.raw)
	}
	list := e.do("GET", "/api/v1/products?limit=5", "shop", customer, nil).want(200, "")
	if items := list.json["items"].([]any); len(items) != 1 || items[0].(map[string]any)["name"] != "Linen Shirt II" {
		t.Fatalf("list after write is stale: %s", list.raw)
	}
	// The removed SKU is free again; SHIRT-1-M belongs to this product.
	e.do("POST", "/api/v1/products", "shop", admin, product("Other", "SHIRT-1-S", "draft", nil)).want(201, "")
	e.do("POST", "/api/v1/products", "shop", admin, product("Thief", "SHIRT-1-M", "draft", nil)).want(409, apiserver.ErrConflict)

	// Category filter includes descendants.
	if got := ids(e.do("GET", "/api/v1/products?category="+root.str("id"), "shop", customer, nil).want(200, "")); len(got) != 1 || got[0] != id {
		t.Fatalf("products under apparel: %v", got)
	}

	e.do("DELETE", "/api/v1/products/"+id, "shop", customer, nil).want(403, apiserver.ErrForbidden)
	e.do("DELETE", "/api/v1/products/"+id, "shop", admin, nil).want(204, "")
	e.do("GET", "/api/v1/products/"+id, "shop", customer, nil).want(404, apiserver.ErrNotFound)
	e.do("GET", "/api/v1/products/"+id, "shop", admin, nil).want(404, apiserver.ErrNotFound)
	e.do("DELETE", "/api/v1/products/"+id, "shop", admin, nil).want(404, apiserver.ErrNotFound)
	e.do("PATCH", "/api/v1/products/"+id, "shop", admin, map[string]any{"name": "Zombie"}).want(404, apiserver.ErrNotFound)
	if got := ids(e.do("GET", "/api/v1/products", "shop", customer, nil).want(200, "")); len(got) != 0 {
		t.Fatalf("deleted product still listed: %v", got)
	}

	// The outbox has one event per write, in order, with growing versions.
	ctx := apiserver.NewContextWithTenant(context.Background(), shop)
	tx, err := e.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.tenant_id', $1, true)", shop.ID); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "SELECT event_type, aggregate_type, payload FROM outbox WHERE aggregate_id = $1 ORDER BY id", id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var typ, agg string
		var payload []byte
		if err := rows.Scan(&typ, &agg, &payload); err != nil {
			t.Fatal(err)
		}
		var snap events.Product
		if err := json.Unmarshal(payload, &snap); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s/%s v%d deleted=%v %s", typ, agg, snap.Version, snap.Deleted, snap.Status))
	}
	want := []string{"product.created/product v1 deleted=false draft", "product.updated/product v2 deleted=false published",
		"product.updated/product v3 deleted=false published", "product.deleted/product v4 deleted=true published"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outbox events\n got %v\nwant %v", got, want)
	}
	var cats int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM outbox WHERE event_type LIKE 'category.%'").Scan(&cats); err != nil || cats != 2 {
		t.Fatalf("category events: %d, %v", cats, err)
	}
}

func TestListPagination(t *testing.T) {
	e := startAPI(t, nil)
	shop := e.tenant("shop")
	admin := e.user(shop, "admin@shop.test", apiserver.RoleAdmin)
	names := []string{"delta", "alpha", "echo", "charlie", "bravo", "foxtrot", "golf"}
	for i, n := range names {
		e.do("POST", "/api/v1/products", "shop", admin, product(n, fmt.Sprintf("SKU-%d", i), "published", nil)).want(201, "")
	}
	for _, sort := range []string{"name", "-name", "created_at", "-created_at"} {
		t.Run(sort, func(t *testing.T) {
			var all []string
			cursor := ""
			for page := 0; ; page++ {
				q := url.Values{"limit": {"3"}, "sort": {sort}}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				r := e.do("GET", "/api/v1/products?"+q.Encode(), "shop", "", nil).want(200, "")
				for _, it := range r.json["items"].([]any) {
					all = append(all, it.(map[string]any)["name"].(string))
				}
				cursor = r.str("next_cursor")
				if cursor == "" {
					break
				}
				if page > 5 {
					t.Fatal("pagination does not end")
				}
			}
			if len(all) != len(names) {
				t.Fatalf("pages held %v", all)
			}
			switch sort {
			case "name":
				if fmt.Sprint(all) != "[alpha bravo charlie delta echo foxtrot golf]" {
					t.Fatalf("order %v", all)
				}
			case "-name":
				if fmt.Sprint(all) != "[golf foxtrot echo delta charlie bravo alpha]" {
					t.Fatalf("order %v", all)
				}
			case "created_at":
				if fmt.Sprint(all) != fmt.Sprint(names) {
					t.Fatalf("order %v", all)
				}
			}
		})
	}
	first := e.do("GET", "/api/v1/products?limit=2&sort=name", "shop", "", nil).want(200, "")
	// A cursor is bound to its filter and sort.
	e.do("GET", "/api/v1/products?limit=2&sort=-name&cursor="+first.str("next_cursor"), "shop", "", nil).want(400, apiserver.ErrInvalid)
	e.do("GET", "/api/v1/products?limit=2&sort=name&q=a&cursor="+first.str("next_cursor"), "shop", "", nil).want(400, apiserver.ErrInvalid)
	e.do("GET", "/api/v1/products?cursor=not-a-cursor", "shop", "", nil).want(400, apiserver.ErrInvalid)
	if got := e.do("GET", "/api/v1/products?q=LF", "shop", "", nil).want(200, ""); len(ids(got)) != 1 {
		t.Fatalf("q=LF matched %s", got.raw)
	}
	if got := e.do("GET", "/api/v1/products?q=%25", "shop", "", nil).want(200, ""); len(ids(got)) != 0 {
		t.Fatalf("q=%% is a wildcard: %s", got.raw)
	}
}

// TestCachedReadsAreIdentical: the second read of a product or a list page comes from
// the cache and must be byte for byte the first one, with the same ETag.
func TestCachedReadsAreIdentical(t *testing.T) {
	e := startAPI(t, nil)
	shop := e.tenant("shop")
	admin := e.user(shop, "admin@shop.test", apiserver.RoleAdmin)
	var id string
	for i := range 3 {
		id = e.do("POST", "/api/v1/products", "shop", admin, product(fmt.Sprintf("P%d", i), fmt.Sprintf("C-%d", i), "published", nil)).want(201, "").str("id")
	}
	for _, path := range []string{"/api/v1/products/" + id, "/api/v1/products?limit=2&sort=name"} {
		t.Run(path, func(t *testing.T) {
			first := e.do("GET", path, "shop", "", nil).want(200, "")
			second := e.do("GET", path, "shop", "", nil).want(200, "")
			if string(first.raw) != string(second.raw) || first.header.Get("ETag") != second.header.Get("ETag") || first.header.Get("ETag") == "" {
				t.Fatalf("cached read differs:\n%s %s\n%s %s", first.header.Get("ETag"), first.raw, second.header.Get("ETag"), second.raw)
			}
			if second.json == nil {
				t.Fatalf("cached body is not JSON: %s", second.raw)
			}
			e.do("GET", path, "shop", "", nil, "If-None-Match", second.header.Get("ETag")).want(304, "")
		})
	}
	keys, err := e.redis.Client.Keys(context.Background(), e.redis.Prefix+"shop:catalog:*").Result()
	if err != nil || len(keys) < 3 {
		t.Fatalf("cache keys %v, %v: the reads did not go through Redis", keys, err)
	}
}

// TestWriteAndReadPathsRenderAlike: the entry a write caches and the one a cache miss
// loads must be the same bytes, since both are served under the same ETag.
func TestWriteAndReadPathsRenderAlike(t *testing.T) {
	e := startAPI(t, nil)
	shop := e.tenant("shop")
	admin := e.user(shop, "admin@shop.test", apiserver.RoleAdmin)
	cat := e.do("POST", "/api/v1/categories", "shop", admin, map[string]string{"slug": "c", "name": "C"}).want(201, "").str("id")
	body := product("Full", "F-2", "published", map[string]any{"category_ids": []string{cat}, "attributes": map[string]string{"b": "2", "a": "1"}, "images": []string{"https://i.example.com/x.png"}})
	body["variants"] = []any{
		map[string]any{"sku": "F-2", "attributes": map[string]string{"size": "L"}, "prices": []any{map[string]any{"currency": "USD", "amount": 5}, map[string]any{"currency": "EUR", "amount": 4}}},
		map[string]any{"sku": "F-1", "prices": []any{}},
	}
	id := e.do("POST", "/api/v1/products", "shop", admin, body).want(201, "").str("id")
	cached := e.do("GET", "/api/v1/products/"+id, "shop", "", nil).want(200, "") // the entry the write stored
	e.start(func(o *stack.Options) { o.NoCache = true })
	loaded := e.do("GET", "/api/v1/products/"+id, "shop", "", nil).want(200, "") // straight from PostgreSQL
	if string(cached.raw) != string(loaded.raw) || cached.header.Get("ETag") != loaded.header.Get("ETag") {
		t.Fatalf("write path and read path differ under one ETag:\n%s\n%s", cached.raw, loaded.raw)
	}
}

func TestCategoryETags(t *testing.T) {
	e := startAPI(t, nil)
	shop := e.tenant("shop")
	admin := e.user(shop, "admin@shop.test", apiserver.RoleAdmin)
	id := e.do("POST", "/api/v1/categories", "shop", admin, map[string]string{"slug": "a", "name": "A"}).want(201, "").str("id")
	for _, path := range []string{"/api/v1/categories", "/api/v1/categories/" + id} {
		t.Run(path, func(t *testing.T) {
			etag := e.do("GET", path, "shop", "", nil).want(200, "").header.Get("ETag")
			e.do("GET", path, "shop", "", nil, "If-None-Match", etag).want(304, "")
			e.do("PATCH", "/api/v1/categories/"+id, "shop", admin, map[string]string{"name": "A " + path}).want(200, "")
			if r := e.do("GET", path, "shop", "", nil, "If-None-Match", etag).want(200, ""); r.header.Get("ETag") == etag {
				t.Fatal("ETag did not change with the category")
			}
		})
	}
}

// TestUncachedListsConcurrently: list pages encoded on a cache miss share pooled
// buffers (handed back once written) — concurrent misses of different pages must each
// get their own bytes, under a stable ETag that changes with the catalog.
func TestUncachedListsConcurrently(t *testing.T) {
	e := startAPI(t, func(o *stack.Options) { o.NoCache = true })
	shop := e.tenant("shop")
	admin := e.user(shop, "admin@shop.test", apiserver.RoleAdmin)
	var first string
	for i := range 12 {
		id := e.do("POST", "/api/v1/products", "shop", admin, product(fmt.Sprintf("Thing <%d> & co", i), fmt.Sprintf("T-%d", i), "published",
			map[string]any{"attributes": map[string]string{"size": strings.Repeat("L", i), "colour": "red"}})).want(201, "").str("id")
		if i == 0 {
			first = id
		}
	}
	paths := []string{"/api/v1/products?limit=5", "/api/v1/products?limit=20", "/api/v1/products?sort=name&limit=3", "/api/v1/products?sort=-name"}
	type page struct{ body, etag string }
	want := map[string]page{}
	for _, p := range paths {
		r := e.do("GET", p, "shop", "", nil).want(200, "")
		want[p] = page{string(r.raw), r.header.Get("ETag")}
	}
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				p := paths[(g+i)%len(paths)]
				req, _ := http.NewRequest("GET", e.base+p, nil)
				req.Header.Set("X-Kommerce-Tenant", "shop")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 || string(b) != want[p].body || res.Header.Get("ETag") != want[p].etag {
					errs <- fmt.Errorf("GET %s: %d %v, ETag %s (want %s), body %.200s", p, res.StatusCode, err, res.Header.Get("ETag"), want[p].etag, b)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	e.do("GET", paths[1], "shop", "", nil, "If-None-Match", want[paths[1]].etag).want(304, "")
	e.do("PATCH", "/api/v1/products/"+first, "shop", admin, map[string]string{"name": "Renamed"}).want(200, "")
	if r := e.do("GET", paths[1], "shop", "", nil, "If-None-Match", want[paths[1]].etag).want(200, ""); r.header.Get("ETag") == want[paths[1]].etag || !strings.Contains(string(r.raw), "Renamed") {
		t.Fatalf("after a write: ETag %s, body %.200s", r.header.Get("ETag"), r.raw)
	}
}
