package stack

import (
	"fmt"
	"sync/atomic"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/internal/sfsettings"
)

// documentSource is the apiserver.StorefrontSource of a settings document: the
// document in force, converted once per document (a reload is a new pointer).
type documentSource struct {
	store *sfsettings.Store
	cache atomic.Pointer[convertedDocument]
}

type convertedDocument struct {
	doc *sfsettings.Document
	m   *apiserver.ManagedStorefront
}

// ManagedStorefront implements apiserver.StorefrontSource.
func (s *documentSource) ManagedStorefront() *apiserver.ManagedStorefront {
	doc := s.store.Current()
	if c := s.cache.Load(); c != nil && c.doc == doc {
		return c.m
	}
	c := &convertedDocument{doc: doc, m: managedOf(doc)}
	s.cache.Store(c)
	return c.m
}

func managedOf(d *sfsettings.Document) *apiserver.ManagedStorefront {
	return &apiserver.ManagedStorefront{Tenant: d.Tenant, Storefront: d.Storefront, Generation: d.Generation,
		Currency: d.Currency(), ReservationTTLSeconds: int(d.Inventory.ReservationTTLSeconds),
		TaxRateBPS: int(d.Checkout.TaxRateBasisPoints), TaxLabel: d.Checkout.Label(),
		ShippingAmount: d.Checkout.ShippingAmount, FreeShippingOver: d.Checkout.FreeShippingOver,
		CORSOrigins: d.CORS.AllowedOrigins}
}

// storefrontSource checks the options of a pod serving one storefront and returns
// its source (nil without a document).
func storefrontSource(o *Options) (*documentSource, error) {
	if o.Storefront == nil {
		return nil, nil
	}
	if o.Tenant == "" {
		o.Tenant = o.Storefront.Tenant()
	} else if o.Tenant != o.Storefront.Tenant() {
		return nil, fmt.Errorf("the storefront settings are for tenant %q, the API serves tenant %q", o.Storefront.Tenant(), o.Tenant)
	}
	if o.Discovery.Settings != nil {
		return nil, fmt.Errorf("search settings come from the storefront settings document; give no other")
	}
	return &documentSource{store: o.Storefront}, nil
}

// sourceOrNil keeps a nil *documentSource from becoming a non-nil interface.
func sourceOrNil(s *documentSource) apiserver.StorefrontSource {
	if s == nil {
		return nil
	}
	return s
}
