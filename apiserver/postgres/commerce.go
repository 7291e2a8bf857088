package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/events"
)

// LockStrategy is how checkout makes sure two buyers never get the same unit.
type LockStrategy string

// The strategies. Both safe ones are tested against 64+ concurrent buyers; the
// checkout benchmark measures them against LockUnsafe (docs/benchmarks.md).
const (
	// LockConditional reserves with one UPDATE ... WHERE on_hand - reserved >= n per
	// SKU: the row lock is taken and the condition checked in one statement; the
	// units are then placed in the SKU's warehouses under that lock. All of it is one
	// call of kommerce_reserve_stock, one round trip.
	LockConditional LockStrategy = "conditional"
	// LockForUpdate reads the stock rows with SELECT ... FOR UPDATE in SKU order,
	// checks availability in Go, then reserves and places the units as
	// LockConditional does.
	LockForUpdate LockStrategy = "for-update"
	// LockUnsafe reads without a lock and writes the reserved quantities (of the SKU
	// and of its warehouses) it computed: the read-then-write race that oversells.
	// Only the benchmark's control uses it.
	LockUnsafe LockStrategy = "unsafe-read-then-write"
)

// Commerce holds what the inventory, cart, order and settings services share.
type Commerce struct {
	DB       *DB
	Defaults apiserver.CheckoutDefaults
	// Lock is the checkout's reservation strategy (default LockConditional).
	Lock LockStrategy
	// Fraud scores checkouts of storefronts with a fraud policy; nil disables fraud
	// checks entirely (checkout then reads nothing it would not read anyway).
	Fraud apiserver.FraudScorer
	// Storefront, when it manages a storefront, makes every request of its tenant
	// that storefront's, with the settings it manages winning over the stored ones;
	// nil serves storefronts by host from the database.
	Storefront apiserver.StorefrontSource
}

// Services returns the four services over c.
func (c *Commerce) Services() (*InventoryService, *CartService, *OrderService, *SettingsService) {
	return &InventoryService{c}, &CartService{c}, &OrderService{c}, &SettingsService{c}
}

// now is the clock of the commerce services, truncated to PostgreSQL's precision so a
// value written and read back compares equal.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// actorOf names who acts in ctx: a signed-in user, else a guest.
func actorOf(ctx context.Context) string {
	if p := apiserver.PrincipalFromContext(ctx); p != nil {
		return "user:" + p.UserID
	}
	return "guest"
}

// settingsFor returns the checkout settings of the storefront the request's Host is
// mapped to, else of "default".
func (c *Commerce) settingsFor(ctx context.Context, q *dbq.Queries, tid string) (apiserver.CheckoutSettings, error) {
	if m := apiserver.ManagedFor(ctx, c.Storefront); m != nil {
		return c.managedSettings(ctx, q, tid, m)
	}
	r, err := q.CheckoutSettingsForHost(ctx, dbq.CheckoutSettingsForHostParams{TenantID: tid, Hostname: apiserver.HostFromContext(ctx)})
	if err != nil {
		return apiserver.CheckoutSettings{}, fmt.Errorf("checkout settings: %w", err)
	}
	if r.Currency == nil {
		return c.Defaults.Settings(r.Storefront), nil
	}
	s := apiserver.CheckoutSettings{Storefront: r.Storefront, Currency: *r.Currency, ReservationTTLSeconds: int(*r.ReservationTtlSeconds),
		TaxRateBPS: int(*r.TaxRateBps), TaxLabel: *r.TaxLabel, ShippingAmount: *r.ShippingAmount, FreeShippingOver: r.FreeShippingOver, Stored: true}
	if r.FraudAction != nil && r.FraudThreshold != nil {
		s.Fraud = &apiserver.FraudPolicy{Action: *r.FraudAction, Threshold: *r.FraudThreshold}
	}
	s.Hoarding = c.hoarding(r.HoardMaxUnitsGuest, r.HoardMaxUnitsCustomer, r.HoardMaxUnpaid, r.HoardMaxUnpaidPerAddress)
	return s, nil
}

// managedSettings are the settings of the storefront m manages: m's, with the fraud
// policy and hoarding caps stored for it (else the defaults), which m does not hold.
func (c *Commerce) managedSettings(ctx context.Context, q *dbq.Queries, tid string, m *apiserver.ManagedStorefront) (apiserver.CheckoutSettings, error) {
	r, err := q.GetCheckoutSettings(ctx, dbq.GetCheckoutSettingsParams{TenantID: tid, Storefront: m.Storefront})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return m.Apply(c.Defaults.Settings(m.Storefront)), nil
	case err != nil:
		return apiserver.CheckoutSettings{}, fmt.Errorf("checkout settings: %w", err)
	}
	return m.Apply(*c.settingsOf(r)), nil
}

// hoarding is a storefront's stored hoarding policy (all four caps, or none), else
// the API's default one.
func (c *Commerce) hoarding(guest, customer, unpaid, perAddress *int64) apiserver.HoardPolicy {
	if guest == nil || customer == nil || unpaid == nil || perAddress == nil {
		return c.Defaults.Hoarding.WithDefaults()
	}
	return apiserver.HoardPolicy{MaxUnitsGuest: *guest, MaxUnitsCustomer: *customer, MaxUnpaid: *unpaid, MaxUnpaidPerAddress: *perAddress}
}

// stockEvents appends a stock.changed event (events.Stock) per changed SKU; SKUs no
// longer in the catalog have no product to update in search and get none.
func stockEvents(ctx context.Context, q *dbq.Queries, tid string, changes []stockChange) error {
	if len(changes) == 0 {
		return nil
	}
	skus := make([]string, len(changes))
	for i, c := range changes {
		skus[i] = c.sku
	}
	prods, err := q.SKUProducts(ctx, dbq.SKUProductsParams{TenantID: tid, Skus: skus})
	if err != nil {
		return err
	}
	product := make(map[string]string, len(prods))
	for _, p := range prods {
		product[p.Sku] = p.ProductID
	}
	var ev outboxBatch
	for _, c := range changes {
		if product[c.sku] == "" {
			continue
		}
		if err := ev.add("stock", c.sku, events.StockChanged, events.Stock{SKU: c.sku, ProductID: product[c.sku], Available: c.available, Version: c.version}); err != nil {
			return err
		}
	}
	return ev.write(ctx, q, tid)
}

type stockChange struct {
	sku                string
	available, version int64
}

// outboxBatch collects events to append to the outbox in one statement.
type outboxBatch struct {
	aggTypes, aggIDs, types []string
	payloads                [][]byte
}

// add appends one event; payload must be the Go type of typ's contract
// (events.Encode), so no event leaves with another shape.
func (b *outboxBatch) add(aggType, aggID string, typ events.Type, payload any) error {
	p, err := events.Encode(typ, payload)
	if err != nil {
		return err
	}
	b.aggTypes, b.aggIDs, b.types, b.payloads = append(b.aggTypes, aggType), append(b.aggIDs, aggID), append(b.types, string(typ)), append(b.payloads, p)
	return nil
}

func (b *outboxBatch) write(ctx context.Context, q *dbq.Queries, tid string) error {
	if len(b.types) == 0 {
		return nil
	}
	return q.InsertOutboxMany(ctx, dbq.InsertOutboxManyParams{TenantID: tid, AggregateTypes: b.aggTypes, AggregateIds: b.aggIDs, EventTypes: b.types, Payloads: b.payloads})
}

// expireHolders releases the expired reservations of skus: each order holding one is
// cancelled in its own transaction (the release-on-read path; the sweeper does the
// same in the background). It reports whether any order was expired.
func (c *Commerce) expireHolders(ctx context.Context, skus []string) (bool, error) {
	var ids []string
	err := c.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		var err error
		ids, err = q.ExpiredHolders(ctx, dbq.ExpiredHoldersParams{TenantID: tid, Skus: skus})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("find expired reservations: %w", err)
	}
	for _, id := range ids {
		if err := c.expireOrder(ctx, id); err != nil {
			return false, err
		}
	}
	return len(ids) > 0, nil
}

// ReservationExpiry is the actor of cancellations by an expired reservation.
const ReservationExpiry = "system:reservation-expiry"

// expireOrder cancels an unpaid order whose reservation ran out; a no-op when it was
// paid, cancelled or expired meanwhile.
func (c *Commerce) expireOrder(ctx context.Context, id string) error {
	err := c.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		row, err := q.LockExpiredOrder(ctx, dbq.LockExpiredOrderParams{TenantID: tid, ID: id})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = applyTransition(ctx, q, tid, row, apiserver.OrderCancelled, ReservationExpiry, "reservation expired")
		return err
	})
	if err != nil {
		return fmt.Errorf("expire order %s: %w", id, err)
	}
	return nil
}

// SweepExpired cancels up to limit orders whose reservations expired, across all
// tenants, and forgets idempotency keys older than keep. It returns the number of
// orders it expired. Several API replicas may sweep at once: each order is expired
// under its row lock, and an order already expired is skipped.
func (c *Commerce) SweepExpired(ctx context.Context, limit int, keep time.Duration) (int, error) {
	var rows []dbq.ExpiredReservationOrdersRow
	err := c.DB.AsPlatform(ctx, func(q *dbq.Queries) error {
		var err error
		if rows, err = q.ExpiredReservationOrders(ctx, int32(min(limit, 10000))); err != nil { //nolint:gosec // bounded
			return err
		}
		_, err = q.DeleteOldIdempotencyKeys(ctx, time.Now().Add(-keep))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sweep reservations: %w", err)
	}
	for _, r := range rows {
		tctx := apiserver.NewContextWithTenant(ctx, &apiserver.Tenant{ID: r.TenantID})
		if err := c.expireOrder(tctx, r.OrderID); err != nil {
			return 0, err
		}
	}
	return len(rows), nil
}

// DeleteAbandonedCarts deletes up to limit guest carts that nobody changed for guest
// and up to limit customers' carts that nobody changed for customer, across all
// tenants, and returns how many it deleted. Carts with an order are kept. Several
// API replicas may sweep at once: each skips the carts another has locked.
func (c *Commerce) DeleteAbandonedCarts(ctx context.Context, limit int, guest, customer time.Duration) (int64, error) {
	now := time.Now()
	lim := int32(min(limit, 10000)) //nolint:gosec // bounded
	var n int64
	err := c.DB.AsPlatform(ctx, func(q *dbq.Queries) error {
		for _, kind := range []struct {
			guests bool
			keep   time.Duration
		}{{true, guest}, {false, customer}} {
			d, err := q.DeleteAbandonedCarts(ctx, dbq.DeleteAbandonedCartsParams{Guests: kind.guests, Before: now.Add(-kind.keep), Lim: lim})
			if err != nil {
				return err
			}
			n += d
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete abandoned carts: %w", err)
	}
	return n, nil
}

// SettingsService implements apiserver.SettingsService.
type SettingsService struct{ *Commerce }

var _ apiserver.SettingsService = (*SettingsService)(nil)

func (c *Commerce) settingsOf(r dbq.StorefrontSetting) *apiserver.CheckoutSettings {
	s := &apiserver.CheckoutSettings{Storefront: r.Storefront, Currency: r.Currency, ReservationTTLSeconds: int(r.ReservationTtlSeconds),
		TaxRateBPS: int(r.TaxRateBps), TaxLabel: r.TaxLabel, ShippingAmount: r.ShippingAmount, FreeShippingOver: r.FreeShippingOver, Stored: true}
	if r.FraudAction != nil && r.FraudThreshold != nil {
		s.Fraud = &apiserver.FraudPolicy{Action: *r.FraudAction, Threshold: *r.FraudThreshold}
	}
	s.Hoarding = c.hoarding(r.HoardMaxUnitsGuest, r.HoardMaxUnitsCustomer, r.HoardMaxUnpaid, r.HoardMaxUnpaidPerAddress)
	return s
}

// CheckoutSettings implements apiserver.SettingsService.
func (s *SettingsService) CheckoutSettings(ctx context.Context, storefront string) (*apiserver.CheckoutSettings, error) {
	if !apiserver.ValidSlug(storefront) {
		return nil, apiserver.FieldErrorf("storefront", "Storefront names are DNS labels: lower-case letters, digits and inner dashes.")
	}
	var out *apiserver.CheckoutSettings
	m := apiserver.ManagedFor(ctx, s.Storefront)
	if m != nil && m.Storefront != storefront {
		m = nil
	}
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		if m != nil {
			v, err := s.managedSettings(ctx, q, tid, m)
			out = &v
			return err
		}
		r, err := q.GetCheckoutSettings(ctx, dbq.GetCheckoutSettingsParams{TenantID: tid, Storefront: storefront})
		if errors.Is(err, pgx.ErrNoRows) {
			d := s.Defaults.Settings(storefront)
			out = &d
			return nil
		}
		out = s.settingsOf(r)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("checkout settings: %w", err)
	}
	return out, nil
}

// PutCheckoutSettings implements apiserver.SettingsService.
func (s *SettingsService) PutCheckoutSettings(ctx context.Context, storefront string, in apiserver.CheckoutSettingsInput) (*apiserver.CheckoutSettings, error) {
	if !apiserver.ValidSlug(storefront) {
		return nil, apiserver.FieldErrorf("storefront", "Storefront names are DNS labels: lower-case letters, digits and inner dashes.")
	}
	if m := apiserver.ManagedFor(ctx, s.Storefront); m != nil && m.Storefront == storefront {
		return nil, m.ManagedError()
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var out *apiserver.CheckoutSettings
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		p := dbq.UpsertCheckoutSettingsParams{TenantID: tid, Storefront: storefront, Currency: in.Currency,
			ReservationTtlSeconds: int32(in.ReservationTTLSeconds), TaxRateBps: int32(in.TaxRateBPS), TaxLabel: in.TaxLabel, //nolint:gosec // validated ranges
			ShippingAmount: in.ShippingAmount, FreeShippingOver: in.FreeShippingOver}
		if in.Fraud != nil {
			p.FraudAction, p.FraudThreshold = &in.Fraud.Action, &in.Fraud.Threshold
		}
		if h := in.Hoarding; h != nil {
			p.HoardMaxUnitsGuest, p.HoardMaxUnitsCustomer, p.HoardMaxUnpaid, p.HoardMaxUnpaidPerAddress =
				&h.MaxUnitsGuest, &h.MaxUnitsCustomer, &h.MaxUnpaid, &h.MaxUnpaidPerAddress
		}
		r, err := q.UpsertCheckoutSettings(ctx, p)
		out = s.settingsOf(r)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("put checkout settings: %w", err)
	}
	return out, nil
}
