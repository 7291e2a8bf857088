package stack_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/internal/events"
)

// TestGuestCheckout walks a guest from an empty cart to an order: totals with flat
// shipping and tax lines, the stock reserved, the events written, the order visible
// to the guest by cart token, to staff, and to no one else.
func TestGuestCheckout(t *testing.T) {
	e := startAPI(t, nil)
	s := e.store("shop")
	s.product("MUG-1", 1999, 2199, 10)
	s.product("TEE-1", 2500, 0, 3)
	e.do("PUT", "/api/v1/storefronts/default/checkout-settings", "shop", s.admin, map[string]any{"currency": "EUR",
		"reservation_ttl_seconds": 600, "tax_rate_bps": 2000, "tax_label": "VAT", "shipping_amount": 499, "free_shipping_over": 10000}).want(200, "")

	cart, token := s.guestCart()
	s.add(cart, token, "", "MUG-1", 2).want(201, "")
	c := s.add(cart, token, "", "TEE-1", 1).want(201, "").cart()
	// 2 x 19.99 + 25.00 = 64.98; shipping 4.99 (below 100.00); VAT 20% of 69.97 = 13.994 -> 13.99.
	if c.Subtotal != 6498 || c.Shipping != 499 || c.Tax != 1399 || c.Total != 8396 || c.ItemCount != 3 || c.Currency != "EUR" {
		t.Fatalf("cart totals: %+v", c)
	}
	if len(c.Lines) != 2 || c.Lines[0].Available != 10 || c.Lines[0].Problem != "" {
		t.Fatalf("cart lines: %+v", c.Lines)
	}

	r := s.checkout(cart, token, "", "k-1", map[string]any{"email": "guest@example.test",
		"shipping_address": map[string]any{"name": "Ann", "line1": "Main St 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}}).want(201, "")
	o := r.order()
	if o.Status != apiserver.OrderPendingPayment || o.Total != 8396 || o.CustomerID != nil || o.Email != "guest@example.test" || o.ReservationExpiresAt == nil {
		t.Fatalf("order: %s", r.raw)
	}
	kinds := []string{}
	var sum int64
	for _, l := range o.Lines {
		kinds = append(kinds, l.Kind)
		sum += l.Amount
	}
	if len(o.Lines) != 4 || kinds[2] != apiserver.LineShipping || kinds[3] != apiserver.LineTax || o.Lines[3].Name != "VAT (20%)" || sum != o.Total {
		t.Fatalf("order lines %v: %s", kinds, r.raw)
	}
	if o.BillingAddress == nil || o.BillingAddress.Country != "DE" {
		t.Fatalf("billing address defaults to shipping: %s", r.raw)
	}
	if bytes.Contains(r.raw, []byte(`"fraud"`)) || bytes.Contains(r.raw, []byte(`"review"`)) {
		t.Fatalf("a shopper's order shows staff fields: %s", r.raw)
	}
	if len(o.History) != 1 || o.History[0].To != apiserver.OrderPendingPayment || o.History[0].Actor != "guest" {
		t.Fatalf("history: %+v", o.History)
	}
	if st := s.stock("MUG-1"); st.OnHand != 10 || st.Reserved != 2 || st.Available != 8 {
		t.Fatalf("stock after checkout: %+v", st)
	}

	t.Run("events", func(t *testing.T) {
		created := e.outboxEvents(s.t.ID, string(events.OrderCreated))
		if len(created) != 1 {
			t.Fatalf("%d order.created events", len(created))
		}
		var ev struct {
			ID              string          `json:"id"`
			Guest           bool            `json:"guest"`
			Total           apiserver.Price `json:"total"`
			ShippingCountry string          `json:"shipping_country"`
			Lines           []struct {
				ProductID string `json:"product_id"`
				Quantity  int    `json:"quantity"`
			} `json:"lines"`
		}
		if err := json.Unmarshal(created[0], &ev); err != nil {
			t.Fatal(err)
		}
		if ev.ID != o.ID || !ev.Guest || ev.Total.Amount != 8396 || ev.Total.Currency != "EUR" || ev.ShippingCountry != "DE" || len(ev.Lines) != 2 || ev.Lines[0].ProductID == "" {
			t.Fatalf("order.created: %s", created[0])
		}
		stock := e.outboxEvents(s.t.ID, string(events.StockChanged))
		last := map[string]events.Stock{}
		for _, p := range stock {
			var st events.Stock
			dec := json.NewDecoder(bytes.NewReader(p))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&st); err != nil || st.ProductID == "" || st.Version < 1 {
				t.Fatalf("stock.changed %s: %v", p, err)
			}
			if prev, ok := last[st.SKU]; ok && st.Version <= prev.Version {
				t.Fatalf("stock versions of %s do not grow: %d then %d", st.SKU, prev.Version, st.Version)
			}
			last[st.SKU] = st
		}
		if last["MUG-1"].Available != 8 || last["TEE-1"].Available != 2 {
			t.Fatalf("last stock events: %+v", last)
		}
	})

	t.Run("who sees the order", func(t *testing.T) {
		e.do("GET", "/api/v1/orders/"+o.ID, "shop", "", nil, "X-Cart-Token", token).want(200, "")
		e.do("GET", "/api/v1/orders/"+o.ID, "shop", "", nil).want(401, apiserver.ErrUnauthenticated)
		_, other := s.guestCart()
		e.do("GET", "/api/v1/orders/"+o.ID, "shop", "", nil, "X-Cart-Token", other).want(404, apiserver.ErrNotFound)
		e.do("GET", "/api/v1/orders/"+o.ID, "shop", s.customer, nil).want(404, apiserver.ErrNotFound)
		staff := e.do("GET", "/api/v1/orders/"+o.ID, "shop", s.admin, nil).want(200, "")
		if !bytes.Contains(staff.raw, []byte(`"history"`)) {
			t.Fatalf("staff view: %s", staff.raw)
		}
		e.do("GET", "/api/v1/orders", "shop", "", nil).want(401, apiserver.ErrUnauthenticated)
		var page apiserver.OrderPage
		e.do("GET", "/api/v1/orders", "shop", s.customer, nil).want(200, "").decode(&page)
		if len(page.Items) != 0 {
			t.Fatalf("a customer lists a guest's order: %+v", page.Items)
		}
		e.do("GET", "/api/v1/orders", "shop", s.admin, nil).want(200, "").decode(&page)
		if len(page.Items) != 1 || page.Items[0].ID != o.ID {
			t.Fatalf("staff list: %+v", page.Items)
		}
	})

	t.Run("the cart is closed", func(t *testing.T) {
		c := e.do("GET", "/api/v1/carts/"+cart, "shop", "", nil, "X-Cart-Token", token).want(200, "").cart()
		if c.Status != apiserver.CartCheckedOut || c.OrderID == nil || *c.OrderID != o.ID {
			t.Fatalf("cart after checkout: %+v", c)
		}
		s.add(cart, token, "", "MUG-1", 1).want(409, apiserver.ErrCartClosed)
		s.checkout(cart, token, "", "k-2", map[string]any{"email": "guest@example.test"}).want(409, apiserver.ErrCartClosed)
	})
	e.checkStockInvariants(s.t.ID)
}
