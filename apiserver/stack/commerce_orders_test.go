package stack_test

import (
	"encoding/json"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/internal/events"
)

// allowed is the order state machine as the API documents it, written out here
// independently of the code's table.
var allowed = map[apiserver.OrderStatus][]apiserver.OrderStatus{
	apiserver.OrderPendingPayment: {apiserver.OrderPaid, apiserver.OrderCancelled},
	apiserver.OrderPaid:           {apiserver.OrderFulfilled, apiserver.OrderCancelled, apiserver.OrderRefunded},
	apiserver.OrderFulfilled:      {apiserver.OrderShipped, apiserver.OrderRefunded},
	apiserver.OrderShipped:        {apiserver.OrderDelivered, apiserver.OrderRefunded},
	apiserver.OrderDelivered:      {apiserver.OrderRefunded},
}

// pathTo is how staff bring a new order into each state.
var pathTo = map[apiserver.OrderStatus][]apiserver.OrderStatus{
	apiserver.OrderPendingPayment: {},
	apiserver.OrderPaid:           {apiserver.OrderPaid},
	apiserver.OrderFulfilled:      {apiserver.OrderPaid, apiserver.OrderFulfilled},
	apiserver.OrderShipped:        {apiserver.OrderPaid, apiserver.OrderFulfilled, apiserver.OrderShipped},
	apiserver.OrderDelivered:      {apiserver.OrderPaid, apiserver.OrderFulfilled, apiserver.OrderShipped, apiserver.OrderDelivered},
	apiserver.OrderCancelled:      {apiserver.OrderCancelled},
	apiserver.OrderRefunded:       {apiserver.OrderPaid, apiserver.OrderRefunded},
}

func (s *store) move(id, token string, to apiserver.OrderStatus) *resp {
	s.e.t.Helper()
	return s.e.do("POST", "/api/v1/orders/"+id+"/transitions", s.slug, token, map[string]any{"to": to, "reason": "test"})
}

func (s *store) orderAs(id, token string) apiserver.Order {
	s.e.t.Helper()
	return s.e.do("GET", "/api/v1/orders/"+id, s.slug, token, nil).want(200, "").order()
}

// TestOrderStateMachine tries every transition from every state: the allowed ones
// succeed and are recorded with actor and time, the others are 409
// invalid_transition and change nothing.
func TestOrderStateMachine(t *testing.T) {
	e := startAPI(t, nil)
	s := e.store("shop")
	s.product("SM-1", 1000, 0, 1000)
	adminID := e.do("GET", "/api/v1/me", "shop", s.admin, nil).want(200, "").str("id")
	for _, from := range apiserver.OrderStatuses {
		for _, to := range apiserver.OrderStatuses {
			t.Run(string(from)+" to "+string(to), func(t *testing.T) {
				id := s.buyAsGuest(map[string]int64{"SM-1": 1})
				for _, step := range pathTo[from] {
					s.move(id, s.admin, step).want(200, "")
				}
				before := s.orderAs(id, s.admin)
				ok := false
				for _, a := range allowed[from] {
					ok = ok || a == to
				}
				if !ok {
					s.move(id, s.admin, to).want(409, apiserver.ErrInvalidTransition)
					if after := s.orderAs(id, s.admin); after.Status != from || after.Version != before.Version || len(after.History) != len(before.History) {
						t.Fatalf("a refused transition changed the order: %+v", after)
					}
					return
				}
				o := s.move(id, s.admin, to).want(200, "").order()
				last := o.History[len(o.History)-1]
				if o.Status != to || o.Version != before.Version+1 || len(o.History) != len(before.History)+1 ||
					last.From == nil || *last.From != from || last.To != to || last.Actor != "user:"+adminID || last.Reason != "test" || last.At.IsZero() {
					t.Fatalf("after %s -> %s: %+v", from, to, o)
				}
			})
		}
	}
	transitions := e.outboxEvents(s.t.ID, string(events.OrderTransitioned))
	var ev struct {
		OrderID string `json:"order_id"`
		From    string `json:"from"`
		To      string `json:"to"`
		Actor   string `json:"actor"`
		Version int64  `json:"version"`
	}
	if len(transitions) == 0 || json.Unmarshal(transitions[0], &ev) != nil || ev.OrderID == "" || ev.From != "pending_payment" || ev.To != "paid" || ev.Actor != "user:"+adminID || ev.Version < 2 {
		t.Fatalf("order.transitioned events: %d, first %s", len(transitions), transitions[0])
	}
	e.checkStockInvariants(s.t.ID)
}

// TestOrderTransitionsMoveStock: cancelling and refunding a paid order release the
// stock, paying keeps it past the reservation TTL, fulfilling takes it out of the
// warehouse that holds most and records that in the ledger.
func TestOrderTransitionsMoveStock(t *testing.T) {
	e := startAPI(t, nil)
	s := e.store("shop")
	s.product("MOVE-1", 1000, 0, 0)
	s.setStock("MOVE-1", "main", 6)
	s.setStock("MOVE-1", "backup", 4)
	want := func(onHand, reserved int64) {
		t.Helper()
		if st := s.stock("MOVE-1"); st.OnHand != onHand || st.Reserved != reserved || st.Available != onHand-reserved {
			t.Fatalf("stock %+v, want on hand %d reserved %d", st, onHand, reserved)
		}
	}

	cancelled := s.buyAsGuest(map[string]int64{"MOVE-1": 3})
	want(10, 3)
	s.move(cancelled, s.admin, apiserver.OrderCancelled).want(200, "")
	want(10, 0)

	refunded := s.buyAsGuest(map[string]int64{"MOVE-1": 2})
	s.move(refunded, s.admin, apiserver.OrderPaid).want(200, "")
	want(10, 2)
	s.move(refunded, s.admin, apiserver.OrderRefunded).want(200, "")
	want(10, 0)

	id := s.buyAsGuest(map[string]int64{"MOVE-1": 3})
	o := s.move(id, s.admin, apiserver.OrderPaid).want(200, "").order()
	if o.ReservationExpiresAt != nil {
		t.Fatalf("a paid order's reservation still expires: %v", o.ReservationExpiresAt)
	}
	var expiring int
	e.scalar(&expiring, "SELECT count(*) FROM reservations WHERE order_id = $1 AND expires_at IS NOT NULL", id)
	if expiring != 0 {
		t.Fatal("a paid order's reservations still expire")
	}
	s.move(id, s.admin, apiserver.OrderFulfilled).want(200, "")
	want(7, 0)
	st := s.stock("MOVE-1")
	if len(st.Warehouses) != 2 || st.Warehouses[0].Warehouse != "backup" || st.Warehouses[0].OnHand != 4 || st.Warehouses[1].OnHand != 3 {
		t.Fatalf("warehouses after fulfilment: %+v", st.Warehouses)
	}
	var ledger apiserver.StockAdjustmentPage
	e.do("GET", "/api/v1/stock/MOVE-1/adjustments", "shop", s.admin, nil).want(200, "").decode(&ledger)
	if l := ledger.Items[0]; l.OrderID == nil || *l.OrderID != id || l.Delta != -3 || l.Warehouse != "main" || l.OnHandAfter != 3 {
		t.Fatalf("ledger after fulfilment: %+v", ledger.Items[0])
	}
	for _, step := range []apiserver.OrderStatus{apiserver.OrderShipped, apiserver.OrderDelivered, apiserver.OrderRefunded} {
		s.move(id, s.admin, step).want(200, "")
	}
	want(7, 0) // a refund after fulfilment restocks nothing: returns are adjustments
	e.checkStockInvariants(s.t.ID)
}

// TestCustomerOrders: customers check out their own cart (email from the account),
// see and cancel only their own unpaid orders.
func TestCustomerOrders(t *testing.T) {
	e := startAPI(t, nil)
	s := e.store("shop")
	s.product("CUST-1", 1500, 0, 10)
	other := e.user(s.t, "bob@shop.test", apiserver.RoleCustomer)

	r := e.do("POST", "/api/v1/carts", "shop", s.customer, nil).want(201, "")
	cart := r.str("id")
	if r.str("token") != "" {
		t.Fatalf("a customer cart has a token: %s", r.raw)
	}
	if again := e.do("POST", "/api/v1/carts", "shop", s.customer, nil).want(200, ""); again.str("id") != cart {
		t.Fatalf("a second POST /carts made another cart: %s", again.raw)
	}
	e.do("GET", "/api/v1/carts/"+cart, "shop", other, nil).want(404, apiserver.ErrNotFound)
	e.do("GET", "/api/v1/carts/"+cart, "shop", "", nil).want(404, apiserver.ErrNotFound)
	s.add(cart, "", other, "CUST-1", 1).want(404, apiserver.ErrNotFound)
	s.add(cart, "", s.customer, "CUST-1", 2).want(201, "")
	o := s.checkout(cart, "", s.customer, "c-1", nil).want(201, "").order()
	if o.Email != "jane@shop.test" || o.CustomerID == nil {
		t.Fatalf("customer order: %+v", o)
	}
	if len(o.History) != 1 || o.History[0].Actor != "user:"+*o.CustomerID {
		t.Fatalf("history: %+v", o.History)
	}

	var page apiserver.OrderPage
	e.do("GET", "/api/v1/orders", "shop", s.customer, nil).want(200, "").decode(&page)
	if len(page.Items) != 1 || page.Items[0].ID != o.ID {
		t.Fatalf("own orders: %+v", page.Items)
	}
	e.do("GET", "/api/v1/orders", "shop", other, nil).want(200, "").decode(&page)
	if len(page.Items) != 0 {
		t.Fatalf("another customer lists %d orders", len(page.Items))
	}
	e.do("GET", "/api/v1/orders/"+o.ID, "shop", other, nil).want(404, apiserver.ErrNotFound)
	s.move(o.ID, other, apiserver.OrderCancelled).want(404, apiserver.ErrNotFound)
	s.move(o.ID, s.customer, apiserver.OrderPaid).want(403, apiserver.ErrForbidden)
	s.move(o.ID, s.customer, apiserver.OrderCancelled).want(200, "")
	if st := s.stock("CUST-1"); st.Reserved != 0 {
		t.Fatalf("a cancelled order still holds %d", st.Reserved)
	}

	cart2 := e.do("POST", "/api/v1/carts", "shop", s.customer, nil).want(201, "").str("id")
	s.add(cart2, "", s.customer, "CUST-1", 1).want(201, "")
	paid := s.checkout(cart2, "", s.customer, "c-2", nil).want(201, "").str("id")
	s.move(paid, s.admin, apiserver.OrderPaid).want(200, "")
	s.move(paid, s.customer, apiserver.OrderCancelled).want(403, apiserver.ErrForbidden)
	for _, step := range []apiserver.OrderStatus{apiserver.OrderFulfilled, apiserver.OrderShipped} {
		s.move(paid, s.admin, step).want(200, "")
	}
	s.move(paid, s.admin, apiserver.OrderCancelled).want(409, apiserver.ErrInvalidTransition)

	// Pages: newest first, continued with next_cursor.
	e.do("GET", "/api/v1/orders?limit=1", "shop", s.customer, nil).want(200, "").decode(&page)
	if len(page.Items) != 1 || page.Items[0].ID != paid || page.NextCursor == "" {
		t.Fatalf("first page: %+v", page)
	}
	next := page.NextCursor
	page = apiserver.OrderPage{}
	e.do("GET", "/api/v1/orders?limit=1&cursor="+next, "shop", s.customer, nil).want(200, "").decode(&page)
	if len(page.Items) != 1 || page.Items[0].ID != o.ID || page.NextCursor != "" {
		t.Fatalf("second page: %+v", page)
	}
	e.do("GET", "/api/v1/orders?status=cancelled", "shop", s.admin, nil).want(200, "").decode(&page)
	if len(page.Items) != 1 || page.Items[0].ID != o.ID {
		t.Fatalf("staff filter by status: %+v", page.Items)
	}
	e.do("GET", "/api/v1/orders?cursor=bogus", "shop", s.customer, nil).want(400, apiserver.ErrInvalid)
}
