// Package events is the contract between the writers of domain events (the API, via
// the outbox) and their readers (the ingest consumers, training jobs, experiments).
//
// A writer inserts one outbox row per event in the same transaction as the change:
// event_type (a Type below), aggregate_type and aggregate_id, and payload = the event's
// data (for catalog events a Product snapshot). The outbox relay wraps each row in an
// Envelope and publishes it to Topic(tenant's topic prefix, StreamOf(type)) with
// Key(tenant id, aggregate id), so all events of one entity land in one partition, in
// order. Consumers must be idempotent: snapshots carry a Version that only grows, and
// the envelope ID is unique per event.
package events

import (
	"encoding/json"
	"strings"
	"time"
)

// Type names a domain event: "<aggregate>.<what happened>".
type Type string

// Catalog, inventory, order, payment and behaviour event types.
const (
	ProductCreated    Type = "product.created"
	ProductUpdated    Type = "product.updated"
	ProductDeleted    Type = "product.deleted"
	CategoryCreated   Type = "category.created"
	CategoryUpdated   Type = "category.updated"
	StockChanged      Type = "stock.changed"
	OrderCreated      Type = "order.created"
	OrderTransitioned Type = "order.transitioned"
	PaymentUpdated    Type = "payment.updated"
	BehaviourEvent    Type = "behaviour.recorded"
	ModelExposure     Type = "model.exposure"
)

// Stream groups event types into one topic per tenant.
type Stream string

// The streams every tenant has.
const (
	StreamCatalog   Stream = "catalog"   // product.*, category.*
	StreamInventory Stream = "inventory" // stock.*
	StreamOrders    Stream = "orders"    // order.*, payment.*
	StreamBehaviour Stream = "behaviour" // behaviour.*, model.*
)

// Streams lists every stream, for creating topics.
var Streams = []Stream{StreamCatalog, StreamInventory, StreamOrders, StreamBehaviour}

// StreamOf returns the stream an event type belongs to.
func StreamOf(t Type) Stream {
	switch strings.SplitN(string(t), ".", 2)[0] {
	case "product", "category":
		return StreamCatalog
	case "stock":
		return StreamInventory
	case "order", "payment":
		return StreamOrders
	default:
		return StreamBehaviour
	}
}

// Topic is the Kafka topic of a stream for a tenant's topic prefix, e.g.
// "kommerce.acme.catalog". The dead-letter topic of a topic is Topic + ".dlq".
func Topic(topicPrefix string, s Stream) string { return topicPrefix + "." + string(s) }

// DeadLetter returns the dead-letter topic of topic.
func DeadLetter(topic string) string { return topic + ".dlq" }

// Key is the Kafka message key: tenant id and aggregate id, so that one entity's
// events stay in order in one partition and never mix with another tenant's.
func Key(tenantID, aggregateID string) []byte { return []byte(tenantID + "/" + aggregateID) }

// Envelope is the Kafka message value for every event.
type Envelope struct {
	ID            string          `json:"id"` // outbox event_id (uuid), unique per event
	Type          Type            `json:"type"`
	TenantID      string          `json:"tenant_id"`
	AggregateType string          `json:"aggregate_type"`
	AggregateID   string          `json:"aggregate_id"`
	OccurredAt    time.Time       `json:"occurred_at"`
	Data          json.RawMessage `json:"data"` // the outbox payload
}

// Product is the data of product.* events: the whole product as it is after the
// change, so a consumer never needs to read the database. Version grows by one on
// every write of the product and is the external version of its search document.
type Product struct {
	ID          string            `json:"id"`
	Version     int64             `json:"version"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Status      string            `json:"status"` // draft | published
	Deleted     bool              `json:"deleted"`
	CategoryIDs []string          `json:"category_ids"`
	Attributes  map[string]string `json:"attributes"`
	Images      []string          `json:"images"`
	Variants    []Variant         `json:"variants"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// Variant is one sellable SKU of a product.
type Variant struct {
	SKU        string            `json:"sku"`
	Attributes map[string]string `json:"attributes"`
	Prices     []Price           `json:"prices"`
}

// Price is an amount in minor units (cents) of a currency (ISO 4217).
type Price struct {
	Currency string `json:"currency"`
	Amount   int64  `json:"amount"`
}

// Stock is the data of stock.changed events: availability of one SKU summed over
// warehouses after the change. Version grows with every change of that SKU's stock.
type Stock struct {
	SKU       string `json:"sku"`
	ProductID string `json:"product_id"`
	Available int64  `json:"available"`
	Version   int64  `json:"version"`
}
