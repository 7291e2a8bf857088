package stack_test

import (
	"testing"

	"github.com/kommerce/kommerce/apiserver"
)

// TestWarehouseReservations follows units through the warehouses: checkout places
// them in the warehouse with most available first (ties by name) and splits a line
// no single warehouse can serve; staff cannot take a warehouse below what is reserved
// there (409 stock_reserved, nothing changed); a cancellation gives the units back
// where they were placed, and fulfilment takes them out of those warehouses, each
// warehouse of a split line with its own ledger entry.
func TestWarehouseReservations(t *testing.T) {
	e := startAPI(t, nil)
	s := e.store("shop")
	s.product("WH-1", 1000, 0, 3)
	s.setStock("WH-1", "east", 2)
	s.setStock("WH-1", "west", 2)

	a := s.buyAsGuest(map[string]int64{"WH-1": 4})
	if got := warehouses(s.stock("WH-1")); got != "east 2/1 main 3/3 west 2/0" {
		t.Fatalf("4 units placed as %s; want main's 3, then 1 of east (ties by name)", got)
	}
	b := s.buyAsGuest(map[string]int64{"WH-1": 2})
	if got := warehouses(s.stock("WH-1")); got != "east 2/1 main 3/3 west 2/2" {
		t.Fatalf("2 more units placed as %s; want west's 2 (the most available)", got)
	}

	t.Run("staff cannot take reserved units", func(t *testing.T) {
		before := s.stock("WH-1")
		s.e.do("PUT", "/api/v1/stock/WH-1", s.slug, s.admin, map[string]any{"warehouse": "main", "on_hand": 2}).want(409, apiserver.ErrStockReserved)
		s.e.do("POST", "/api/v1/stock/WH-1/adjustments", s.slug, s.admin, map[string]any{"warehouse": "east", "delta": -2, "reason": "damaged"}).want(409, apiserver.ErrStockReserved)
		s.e.do("POST", "/api/v1/stock/WH-1/adjustments", s.slug, s.admin, map[string]any{"warehouse": "west", "delta": -1, "reason": "damaged"}).want(409, apiserver.ErrStockReserved)
		if after := s.stock("WH-1"); after.Version != before.Version || warehouses(after) != warehouses(before) {
			t.Fatalf("refused changes changed the stock: %+v, then %+v", before, after)
		}
		s.e.do("POST", "/api/v1/stock/WH-1/adjustments", s.slug, s.admin, map[string]any{"warehouse": "west", "delta": 1, "reason": "found"}).want(201, "")
		s.setStock("WH-1", "east", 1) // down to what is reserved there: allowed
		if st := s.stock("WH-1"); warehouses(st) != "east 1/1 main 3/3 west 3/2" || st.OnHand != 7 || st.Reserved != 6 || st.Available != 1 {
			t.Fatalf("stock after the allowed changes: %+v", st)
		}
	})

	t.Run("cancel gives units back where they were placed", func(t *testing.T) {
		s.move(a, s.admin, apiserver.OrderCancelled).want(200, "")
		if got := warehouses(s.stock("WH-1")); got != "east 1/0 main 3/0 west 3/2" {
			t.Fatalf("after cancelling the order of 4: %s", got)
		}
	})

	t.Run("fulfilment takes units from the reserved warehouse", func(t *testing.T) {
		s.move(b, s.admin, apiserver.OrderPaid).want(200, "")
		s.move(b, s.admin, apiserver.OrderFulfilled).want(200, "")
		st := s.stock("WH-1")
		if warehouses(st) != "east 1/0 main 3/0 west 1/0" || st.OnHand != 5 || st.Reserved != 0 {
			t.Fatalf("after fulfilling the order of 2 (placed in west): %+v", st)
		}
		var page apiserver.StockAdjustmentPage
		s.e.do("GET", "/api/v1/stock/WH-1/adjustments?limit=1", s.slug, s.admin, nil).want(200, "").decode(&page)
		if l := page.Items[0]; l.Warehouse != "west" || l.Delta != -2 || l.OnHandAfter != 1 || l.OrderID == nil || *l.OrderID != b {
			t.Fatalf("ledger entry of the fulfilment: %+v", l)
		}
	})

	t.Run("fulfilling a split order takes from each of its warehouses", func(t *testing.T) {
		c := s.buyAsGuest(map[string]int64{"WH-1": 4})
		if got := warehouses(s.stock("WH-1")); got != "east 1/1 main 3/3 west 1/0" {
			t.Fatalf("4 units placed as %s; want main's 3, then 1 of east (ties by name)", got)
		}
		s.move(c, s.admin, apiserver.OrderPaid).want(200, "")
		s.move(c, s.admin, apiserver.OrderFulfilled).want(200, "")
		st := s.stock("WH-1")
		if warehouses(st) != "east 0/0 main 0/0 west 1/0" || st.OnHand != 1 || st.Reserved != 0 {
			t.Fatalf("after fulfilling the order of 4 (main 3, east 1): %+v", st)
		}
		var page apiserver.StockAdjustmentPage
		s.e.do("GET", "/api/v1/stock/WH-1/adjustments?limit=2", s.slug, s.admin, nil).want(200, "").decode(&page)
		got := map[string]int64{}
		for _, l := range page.Items {
			if l.OrderID == nil || *l.OrderID != c || l.OnHandAfter != 0 {
				t.Fatalf("ledger entry of the fulfilment: %+v", l)
			}
			got[l.Warehouse] = l.Delta
		}
		if len(got) != 2 || got["main"] != -3 || got["east"] != -1 {
			t.Fatalf("ledger of the fulfilment: %v; want main -3, east -1", got)
		}
	})
	e.checkStockInvariants(s.t.ID)
}
