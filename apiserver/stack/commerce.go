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
}

// commerce builds the services behind the commerce routes.
func commerce(o Options, db *postgres.DB) httpapi.CommerceConfig {
	c := &postgres.Commerce{DB: db, Defaults: o.Commerce.Defaults, Lock: o.Commerce.Lock, Fraud: o.Commerce.Fraud}
	if c.Lock == "" {
		c.Lock = postgres.LockConditional
	}
	inv, carts, orders, settings := c.Services()
	return httpapi.CommerceConfig{Inventory: inv, Carts: carts, Orders: orders, Settings: settings, Payments: payments(o, c)}
}

// SweepBatch bounds the orders one sweep expires, so one pass stays short.
const SweepBatch = 200

// SweepReservations cancels unpaid orders whose reservations expired (releasing their
// stock) every interval until ctx ends, and forgets checkout idempotency keys after
// 24 hours. Reads release expired reservations of what they touch anyway; the sweep
// makes sure stock nobody looks at comes back too. Errors are logged and retried.
func (s *Stack) SweepReservations(ctx context.Context, interval time.Duration, log *slog.Logger) {
	c := &postgres.Commerce{DB: s.DB}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			n, err := c.SweepExpired(ctx, SweepBatch, 24*time.Hour)
			if err != nil {
				if ctx.Err() == nil {
					log.WarnContext(ctx, "reservation sweep failed", "error", err.Error())
				}
				break
			}
			if n > 0 {
				log.InfoContext(ctx, "expired reservations released", "orders", n)
			}
			if n < SweepBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
