package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/postgres/ingestdb"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/tracing"
)

// RelayConfig tunes the relay; zero values get the defaults in brackets.
type RelayConfig struct {
	BatchSize int // rows per transaction of one worker [500]
	// Workers publish concurrently [4], each its own batches in its own transaction.
	// A worker owns the message keys (tenant, aggregate) that hash to it, so an
	// entity's events are published by one worker, batch after batch, in outbox
	// order; what runs in parallel is other entities' events. The relay is bound by
	// round trips (claim, produce, mark, commit), not CPU: workers overlap them.
	Workers int
	Idle    time.Duration // poll interval when the outbox is empty [50ms]
	// MaxValueBytes is the largest envelope published [900 KiB]; a bigger one goes
	// to the dead-letter topic as a stub naming the outbox row, since the broker
	// would refuse it and block every row behind it.
	MaxValueBytes int
	// Retention keeps published rows this long before deleting them [168h].
	Retention time.Duration
	Log       *slog.Logger
	Registry  prometheus.Registerer
}

// Relay publishes outbox rows to Kafka: oldest first, each wrapped in an
// events.Envelope, to Topic(tenant's prefix, StreamOf(type)) with Key(tenant,
// aggregate), and sets published_at in the same transaction only after the broker
// acknowledged the batch. A failure rolls the transaction back and the rows are
// published again later: at least once, in order per key. Several workers publish
// at once, each owning a hash range of the keys (RelayConfig.Workers).
type Relay struct {
	pool   *pgxpool.Pool
	pub    ingest.Publisher
	topics ingest.TopicCreator
	cfg    RelayConfig
	log    *slog.Logger
	m      relayMetrics
}

type relayMetrics struct {
	published, deadLettered, failures prometheus.Counter
	pending, oldest, leader           prometheus.Gauge
}

// NewRelay returns a relay publishing with pub and creating topics with topics.
func NewRelay(pool *pgxpool.Pool, pub ingest.Publisher, topics ingest.TopicCreator, cfg RelayConfig) *Relay {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	cfg.BatchSize = min(cfg.BatchSize, 100_000)
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	cfg.Workers = min(cfg.Workers, 64)
	if cfg.Idle <= 0 {
		cfg.Idle = 50 * time.Millisecond
	}
	if cfg.MaxValueBytes <= 0 {
		cfg.MaxValueBytes = 900 << 10
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	r := &Relay{pool: pool, pub: pub, topics: topics, cfg: cfg, log: cfg.Log.With("component", "outbox-relay")}
	r.m = relayMetrics{
		published:    prometheus.NewCounter(prometheus.CounterOpts{Name: "kommerce_outbox_published_total", Help: "Outbox rows published to Kafka."}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{Name: "kommerce_outbox_dead_lettered_total", Help: "Outbox rows too large to publish, sent to the dead-letter topic as stubs."}),
		failures:     prometheus.NewCounter(prometheus.CounterOpts{Name: "kommerce_outbox_relay_failures_total", Help: "Relay batches rolled back (broker or database errors)."}),
		pending:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "kommerce_outbox_pending", Help: "Outbox rows not yet published."}),
		oldest:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "kommerce_outbox_oldest_pending_seconds", Help: "Age of the oldest unpublished outbox row."}),
		leader:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "kommerce_outbox_relay_leader", Help: "1 while this process is the publishing relay."}),
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(r.m.published, r.m.deadLettered, r.m.failures, r.m.pending, r.m.oldest, r.m.leader)
	}
	return r
}

// Run relays until ctx ends. Only the replica holding the relay lock publishes;
// the others retry the lock every few seconds.
func (r *Relay) Run(ctx context.Context) error {
	go r.housekeeping(ctx)
	conns, err := r.ownPool(ctx)
	if err != nil {
		return err
	}
	defer conns.Close()
	for ctx.Err() == nil {
		if err := r.lead(ctx, conns); err != nil && ctx.Err() == nil {
			r.log.Warn("relay leadership", "err", err)
		}
		sleep(ctx, 2*time.Second)
	}
	return nil
}

// ownPool returns the connections Run leads and publishes with: a pool of Workers+1
// built from the shared pool's settings. A worker keeps its transaction open until
// the broker acknowledged its batch, so through a broker outage every worker holds
// a connection for as long as the outage lasts; taken from the shared pool (four
// connections by default on two cores) that starved the rest of the process — the
// indexer's tenant directory, the housekeeping, and in ingest/faulttest the writers.
func (r *Relay) ownPool(ctx context.Context) (*pgxpool.Pool, error) {
	cfg := r.pool.Config()
	cfg.MaxConns = int32(r.cfg.Workers + 1) //nolint:gosec // at most 65
	cfg.MinConns = 0
	conns, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("relay connections: %w", err)
	}
	return conns, nil
}

// lead takes the relay lock on a dedicated connection of conns and publishes while
// it holds it. Closing that connection is what releases the lock, so the workers
// are stopped (their transactions ended) before it is closed.
func (r *Relay) lead(ctx context.Context, conns *pgxpool.Pool) error {
	conn, err := conns.Acquire(ctx)
	if err != nil {
		return err
	}
	defer func() {
		_ = conn.Conn().Close(context.Background())
		conn.Release()
		r.m.leader.Set(0)
	}()
	got, err := ingestdb.New(conn).TryRelayLeadership(ctx)
	if err != nil || !got {
		return err
	}
	r.log.Info("publishing the outbox (relay lock held)", "workers", r.cfg.Workers)
	r.m.leader.Set(1)
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range r.cfg.Workers {
		wg.Go(func() { r.work(wctx, conns, w) })
	}
	defer wg.Wait()
	defer stop()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := conn.Ping(ctx); err != nil {
				return fmt.Errorf("relay lock connection: %w", err)
			}
		}
	}
}

// work publishes worker w's batches until ctx ends: at once while it finds full
// batches, after Idle when it found fewer, with a growing backoff after a failure.
func (r *Relay) work(ctx context.Context, conns *pgxpool.Pool, w int) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		n, err := r.batch(ctx, conns, w)
		switch {
		case err != nil && ctx.Err() == nil:
			r.m.failures.Inc()
			r.log.Warn("relay batch rolled back", "worker", w, "err", err, "retry_in", backoff.String())
			sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
		case n < r.cfg.BatchSize:
			backoff = 100 * time.Millisecond
			sleep(ctx, r.cfg.Idle)
		default:
			backoff = 100 * time.Millisecond
		}
	}
}

// Once publishes one batch of every worker, concurrently, on the shared pool, and
// returns how many rows they published together; the error joins the failed
// workers' errors (the others' rows stay published).
func (r *Relay) Once(ctx context.Context) (int, error) {
	ns := make([]int, r.cfg.Workers)
	errs := make([]error, r.cfg.Workers)
	var wg sync.WaitGroup
	for w := range r.cfg.Workers {
		wg.Go(func() { ns[w], errs[w] = r.batch(ctx, r.pool, w) })
	}
	wg.Wait()
	total := 0
	for _, n := range ns {
		total += n
	}
	return total, errors.Join(errs...)
}

// batch publishes one batch of worker w's rows, oldest first, in one transaction,
// and returns how many rows it published.
func (r *Relay) batch(ctx context.Context, conns *pgxpool.Pool, w int) (n int, err error) {
	tx, err := conns.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	q := ingestdb.New(tx)
	if err := q.PlatformScope(ctx); err != nil {
		return 0, err
	}
	if err := q.RelaySettings(ctx); err != nil {
		return 0, err
	}
	rows, err := q.ClaimOutbox(ctx, ingestdb.ClaimOutboxParams{
		Workers: int64(r.cfg.Workers), Worker: int64(w),
		MaxRows: int32(min(r.cfg.BatchSize, 100_000)), //nolint:gosec // bounded just above
	})
	if err != nil {
		return 0, fmt.Errorf("claim outbox rows: %w", err)
	}
	if len(rows) == 0 {
		return 0, nil
	}
	prefixes := map[string]bool{}
	msgs := make([]ingest.OutboundMessage, 0, len(rows))
	tenantIDs := make([]string, len(rows))
	ids := make([]int64, len(rows))
	stubs := 0
	var spans []trace.Span
	defer func() {
		for _, sp := range spans {
			tracing.EndWithError(sp, err, "publish failed")
		}
	}()
	for i, row := range rows {
		tenantIDs[i], ids[i] = row.TenantID, row.ID
		if !prefixes[row.TopicPrefix] {
			prefixes[row.TopicPrefix] = true
			if err := r.topics.EnsurePrefix(ctx, row.TopicPrefix); err != nil {
				return 0, fmt.Errorf("topics of %s: %w", row.TopicPrefix, err)
			}
		}
		m, stub := r.message(row)
		if stub {
			stubs++
		}
		// A row written by a traced request continues its trace: the publish span is
		// the request's child and the consumers' parent (its traceparent header).
		if sp := tracing.StartPublish(ctx, row.TraceContext, m.Topic, row.TenantID, m.Headers); sp.IsRecording() {
			spans = append(spans, sp)
		}
		msgs = append(msgs, m)
	}
	if err := r.pub.Publish(ctx, msgs); err != nil {
		return 0, fmt.Errorf("publish %d events: %w", len(msgs), err)
	}
	if _, err := q.MarkPublished(ctx, ingestdb.MarkPublishedParams{TenantIds: tenantIDs, Ids: ids}); err != nil {
		return 0, fmt.Errorf("mark published: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	r.m.published.Add(float64(len(rows) - stubs))
	r.m.deadLettered.Add(float64(stubs))
	return len(rows), nil
}

// message builds the record of an outbox row, or a dead-letter stub when the
// envelope is too large to publish.
func (r *Relay) message(row ingestdb.ClaimOutboxRow) (ingest.OutboundMessage, bool) {
	typ := events.Type(row.EventType)
	topic := events.Topic(row.TopicPrefix, events.StreamOf(typ))
	env := events.Envelope{
		ID: row.EventID, Type: typ, TenantID: row.TenantID, AggregateType: row.AggregateType,
		AggregateID: row.AggregateID, OccurredAt: row.CreatedAt.UTC(), Data: json.RawMessage(row.Payload),
	}
	value, _ := json.Marshal(env) // payload is jsonb: always valid JSON
	headers := map[string]string{"kommerce-event-type": row.EventType, "kommerce-event-id": row.EventID}
	key := events.Key(row.TenantID, row.AggregateID)
	if len(value) <= r.cfg.MaxValueBytes {
		return ingest.OutboundMessage{Topic: topic, Key: key, Value: value, Headers: headers}, false
	}
	r.log.Error("outbox event too large to publish; dead-lettered as a stub", "tenant_id", row.TenantID, "outbox_id", row.ID, "bytes", len(value))
	env.Data = json.RawMessage(`null`)
	stub, _ := json.Marshal(env)
	headers["kommerce-error"] = fmt.Sprintf("envelope of %d bytes exceeds the %d-byte limit; the payload stays in outbox row %d of tenant %s", len(value), r.cfg.MaxValueBytes, row.ID, row.TenantID)
	headers["kommerce-original-topic"] = topic
	return ingest.OutboundMessage{Topic: events.DeadLetter(topic), Key: key, Value: stub, Headers: headers}, true
}

// housekeeping samples the backlog gauges and deletes old published rows.
func (r *Relay) housekeeping(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	lastPurge := time.Time{}
	for {
		err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
			q := ingestdb.New(tx)
			if err := q.PlatformScope(ctx); err != nil {
				return err
			}
			b, err := q.OutboxBacklog(ctx)
			if err != nil {
				return err
			}
			r.m.pending.Set(float64(b.Pending))
			r.m.oldest.Set(b.OldestSeconds)
			if time.Since(lastPurge) > time.Minute {
				lastPurge = time.Now()
				n, err := q.DeletePublished(ctx, r.cfg.Retention.Seconds())
				if err != nil {
					return err
				}
				if n > 0 {
					r.log.Info("deleted published outbox rows", "rows", n)
				}
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			r.log.Debug("outbox housekeeping", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
