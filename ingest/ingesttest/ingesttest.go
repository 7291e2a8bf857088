// Package ingesttest holds helpers for ingest's tests on the real services: a tenant
// registered in a test database with its own topic and index prefixes, outbox rows
// written exactly as the API writes them, waiting for a condition, reading what a
// topic holds (duplicates included, so a test can tell events from copies), and a
// connection that makes a broker's answers late.
package ingesttest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/ingest"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/testenv"
)

// NewTenant registers a tenant whose topic prefix is unique to t (its topics are
// deleted when t ends) and whose index prefix is indexPrefix (an
// testenv.NewElasticsearchIndex name, or anything for Bleve).
func NewTenant(t testing.TB, pool *pgxpool.Pool, brokers []string, indexPrefix string) ingest.Tenant {
	t.Helper()
	slug := testenv.Name(t, "t", "-")
	topicPrefix := testenv.Name(t, "test", ".")
	var id string
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
			return err
		}
		return tx.QueryRow(context.Background(),
			`INSERT INTO tenants (slug, name, topic_prefix, index_prefix, redis_prefix) VALUES ($1, $1, $2, $3, $4) RETURNING id`,
			slug, topicPrefix, indexPrefix, "k:"+slug+":").Scan(&id)
	})
	if err != nil {
		t.Fatalf("insert tenant: %v", err)
	}
	if len(brokers) > 0 {
		t.Cleanup(func() {
			if err := testenv.DeleteTopics(brokers, ikafka.PrefixTopics(topicPrefix)...); err != nil {
				t.Logf("delete topics of %s: %v", topicPrefix, err)
			}
		})
	}
	return ingest.Tenant{ID: id, Slug: slug, TopicPrefix: topicPrefix, IndexPrefix: indexPrefix, Storefronts: []string{ingest.DefaultStorefront}}
}

// Outbox appends an outbox row as the API does in its write transactions (here in
// platform scope, since no API transaction is around it).
func Outbox(t testing.TB, pool *pgxpool.Pool, tenantID string, typ events.Type, aggregateID string, payload any) {
	t.Helper()
	if err := OutboxErr(context.Background(), pool, tenantID, typ, aggregateID, payload); err != nil {
		t.Fatalf("insert outbox row: %v", err)
	}
}

// OutboxErr is Outbox for goroutines.
func OutboxErr(ctx context.Context, pool *pgxpool.Pool, tenantID string, typ events.Type, aggregateID string, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	aggType := strings.SplitN(string(typ), ".", 2)[0]
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.tenant_id', $1, true)", tenantID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload) VALUES ($1, $2, $3, $4, $5)`,
			tenantID, aggType, aggregateID, string(typ), b)
		return err
	})
}

// Unpublished counts outbox rows not yet published.
func Unpublished(t testing.TB, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
			return err
		}
		return tx.QueryRow(context.Background(), "SELECT count(*) FROM outbox WHERE published_at IS NULL").Scan(&n)
	})
	if err != nil {
		t.Fatalf("count outbox: %v", err)
	}
	return n
}

// Product is a published product snapshot with one variant priced in USD.
func Product(id string, version int64, name string) events.Product {
	return events.Product{
		ID: id, Version: version, Name: name, Description: "Description of " + name, Status: "published",
		CategoryIDs: []string{"cat-1"}, Attributes: map[string]string{"brand": "acme"},
		Variants:  []events.Variant{{SKU: "SKU-" + id, Prices: []events.Price{{Currency: "USD", Amount: 1000 + version}}}},
		UpdatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(version) * time.Second),
	}
}

// Envelope builds a raw event as the relay would publish it, for consumer tests
// that produce to Kafka directly.
func Envelope(tenantID string, typ events.Type, aggregateID string, data any) []byte {
	raw, _ := json.Marshal(data)
	b, _ := json.Marshal(events.Envelope{
		ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", time.Now().UnixNano()%1e12), Type: typ, TenantID: tenantID,
		AggregateType: strings.SplitN(string(typ), ".", 2)[0], AggregateID: aggregateID, OccurredAt: time.Now().UTC(), Data: raw,
	})
	return b
}
