package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	kafka "github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/ingesttest"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/ingest/postgres"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/testenv"
)

// TestRelayKeepsEachAggregatesOrderWithParallelWorkers writes many events for a few
// products, interleaved (p1 v1, p2 v1, … p1 v2, …), relays them with four workers
// in small batches, reads the catalog topic back and checks, per product, that its
// events are in one partition in outbox order. It also checks that the workers did
// publish at the same time: the first publish waits for a second one to begin.
func TestRelayKeepsEachAggregatesOrderWithParallelWorkers(t *testing.T) {
	const aggregates, versions = 12, 100
	probe := &overlapProbe{second: make(chan struct{})}
	msgs, written := relayInterleaved(t, aggregates, versions, postgres.RelayConfig{BatchSize: 25, Workers: 4},
		func(next ingest.Publisher, _ *pgxpool.Pool) ingest.Publisher { probe.next = next; return probe })
	rows := aggregates * versions
	if problems := outboxOrder(t, written, msgs); len(problems) > 0 {
		t.Fatalf("%d records for %d outbox rows; order per product broken:\n%s", len(msgs), rows, strings.Join(problems, "\n"))
	}
	if probe.inFlight.max.Load() < 2 {
		t.Fatalf("at most %d publish in flight at once: the workers did not publish in parallel", probe.inFlight.max.Load())
	}
	t.Logf("%d rows, %d records, up to %d publishes in flight", rows, len(msgs), probe.inFlight.max.Load())
}

// TestOutboxOrderCatchesUnorderedSends is the order check's own test: the same
// events published by a relay whose batches are sent out of order (each batch
// reversed, as sending its records concurrently may do) must be reported.
func TestOutboxOrderCatchesUnorderedSends(t *testing.T) {
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, "idx")
	const aggregates, versions = 4, 20
	written := writeInterleaved(t, db.Pool, tenant.ID, aggregates, versions)
	relay := postgres.NewRelay(db.Pool, reversingPublisher{next: producer(t, brokers)}, ikafka.NewTopics(brokers, 3, 1), postgres.RelayConfig{BatchSize: 25, Workers: 2})
	for {
		n, err := relay.Once(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	msgs := ingesttest.ReadTopic(t, brokers, events.Topic(tenant.TopicPrefix, events.StreamCatalog), aggregates*versions)
	if problems := outboxOrder(t, written, msgs); len(problems) == 0 {
		t.Fatal("reversed batches passed the order check")
	}
}

// TestRelayPublishFailureMidwayLosesAndReordersNothing makes every third publish
// fail after half of its records reached the broker (they stay in the topic), with
// four workers relaying. Each failed batch is rolled back and published again, so
// the topic holds duplicates; but every event is there, and per product the first
// copy of each event comes in outbox order: a consumer sees re-deliveries, never
// a newer event before an older one.
func TestRelayPublishFailureMidwayLosesAndReordersNothing(t *testing.T) {
	const aggregates, versions = 12, 60
	flaky := &midwayFailure{every: 3}
	msgs, written := relayInterleaved(t, aggregates, versions, postgres.RelayConfig{BatchSize: 40, Workers: 4},
		func(next ingest.Publisher, _ *pgxpool.Pool) ingest.Publisher { flaky.next = next; return flaky })
	rows := aggregates * versions
	t.Logf("%d rows, %d records, %d publishes failed midway", rows, len(msgs), flaky.failed.Load())
	if flaky.failed.Load() == 0 || len(msgs) <= rows {
		t.Fatalf("%d failures injected, %d records for %d rows: no partial publish happened", flaky.failed.Load(), len(msgs), rows)
	}
	if problems := outboxOrder(t, written, msgs); len(problems) > 0 {
		t.Fatalf("after failures midway:\n%s", strings.Join(problems, "\n"))
	}
}

// writeInterleaved writes versions events for each of aggregates products in one
// statement, version by version across the products, so their ids interleave, and
// returns the rows written (the relay deletes them as it publishes them).
func writeInterleaved(t *testing.T, pool *pgxpool.Pool, tenantID string, aggregates, versions int) outboxRows {
	t.Helper()
	ctx := ctxT(t)
	written := outboxRows{}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.tenant_id', $1, true)", tenantID); err != nil {
			return err
		}
		rs, err := tx.Query(ctx, `INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
			SELECT $1, 'product', 'p' || a, 'product.updated',
			       jsonb_build_object('id', 'p' || a, 'version', v, 'name', 'Lamp ' || a, 'status', 'published')
			FROM generate_series(1, $3::int) v, generate_series(1, $2::int) a
			ORDER BY v, a
			RETURNING event_id::text, tenant_id::text || '/' || aggregate_id, id`, tenantID, aggregates, versions)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var ev string
			var r outboxRow
			if err := rs.Scan(&ev, &r.aggregate, &r.id); err != nil {
				return err
			}
			written[ev] = r
		}
		return rs.Err()
	})
	if err != nil {
		t.Fatalf("write outbox rows: %v", err)
	}
	return written
}

// runUntilPublished runs the relay as `kommerce ingest` does until no row is left.
func runUntilPublished(t *testing.T, relay *postgres.Relay, pool *pgxpool.Pool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
	}()
	testenv.Eventually(t, 120*time.Second, "relay publishes every outbox row", func() (bool, string) {
		n := ingesttest.Unpublished(t, pool)
		return n == 0, fmt.Sprintf("%d unpublished", n)
	})
}

// relayInterleaved writes aggregates×versions interleaved product events for a new
// tenant, relays them with cfg (Idle 10 ms) through the publisher wrap makes of the
// real producer until every row is published, and returns the records of the
// tenant's catalog topic, with the rows written for outboxOrder.
func relayInterleaved(t *testing.T, aggregates, versions int, cfg postgres.RelayConfig, wrap func(next ingest.Publisher, pool *pgxpool.Pool) ingest.Publisher) ([]kafka.Message, outboxRows) {
	t.Helper()
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, "idx")
	written := writeInterleaved(t, db.Pool, tenant.ID, aggregates, versions)
	cfg.Idle = 10 * time.Millisecond
	relay := postgres.NewRelay(db.Pool, wrap(producer(t, brokers), db.Pool), ikafka.NewTopics(brokers, 3, 1), cfg)
	runUntilPublished(t, relay, db.Pool)
	return ingesttest.ReadTopic(t, brokers, events.Topic(tenant.TopicPrefix, events.StreamCatalog), aggregates*versions), written
}

// outboxRow is an outbox row as outboxOrder needs it: the message key it is
// published under and its id; outboxRows maps event ids to them.
type outboxRow struct {
	aggregate string
	id        int64
}

type outboxRows map[string]outboxRow

// outboxOrder checks msgs against the outbox rows written: every row's event is there, each
// aggregate's records are in one partition, and the first copy of each event comes
// after the first copies of the aggregate's earlier rows (by outbox id). Copies
// after the first are re-deliveries, allowed by at-least-once. It returns what is
// wrong, at most ten lines.
func outboxOrder(t *testing.T, outbox outboxRows, msgs []kafka.Message) []string {
	t.Helper()
	perAggregate := map[string]int{}
	for _, r := range outbox {
		perAggregate[r.aggregate]++
	}
	var problems []string
	report := func(format string, args ...any) {
		if len(problems) < 10 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	seen := map[string]bool{}
	last := map[string]int64{} // aggregate -> outbox id of its newest event seen
	partition := map[string]int{}
	// Kafka keeps order within a partition only; ReadTopic returns partition by
	// partition, each in offset order, and an aggregate must stay in one.
	for _, m := range msgs {
		var env events.Envelope
		if err := json.Unmarshal(m.Value, &env); err != nil {
			t.Fatalf("record %s/%d: %v", m.Topic, m.Offset, err)
		}
		r, ok := outbox[env.ID]
		if !ok {
			report("record %d/%d: event %s is no outbox row", m.Partition, m.Offset, env.ID)
			continue
		}
		if string(m.Key) != r.aggregate {
			report("record %d/%d: key %q for %s", m.Partition, m.Offset, m.Key, r.aggregate)
		}
		if p, ok := partition[r.aggregate]; ok && p != m.Partition {
			report("%s in partitions %d and %d", r.aggregate, p, m.Partition)
		}
		partition[r.aggregate] = m.Partition
		if seen[env.ID] {
			continue
		}
		seen[env.ID] = true
		if r.id < last[r.aggregate] {
			report("%s: outbox row %d first arrived at offset %d, after row %d", r.aggregate, r.id, m.Offset, last[r.aggregate])
		}
		last[r.aggregate] = max(last[r.aggregate], r.id)
	}
	got := map[string]int{}
	for ev := range seen {
		got[outbox[ev].aggregate]++
	}
	for _, a := range slices.Sorted(maps.Keys(perAggregate)) {
		if got[a] != perAggregate[a] {
			report("%s: %d of its %d events in the topic", a, got[a], perAggregate[a])
		}
	}
	return problems
}

// overlapProbe records how many Publish calls are in flight at once. Its first call
// waits (up to 30 s) for a second one to begin, so a relay that publishes in
// parallel is seen doing it however the goroutines are scheduled, and a serial one
// is seen not doing it.
type overlapProbe struct {
	next     ingest.Publisher
	second   chan struct{}
	calls    atomic.Int64
	inFlight flights
	once     sync.Once
}

// flights counts publishes in flight and keeps the most seen at once.
type flights struct{ now, max atomic.Int64 }

// enter counts one more publish in flight; the returned func counts it done.
func (f *flights) enter() (leave func()) {
	n := f.now.Add(1)
	for m := f.max.Load(); n > m && !f.max.CompareAndSwap(m, n); m = f.max.Load() {
	}
	return func() { f.now.Add(-1) }
}

func (p *overlapProbe) Publish(ctx context.Context, msgs []ingest.OutboundMessage) error {
	defer p.inFlight.enter()()
	switch p.calls.Add(1) {
	case 1:
		select {
		case <-p.second:
		case <-time.After(30 * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	default:
		p.once.Do(func() { close(p.second) })
	}
	return p.next.Publish(ctx, msgs)
}

// reversingPublisher publishes each batch back to front.
type reversingPublisher struct{ next ingest.Publisher }

func (p reversingPublisher) Publish(ctx context.Context, msgs []ingest.OutboundMessage) error {
	rev := slices.Clone(msgs)
	slices.Reverse(rev)
	return p.next.Publish(ctx, rev)
}

// midwayFailure publishes only the first half of every every-th batch it is given
// and then fails, as a broker that goes away in the middle of a batch does.
type midwayFailure struct {
	next          ingest.Publisher
	every         int64
	calls, failed atomic.Int64
}

func (p *midwayFailure) Publish(ctx context.Context, msgs []ingest.OutboundMessage) error {
	if p.calls.Add(1)%p.every != 0 || len(msgs) < 2 {
		return p.next.Publish(ctx, msgs)
	}
	if err := p.next.Publish(ctx, msgs[:len(msgs)/2]); err != nil {
		return err
	}
	p.failed.Add(1)
	return errors.New("broker failed midway (injected)")
}
