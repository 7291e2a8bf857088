package stack_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/apiserver/stack"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// expired waits until the database's clock has passed an order's reservation expiry.
func (e *apiEnv) expired(orderID string) {
	e.t.Helper()
	eventually(e.t, 10*time.Second, "reservation expiry", func() bool {
		var past bool
		e.scalar(&past, "SELECT reservation_expires_at <= now() FROM orders WHERE id = $1", orderID)
		return past
	})
}

func (e *apiEnv) orderStatus(orderID string) string {
	e.t.Helper()
	var st string
	e.scalar(&st, "SELECT status FROM orders WHERE id = $1", orderID)
	return st
}

// TestReservationExpiry: with a short reservation TTL, an unpaid order's stock comes
// back — released when someone reads or needs the SKU, and by the background sweeper
// when nobody does — and the order is cancelled by the system; a paid order keeps it.
func TestReservationExpiry(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := startAPI(t, func(o *stack.Options) { o.Registry = reg })
	s := e.store("shop")
	s.product("EXP-1", 1000, 0, 5)
	s.product("EXP-2", 1000, 0, 1)
	s.product("EXP-3", 1000, 0, 3)
	s.product("EXP-4", 1000, 0, 3)
	ttl := func(seconds int) {
		e.do("PUT", "/api/v1/storefronts/default/checkout-settings", "shop", s.admin, map[string]any{"currency": "EUR", "reservation_ttl_seconds": seconds}).want(200, "")
	}
	ttl(1)

	t.Run("released on read", func(t *testing.T) {
		id := s.buyAsGuest(map[string]int64{"EXP-1": 2})
		if st := s.stock("EXP-1"); st.Reserved != 2 && e.orderStatus(id) == "pending_payment" {
			t.Fatalf("stock after checkout: %+v", st)
		}
		e.expired(id)
		if st := s.stock("EXP-1"); st.Reserved != 0 || st.Available != 5 {
			t.Fatalf("stock read after expiry: %+v", st)
		}
		o := s.orderAs(id, s.admin)
		last := o.History[len(o.History)-1]
		if o.Status != apiserver.OrderCancelled || last.Actor != postgres.ReservationExpiry || last.Reason != "reservation expired" || o.ReservationExpiresAt != nil {
			t.Fatalf("expired order: %+v", o)
		}
	})

	t.Run("released for a checkout that needs it", func(t *testing.T) {
		first := s.buyAsGuest(map[string]int64{"EXP-2": 1})
		e.expired(first)
		second := s.buyAsGuest(map[string]int64{"EXP-2": 1}) // the only unit, held by an expired order
		if e.orderStatus(first) != "cancelled" || e.orderStatus(second) != "pending_payment" {
			t.Fatalf("first %s, second %s", e.orderStatus(first), e.orderStatus(second))
		}
	})

	t.Run("released by the sweeper", func(t *testing.T) {
		id := s.buyAsGuest(map[string]int64{"EXP-3": 3})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { e.st.Sweep(ctx, 50*time.Millisecond, slog.New(slog.DiscardHandler)); close(done) }()
		defer func() { cancel(); <-done }()
		// Only the database is watched: no API read may release it instead.
		eventually(t, 10*time.Second, "sweeper cancels the order", func() bool { return e.orderStatus(id) == "cancelled" })
		var reserved int64
		e.scalar(&reserved, "SELECT reserved FROM stock WHERE tenant_id = $1 AND sku = 'EXP-3'", s.t.ID)
		if reserved != 0 {
			t.Fatalf("%d still reserved after the sweep", reserved)
		}
		// The sweeper expired this order, and the still-pending second order of the
		// subtest before (its TTL is as short); the others were released by reads. The
		// counter moves after the sweep's pass, so it is awaited like the order.
		eventually(t, 10*time.Second, "the sweep counts the two orders it expired", func() bool {
			return series(t, reg)["kommerce_api_reservations_expired_total{}"] == 2
		})
	})

	t.Run("a paid order keeps its stock", func(t *testing.T) {
		ttl(3)
		id := s.buyAsGuest(map[string]int64{"EXP-4": 2})
		s.move(id, s.admin, apiserver.OrderPaid).want(200, "")
		var deadline time.Time
		e.scalar(&deadline, "SELECT created_at + interval '3 seconds' FROM orders WHERE id = $1", id)
		eventually(t, 10*time.Second, "the TTL passes", func() bool {
			var past bool
			e.scalar(&past, "SELECT now() > $1", deadline)
			return past
		})
		c := &postgres.Commerce{DB: e.st.DB}
		if _, err := c.SweepExpired(context.Background(), 100, time.Hour); err != nil {
			t.Fatal(err)
		}
		if st := s.stock("EXP-4"); st.Reserved != 2 || e.orderStatus(id) != "paid" {
			t.Fatalf("paid order %s, stock %+v", e.orderStatus(id), st)
		}
	})
	e.checkStockInvariants(s.t.ID)
}
