package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/ingesttest"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/ingest/postgres"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/testenv"
)

// BenchmarkRelay publishes b.N outbox rows (one product snapshot each, every row
// its own product) in batches of 500 to the real broker, with one worker and with
// the default four: go test -bench Relay ./ingest/postgres. rows/s is the figure
// to read; the whole backlog is written before the clock starts (after a warm-up
// row), so the claim's cost with many rows waiting is part of it.
func BenchmarkRelay(b *testing.B) {
	for _, workers := range []int{1, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) { benchmarkRelay(b, workers) })
	}
}

// relayBench is what both relay benchmarks start from: a database, the broker, a
// tenant and a producer (closed when the benchmark ends).
type relayBench struct {
	pool    *pgxpool.Pool
	brokers []string
	tenant  ingest.Tenant
	pub     *ikafka.IdempotentProducer
}

func newRelayBench(b *testing.B) relayBench {
	db := testenv.NewDatabase(b)
	brokers := testenv.KafkaBrokers(b)
	tenant := ingesttest.NewTenant(b, db.Pool, brokers, "bench")
	pub, err := ikafka.NewIdempotentProducer(brokers)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pub.Close() })
	return relayBench{pool: db.Pool, brokers: brokers, tenant: tenant, pub: pub}
}

// writeBacklog inserts n outbox rows (one product each) in tx, bound to the tenant.
func (r relayBench) writeBacklog(ctx context.Context, tx pgx.Tx, n int) error {
	payload, _ := json.Marshal(ingesttest.Product("p", 1, "Bench Product"))
	if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.tenant_id', $1, true)", r.tenant.ID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
		SELECT $1, 'product', 'p' || g, $2, $3 FROM generate_series(1, $4::int) g`, r.tenant.ID, string(events.ProductUpdated), payload, n)
	return err
}

func benchmarkRelay(b *testing.B, workers int) {
	rb := newRelayBench(b)
	ctx := context.Background()
	relay := postgres.NewRelay(rb.pool, rb.pub, ikafka.NewTopics(rb.brokers, 6, 1), postgres.RelayConfig{BatchSize: 500, Workers: workers})
	// Warm up: the tenant's topics, their metadata and the connections exist before
	// the clock starts (creating them takes seconds, nothing the steady state pays).
	ingesttest.Outbox(b, rb.pool, rb.tenant.ID, events.ProductUpdated, "warm", ingesttest.Product("warm", 1, "Warm"))
	for done := 0; done < 1; {
		n, err := relay.Once(ctx)
		if err != nil {
			b.Fatal(err)
		}
		done += n
	}
	if err := pgx.BeginFunc(ctx, rb.pool, func(tx pgx.Tx) error { return rb.writeBacklog(ctx, tx, b.N) }); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n, err := relay.Once(ctx)
		if err != nil {
			b.Fatal(err)
		}
		done += n
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkRelayRun is BenchmarkRelay through Run, as `kommerce ingest` relays:
// b.N rows waiting, relayed by the running relay (its workers each overlapping the
// claim of their next batch and the commit of their last with the broker's work),
// timed from the first claim until the relay counted every row published.
// go test -bench RelayRun -benchtime 20000x ./ingest/postgres
func BenchmarkRelayRun(b *testing.B) {
	for _, c := range []struct{ workers, batch int }{{1, 500}, {2, 500}, {4, 500}, {2, 1000}, {4, 1000}} {
		b.Run(fmt.Sprintf("workers=%d/batch=%d", c.workers, c.batch), func(b *testing.B) { benchmarkRelayRun(b, c.workers, c.batch) })
	}
}

func benchmarkRelayRun(b *testing.B, workers, batch int) {
	rb := newRelayBench(b)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	relay := postgres.NewRelay(rb.pool, rb.pub, ikafka.NewTopics(rb.brokers, 6, 1), postgres.RelayConfig{BatchSize: batch, Workers: workers, Registry: reg})
	published := func() int {
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "kommerce_outbox_published_total" {
				return int(mf.GetMetric()[0].GetCounter().GetValue())
			}
		}
		return 0
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(rctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	// Warm up as BenchmarkRelay does, through the running relay.
	ingesttest.Outbox(b, rb.pool, rb.tenant.ID, events.ProductUpdated, "warm", ingesttest.Product("warm", 1, "Warm"))
	for published() < 1 {
		time.Sleep(5 * time.Millisecond)
	}
	tx, err := rb.pool.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := rb.writeBacklog(ctx, tx, b.N); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	if err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	for published() < b.N+1 {
		time.Sleep(2 * time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
}
