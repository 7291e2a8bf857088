// Package events is the contract between the writers of domain events (the API, via
// the outbox and straight to Kafka) and their readers (the ingest consumers, training
// jobs, experiments): every event type the platform emits, its version, the one Go
// type of its data, the topic it travels on and how it is keyed. docs/events.md is
// the human-readable list; Contracts below is the one the code checks against.
//
// A writer inserts one outbox row per event in the same transaction as the change:
// event_type (a Type below), aggregate_type and aggregate_id, and payload = the event's
// data: made with Encode where it is built in Go, so that it is the registered Go
// type; the few payloads built by SQL statements are checked against their contract
// by the API's tests. The outbox relay wraps
// each row in an Envelope and publishes it to Topic(tenant's topic prefix,
// StreamOf(type)) with Key(tenant id, aggregate id), so all events of one entity land
// in one partition, in order. Behaviour events and model exposures skip the outbox
// (they change no database state) and are written to Kafka in the same Envelope.
// Consumers must be idempotent: snapshots carry a Version that only grows, and the
// envelope ID is unique per event.
//
// # Versions
//
// Every event type has a name and a version; the pair is written as one wire type
// name. Version 1 is the bare name ("order.created"): every event written before
// versions were declared is version 1, so no stored outbox row or retained Kafka
// record is renamed. Version N > 1 is written "<name>.v<N>" ("order.created.v2"), a
// new Type with its own Go type, fixture and Contract; producers switch to it while
// consumers read both until the old one is drained. A consumer that does not know a
// wire type treats it as unknown rather than misreading it. Any change to the JSON a
// version produces (a field added, renamed, retyped) fails the golden fixtures in
// testdata and must be either compatible and reviewed there, or a new version.
package events

import (
	"encoding/json"
	"strings"
	"time"
)

// Type is an event's wire type name: "<aggregate>.<what happened>" for version 1,
// "<aggregate>.<what happened>.v<N>" for version N > 1 (see Versions above).
type Type string

// Catalog, inventory, order, payment, behaviour and exposure event types, all at
// version 1. Contracts says which Go type each one's data is.
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

	// Account events carry a single-use token to e-mail (data AccountToken).
	PasswordResetRequested Type = "account.password_reset_requested"
	VerificationRequested  Type = "account.verification_requested"
)

// Stream groups event types into one topic per tenant.
type Stream string

// The streams every tenant has.
const (
	StreamCatalog   Stream = "catalog"   // product.*, category.*
	StreamInventory Stream = "inventory" // stock.*
	StreamOrders    Stream = "orders"    // order.*, payment.*
	StreamBehaviour Stream = "behaviour" // behaviour.*, model.*
	StreamAccounts  Stream = "accounts"  // account.*: e-mails to send (password reset, verification)
)

// Streams lists every stream, for creating topics.
var Streams = []Stream{StreamCatalog, StreamInventory, StreamOrders, StreamBehaviour, StreamAccounts}

// StreamOf returns the stream an event type belongs to.
func StreamOf(t Type) Stream {
	switch strings.SplitN(string(t), ".", 2)[0] {
	case "product", "category":
		return StreamCatalog
	case "stock":
		return StreamInventory
	case "order", "payment":
		return StreamOrders
	case "account":
		return StreamAccounts
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

// Envelope is the Kafka message value for every event. Data is the event's data as
// the producer encoded it (Encode); Decode turns it back into the registered type.
type Envelope struct {
	ID            string          `json:"id"` // outbox event_id (uuid), unique per event
	Type          Type            `json:"type"`
	TenantID      string          `json:"tenant_id"`
	AggregateType string          `json:"aggregate_type"`
	AggregateID   string          `json:"aggregate_id"`
	OccurredAt    time.Time       `json:"occurred_at"`
	Data          json.RawMessage `json:"data"` // the outbox payload
}
