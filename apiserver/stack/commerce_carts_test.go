package stack_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/demo"
	"github.com/kommerce/kommerce/apiserver/postgres"
)

// TestCheckoutIdempotency: the first outcome of a key — an order or an error — is
// what every retry with the same request gets; the key with another request is 422.
func TestCheckoutIdempotency(t *testing.T) {
	e := startAPI(t, nil)
	s := e.store("shop")
	s.product("IDEM-1", 1000, 0, 10)
	body := map[string]any{"email": "guest@example.test"}
	cart, token := s.guestCart()

	s.checkout(cart, token, "", "", body).want(400, apiserver.ErrInvalid)
	if r := s.checkout(cart, token, "", "", body); r.field() != "Idempotency-Key" {
		t.Fatalf("missing key: field %q", r.field())
	}
	s.checkout(cart, token, "", strings.Repeat("k", 256), body).want(400, apiserver.ErrInvalid)

	// A failure is the first outcome too: the empty cart stays "empty" for this key.
	s.checkout(cart, token, "", "first", body).want(422, apiserver.ErrCartEmpty)
	s.add(cart, token, "", "IDEM-1", 2).want(201, "")
	r := s.checkout(cart, token, "", "first", body).want(422, apiserver.ErrCartEmpty)
	if r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("a replayed failure is not marked as replayed")
	}

	o := s.checkout(cart, token, "", "second", body).want(201, "")
	if o.header.Get("Idempotent-Replayed") != "" {
		t.Fatal("a first answer is marked as replayed")
	}
	again := s.checkout(cart, token, "", "second", body).want(201, "")
	if again.str("id") != o.str("id") || again.header.Get("Idempotent-Replayed") != "true" || string(again.raw) != string(o.raw) {
		t.Fatalf("retry answered %s, first %s", again.raw, o.raw)
	}
	s.checkout(cart, token, "", "second", map[string]any{"email": "someone-else@example.test"}).want(422, apiserver.ErrIdempotencyKeyReused)
	s.checkout(cart, token, "", "third", body).want(409, apiserver.ErrCartClosed) // double submit with a new key

	// A key names one checkout of its caller: on another cart it is refused, not
	// answered with the first cart's order (TestCheckoutKeyReusedOnAnotherCart).
	cart2, token2 := s.guestCart()
	s.add(cart2, token2, "", "IDEM-1", 1).want(201, "")
	s.checkout(cart2, token2, "", "second", body).want(422, apiserver.ErrIdempotencyKeyReused)
	s.checkout(cart2, token2, "", "fourth", body).want(201, "")
	var orders int
	e.scalar(&orders, "SELECT count(*) FROM orders WHERE tenant_id = $1", s.t.ID)
	if orders != 2 || s.stock("IDEM-1").Reserved != 3 {
		t.Fatalf("%d orders, reserved %d", orders, s.stock("IDEM-1").Reserved)
	}
}

// TestCartFollowsCatalogAndStock: a cart is priced from the catalog and the stock on
// every read, so a price change is charged at the new price and never silently, and
// lines that cannot be bought are flagged and refused at checkout.
func TestCartFollowsCatalogAndStock(t *testing.T) {
	e := startAPI(t, nil)
	s := e.store("shop")
	id := s.product("PRICE-1", 1999, 0, 10)
	s.product("GONE-1", 500, 0, 10)
	cart, token := s.guestCart()
	s.add(cart, token, "", "PRICE-1", 2).want(201, "")
	get := func() apiserver.Cart {
		return e.do("GET", "/api/v1/carts/"+cart, "shop", "", nil, "X-Cart-Token", token).want(200, "").cart()
	}
	e.do("PATCH", "/api/v1/products/"+id, "shop", s.admin, map[string]any{"variants": []any{map[string]any{"sku": "PRICE-1",
		"prices": []any{map[string]any{"currency": "EUR", "amount": 2499}}}}}).want(200, "")
	if c := get(); c.Lines[0].UnitPrice != 2499 || c.Subtotal != 4998 {
		t.Fatalf("cart after a price change: %+v", c)
	}

	line := s.add(cart, token, "", "GONE-1", 1).want(201, "").cart().Lines[1].ID
	gone := e.do("GET", "/api/v1/products?q=GONE", "shop", s.admin, nil).want(200, "")
	goneID := gone.json["items"].([]any)[0].(map[string]any)["id"].(string)
	e.do("POST", "/api/v1/products/"+goneID+"/unpublish", "shop", s.admin, nil).want(200, "")
	if c := get(); c.Lines[1].Problem != apiserver.LineUnknownSKU || c.Subtotal != 4998 {
		t.Fatalf("cart with an unpublished product: %+v", c)
	}
	if r := s.checkout(cart, token, "", "k1", map[string]any{"email": "a@b.test"}).want(422, apiserver.ErrUnknownSKU); r.field() != "lines[1].sku" {
		t.Fatalf("field %q", r.field())
	}
	e.do("DELETE", "/api/v1/carts/"+cart+"/items/"+line, "shop", "", nil, "X-Cart-Token", token).want(200, "")

	s.setStock("PRICE-1", "main", 1)
	if c := get(); c.Lines[0].Problem != apiserver.LineInsufficientStock || c.Lines[0].Available != 1 || c.Total != 0 {
		t.Fatalf("cart above the stock: %+v", c)
	}
	s.checkout(cart, token, "", "k2", map[string]any{"email": "a@b.test"}).want(409, apiserver.ErrInsufficientStock)
	c := e.do("PATCH", "/api/v1/carts/"+cart+"/items/"+get().Lines[0].ID, "shop", "", map[string]any{"quantity": 1}, "X-Cart-Token", token).want(200, "").cart()
	if c.Lines[0].Problem != "" || c.Subtotal != 2499 {
		t.Fatalf("cart after lowering the quantity: %+v", c)
	}
	if o := s.checkout(cart, token, "", "k3", map[string]any{"email": "a@b.test"}).want(201, "").order(); o.Subtotal != 2499 || o.Lines[0].UnitPrice != 2499 {
		t.Fatalf("order: %+v", o)
	}
}

// TestCartMergeOnLogin: logging in with a guest cart's token moves its lines into the
// customer's cart (capped at what is available) or makes it the customer's cart.
func TestCartMergeOnLogin(t *testing.T) {
	e := startAPI(t, nil)
	s := e.store("shop")
	s.product("MRG-1", 1000, 0, 10)
	s.product("MRG-2", 2000, 0, 10)
	login := func(email, token string) *resp {
		return e.do("POST", "/api/v1/auth/login", "shop", "", map[string]string{"email": email, "password": userPassword}, cartHeader(token)...).want(200, "")
	}

	own := e.do("POST", "/api/v1/carts", "shop", s.customer, nil).want(201, "").str("id")
	s.add(own, "", s.customer, "MRG-1", 3).want(201, "")
	guest, token := s.guestCart()
	s.add(guest, token, "", "MRG-1", 9).want(201, "")
	s.add(guest, token, "", "MRG-2", 1).want(201, "")
	r := login("jane@shop.test", token)
	if r.header.Get("X-Cart-Id") != own {
		t.Fatalf("X-Cart-Id %q, want the customer's cart %s", r.header.Get("X-Cart-Id"), own)
	}
	c := e.do("GET", "/api/v1/carts/"+own, "shop", r.str("access_token"), nil).want(200, "").cart()
	if len(c.Lines) != 2 || c.Lines[0].Quantity != 10 || c.Lines[1].SKU != "MRG-2" || c.Lines[1].Quantity != 1 {
		t.Fatalf("merged cart (3 + 9 capped at 10 available): %+v", c.Lines)
	}
	if g := e.do("GET", "/api/v1/carts/"+guest, "shop", "", nil, "X-Cart-Token", token).want(200, "").cart(); g.Status != apiserver.CartMerged {
		t.Fatalf("guest cart after the merge: %+v", g)
	}
	s.add(guest, token, "", "MRG-1", 1).want(409, apiserver.ErrCartClosed)
	if again := login("jane@shop.test", token); again.header.Get("X-Cart-Id") != "" {
		t.Fatal("a merged guest cart was merged again")
	}

	// A customer without a cart adopts the guest cart; its token stops working.
	e.user(s.t, "bob@shop.test", apiserver.RoleCustomer)
	guest2, token2 := s.guestCart()
	s.add(guest2, token2, "", "MRG-2", 2).want(201, "")
	r = login("bob@shop.test", token2)
	if r.header.Get("X-Cart-Id") != guest2 {
		t.Fatalf("X-Cart-Id %q, want the adopted cart %s", r.header.Get("X-Cart-Id"), guest2)
	}
	e.do("GET", "/api/v1/carts/"+guest2, "shop", "", nil, "X-Cart-Token", token2).want(404, apiserver.ErrNotFound)
	if c := e.do("GET", "/api/v1/carts/"+guest2, "shop", r.str("access_token"), nil).want(200, "").cart(); c.CustomerID == nil || len(c.Lines) != 1 {
		t.Fatalf("adopted cart: %+v", c)
	}
	if r := login("bob@shop.test", "ct_not-a-real-token"); r.header.Get("X-Cart-Id") != "" {
		t.Fatal("an unknown cart token named a cart")
	}
}

// TestStockLedger: stock is set and adjusted per warehouse, every change is in the
// ledger with its reason and actor, and announced with a growing version.
func TestStockLedger(t *testing.T) {
	e := startAPI(t, nil)
	s := e.store("shop")
	s.product("LEDGER-1", 1000, 0, 0)
	adminID := e.do("GET", "/api/v1/me", "shop", s.admin, nil).want(200, "").str("id")
	if st := s.stock("LEDGER-1"); st.OnHand != 0 || st.Version != 0 || len(st.Warehouses) != 0 {
		t.Fatalf("stock of a SKU never stocked: %+v", st)
	}
	s.setStock("LEDGER-1", "main", 10)
	s.setStock("LEDGER-1", "backup", 5)
	s.setStock("LEDGER-1", "backup", 5) // no change, no entry
	var st apiserver.Stock
	e.do("POST", "/api/v1/stock/LEDGER-1/adjustments", "shop", s.admin, map[string]any{"warehouse": "backup", "delta": -2, "reason": "damaged in transit"}).want(201, "").decode(&st)
	if st.OnHand != 13 || st.Available != 13 || st.Version != 3 {
		t.Fatalf("stock: %+v", st)
	}
	var page apiserver.StockAdjustmentPage
	e.do("GET", "/api/v1/stock/LEDGER-1/adjustments?limit=2", "shop", s.admin, nil).want(200, "").decode(&page)
	if len(page.Items) != 2 || page.Items[0].Reason != "damaged in transit" || page.Items[0].Delta != -2 || page.Items[0].OnHandAfter != 3 ||
		page.Items[0].Actor != "user:"+adminID || page.Items[1].Reason != "set" || page.Items[1].Delta != 5 || page.NextCursor == "" {
		t.Fatalf("ledger page 1: %+v", page)
	}
	next := page.NextCursor
	page = apiserver.StockAdjustmentPage{}
	e.do("GET", "/api/v1/stock/LEDGER-1/adjustments?limit=2&cursor="+next, "shop", s.admin, nil).want(200, "").decode(&page)
	if len(page.Items) != 1 || page.Items[0].Warehouse != "main" || page.NextCursor != "" {
		t.Fatalf("ledger page 2: %+v", page)
	}
	if n := len(e.outboxEvents(s.t.ID, "stock.changed")); n != 3 {
		t.Fatalf("%d stock.changed events for 3 changes", n)
	}
}

// TestDemoStock: the demo catalog's stock is seeded once — with ledger entries and
// stock.changed events — and a second seeding changes nothing.
func TestDemoStock(t *testing.T) {
	e := startAPI(t, nil)
	s := e.store("shop")
	ctx := apiserver.NewContextWithTenant(context.Background(), s.t)
	if _, err := demo.Seed(ctx, e.st.Catalog, 3); err != nil {
		t.Fatal(err)
	}
	inv := &postgres.InventoryService{Commerce: &postgres.Commerce{DB: e.st.DB}}
	n, err := demo.Stock(ctx, inv, 3)
	if err != nil || n == 0 {
		t.Fatalf("first seeding: %d SKUs, %v", n, err)
	}
	if again, err := demo.Stock(ctx, inv, 3); err != nil || again != 0 {
		t.Fatalf("second seeding: %d SKUs, %v", again, err)
	}
	var skus, ledger int
	e.scalar(&skus, "SELECT count(*) FROM variants WHERE tenant_id = $1", s.t.ID)
	e.scalar(&ledger, "SELECT count(*) FROM stock_adjustments WHERE tenant_id = $1 AND reason = 'demo stock'", s.t.ID)
	if n != skus || ledger != n || len(e.outboxEvents(s.t.ID, "stock.changed")) != n {
		t.Fatalf("%d SKUs stocked of %d, %d ledger entries", n, skus, ledger)
	}
	e.checkStockInvariants(s.t.ID)
}
