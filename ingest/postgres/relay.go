package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	// order; what runs in parallel is other entities' events. Workers overlap one
	// another's round trips (claim, produce, commit), and each worker its own
	// database work with the broker's.
	Workers int
	Idle    time.Duration // poll interval when the outbox is empty [50ms]
	// MaxValueBytes is the largest envelope published [900 KiB]; a bigger one goes
	// to the dead-letter topic as a stub naming the outbox row, since the broker
	// would refuse it and block every row behind it.
	MaxValueBytes int
	// Retention keeps rows dead-lettered as too large this long, so that their
	// payloads can be read, before deleting them [168h]. Every other row is deleted
	// as it is published.
	Retention time.Duration
	Log       *slog.Logger
	Registry  prometheus.Registerer
}

// Relay publishes outbox rows to Kafka: oldest first, each wrapped in an
// events.Envelope, to Topic(tenant's prefix, StreamOf(type)) with Key(tenant,
// aggregate). A batch's rows are claimed and deleted in one statement of a
// transaction that is committed only after the broker acknowledged the whole batch,
// so no other transaction sees a row gone before its ack. A failure rolls the
// transaction back and the rows are published again later: at least once, in order
// per key. A row too large to publish is dead-lettered as a stub and kept, marked
// published, for Retention. Several workers publish at once, each owning a hash
// range of the keys (RelayConfig.Workers), and each overlaps its database work with
// the broker's (see work).
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

// ownPool returns the connections Run leads and publishes with: a pool of
// 2×Workers+1 (the lock, and each worker's batch with the broker and the next one
// claimed) built from the shared pool's settings. A worker keeps its transaction open until
// the broker acknowledged its batch, so through a broker outage every worker holds
// a connection for as long as the outage lasts; taken from the shared pool (four
// connections by default on two cores) that starved the rest of the process — the
// indexer's tenant directory, the housekeeping, and in ingest/faulttest the writers.
func (r *Relay) ownPool(ctx context.Context) (*pgxpool.Pool, error) {
	cfg := r.pool.Config()
	cfg.MaxConns = int32(2*r.cfg.Workers + 1) //nolint:gosec // at most 129
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
//
// Two batches of the worker overlap, in a fixed way: batch N+1 is claimed (and
// its envelopes built) while batch N is with the broker, and batch N is committed
// while batch N+1 is with the broker. What never overlaps is two publishes of the
// worker: N+1 is handed to the producer only after the broker acknowledged all of
// N, so if N fails — even after part of it reached the broker — nothing of N+1 has
// been sent, and both are rolled back and claimed again from N's first row. A
// failed commit of an acknowledged batch leaves its rows unpublished: they are
// published again after N+1, a re-delivery of older events, never the first copy
// of a newer event before an older one.
func (r *Relay) work(ctx context.Context, conns *pgxpool.Pool, w int) {
	backoff := 100 * time.Millisecond
	failed := func(err error) {
		r.m.failures.Inc()
		r.log.Warn("relay batch rolled back", "worker", w, "err", err, "retry_in", backoff.String())
		sleep(ctx, backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
	var flying *outboxBatch // handed to the producer, not yet committed
	defer func() {
		if flying != nil {
			_ = r.finish(ctx, flying)
		}
	}()
	for ctx.Err() == nil {
		next, err := r.claim(ctx, conns, w)
		if flying != nil {
			if perr := flying.wait(); perr != nil {
				flying.abort(perr)
				next.abort(errors.New("batch before it failed"))
				flying = nil
				if ctx.Err() == nil {
					failed(perr)
				}
				continue
			}
			// N is acknowledged: N+1 may go to the broker while N commits.
			next.publish(ctx, r.pub)
			if cerr := r.commit(ctx, flying); cerr != nil && ctx.Err() == nil {
				r.m.failures.Inc()
				r.log.Warn("relay commit failed; the acknowledged rows will be published again", "worker", w, "rows", flying.n, "err", cerr)
			}
			flying = nil
		} else {
			next.publish(ctx, r.pub)
		}
		switch {
		case err != nil:
			if ctx.Err() == nil {
				failed(err)
			}
		case next == nil:
			backoff = 100 * time.Millisecond
			sleep(ctx, r.cfg.Idle)
		case next.n < r.cfg.BatchSize:
			// The backlog is drained: finish this batch now rather than after the
			// next claim, so its rows are gone before the worker idles.
			backoff = 100 * time.Millisecond
			if err := r.finish(ctx, next); err != nil {
				if ctx.Err() == nil {
					failed(err)
				}
				continue
			}
			sleep(ctx, r.cfg.Idle)
		default:
			backoff = 100 * time.Millisecond
			flying = next
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
		wg.Go(func() {
			b, err := r.claim(ctx, r.pool, w)
			if err != nil || b == nil {
				errs[w] = err
				return
			}
			b.publish(ctx, r.pub)
			if errs[w] = r.finish(ctx, b); errs[w] == nil {
				ns[w] = b.n
			}
		})
	}
	wg.Wait()
	total := 0
	for _, n := range ns {
		total += n
	}
	return total, errors.Join(errs...)
}

// outboxBatch is one claimed batch: its rows deleted in tx, which is committed
// only once the broker acknowledged msgs.
type outboxBatch struct {
	tx    pgx.Tx
	n     int // rows, stubs among them
	stubs int
	msgs  []ingest.OutboundMessage
	spans []trace.Span
	acked chan error // the publish's result, once publish was called
	done  bool       // the result was received: err
	err   error
}

// claim begins a transaction and claims worker w's next batch in it (rows deleted,
// not committed; a row dead-lettered put back, marked published), with its
// messages built; nil when there is nothing to publish (the transaction is then
// ended).
func (r *Relay) claim(ctx context.Context, conns *pgxpool.Pool, w int) (_ *outboxBatch, err error) {
	tx, err := conns.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.Background())
		}
	}()
	q := ingestdb.New(tx)
	if err := q.RelaySettings(ctx); err != nil {
		return nil, fmt.Errorf("relay settings: %w", err)
	}
	rows, err := q.ClaimOutbox(ctx, ingestdb.ClaimOutboxParams{
		Workers: int64(r.cfg.Workers), Worker: int64(w),
		MaxRows: int32(min(r.cfg.BatchSize, 100_000)), //nolint:gosec // bounded just above
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbox rows: %w", err)
	}
	if len(rows) == 0 {
		_ = tx.Rollback(context.Background())
		return nil, nil
	}
	// Outbox order: an UPDATE returns its rows in no defined order.
	slices.SortFunc(rows, func(a, b ingestdb.ClaimOutboxRow) int { return cmp.Compare(a.ID, b.ID) })
	b := &outboxBatch{tx: tx, n: len(rows), msgs: make([]ingest.OutboundMessage, 0, len(rows))}
	defer func() {
		if err != nil {
			b.endSpans(err)
		}
	}()
	prefixes := map[string]bool{}
	for _, row := range rows {
		if !prefixes[row.TopicPrefix] {
			prefixes[row.TopicPrefix] = true
			if err := r.topics.EnsurePrefix(ctx, row.TopicPrefix); err != nil {
				return nil, fmt.Errorf("topics of %s: %w", row.TopicPrefix, err)
			}
		}
		m, stub := r.message(row)
		if stub {
			b.stubs++
			if err := q.KeepDeadLettered(ctx, ingestdb.KeepDeadLetteredParams{
				TenantID: row.TenantID, ID: row.ID, EventID: row.EventID, AggregateType: row.AggregateType, AggregateID: row.AggregateID,
				EventType: row.EventType, Payload: row.Payload, CreatedAt: row.CreatedAt, TraceContext: row.TraceContext,
			}); err != nil {
				return nil, fmt.Errorf("keep dead-lettered outbox row %d: %w", row.ID, err)
			}
		}
		// A row written by a traced request continues its trace: the publish span is
		// the request's child and the consumers' parent (its traceparent header).
		if sp := tracing.StartPublish(ctx, row.TraceContext, m.Topic, row.TenantID, m.Headers); sp.IsRecording() {
			b.spans = append(b.spans, sp)
		}
		b.msgs = append(b.msgs, m)
	}
	return b, nil
}

// publish hands the batch to the producer; wait returns the broker's answer. A nil
// batch is left alone.
func (b *outboxBatch) publish(ctx context.Context, pub ingest.Publisher) {
	if b == nil {
		return
	}
	b.acked = make(chan error, 1)
	go func() {
		err := pub.Publish(ctx, b.msgs)
		if err != nil {
			b.acked <- fmt.Errorf("publish %d events: %w", len(b.msgs), err)
			return
		}
		b.acked <- nil
	}()
}

// wait returns the publish's result (waiting for it the first time).
func (b *outboxBatch) wait() error {
	if !b.done {
		b.err, b.done = <-b.acked, true
	}
	return b.err
}

// finish waits for the batch's ack and commits it, or rolls it back.
func (r *Relay) finish(ctx context.Context, b *outboxBatch) error {
	if err := b.wait(); err != nil {
		b.abort(err)
		return err
	}
	return r.commit(ctx, b)
}

// commit makes an acknowledged batch's deletes durable. It runs even when ctx has
// just ended (a shutdown), with a deadline of its own: the broker has the rows, and
// a rollback now would only publish them again.
func (r *Relay) commit(ctx context.Context, b *outboxBatch) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := b.tx.Commit(cctx)
	b.endSpans(err)
	if err != nil {
		_ = b.tx.Rollback(context.Background())
		return fmt.Errorf("commit: %w", err)
	}
	r.m.published.Add(float64(b.n - b.stubs))
	r.m.deadLettered.Add(float64(b.stubs))
	return nil
}

// abort rolls back a batch that was not (or not wholly) acknowledged: its rows are
// claimed again later. A nil batch is left alone.
func (b *outboxBatch) abort(err error) {
	if b == nil {
		return
	}
	if b.acked != nil {
		_ = b.wait() // its publish must be over before its rows can be claimed again
	}
	_ = b.tx.Rollback(context.Background())
	b.endSpans(err)
}

func (b *outboxBatch) endSpans(err error) {
	for _, sp := range b.spans {
		tracing.EndWithError(sp, err, "publish failed")
	}
	b.spans = nil
}

// message builds the record of an outbox row, or a dead-letter stub when the
// envelope is too large to publish (or cannot be encoded).
func (r *Relay) message(row ingestdb.ClaimOutboxRow) (ingest.OutboundMessage, bool) {
	typ := events.Type(row.EventType)
	topic := events.Topic(row.TopicPrefix, events.StreamOf(typ))
	env := events.Envelope{
		ID: row.EventID, Type: typ, TenantID: row.TenantID, AggregateType: row.AggregateType,
		AggregateID: row.AggregateID, OccurredAt: row.CreatedAt.UTC(), Data: json.RawMessage(row.Payload),
	}
	// The payload is jsonb, so valid JSON, as AppendJSON requires.
	value, err := env.AppendJSON(make([]byte, 0, len(row.Payload)+320))
	headers := map[string]string{"kommerce-event-type": row.EventType, "kommerce-event-id": row.EventID}
	key := events.Key(row.TenantID, row.AggregateID)
	if err == nil && len(value) <= r.cfg.MaxValueBytes {
		return ingest.OutboundMessage{Topic: topic, Key: key, Value: value, Headers: headers}, false
	}
	reason := fmt.Sprintf("envelope of %d bytes exceeds the %d-byte limit", len(value), r.cfg.MaxValueBytes)
	if err != nil {
		// Only a created_at JSON cannot hold (a year past 9999) gets here.
		reason = fmt.Sprintf("envelope cannot be encoded (%v)", err)
		env.OccurredAt = time.Time{}
	}
	r.log.Error("outbox event cannot be published; dead-lettered as a stub", "tenant_id", row.TenantID, "outbox_id", row.ID, "reason", reason)
	env.Data = json.RawMessage(`null`)
	stub, _ := env.AppendJSON(nil)
	headers["kommerce-error"] = fmt.Sprintf("%s; the payload stays in outbox row %d of tenant %s", reason, row.ID, row.TenantID)
	headers["kommerce-original-topic"] = topic
	return ingest.OutboundMessage{Topic: events.DeadLetter(topic), Key: key, Value: stub, Headers: headers}, true
}

// housekeeping samples the backlog gauges and deletes old dead-lettered rows.
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
					r.log.Info("deleted dead-lettered outbox rows past their retention", "rows", n)
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
