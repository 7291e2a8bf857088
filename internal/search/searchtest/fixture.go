// Package searchtest is the conformance suite every search.Backend must pass: the
// revision (compare-and-set) contract the indexer relies on, reindexing behind the
// alias, and a relevance sanity set (typos, synonyms, facet counts, filters, sorting,
// paging, highlights, autocomplete, boosts) run through search.Searcher. Backends
// call Run from their tests against the real engine.
package searchtest

import (
	"fmt"
	"time"

	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/search"
)

// Tenant is the tenant id of the fixture catalog.
const Tenant = "11111111-1111-1111-1111-111111111111"

// OtherTenant owns a product in the same index that must never show up.
const OtherTenant = "22222222-2222-2222-2222-222222222222"

type fixtureProduct struct {
	id, name, desc string
	cats           []string
	attrs          map[string]string
	usd            int64 // 0: no USD price
	eur            int64
	stock          int64 // available units of the single SKU
	status         string
	deleted        bool
	day            int // updated_at = base + day
}

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// catalog is small enough to reason about by hand: expected facet counts and orders
// below are derived from it, not from any engine.
var catalog = []fixtureProduct{
	{id: "p01", name: "Desk Lamp", desc: "A bright LED lamp for your desk.", cats: []string{"lighting"}, attrs: map[string]string{"brand": "lumen", "color": "black"}, usd: 3500, eur: 3200, stock: 5, day: 1},
	{id: "p02", name: "Floor Lamp", desc: "Tall lamp with warm light.", cats: []string{"lighting"}, attrs: map[string]string{"brand": "acme", "color": "white"}, usd: 8900, stock: 0, day: 2},
	{id: "p03", name: "Leather Jacket", desc: "Classic black leather jacket.", cats: []string{"apparel"}, attrs: map[string]string{"brand": "acme", "color": "black"}, usd: 19900, eur: 18900, stock: 2, day: 3},
	{id: "p04", name: "Rain Jacket", desc: "Waterproof shell for hiking.", cats: []string{"apparel", "outdoor"}, attrs: map[string]string{"brand": "peak", "color": "yellow"}, usd: 12900, stock: 7, day: 4},
	{id: "p05", name: "Running Sneakers", desc: "Light sneakers for daily runs.", cats: []string{"footwear"}, attrs: map[string]string{"brand": "peak", "color": "white"}, usd: 9900, stock: 3, day: 5},
	{id: "p06", name: "Hiking Boot", desc: "Sturdy boot for rough trails.", cats: []string{"footwear", "outdoor"}, attrs: map[string]string{"brand": "peak", "color": "brown"}, usd: 15900, stock: 0, day: 6},
	{id: "p07", name: "Cotton T-Shirt", desc: "Soft cotton shirt, regular fit.", cats: []string{"apparel"}, attrs: map[string]string{"brand": "acme", "color": "white"}, usd: 1500, eur: 1400, stock: 40, day: 7},
	{id: "p08", name: "Rowing Boat", desc: "Two-seat rowing boat.", cats: []string{"outdoor"}, attrs: map[string]string{"brand": "marina", "color": "blue"}, usd: 99900, stock: 1, day: 8},
	{id: "p09", name: "Leather Sofa", desc: "Three-seat sofa in brown leather.", cats: []string{"furniture"}, attrs: map[string]string{"brand": "casa", "color": "brown"}, usd: 129900, stock: 1, day: 9},
	{id: "p10", name: "Oak Desk", desc: "Solid oak writing desk.", cats: []string{"furniture"}, attrs: map[string]string{"brand": "casa", "color": "brown"}, usd: 45900, stock: 0, day: 10},
	{id: "p11", name: "Espresso Machine", desc: "Brews café-quality espresso & more <fast>.", cats: []string{"kitchen"}, attrs: map[string]string{"brand": "acme", "color": "silver"}, usd: 24900, stock: 4, day: 11},
	{id: "p12", name: "Desk Organizer", desc: "Keeps pens and notes tidy.", cats: []string{"office"}, attrs: map[string]string{"brand": "lumen", "color": "black"}, usd: 1900, stock: 12, day: 12},
	// Not visible: a draft and a deleted product.
	{id: "p13", name: "Secret Lamp", desc: "Unreleased lamp.", cats: []string{"lighting"}, attrs: map[string]string{"brand": "acme"}, usd: 100, stock: 1, status: "draft", day: 13},
	{id: "p14", name: "Retired Lamp", desc: "No longer sold.", cats: []string{"lighting"}, attrs: map[string]string{"brand": "acme"}, usd: 100, stock: 1, deleted: true, day: 14},
}

// visibleIDs are the products a shopper can find.
var visibleIDs = []string{"p01", "p02", "p03", "p04", "p05", "p06", "p07", "p08", "p09", "p10", "p11", "p12"}

func sku(id string) string { return "SKU-" + id }

// product builds the event snapshot of a fixture product at a version.
func (p fixtureProduct) product(version int64) events.Product {
	status := p.status
	if status == "" {
		status = "published"
	}
	var prices []events.Price
	if p.usd > 0 {
		prices = append(prices, events.Price{Currency: "USD", Amount: p.usd})
	}
	if p.eur > 0 {
		prices = append(prices, events.Price{Currency: "EUR", Amount: p.eur})
	}
	return events.Product{
		ID: p.id, Version: version, Name: p.name, Description: p.desc, Status: status, Deleted: p.deleted,
		CategoryIDs: p.cats, Attributes: p.attrs, Images: []string{fmt.Sprintf("https://img.example/%s.jpg", p.id)},
		Variants:  []events.Variant{{SKU: sku(p.id), Prices: prices}},
		UpdatedAt: base.Add(time.Duration(p.day) * 24 * time.Hour),
	}
}

func (p fixtureProduct) document() search.Document {
	d := search.Document{TenantID: Tenant, ProductID: p.id}
	d.ApplyProduct(p.product(1))
	d.ApplyStock(events.Stock{SKU: sku(p.id), ProductID: p.id, Available: p.stock, Version: 1})
	return d
}
