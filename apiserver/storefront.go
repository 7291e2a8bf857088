package apiserver

import (
	"context"
	"slices"
)

// ManagedStorefront is the one storefront a process serves from its settings
// document (internal/sfsettings), which the operator renders from a Storefront
// resource. It is the one source of those settings: where the database holds some
// of the same storefront's settings too (currency, reservation TTL, tax and
// shipping), these win, and PUT checkout-settings of the storefront answers
// ErrManagedByStorefront. The fraud policy and hoarding caps are not in the
// resource and stay what the database holds (else the API's defaults).
type ManagedStorefront struct {
	Tenant     string // tenant slug
	Storefront string
	// Generation is the Storefront resource's metadata.generation the settings came
	// from, named in messages so a user can tell which spec is live.
	Generation            int64
	Currency              string
	ReservationTTLSeconds int
	TaxRateBPS            int
	TaxLabel              string
	ShippingAmount        int64
	FreeShippingOver      *int64
	// CORSOrigins are the exact browser origins allowed to call the API; they
	// replace the storefront hosts' origins of the database.
	CORSOrigins []string
}

// StorefrontSource gives the ManagedStorefront in force, re-read while the process
// runs (a reload swaps the whole value, never part of it). A nil source, or a nil
// answer, means the process serves the storefronts of the database.
type StorefrontSource interface {
	ManagedStorefront() *ManagedStorefront
}

// ManagedFor returns the settings of the storefront src manages when ctx's tenant is
// its tenant, else nil.
func ManagedFor(ctx context.Context, src StorefrontSource) *ManagedStorefront {
	if src == nil {
		return nil
	}
	m := src.ManagedStorefront()
	t := TenantFromContext(ctx)
	if m == nil || t == nil || t.Slug != m.Tenant {
		return nil
	}
	return m
}

// Apply returns s with the settings m manages replaced by m's.
func (m *ManagedStorefront) Apply(s CheckoutSettings) CheckoutSettings {
	s.Storefront = m.Storefront
	s.Currency = m.Currency
	s.ReservationTTLSeconds = m.ReservationTTLSeconds
	s.TaxRateBPS = m.TaxRateBPS
	s.TaxLabel = m.TaxLabel
	s.ShippingAmount = m.ShippingAmount
	s.FreeShippingOver = m.FreeShippingOver
	s.Managed = true
	return s
}

// OriginAllowed reports whether origin is one of m's CORS origins (exact match).
func (m *ManagedStorefront) OriginAllowed(origin string) bool {
	return slices.Contains(m.CORSOrigins, origin)
}

// ManagedError is the error of a change to settings a Storefront resource manages.
func (m *ManagedStorefront) ManagedError() *Error {
	return Errorf(ErrManagedByStorefront,
		"The settings of storefront %q come from its Storefront resource (generation %d); edit the resource instead, e.g. kubectl edit storefront %s.",
		m.Storefront, m.Generation, m.Storefront)
}
