package apiserver

import (
	"context"
	"fmt"
	"math/bits"
	"strings"
	"time"
)

// CheckoutSettings are the commerce rules of one storefront: its currency, how long
// a checkout holds stock, flat tax and shipping, and the fraud policy. A storefront
// without stored settings uses the API's defaults (Stored false).
type CheckoutSettings struct {
	Storefront            string       `json:"storefront"`
	Currency              string       `json:"currency"`
	ReservationTTLSeconds int          `json:"reservation_ttl_seconds"`
	TaxRateBPS            int          `json:"tax_rate_bps"`
	TaxLabel              string       `json:"tax_label"`
	ShippingAmount        int64        `json:"shipping_amount"`
	FreeShippingOver      *int64       `json:"free_shipping_over"`
	Fraud                 *FraudPolicy `json:"fraud"`
	// Hoarding is the policy in force: the storefront's own, else the API's defaults.
	Hoarding HoardPolicy `json:"hoarding"`
	Stored   bool        `json:"stored"`
	// Managed says the storefront's settings document (a Storefront resource)
	// manages currency, reservation TTL, tax and shipping (ManagedStorefront).
	Managed bool `json:"managed"`
}

// FraudPolicy says what checkout does with an order whose fraud score reaches
// Threshold: "log" records the score, "review" marks the order for a person,
// "block" refuses it. It applies only when the API has a fraud model configured.
type FraudPolicy struct {
	Action    string  `json:"action"`
	Threshold float64 `json:"threshold"`
}

// Fraud actions of a FraudPolicy, and the decision for an order below the threshold.
const (
	FraudLog    = "log"
	FraudReview = "review"
	FraudBlock  = "block"
	FraudAllow  = "allow"
)

// CheckoutSettingsInput is the body of PUT /storefronts/{storefront}/checkout-settings.
type CheckoutSettingsInput struct {
	Currency              string       `json:"currency"`
	ReservationTTLSeconds int          `json:"reservation_ttl_seconds"`
	TaxRateBPS            int          `json:"tax_rate_bps"`
	TaxLabel              string       `json:"tax_label"`
	ShippingAmount        int64        `json:"shipping_amount"`
	FreeShippingOver      *int64       `json:"free_shipping_over"`
	Fraud                 *FraudPolicy `json:"fraud"`
	// Hoarding, when set, replaces the API's default hoarding caps for the storefront.
	Hoarding *HoardPolicy `json:"hoarding"`
}

// Validate checks the settings and fills the default tax label.
func (in *CheckoutSettingsInput) Validate() error {
	if !currencyRE.MatchString(in.Currency) {
		return FieldErrorf("currency", "Currencies are ISO 4217 codes such as EUR.")
	}
	if in.ReservationTTLSeconds < 1 || in.ReservationTTLSeconds > 86400 {
		return FieldErrorf("reservation_ttl_seconds", "Reservations last from 1 second to 24 hours (86400).")
	}
	if in.TaxRateBPS < 0 || in.TaxRateBPS > 10000 {
		return FieldErrorf("tax_rate_bps", "Tax rates are basis points from 0 to 10000 (100%%).")
	}
	if strings.TrimSpace(in.TaxLabel) == "" {
		in.TaxLabel = "Tax"
	}
	if err := ValidText("tax_label", in.TaxLabel, 100); err != nil {
		return err
	}
	if in.ShippingAmount < 0 || in.ShippingAmount > MaxAmount {
		return FieldErrorf("shipping_amount", "Amounts are whole minor units from 0 to %d.", int64(MaxAmount))
	}
	if f := in.FreeShippingOver; f != nil && (*f < 0 || *f > MaxAmount) {
		return FieldErrorf("free_shipping_over", "Amounts are whole minor units from 0 to %d.", int64(MaxAmount))
	}
	if p := in.Fraud; p != nil {
		switch p.Action {
		case FraudLog, FraudReview, FraudBlock:
		default:
			return FieldErrorf("fraud.action", "Fraud actions are log, review or block.")
		}
		if !(p.Threshold > 0 && p.Threshold < 1) {
			return FieldErrorf("fraud.threshold", "Fraud thresholds are between 0 and 1 (exclusive).")
		}
	}
	if h := in.Hoarding; h != nil {
		for _, f := range []struct {
			name string
			v    int64
			max  int64
		}{{"max_units_guest", h.MaxUnitsGuest, 1_000_000}, {"max_units_customer", h.MaxUnitsCustomer, 1_000_000},
			{"max_unpaid_orders", h.MaxUnpaid, 10_000}, {"max_unpaid_orders_per_address", h.MaxUnpaidPerAddress, 10_000}} {
			if f.v < 1 || f.v > f.max {
				return FieldErrorf("hoarding."+f.name, "This cap is from 1 to %d.", f.max)
			}
		}
	}
	return nil
}

// CheckoutDefaults are the settings of storefronts that have none stored.
type CheckoutDefaults struct {
	Currency       string        // default DefaultCurrency
	ReservationTTL time.Duration // default DefaultReservationTTL
	// Hoarding bounds what one shopper can hold unpaid; a zero field takes its
	// value from DefaultHoardPolicy.
	Hoarding HoardPolicy
}

// HoardPolicy bounds the stock one shopper can reserve without paying: checkout
// reserves stock until the order is paid or its reservation expires, so without
// bounds a guest could hold a SKU's whole stock, again and again, and real shoppers
// would be told it is sold out. MaxUnitsGuest and MaxUnitsCustomer cap the units of
// one SKU in one order (guests lower: they cost nothing to invent); MaxUnpaid caps
// the orders still holding stock unpaid per e-mail address, per signed-in customer
// and per client address (the per-address cap higher, since shoppers behind one
// carrier's or office's NAT share an address). A negative field turns its cap off;
// with both unpaid caps off checkout neither locks nor counts (the benchmark's
// many orders of one shopper measure the reservation itself).
type HoardPolicy struct {
	MaxUnitsGuest       int64 `json:"max_units_guest"`
	MaxUnitsCustomer    int64 `json:"max_units_customer"`
	MaxUnpaid           int64 `json:"max_unpaid_orders"`
	MaxUnpaidPerAddress int64 `json:"max_unpaid_orders_per_address"`
}

// WithDefaults fills each zero field from DefaultHoardPolicy; negative ones (off) stay.
func (p HoardPolicy) WithDefaults() HoardPolicy {
	d := DefaultHoardPolicy
	if p.MaxUnitsGuest == 0 {
		p.MaxUnitsGuest = d.MaxUnitsGuest
	}
	if p.MaxUnitsCustomer == 0 {
		p.MaxUnitsCustomer = d.MaxUnitsCustomer
	}
	if p.MaxUnpaid == 0 {
		p.MaxUnpaid = d.MaxUnpaid
	}
	if p.MaxUnpaidPerAddress == 0 {
		p.MaxUnpaidPerAddress = d.MaxUnpaidPerAddress
	}
	return p
}

// Settings returns the defaults as the settings of storefront.
func (d CheckoutDefaults) Settings(storefront string) CheckoutSettings {
	if d.Currency == "" {
		d.Currency = DefaultCurrency
	}
	if d.ReservationTTL <= 0 {
		d.ReservationTTL = DefaultReservationTTL
	}
	return CheckoutSettings{Storefront: storefront, Currency: d.Currency,
		ReservationTTLSeconds: int(max(d.ReservationTTL.Round(time.Second), time.Second) / time.Second), TaxLabel: "Tax",
		Hoarding: d.Hoarding.WithDefaults()}
}

// ReservationTTL is how long a checkout holds stock.
func (s CheckoutSettings) ReservationTTL() time.Duration {
	return time.Duration(s.ReservationTTLSeconds) * time.Second
}

// Charges computes shipping and tax for an items subtotal with the flat rules: the
// shipping fee unless the subtotal reaches FreeShippingOver (or there is nothing to
// ship), and tax at TaxRateBPS of items plus shipping, rounded half up to a minor unit.
func (s CheckoutSettings) Charges(subtotal int64) (shipping, tax int64) {
	if subtotal > 0 && (s.FreeShippingOver == nil || subtotal < *s.FreeShippingOver) {
		shipping = s.ShippingAmount
	}
	base := uint64(subtotal + shipping)              //nolint:gosec // amounts are validated non-negative
	hi, lo := bits.Mul64(base, uint64(s.TaxRateBPS)) //nolint:gosec // 0..10000, validated
	lo, carry := bits.Add64(lo, 5000, 0)
	hi += carry
	q, _ := bits.Div64(hi, lo, 10000) // hi < 10000: base < 2^63 and the rate <= 10000
	return shipping, int64(q)         //nolint:gosec // q <= base, which came from an int64
}

// TaxName is the name of the tax line, e.g. "VAT (20%)".
func (s CheckoutSettings) TaxName() string {
	pct := fmt.Sprintf("%d.%02d", s.TaxRateBPS/100, s.TaxRateBPS%100)
	pct = strings.TrimSuffix(strings.TrimSuffix(pct, "0"), "0")
	pct = strings.TrimSuffix(pct, ".")
	return fmt.Sprintf("%s (%s%%)", s.TaxLabel, pct)
}

// SettingsService stores the checkout settings of the tenant in ctx.
type SettingsService interface {
	// CheckoutSettings returns a storefront's settings in force (the defaults when
	// none are stored; a ManagedStorefront's winning over the stored ones). Errors:
	// ErrInvalid (storefront name).
	CheckoutSettings(ctx context.Context, storefront string) (*CheckoutSettings, error)
	// PutCheckoutSettings replaces a storefront's settings. Errors: ErrInvalid,
	// ErrManagedByStorefront (a ManagedStorefront manages them).
	PutCheckoutSettings(ctx context.Context, storefront string, in CheckoutSettingsInput) (*CheckoutSettings, error)
}

type hostKey struct{}

// NewContextWithHost returns ctx carrying the Host a request was sent to; commerce
// services use it to find the request's storefront (its hostname mapping, else
// "default") and with it the checkout settings.
func NewContextWithHost(ctx context.Context, host string) context.Context {
	return context.WithValue(ctx, hostKey{}, strings.ToLower(host))
}

// HostFromContext returns the request's Host, lower case, or "".
func HostFromContext(ctx context.Context) string {
	h, _ := ctx.Value(hostKey{}).(string)
	return h
}
