// Package webhooks delivers a tenant's events to the HTTP endpoints its staff
// registered: a Kafka consumer (FanOut) records one delivery per subscribed endpoint
// and event in PostgreSQL, and a worker (Worker) posts them, signed
// (internal/webhook), retrying timeouts, connection errors and 5xx answers with
// exponential backoff, in order per aggregate, logging every attempt.
//
// Deliveries live in PostgreSQL, not in Kafka offsets, because their life is longer
// than a consumer's: a receiver down for hours must not hold up the partition (and
// the other endpoints), and every attempt must stay visible in the delivery log.
package webhooks

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/webhooks/webhookdb"
	"github.com/kommerce/kommerce/internal/events"
)

// FanOut is the ingest.Handler turning events into deliveries.
type FanOut struct{ pool *pgxpool.Pool }

// NewFanOut returns the fan-out handler.
func NewFanOut(pool *pgxpool.Pool) *FanOut { return &FanOut{pool: pool} }

// Handle implements ingest.Handler. Messages are handled in order, one transaction
// each, so the deliveries of one aggregate get increasing sequence numbers in the
// order of its partition.
func (f *FanOut) Handle(ctx context.Context, msgs []ingest.Message) []error {
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		errs[i] = f.handle(ctx, m)
		if errs[i] != nil && !ingest.IsPermanent(errs[i]) {
			// Later messages may be of the same aggregate: they must not overtake.
			for j := i + 1; j < len(msgs); j++ {
				errs[j] = errs[i]
			}
			break
		}
	}
	return errs
}

func (f *FanOut) handle(ctx context.Context, m ingest.Message) error {
	var env events.Envelope
	if err := json.Unmarshal(m.Value, &env); err != nil {
		return ingest.Permanent(fmt.Errorf("decode envelope: %w", err))
	}
	if env.ID == "" || env.TenantID == "" || env.Type == "" {
		return ingest.Permanent(fmt.Errorf("envelope without id, tenant or type"))
	}
	switch events.StreamOf(env.Type) {
	case events.StreamCatalog, events.StreamInventory, events.StreamOrders:
	default:
		return nil
	}
	return pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		q := webhookdb.New(tx)
		if err := q.TenantScope(ctx, env.TenantID); err != nil {
			return err
		}
		_, err := q.FanOut(ctx, webhookdb.FanOutParams{
			EventID: env.ID, EventType: string(env.Type), AggregateKey: env.AggregateType + "/" + env.AggregateID,
			Payload: m.Value, TenantID: env.TenantID,
		})
		return err
	})
}
