package stack

import (
	"context"
	"log/slog"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/httpapi"
	"github.com/kommerce/kommerce/apiserver/postgres"
)

// CommerceOptions configures inventory, carts, checkout, orders and payments.
type CommerceOptions struct {
	// Defaults are the checkout settings of storefronts without stored ones
	// (currency EUR, reservations of 15 minutes).
	Defaults apiserver.CheckoutDefaults
	// Lock is checkout's reservation strategy (default postgres.LockConditional, the
	// faster of the two safe ones in docs/benchmarks.md).
	Lock postgres.LockStrategy
	// Fraud scores checkouts of storefronts with a fraud policy (fraudscore.Load);
	// nil: no fraud checks.
	Fraud apiserver.FraudScorer
	// Payments configures Stripe payments (payments.go).
	Payments PaymentOptions
	// GuestCartRetention and CustomerCartRetention are how long an open cart nobody
	// changes is kept before the sweep deletes it (defaults
	// apiserver.DefaultGuestCartRetention and DefaultCustomerCartRetention). Carts with
	// an order are kept with it.
	GuestCartRetention    time.Duration
	CustomerCartRetention time.Duration
}

// commerce builds the services behind the commerce routes.
func commerce(o Options, db *postgres.DB, sf *documentSource) httpapi.CommerceConfig {
	c := &postgres.Commerce{DB: db, Defaults: o.Commerce.Defaults, Lock: o.Commerce.Lock, Fraud: o.Commerce.Fraud, Storefront: sourceOrNil(sf)}
	if c.Lock == "" {
		c.Lock = postgres.LockConditional
	}
	inv, carts, orders, settings := c.Services()
	return httpapi.CommerceConfig{Inventory: inv, Carts: carts, Orders: orders, Settings: settings, Payments: payments(o, c)}
}

// SweepBatch bounds the orders one sweep transaction expires, and the carts of each
// kind (guests', customers') one cart transaction deletes, so each stays short.
const SweepBatch = 200

// sweepCartBatches bounds the cart deletions of one pass, so a backlog of old carts
// (the first sweep after an upgrade) cannot hold up the release of reservations.
const sweepCartBatches = 10

// Sweep runs the background clean-up every interval until ctx ends: it cancels
// unpaid orders whose reservations expired (releasing their stock), forgets checkout
// idempotency keys after 24 hours, and deletes abandoned carts after their retention.
// Reads release expired reservations of what they touch anyway; the sweep makes sure
// stock nobody looks at comes back too. Errors are logged and retried next time.
func (s *Stack) Sweep(ctx context.Context, interval time.Duration, log *slog.Logger) {
	c := &postgres.Commerce{DB: s.DB}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.sweepReservations(ctx, c, log)
		s.sweepCarts(ctx, c, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Stack) sweepReservations(ctx context.Context, c *postgres.Commerce, log *slog.Logger) {
	for {
		n, err := c.SweepExpired(ctx, SweepBatch, 24*time.Hour)
		if err != nil {
			if ctx.Err() == nil {
				log.WarnContext(ctx, "reservation sweep failed", "error", err.Error())
			}
			return
		}
		if n > 0 {
			s.metrics.ReservationsExpired(n)
			log.InfoContext(ctx, "expired reservations released", "orders", n)
		}
		if n < SweepBatch {
			return
		}
	}
}

func (s *Stack) sweepCarts(ctx context.Context, c *postgres.Commerce, log *slog.Logger) {
	var total int64
	for range sweepCartBatches {
		n, err := c.DeleteAbandonedCarts(ctx, SweepBatch, s.guestCartRetention, s.customerCartRetention)
		if err != nil {
			if ctx.Err() == nil {
				log.WarnContext(ctx, "cart sweep failed", "error", err.Error())
			}
			break
		}
		total += n
		s.metrics.CartsDeleted(n)
		if n < SweepBatch {
			break
		}
	}
	if total > 0 {
		log.InfoContext(ctx, "abandoned carts deleted", "carts", total,
			"guest_retention", s.guestCartRetention.String(), "customer_retention", s.customerCartRetention.String())
	}
}
