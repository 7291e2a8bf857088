package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/demo"
	"github.com/kommerce/kommerce/apiserver/fraudscore"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/config"
)

// commerceConfig is the inventory, checkout and fraud settings of `kommerce api` and
// `kommerce dev`. Per-storefront rules (currency, reservation TTL, tax, shipping,
// fraud policy) live in the database (PUT /api/v1/storefronts/{name}/checkout-settings),
// except for a storefront served from --storefront-settings, whose document wins for
// currency, reservation TTL, tax and shipping; these are the defaults and what is per
// process.
type commerceConfig struct {
	reservationTTL time.Duration
	currency       string
	lock           string
	sweepInterval  time.Duration
	guestCarts     time.Duration
	customerCarts  time.Duration
	fraudURI       string
	fraudSHA256    string
	fraudName      string
	fraudVersion   string
	hoard          [4]int
}

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

func (c *commerceConfig) register(set *config.Set) {
	set.Duration(&c.reservationTTL, "reservation-ttl", "KOMMERCE_RESERVATION_TTL", apiserver.DefaultReservationTTL,
		"how long a checkout holds stock before an unpaid order is cancelled, for storefronts without checkout settings (1s to 24h)", config.Check(ttlRange))
	set.String(&c.currency, "default-currency", "KOMMERCE_DEFAULT_CURRENCY", apiserver.DefaultCurrency, "currency of carts of storefronts without checkout settings (ISO 4217)",
		config.Check(func(v string) error {
			if !currencyCode.MatchString(v) {
				return errors.New("want an ISO 4217 code such as EUR")
			}
			return nil
		}))
	set.String(&c.lock, "stock-locking", "KOMMERCE_STOCK_LOCKING", string(postgres.LockConditional),
		"how checkout reserves stock: conditional (UPDATE ... WHERE available >= n) or for-update (SELECT ... FOR UPDATE, then UPDATE); both never oversell",
		config.Enum(string(postgres.LockConditional), string(postgres.LockForUpdate)))
	set.Duration(&c.sweepInterval, "reservation-sweep-interval", "KOMMERCE_RESERVATION_SWEEP_INTERVAL", 10*time.Second,
		"how often expired reservations are released and abandoned carts deleted in the background (reads release what they touch at once)", config.Check(positiveDuration))
	set.Duration(&c.guestCarts, "guest-cart-retention", "KOMMERCE_GUEST_CART_RETENTION", apiserver.DefaultGuestCartRetention,
		"how long an open guest cart nobody changes is kept before the background sweep deletes it (carts with an order are kept)", config.Check(positiveDuration))
	set.Duration(&c.customerCarts, "customer-cart-retention", "KOMMERCE_CUSTOMER_CART_RETENTION", apiserver.DefaultCustomerCartRetention,
		"how long a signed-in customer's open cart nobody changes is kept before the background sweep deletes it", config.Check(positiveDuration))
	d := apiserver.DefaultHoardPolicy
	for i, f := range []struct {
		name, env string
		def       int64
		usage     string
	}{
		{"max-units-guest", "KOMMERCE_MAX_UNITS_GUEST", d.MaxUnitsGuest, "units of one SKU a guest's order may take"},
		{"max-units-customer", "KOMMERCE_MAX_UNITS_CUSTOMER", d.MaxUnitsCustomer, "units of one SKU a signed-in customer's order may take"},
		{"max-unpaid-orders", "KOMMERCE_MAX_UNPAID_ORDERS", d.MaxUnpaid, "unpaid orders holding stock per e-mail address and per customer"},
		{"max-unpaid-orders-per-address", "KOMMERCE_MAX_UNPAID_ORDERS_PER_ADDRESS", d.MaxUnpaidPerAddress, "unpaid orders holding stock per client address"},
	} {
		set.Int(&c.hoard[i], f.name, f.env, int(f.def), f.usage+", for storefronts without their own hoarding caps (-1: no cap)", config.Check(hoardCap))
	}
	set.String(&c.fraudURI, "fraud-model-uri", "KOMMERCE_FRAUD_MODEL_URI", "",
		"path or http(s) URL of the fraud model (ONNX from kommerce train fraud), scored in process at checkout for storefronts with a fraud policy; unset: no fraud checks")
	set.String(&c.fraudSHA256, "fraud-model-sha256", "KOMMERCE_FRAUD_MODEL_SHA256", "", "sha256 of the fraud model file (required with --fraud-model-uri)")
	set.String(&c.fraudName, "fraud-model-name", "KOMMERCE_FRAUD_MODEL_NAME", "fraud-logreg", "name of the fraud model, recorded on scored orders")
	set.String(&c.fraudVersion, "fraud-model-version", "KOMMERCE_FRAUD_MODEL_VERSION", "1", "version of the fraud model, recorded on scored orders")
}

func positiveDuration(v string) error {
	if d, err := time.ParseDuration(v); err == nil && d <= 0 {
		return errors.New("must be above zero")
	}
	return nil
}

func hoardCap(v string) error {
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && (n == 0 || n < -1) {
		return errors.New("want a positive cap, or -1 for none")
	}
	return nil
}

func ttlRange(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second || d > 24*time.Hour {
		return errors.New("want a duration from 1s to 24h")
	}
	return nil
}

// options builds the stack's commerce options, loading the fraud model (only when one
// is configured).
func (c *commerceConfig) options(ctx context.Context) (stack.CommerceOptions, error) {
	o := stack.CommerceOptions{Defaults: apiserver.CheckoutDefaults{Currency: c.currency, ReservationTTL: c.reservationTTL,
		Hoarding: apiserver.HoardPolicy{MaxUnitsGuest: int64(c.hoard[0]), MaxUnitsCustomer: int64(c.hoard[1]),
			MaxUnpaid: int64(c.hoard[2]), MaxUnpaidPerAddress: int64(c.hoard[3])}},
		Lock: postgres.LockStrategy(c.lock), GuestCartRetention: c.guestCarts, CustomerCartRetention: c.customerCarts}
	if c.fraudURI == "" {
		return o, nil
	}
	if c.fraudSHA256 == "" {
		return o, config.Usagef("--fraud-model-uri / KOMMERCE_FRAUD_MODEL_URI needs --fraud-model-sha256 / KOMMERCE_FRAUD_MODEL_SHA256")
	}
	s, err := fraudscore.Load(ctx, c.fraudName, c.fraudVersion, c.fraudURI, c.fraudSHA256)
	if err != nil {
		return o, fmt.Errorf("fraud model: %w", err)
	}
	o.Fraud = s
	return o, nil
}

// seedCommerce gives the demo catalog its stock and the demo storefront its checkout
// settings, leaving both alone when they exist.
func seedCommerce(ctx context.Context, st *stack.Stack, log *slog.Logger, products int) error {
	c := &postgres.Commerce{DB: st.DB}
	n, err := demo.Stock(ctx, &postgres.InventoryService{Commerce: c}, products)
	if err != nil {
		return err
	}
	settings := &postgres.SettingsService{Commerce: c}
	cur, err := settings.CheckoutSettings(ctx, "default")
	if err != nil {
		return err
	}
	if !cur.Stored {
		if _, err := settings.PutCheckoutSettings(ctx, "default", demo.CheckoutSettings()); err != nil {
			return err
		}
	}
	log.Info("demo stock seeded", "skus", n)
	return nil
}
