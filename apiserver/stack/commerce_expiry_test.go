package stack_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/testenv"
)

// expire moves an order's reservation expiry, and its stock reservations', an hour
// back in the database, where every expiry is compared with now(): the reservation
// has run out without the test waiting for the clock. It returns the reservation's
// length as it was granted.
func (e *apiEnv) expire(orderID string) time.Duration {
	e.t.Helper()
	var seconds float64
	e.scalar(&seconds, "SELECT extract(epoch FROM reservation_expires_at - created_at)::float8 FROM orders WHERE id = $1", orderID)
	e.platform(func(tx pgx.Tx) {
		ctx := context.Background()
		tag, err := tx.Exec(ctx, `UPDATE orders SET created_at = created_at - interval '1 hour',
			reservation_expires_at = reservation_expires_at - interval '1 hour' WHERE id = $1`, orderID)
		if err != nil || tag.RowsAffected() != 1 {
			e.t.Fatalf("expire order %s: %v (%d rows)", orderID, err, tag.RowsAffected())
		}
		tag, err = tx.Exec(ctx, "UPDATE reservations SET expires_at = expires_at - interval '1 hour' WHERE order_id = $1 AND expires_at IS NOT NULL", orderID)
		if err != nil || tag.RowsAffected() == 0 {
			e.t.Fatalf("expire the reservations of order %s: %v (%d rows)", orderID, err, tag.RowsAffected())
		}
	})
	return time.Duration(seconds * float64(time.Second))
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
	// A reservation long enough that none runs out by itself while the test runs,
	// however loaded the machine: each one is expired on purpose (expire).
	e.do("PUT", "/api/v1/storefronts/default/checkout-settings", "shop", s.admin, map[string]any{"currency": "EUR", "reservation_ttl_seconds": 600}).want(200, "")
	var pending string // an order of one subtest that the sweeper's subtest expires too

	t.Run("released on read", func(t *testing.T) {
		id := s.buyAsGuest(map[string]int64{"EXP-1": 2})
		if st := s.stock("EXP-1"); st.Reserved != 2 || e.orderStatus(id) != "pending_payment" {
			t.Fatalf("stock after checkout: %+v, order %s", st, e.orderStatus(id))
		}
		if granted := e.expire(id); granted.Round(time.Second) != 600*time.Second {
			t.Fatalf("the reservation lasted %s, want the storefront's 600 s", granted)
		}
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
		e.expire(first)
		second := s.buyAsGuest(map[string]int64{"EXP-2": 1}) // the only unit, held by an expired order
		if e.orderStatus(first) != "cancelled" || e.orderStatus(second) != "pending_payment" {
			t.Fatalf("first %s, second %s", e.orderStatus(first), e.orderStatus(second))
		}
		pending = second
	})

	t.Run("released by the sweeper", func(t *testing.T) {
		id := s.buyAsGuest(map[string]int64{"EXP-3": 3})
		e.expire(id)
		e.expire(pending)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { e.st.Sweep(ctx, 50*time.Millisecond, slog.New(slog.DiscardHandler)); close(done) }()
		defer func() { cancel(); <-done }()
		// Only the database is watched: no API read may release it instead.
		testenv.Eventually(t, 30*time.Second, "sweeper cancels the order", func() (bool, string) {
			st := e.orderStatus(id)
			return st == "cancelled", "order " + st
		})
		var reserved int64
		e.scalar(&reserved, "SELECT reserved FROM stock WHERE tenant_id = $1 AND sku = 'EXP-3'", s.t.ID)
		if reserved != 0 {
			t.Fatalf("%d still reserved after the sweep", reserved)
		}
		// The sweeper expired this order, and the still-pending second order of the
		// subtest before (expired as well); the others were released by reads. The
		// counter moves after the sweep's pass, so it is awaited like the order.
		testenv.Eventually(t, 30*time.Second, "the sweep counts the two orders it expired", func() (bool, string) {
			n := series(t, reg)["kommerce_api_reservations_expired_total{}"]
			return n == 2, fmt.Sprintf("%v counted", n)
		})
	})

	t.Run("a paid order keeps its stock", func(t *testing.T) {
		id := s.buyAsGuest(map[string]int64{"EXP-4": 2})
		s.move(id, s.admin, apiserver.OrderPaid).want(200, "")
		// An hour older than its reservation: a sweep must still leave it alone.
		e.platform(func(tx pgx.Tx) {
			if _, err := tx.Exec(context.Background(), "UPDATE orders SET created_at = created_at - interval '1 hour' WHERE id = $1", id); err != nil {
				t.Fatal(err)
			}
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
