package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/ingesttest"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/ingest/postgres"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/testenv"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// producer is the relay's producer in production, closed when t ends.
func producer(t *testing.T, brokers []string) *ikafka.IdempotentProducer {
	t.Helper()
	p, err := ikafka.NewIdempotentProducer(brokers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestRelayPublishesInOrderPerKeyAndMarksRows(t *testing.T) {
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, "idx")
	other := ingesttest.NewTenant(t, db.Pool, brokers, "idx2")
	for v := int64(1); v <= 5; v++ {
		for _, id := range []string{"p1", "p2", "p3"} {
			ingesttest.Outbox(t, db.Pool, tenant.ID, events.ProductUpdated, id, ingesttest.Product(id, v, "Lamp "+id))
		}
	}
	ingesttest.Outbox(t, db.Pool, tenant.ID, events.StockChanged, "SKU-p1", events.Stock{SKU: "SKU-p1", ProductID: "p1", Available: 3, Version: 1})
	ingesttest.Outbox(t, db.Pool, other.ID, events.ProductCreated, "q1", ingesttest.Product("q1", 1, "Other"))

	relay := postgres.NewRelay(db.Pool, producer(t, brokers), ikafka.NewTopics(brokers, 3, 1), postgres.RelayConfig{BatchSize: 4})
	total := 0
	for {
		n, err := relay.Once(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 17 || ingesttest.Unpublished(t, db.Pool) != 0 {
		t.Fatalf("published %d rows, %d left; want 17 and 0", total, ingesttest.Unpublished(t, db.Pool))
	}

	msgs := ingesttest.ReadTopic(t, brokers, events.Topic(tenant.TopicPrefix, events.StreamCatalog), 15)
	if len(msgs) != 15 {
		t.Fatalf("the catalog topic holds %d records for 15 rows", len(msgs))
	}
	last := map[string]int64{}
	partition := map[string]int{}
	for _, m := range msgs {
		var env events.Envelope
		if err := json.Unmarshal(m.Value, &env); err != nil {
			t.Fatal(err)
		}
		var p events.Product
		if err := json.Unmarshal(env.Data, &p); err != nil {
			t.Fatal(err)
		}
		if env.TenantID != tenant.ID || env.Type != events.ProductUpdated || env.AggregateType != "product" || env.ID == "" {
			t.Fatalf("envelope %+v", env)
		}
		if string(m.Key) != string(events.Key(tenant.ID, p.ID)) {
			t.Fatalf("key %q for %s", m.Key, p.ID)
		}
		if p.Version != last[p.ID]+1 {
			t.Fatalf("%s: version %d after %d: per-key order broken", p.ID, p.Version, last[p.ID])
		}
		last[p.ID] = p.Version
		if pt, ok := partition[p.ID]; ok && pt != m.Partition {
			t.Fatalf("%s moved partitions", p.ID)
		}
		partition[p.ID] = m.Partition
	}
	inv := ingesttest.ReadTopic(t, brokers, events.Topic(tenant.TopicPrefix, events.StreamInventory), 1)
	if !strings.Contains(string(inv[0].Value), `"stock.changed"`) {
		t.Fatalf("inventory event %s", inv[0].Value)
	}
	o := ingesttest.ReadTopic(t, brokers, events.Topic(other.TopicPrefix, events.StreamCatalog), 1)
	if !strings.Contains(string(o[0].Value), other.ID) {
		t.Fatalf("the other tenant's event went elsewhere: %s", o[0].Value)
	}
}

func TestRelayKeepsRowsWhenTheBrokerIsDown(t *testing.T) {
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, "idx")
	ingesttest.Outbox(t, db.Pool, tenant.ID, events.ProductCreated, "p1", ingesttest.Product("p1", 1, "Lamp"))

	// A writer to a port where no broker listens: the batch fails and rolls back.
	dead := ikafka.NewWriter([]string{"127.0.0.1:1"})
	dead.MaxAttempts = 1
	defer dead.Close()
	relay := postgres.NewRelay(db.Pool, ikafka.Producer{W: dead}, ikafka.NewTopics(brokers, 1, 1), postgres.RelayConfig{})
	if _, err := relay.Once(ctxT(t)); err == nil {
		t.Fatal("publishing to a dead broker must fail")
	}
	if n := ingesttest.Unpublished(t, db.Pool); n != 1 {
		t.Fatalf("%d unpublished rows after a failed publish; want 1", n)
	}
	relay = postgres.NewRelay(db.Pool, producer(t, brokers), ikafka.NewTopics(brokers, 1, 1), postgres.RelayConfig{})
	if n, err := relay.Once(ctxT(t)); err != nil || n != 1 {
		t.Fatalf("publish after recovery = %d, %v", n, err)
	}
	if n := ingesttest.Unpublished(t, db.Pool); n != 0 {
		t.Fatalf("%d unpublished rows after success", n)
	}
}

func TestRelayDeadLettersOversizedRowsAndMovesOn(t *testing.T) {
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, "idx")
	big := ingesttest.Product("big", 1, "Big")
	big.Description = strings.Repeat("x", 2000)
	ingesttest.Outbox(t, db.Pool, tenant.ID, events.ProductCreated, "big", big)
	ingesttest.Outbox(t, db.Pool, tenant.ID, events.ProductCreated, "small", ingesttest.Product("small", 1, "Small"))
	relay := postgres.NewRelay(db.Pool, producer(t, brokers), ikafka.NewTopics(brokers, 1, 1), postgres.RelayConfig{MaxValueBytes: 1500})
	if n, err := relay.Once(ctxT(t)); err != nil || n != 2 {
		t.Fatalf("once = %d, %v", n, err)
	}
	topic := events.Topic(tenant.TopicPrefix, events.StreamCatalog)
	stub := ingesttest.ReadTopic(t, brokers, events.DeadLetter(topic), 1)[0]
	var reason string
	for _, h := range stub.Headers {
		if h.Key == ikafka.HeaderError {
			reason = string(h.Value)
		}
	}
	if !strings.Contains(reason, "exceeds the 1500-byte limit") || strings.Contains(string(stub.Value), "xxxx") {
		t.Fatalf("stub %s with reason %q", stub.Value, reason)
	}
	ok := ingesttest.ReadTopic(t, brokers, topic, 1)[0]
	if !strings.Contains(string(ok.Value), `"small"`) {
		t.Fatalf("the row behind the oversized one: %s", ok.Value)
	}
	// The published row is gone; the dead-lettered one stays, marked published, with
	// the payload the stub points to, and no claim takes it again.
	var left []string
	err := pgx.BeginFunc(ctxT(t), db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctxT(t), "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
			return err
		}
		rs, err := tx.Query(ctxT(t), "SELECT aggregate_id || ' ' || (published_at IS NOT NULL)::text || ' ' || length(payload->>'description') FROM outbox ORDER BY id")
		if err != nil {
			return err
		}
		left, err = pgx.CollectRows(rs, pgx.RowTo[string])
		return err
	})
	if err != nil || !slices.Equal(left, []string{"big true 2000"}) {
		t.Fatalf("outbox after the relay: %q, %v; want only the oversized row, marked published, its payload whole", left, err)
	}
	if n, err := relay.Once(ctxT(t)); err != nil || n != 0 {
		t.Fatalf("once more = %d, %v; the kept row must not be published again", n, err)
	}
}

// TestRelayDeadLettersRowsItCannotEncode: a created_at past the year 9999 (which
// PostgreSQL stores and JSON's RFC 3339 cannot hold) dead-letters that row as a
// stub saying so, keeps it, and publishes the row behind it.
func TestRelayDeadLettersRowsItCannotEncode(t *testing.T) {
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, "idx")
	payload, _ := json.Marshal(ingesttest.Product("far", 1, "Far"))
	err := pgx.BeginFunc(ctxT(t), db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctxT(t), "SELECT set_config('kommerce.tenant_id', $1, true)", tenant.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctxT(t), `INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload, created_at)
			VALUES ($1, 'product', 'far', 'product.created', $2, '12026-01-01T00:00:00Z')`, tenant.ID, payload)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ingesttest.Outbox(t, db.Pool, tenant.ID, events.ProductCreated, "near", ingesttest.Product("near", 1, "Near"))
	relay := postgres.NewRelay(db.Pool, producer(t, brokers), ikafka.NewTopics(brokers, 1, 1), postgres.RelayConfig{})
	if n, err := relay.Once(ctxT(t)); err != nil || n != 2 {
		t.Fatalf("once = %d, %v", n, err)
	}
	topic := events.Topic(tenant.TopicPrefix, events.StreamCatalog)
	stub := ingesttest.ReadTopic(t, brokers, events.DeadLetter(topic), 1)[0]
	var env events.Envelope
	if err := json.Unmarshal(stub.Value, &env); err != nil || env.AggregateID != "far" || string(env.Data) != "null" {
		t.Fatalf("stub %s: %v", stub.Value, err)
	}
	var reason string
	for _, h := range stub.Headers {
		if h.Key == ikafka.HeaderError {
			reason = string(h.Value)
		}
	}
	if !strings.Contains(reason, "cannot be encoded") || !strings.Contains(reason, "year outside of range") {
		t.Fatalf("stub reason %q", reason)
	}
	if ok := ingesttest.ReadTopic(t, brokers, topic, 1)[0]; !strings.Contains(string(ok.Value), `"near"`) {
		t.Fatalf("the row behind it: %s", ok.Value)
	}
	if n := ingesttest.Unpublished(t, db.Pool); n != 0 {
		t.Fatalf("%d rows unpublished; the stub's row is kept marked published", n)
	}
}

func TestOnlyOneRelayLeads(t *testing.T) {
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, "idx")
	pub := producer(t, brokers)
	counting := &countingPublisher{next: pub}
	other := &countingPublisher{next: pub}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for _, p := range []*countingPublisher{counting, other} {
		r := postgres.NewRelay(db.Pool, p, ikafka.NewTopics(brokers, 1, 1), postgres.RelayConfig{Idle: 10 * time.Millisecond})
		go func() { _ = r.Run(ctx); done <- struct{}{} }()
	}
	for i := 0; i < 20; i++ {
		ingesttest.Outbox(t, db.Pool, tenant.ID, events.ProductUpdated, "p1", ingesttest.Product("p1", int64(i+1), "Lamp"))
	}
	testenv.Eventually(t, 60*time.Second, "relay publishes every outbox row", func() (bool, string) {
		n := ingesttest.Unpublished(t, db.Pool)
		return n == 0, fmt.Sprintf("%d unpublished", n)
	})
	cancel()
	<-done
	<-done
	if (counting.n.Load() == 0) == (other.n.Load() == 0) {
		t.Fatalf("relays published %d and %d messages; exactly one must lead", counting.n.Load(), other.n.Load())
	}
}

// countingPublisher counts what a relay's workers (concurrently) published.
type countingPublisher struct {
	next ingest.Publisher
	n    atomic.Int64
}

func (c *countingPublisher) Publish(ctx context.Context, msgs []ingest.OutboundMessage) error {
	if err := c.next.Publish(ctx, msgs); err != nil {
		return err
	}
	c.n.Add(int64(len(msgs)))
	return nil
}
