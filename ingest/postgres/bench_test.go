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
	"github.com/kommerce/kommerce/internal/procstat"
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
	for _, c := range []relayRun{{workers: 1, batch: 500}, {workers: 2, batch: 500}, {workers: 4, batch: 500}, {workers: 2, batch: 1000}, {workers: 4, batch: 1000}} {
		b.Run(fmt.Sprintf("workers=%d/batch=%d", c.workers, c.batch), func(b *testing.B) { benchmarkRelayRun(b, c) })
	}
}

// BenchmarkRelayRunSlowBroker is BenchmarkRelayRun (4 workers, batches of 500) with
// each batch's acknowledgement held back by ack, and with hold, a transaction on the
// same database holding one snapshot for the whole run. A claim's transaction stays
// open while its batch is with the broker, and a held snapshot keeps the claimed
// rows' old versions from being pruned: if the claims had to step over them, the
// PostgreSQL CPU per row would grow with either.
// go test -run XXX -bench RelayRunSlowBroker -benchtime 20000x ./ingest/postgres
func BenchmarkRelayRunSlowBroker(b *testing.B) {
	for _, c := range []relayRun{{ack: 0}, {ack: 50 * time.Millisecond}, {ack: 300 * time.Millisecond}, {hold: true}, {ack: 50 * time.Millisecond, hold: true}} {
		c.workers, c.batch = 4, 500
		b.Run(fmt.Sprintf("ack=%s/hold=%v", c.ack, c.hold), func(b *testing.B) { benchmarkRelayRun(b, c) })
	}
}

// relayRun is one case of the Run benchmarks.
type relayRun struct {
	workers, batch int
	ack            time.Duration // added before each batch is handed to the broker
	hold           bool          // a snapshot held open on the database through the run
}

// delayedPublisher hands a batch to next after delay.
type delayedPublisher struct {
	next  ingest.Publisher
	delay time.Duration
}

func (p delayedPublisher) Publish(ctx context.Context, msgs []ingest.OutboundMessage) error {
	select {
	case <-time.After(p.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	return p.next.Publish(ctx, msgs)
}

// postgresCPU is the CPU time every postgres process on this machine has used, in
// seconds: the test server's backends and its background workers, other databases'
// included. A backend that exits takes its CPU out of the sum, so the figure reads
// low while other clients come and go: run the benchmark with the server otherwise idle.
func postgresCPU() float64 {
	var total time.Duration
	for _, p := range procstat.All() {
		if p.Comm == "postgres" {
			total += p.CPU
		}
	}
	return total.Seconds()
}

func benchmarkRelayRun(b *testing.B, c relayRun) {
	rb := newRelayBench(b)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	var pub ingest.Publisher = rb.pub
	if c.ack > 0 {
		pub = delayedPublisher{next: rb.pub, delay: c.ack}
	}
	relay := postgres.NewRelay(rb.pool, pub, ikafka.NewTopics(rb.brokers, 6, 1), postgres.RelayConfig{BatchSize: c.batch, Workers: c.workers, Registry: reg})
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
	if c.hold {
		held, err := rb.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = held.Rollback(context.Background()) }()
		if _, err := held.Exec(ctx, "SELECT count(*) FROM pg_class"); err != nil { // takes the snapshot
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	cpu := postgresCPU()
	start := time.Now()
	if err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	for published() < b.N+1 {
		time.Sleep(2 * time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
	b.ReportMetric((postgresCPU()-cpu)*1e6/float64(b.N), "pg-cpu-µs/row")
}
