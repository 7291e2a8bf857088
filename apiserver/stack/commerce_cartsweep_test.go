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

// TestAbandonedCartsSwept ages carts in the database and lets the sweep run: guest
// carts go after their retention, customers' after theirs, a cart with an order
// stays with the order, and a cart changed since stays too.
func TestAbandonedCartsSwept(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := startAPI(t, func(o *stack.Options) {
		o.Registry = reg
		o.Commerce.GuestCartRetention = 30 * 24 * time.Hour
		o.Commerce.CustomerCartRetention = 90 * 24 * time.Hour
	})
	s := e.store("sweep")
	other := e.store("other")
	s.product("SW-1", 1000, 0, 10)
	other.product("SW-1", 1000, 0, 10)
	bob := e.user(s.t, "bob@sweep.test", apiserver.RoleCustomer)

	age := func(cart string, days int) {
		e.platform(func(tx pgx.Tx) {
			if _, err := tx.Exec(context.Background(), "UPDATE carts SET updated_at = now() - make_interval(days => $2) WHERE id = $1", cart, days); err != nil {
				t.Fatal(err)
			}
		})
	}
	guestOld, tokOld := s.guestCart()
	s.add(guestOld, tokOld, "", "SW-1", 1).want(201, "")
	age(guestOld, 31)
	guestNew, tokNew := s.guestCart()
	age(guestNew, 29)
	otherOld, tokOther := other.guestCart()
	other.add(otherOld, tokOther, "", "SW-1", 2).want(201, "")
	age(otherOld, 45)
	janeCart := e.do("POST", "/api/v1/carts", "sweep", s.customer, nil).want(201, "").str("id")
	age(janeCart, 60) // a customer's cart is kept for 90 days
	bobCart := e.do("POST", "/api/v1/carts", "sweep", bob, nil).want(201, "").str("id")
	s.add(bobCart, "", bob, "SW-1", 1).want(201, "")
	age(bobCart, 91)
	bought, tokBought := s.guestCart()
	s.add(bought, tokBought, "", "SW-1", 1).want(201, "")
	orderID := s.checkout(bought, tokBought, "", "k-bought", map[string]any{"email": "g@example.test"}).want(201, "").str("id")
	age(bought, 400)
	touched, tokTouched := s.guestCart()
	age(touched, 31)
	s.add(touched, tokTouched, "", "SW-1", 1).want(201, "") // a change makes it fresh again

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.st.Sweep(ctx, 50*time.Millisecond, slog.New(slog.DiscardHandler)); close(done) }()
	exists := func(cart string) bool {
		var n int
		e.scalar(&n, "SELECT count(*) FROM carts WHERE id = $1", cart)
		return n == 1
	}
	// The counter moves once a pass returns, so it is awaited too before the sweep is
	// stopped (stopping it mid-pass could lose the pass's count, not its deletions).
	testenv.Eventually(t, 30*time.Second, "the sweep deletes the abandoned carts and counts them", func() (bool, string) {
		left := []bool{exists(guestOld), exists(bobCart), exists(otherOld)}
		n := series(t, reg)["kommerce_api_carts_deleted_total{}"]
		return !left[0] && !left[1] && !left[2] && n == 3, fmt.Sprintf("guest, customer, other shop's carts still there: %v; %v counted", left, n)
	})
	cancel()
	<-done

	for name, cart := range map[string]string{"guest cart of 29 days": guestNew, "customer cart of 60 days": janeCart,
		"checked-out cart": bought, "cart changed since": touched} {
		if !exists(cart) {
			t.Errorf("%s was deleted", name)
		}
	}
	var lines int
	e.scalar(&lines, "SELECT count(*) FROM cart_lines WHERE cart_id = ANY($1::uuid[])", []string{guestOld, bobCart, otherOld})
	if lines != 0 {
		t.Errorf("%d lines of deleted carts remain", lines)
	}
	e.do("GET", "/api/v1/carts/"+guestOld, "sweep", "", nil, cartHeader(tokOld)...).want(404, apiserver.ErrNotFound)
	s.add(guestOld, tokOld, "", "SW-1", 1).want(404, apiserver.ErrNotFound)
	e.do("GET", "/api/v1/carts/"+bobCart, "sweep", bob, nil).want(404, apiserver.ErrNotFound)
	// Bob starts again with a new cart; the order of the checked-out cart is intact.
	e.do("POST", "/api/v1/carts", "sweep", bob, nil).want(201, "")
	if o := s.orderAs(orderID, s.admin); o.Status != apiserver.OrderPendingPayment || len(o.Lines) == 0 {
		t.Fatalf("order of a swept-around cart: %+v", o)
	}
	e.do("GET", "/api/v1/carts/"+guestNew, "sweep", "", nil, cartHeader(tokNew)...).want(200, "")

	// Sweeping again finds nothing; a limit bounds one call.
	c := &postgres.Commerce{DB: e.st.DB}
	if n, err := c.DeleteAbandonedCarts(context.Background(), 10, 30*24*time.Hour, 90*24*time.Hour); err != nil || n != 0 {
		t.Fatalf("second sweep: %d, %v", n, err)
	}
	var carts []string
	for range 3 {
		id, _ := s.guestCart()
		age(id, 100)
		carts = append(carts, id)
	}
	if n, err := c.DeleteAbandonedCarts(context.Background(), 2, 30*24*time.Hour, 90*24*time.Hour); err != nil || n != 2 {
		t.Fatalf("limited sweep deleted %d (%v), want 2", n, err)
	}
	if n, err := c.DeleteAbandonedCarts(context.Background(), 2, 30*24*time.Hour, 90*24*time.Hour); err != nil || n != 1 {
		t.Fatalf("next sweep deleted %d (%v), want the last 1", n, err)
	}
	for _, id := range carts {
		if exists(id) {
			t.Errorf("cart %s of 100 days survived two limited sweeps", id)
		}
	}
}
