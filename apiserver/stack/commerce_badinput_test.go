package stack_test

import (
	"strings"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
)

// TestCommerceBadInput: every bad stock, cart, checkout, order and settings request
// gets its exact status and code, and changes no stock, cart line, order, reservation
// or event.
func TestCommerceBadInput(t *testing.T) {
	e := startAPI(t, nil)
	s := e.store("shop")
	other := e.store("other")
	s.product("OK-1", 1000, 0, 10)
	s.product("USD-ONLY", 0, 0, 0)
	e.do("PATCH", "/api/v1/products/"+e.do("GET", "/api/v1/products?q=USD-ONLY", "shop", s.admin, nil).json["items"].([]any)[0].(map[string]any)["id"].(string),
		"shop", s.admin, map[string]any{"variants": []any{map[string]any{"sku": "USD-ONLY", "prices": []any{map[string]any{"currency": "USD", "amount": 100}}}}}).want(200, "")
	e.do("POST", "/api/v1/products", "shop", s.admin, product("Draft", "DRAFT-1", "draft", nil)).want(201, "")
	other.product("THEIRS-1", 1000, 0, 10)

	cart, token := s.guestCart()
	line := s.add(cart, token, "", "OK-1", 1).want(201, "").cart().Lines[0].ID
	otherCart, otherToken := other.guestCart()
	other.add(otherCart, otherToken, "", "THEIRS-1", 1).want(201, "")
	otherOrder := other.checkout(otherCart, otherToken, "", "k-other", map[string]any{"email": "a@b.test"}).want(201, "").str("id")
	_, strangerToken := s.guestCart()
	empty, emptyToken := s.guestCart()
	shipped := s.buyAsGuest(map[string]int64{"OK-1": 1})
	for _, step := range []apiserver.OrderStatus{apiserver.OrderPaid, apiserver.OrderFulfilled, apiserver.OrderShipped} {
		s.move(shipped, s.admin, step).want(200, "")
	}
	s.buyAsGuest(map[string]int64{"OK-1": 1}) // on hand 9 (one shipped), 1 reserved

	tables := []string{"stock", "stock_locations", "stock_adjustments", "carts", "cart_lines", "orders", "order_lines", "order_transitions", "reservations", "outbox", "storefront_settings"}
	before := map[string]int{}
	for _, tb := range tables {
		before[tb] = e.count(tb)
	}
	items := "/api/v1/carts/" + cart + "/items"
	checkout := "/api/v1/carts/" + cart + "/checkout"
	tok := []string{"X-Cart-Token", token}
	key := func(k string) []string { return append([]string{"Idempotency-Key", k}, tok...) }
	guest := map[string]any{"email": "guest@example.test"}

	tests := []struct {
		name    string
		method  string
		path    string
		token   string
		body    any
		headers []string
		status  int
		code    string
		field   string
	}{
		{"quantity zero", "POST", items, "", `{"sku":"OK-1","quantity":0}`, tok, 400, apiserver.ErrInvalid, "quantity"},
		{"quantity negative", "POST", items, "", `{"sku":"OK-1","quantity":-3}`, tok, 400, apiserver.ErrInvalid, "quantity"},
		{"quantity huge", "POST", items, "", `{"sku":"OK-1","quantity":1000000000000}`, tok, 400, apiserver.ErrInvalid, "quantity"},
		{"quantity fractional", "POST", items, "", `{"sku":"OK-1","quantity":1.5}`, tok, 400, apiserver.ErrInvalid, "quantity"},
		{"quantity as a string", "POST", items, "", `{"sku":"OK-1","quantity":"2"}`, tok, 400, apiserver.ErrInvalid, "quantity"},
		{"quantity missing", "POST", items, "", `{"sku":"OK-1"}`, tok, 400, apiserver.ErrInvalid, "quantity"},
		{"more than available", "POST", items, "", `{"sku":"OK-1","quantity":9}`, tok, 409, apiserver.ErrInsufficientStock, "quantity"},
		{"unknown SKU", "POST", items, "", `{"sku":"NOPE-1","quantity":1}`, tok, 422, apiserver.ErrUnknownSKU, "sku"},
		{"SKU of another tenant", "POST", items, "", `{"sku":"THEIRS-1","quantity":1}`, tok, 422, apiserver.ErrUnknownSKU, "sku"},
		{"SKU of a draft product", "POST", items, "", `{"sku":"DRAFT-1","quantity":1}`, tok, 422, apiserver.ErrUnknownSKU, "sku"},
		{"SKU without a price in the cart's currency", "POST", items, "", `{"sku":"USD-ONLY","quantity":1}`, tok, 422, apiserver.ErrPriceUnavailable, "sku"},
		{"malformed SKU", "POST", items, "", `{"sku":"bad sku!","quantity":1}`, tok, 400, apiserver.ErrInvalid, "sku"},
		{"unknown field (price)", "POST", items, "", `{"sku":"OK-1","quantity":1,"price":1}`, tok, 400, apiserver.ErrUnknownField, "price"},
		{"malformed JSON", "POST", items, "", `{"sku":`, tok, 400, apiserver.ErrMalformedJSON, ""},
		{"no cart token", "POST", items, "", `{"sku":"OK-1","quantity":1}`, nil, 404, apiserver.ErrNotFound, ""},
		{"token of another cart", "POST", items, "", `{"sku":"OK-1","quantity":1}`, []string{"X-Cart-Token", strangerToken}, 404, apiserver.ErrNotFound, ""},
		{"cart of another tenant with its token", "GET", "/api/v1/carts/" + otherCart, "", nil, []string{"X-Cart-Token", otherToken}, 404, apiserver.ErrNotFound, ""},
		{"customer token on a guest cart", "GET", "/api/v1/carts/" + cart, s.customer, nil, nil, 404, apiserver.ErrNotFound, ""},
		{"malformed cart id", "GET", "/api/v1/carts/42", "", nil, tok, 400, apiserver.ErrInvalid, "id"},
		{"unknown cart", "GET", "/api/v1/carts/00000000-0000-4000-8000-000000000000", "", nil, tok, 404, apiserver.ErrNotFound, ""},
		{"line quantity zero", "PATCH", items + "/" + line, "", `{"quantity":0}`, tok, 400, apiserver.ErrInvalid, "quantity"},
		{"line quantity above stock", "PATCH", items + "/" + line, "", `{"quantity":50}`, tok, 409, apiserver.ErrInsufficientStock, "quantity"},
		{"unknown line", "PATCH", items + "/00000000-0000-4000-8000-000000000000", "", `{"quantity":1}`, tok, 404, apiserver.ErrNotFound, ""},
		{"line removed with another cart's token", "DELETE", items + "/" + line, "", nil, []string{"X-Cart-Token", strangerToken}, 404, apiserver.ErrNotFound, ""},
		{"checkout without Idempotency-Key", "POST", checkout, "", guest, tok, 400, apiserver.ErrInvalid, "Idempotency-Key"},
		{"Idempotency-Key too long", "POST", checkout, "", guest, key(strings.Repeat("x", 256)), 400, apiserver.ErrInvalid, "Idempotency-Key"},
		{"Idempotency-Key with spaces", "POST", checkout, "", guest, key("a b"), 400, apiserver.ErrInvalid, "Idempotency-Key"},
		{"checkout with a bad email", "POST", checkout, "", `{"email":"not-an-email"}`, key("k-email"), 400, apiserver.ErrInvalid, "email"},
		{"checkout with a bad country", "POST", checkout, "", `{"email":"a@b.test","shipping_address":{"country":"Germany"}}`, key("k-country"), 400, apiserver.ErrInvalid, "shipping_address.country"},
		{"checkout with an unknown field", "POST", checkout, "", `{"email":"a@b.test","total":1}`, key("k-field"), 400, apiserver.ErrUnknownField, "total"},
		{"guest checkout without email", "POST", checkout, "", `{}`, key("k-noemail"), 400, apiserver.ErrInvalid, "email"},
		{"checkout of an empty cart", "POST", "/api/v1/carts/" + empty + "/checkout", "", guest, []string{"Idempotency-Key", "k-empty", "X-Cart-Token", emptyToken}, 422, apiserver.ErrCartEmpty, ""},
		{"checkout with another cart's token", "POST", checkout, "", guest, []string{"Idempotency-Key", "k-stranger", "X-Cart-Token", strangerToken}, 404, apiserver.ErrNotFound, ""},
		{"unknown order state", "POST", "/api/v1/orders/" + shipped + "/transitions", s.admin, `{"to":"lost"}`, nil, 400, apiserver.ErrInvalid, "to"},
		{"transition without a target", "POST", "/api/v1/orders/" + shipped + "/transitions", s.admin, `{}`, nil, 400, apiserver.ErrInvalid, "to"},
		{"cancel after ship", "POST", "/api/v1/orders/" + shipped + "/transitions", s.admin, `{"to":"cancelled"}`, nil, 409, apiserver.ErrInvalidTransition, "to"},
		{"back to pending", "POST", "/api/v1/orders/" + shipped + "/transitions", s.admin, `{"to":"pending_payment"}`, nil, 409, apiserver.ErrInvalidTransition, "to"},
		{"token of another tenant", "GET", "/api/v1/orders/" + shipped, other.admin, nil, nil, 401, apiserver.ErrInvalidToken, ""},
		{"order of another tenant", "GET", "/api/v1/orders/" + otherOrder, s.admin, nil, nil, 404, apiserver.ErrNotFound, ""},
		{"cancel another tenant's order", "POST", "/api/v1/orders/" + otherOrder + "/transitions", s.admin, `{"to":"cancelled"}`, nil, 404, apiserver.ErrNotFound, ""},
		{"another tenant's order by its cart token", "GET", "/api/v1/orders/" + otherOrder, "", nil, []string{"X-Cart-Token", otherToken}, 404, apiserver.ErrNotFound, ""},
		{"anonymous order list", "GET", "/api/v1/orders", "", nil, nil, 401, apiserver.ErrUnauthenticated, ""},
		{"order page too large", "GET", "/api/v1/orders?limit=101", s.admin, nil, nil, 400, apiserver.ErrInvalid, "limit"},
		{"customer reads stock", "GET", "/api/v1/stock/OK-1", s.customer, nil, nil, 403, apiserver.ErrForbidden, ""},
		{"anonymous sets stock", "PUT", "/api/v1/stock/OK-1", "", `{"warehouse":"main","on_hand":5}`, nil, 401, apiserver.ErrUnauthenticated, ""},
		{"negative on hand", "PUT", "/api/v1/stock/OK-1", s.admin, `{"warehouse":"main","on_hand":-1}`, nil, 400, apiserver.ErrInvalid, "on_hand"},
		{"huge on hand", "PUT", "/api/v1/stock/OK-1", s.admin, `{"warehouse":"main","on_hand":10000000000}`, nil, 400, apiserver.ErrInvalid, "on_hand"},
		{"bad warehouse", "PUT", "/api/v1/stock/OK-1", s.admin, `{"warehouse":"Main Hall","on_hand":1}`, nil, 400, apiserver.ErrInvalid, "warehouse"},
		{"stock of an unknown SKU", "PUT", "/api/v1/stock/NOPE-1", s.admin, `{"warehouse":"main","on_hand":1}`, nil, 404, apiserver.ErrNotFound, "sku"},
		{"stock of another tenant's SKU", "GET", "/api/v1/stock/THEIRS-1", s.admin, nil, nil, 404, apiserver.ErrNotFound, "sku"},
		{"on hand below reserved", "PUT", "/api/v1/stock/OK-1", s.admin, `{"warehouse":"main","on_hand":0}`, nil, 409, apiserver.ErrStockReserved, "on_hand"},
		{"adjustment of zero", "POST", "/api/v1/stock/OK-1/adjustments", s.admin, `{"warehouse":"main","delta":0,"reason":"x"}`, nil, 400, apiserver.ErrInvalid, "delta"},
		{"adjustment without reason", "POST", "/api/v1/stock/OK-1/adjustments", s.admin, `{"warehouse":"main","delta":1}`, nil, 400, apiserver.ErrInvalid, "reason"},
		{"adjustment below reserved", "POST", "/api/v1/stock/OK-1/adjustments", s.admin, `{"warehouse":"main","delta":-9,"reason":"theft"}`, nil, 409, apiserver.ErrStockReserved, "delta"},
		{"adjustment below zero", "POST", "/api/v1/stock/OK-1/adjustments", s.admin, `{"warehouse":"main","delta":-11,"reason":"theft"}`, nil, 409, apiserver.ErrConflict, "delta"},
		{"adjustment of an empty warehouse", "POST", "/api/v1/stock/OK-1/adjustments", s.admin, `{"warehouse":"nowhere","delta":-1,"reason":"x"}`, nil, 409, apiserver.ErrConflict, "delta"},
		{"staff changes checkout settings", "PUT", "/api/v1/storefronts/default/checkout-settings", s.customer, `{"currency":"EUR","reservation_ttl_seconds":60}`, nil, 403, apiserver.ErrForbidden, ""},
		{"settings: bad currency", "PUT", "/api/v1/storefronts/default/checkout-settings", s.admin, `{"currency":"euro","reservation_ttl_seconds":60}`, nil, 400, apiserver.ErrInvalid, "currency"},
		{"settings: no reservation TTL", "PUT", "/api/v1/storefronts/default/checkout-settings", s.admin, `{"currency":"EUR","reservation_ttl_seconds":0}`, nil, 400, apiserver.ErrInvalid, "reservation_ttl_seconds"},
		{"settings: tax above 100%", "PUT", "/api/v1/storefronts/default/checkout-settings", s.admin, `{"currency":"EUR","reservation_ttl_seconds":60,"tax_rate_bps":10001}`, nil, 400, apiserver.ErrInvalid, "tax_rate_bps"},
		{"settings: fraud threshold 1", "PUT", "/api/v1/storefronts/default/checkout-settings", s.admin, `{"currency":"EUR","reservation_ttl_seconds":60,"fraud":{"action":"block","threshold":1}}`, nil, 400, apiserver.ErrInvalid, "fraud.threshold"},
		{"settings: unknown fraud action", "PUT", "/api/v1/storefronts/default/checkout-settings", s.admin, `{"currency":"EUR","reservation_ttl_seconds":60,"fraud":{"action":"shrug","threshold":0.5}}`, nil, 400, apiserver.ErrInvalid, "fraud.action"},
		{"settings: bad storefront name", "GET", "/api/v1/storefronts/Not_A_Name/checkout-settings", s.admin, nil, nil, 400, apiserver.ErrInvalid, "storefront"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, "shop", tc.token, tc.body, tc.headers...).want(tc.status, tc.code)
			if tc.field != "" && r.field() != tc.field {
				t.Errorf("field %q, want %q; body %s", r.field(), tc.field, r.raw)
			}
		})
	}
	for _, tb := range tables {
		if n := e.count(tb); n != before[tb] {
			t.Errorf("table %s: %d rows before the bad requests, %d after", tb, before[tb], n)
		}
	}
	if st := s.stock("OK-1"); st.OnHand != 9 || st.Reserved != 1 {
		t.Errorf("stock changed: %+v", st)
	}
	e.checkStockInvariants(s.t.ID)
}
