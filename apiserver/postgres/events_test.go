package postgres

import (
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/events"
)

// TestProducedEventsMatchTheirContracts builds the data of every event this package
// makes in Go, the way its writers do, and reads it back strictly against the
// contract in internal/events. (The stock.changed rows made by SQL are checked
// against the contract on a real database by the apiserver/stack tests.)
func TestProducedEventsMatchTheirContracts(t *testing.T) {
	at := time.Date(2026, 3, 4, 10, 20, 0, 0, time.UTC)
	sku, pid, cust := "SKU-1", "7d0c4a52-4f7e-4a59-9d2b-0c2f6a1e3b11", "e1d2c3b4-a5f6-4789-8abc-def012345678"
	order := &apiserver.Order{ID: "5b7e9c1a-2d3f-4e5a-9b6c-7d8e9f0a1b2c", Status: apiserver.OrderPendingPayment, CustomerID: &cust,
		Currency: "EUR", Subtotal: 1000, Shipping: 490, Total: 1490, CreatedAt: at, Version: 1,
		ShippingAddress: &apiserver.Address{Country: "DE"}, BillingAddress: &apiserver.Address{Country: "AT"},
		Lines: []apiserver.OrderLine{
			{Kind: apiserver.LineItem, SKU: &sku, ProductID: &pid, Name: "Shoe", Quantity: 2, UnitPrice: 500, Amount: 1000},
			{Kind: apiserver.LineShipping, Name: "Shipping", Quantity: 1, UnitPrice: 490, Amount: 490},
		}}
	created := at.Add(-48 * time.Hour)
	args, err := placeArgs(order, "6f1c1d2e-0000-4000-8000-000000000001", "default", "203.0.113.9", &created, dbq.ClaimIdempotencyKeyParams{Scope: "s", Key: "k"}, "user:"+cust)
	if err != nil {
		t.Fatal(err)
	}
	var o events.Order
	if err := events.DecodeInto(events.OrderCreated, args.Event, &o); err != nil {
		t.Fatalf("order.created: %v: %s", err, args.Event)
	}
	if o.ID != order.ID || o.Guest || o.CustomerID != cust || o.CustomerCreatedAt == nil || !o.CustomerCreatedAt.Equal(created) ||
		o.Total != (events.Price{Currency: "EUR", Amount: 1490}) || len(o.Lines) != 1 || o.Lines[0].SKU != sku || o.Lines[0].Quantity != 2 ||
		o.ShippingCountry != "DE" || o.BillingCountry != "AT" || o.ClientIP == "" || o.ClientIP == "203.0.113.9" {
		t.Fatalf("order.created carries %+v", o)
	}

	pay := dbq.Payment{ID: "p1", OrderID: order.ID, Status: apiserver.PaymentSucceeded, Amount: 1490, AmountReceived: 1490, Currency: "EUR", Failures: 1, Version: 3}
	b, err := events.Encode(events.PaymentUpdated, updated(pay, evDisputed))
	if err != nil {
		t.Fatal(err)
	}
	var p events.Payment
	if err := events.DecodeInto(events.PaymentUpdated, b, &p); err != nil || p.Status != evDisputed || p.Attempts != 2 || p.OrderID != order.ID {
		t.Fatalf("payment.updated: %v: %s", err, b)
	}

	parent := "c0"
	c := &apiserver.Category{ID: "c1", ParentID: &parent, Slug: "shoes", Name: "Shoes", Version: 2, CreatedAt: at, UpdatedAt: at}
	if b, err = events.Encode(events.CategoryUpdated, categoryEvent(c)); err != nil {
		t.Fatal(err)
	}
	if _, err := events.Decode(events.CategoryUpdated, b); err != nil {
		t.Fatal(err)
	}
	// The category as the API returns it is not the event: the writer must convert.
	if _, err := events.Encode(events.CategoryUpdated, c); err == nil {
		t.Fatal("the outbox writer accepted an apiserver.Category as category.updated data")
	}

	var batch outboxBatch
	if err := batch.add("order", order.ID, events.OrderTransitioned, events.OrderTransition{OrderID: order.ID, From: "paid", To: "refunded", At: at}); err != nil {
		t.Fatal(err)
	}
	if err := batch.add("stock", sku, events.StockChanged, events.Product{ID: pid}); err == nil {
		t.Fatal("the outbox batch accepted a product as stock.changed data")
	}
	if len(batch.types) != 1 {
		t.Fatalf("the batch holds %d events after one good and one refused add", len(batch.types))
	}
}
