package demo

import (
	"context"
	"fmt"

	"github.com/kommerce/kommerce/apiserver"
)

// StockSeeder stocks catalog SKUs that have no stock yet (postgres.InventoryService).
type StockSeeder interface {
	SeedStock(ctx context.Context, warehouse, reason string, onHand map[string]int64) (int, error)
}

// Stock gives every SKU of demo products 0..n-1 that has no stock yet 0 to 40 units
// in warehouse "main" — deterministic, with about one SKU in twelve sold out — so
// availability filters, carts and checkouts have something to show. Seeding twice
// changes nothing. It returns how many SKUs it stocked.
func Stock(ctx context.Context, inv StockSeeder, n int) (int, error) {
	stocked := 0
	batch := map[string]int64{}
	flush := func() error {
		k, err := inv.SeedStock(ctx, "main", "demo stock", batch)
		stocked += k
		clear(batch)
		return err
	}
	for i := range n {
		for j, v := range *Product(i, nil).Variants {
			units := int64((i*7 + j*13) % 41) // 0..40
			if (i+j)%12 == 5 {
				units = 0
			}
			batch[v.SKU] = units
		}
		if len(batch) >= 2000 {
			if err := flush(); err != nil {
				return stocked, fmt.Errorf("demo stock: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return stocked, fmt.Errorf("demo stock: %w", err)
	}
	return stocked, nil
}

// CheckoutSettings are the demo storefront's rules: EUR, 20% VAT, 4.95 shipping
// waived from 100.00, reservations of 15 minutes.
func CheckoutSettings() apiserver.CheckoutSettingsInput {
	free := int64(10000)
	return apiserver.CheckoutSettingsInput{Currency: "EUR", ReservationTTLSeconds: 900, TaxRateBPS: 2000, TaxLabel: "VAT",
		ShippingAmount: 495, FreeShippingOver: &free}
}
