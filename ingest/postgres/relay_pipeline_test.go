package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/postgres"
)

// TestRelayClaimsTheNextBatchWhileOneIsWithTheBroker runs one worker in small
// batches. Its first publish is held until a second transaction of the relay has
// claimed (and marked, uncommitted) the next batch: a relay that claims only after
// the broker answered never gets there, and the test fails. It also requires that
// the worker never has two publishes at once (batch N+1 goes to the broker only
// after N's ack) and that every product's events arrive in outbox order.
func TestRelayClaimsTheNextBatchWhileOneIsWithTheBroker(t *testing.T) {
	const aggregates, versions = 6, 20
	probe := &claimAheadProbe{}
	msgs, written := relayInterleaved(t, aggregates, versions, postgres.RelayConfig{BatchSize: 10, Workers: 1},
		func(next ingest.Publisher, pool *pgxpool.Pool) ingest.Publisher {
			probe.next, probe.pool = next, pool
			return probe
		})

	if !probe.sawAhead.Load() {
		t.Fatalf("while the first batch was with the broker the relay had %d transactions with claimed rows, want 2 (the next batch claimed meanwhile)", probe.maxOpen.Load())
	}
	if probe.inFlight.max.Load() != 1 {
		t.Fatalf("%d publishes of the one worker in flight at once, want 1: a batch went to the broker before the one before it was acknowledged", probe.inFlight.max.Load())
	}
	if problems := outboxOrder(t, written, msgs); len(problems) > 0 {
		t.Fatalf("%d records for %d outbox rows; order per product broken:\n%s", len(msgs), aggregates*versions, strings.Join(problems, "\n"))
	}
}

// claimAheadProbe holds its first Publish until the database shows two open
// transactions that have written (the batch being published and the next one,
// claimed meanwhile), for up to 20 s, and counts publishes in flight.
type claimAheadProbe struct {
	next     ingest.Publisher
	pool     *pgxpool.Pool
	calls    atomic.Int64
	inFlight flights
	maxOpen  atomic.Int64
	sawAhead atomic.Bool
}

func (p *claimAheadProbe) Publish(ctx context.Context, msgs []ingest.OutboundMessage) error {
	defer p.inFlight.enter()()
	if p.calls.Add(1) == 1 {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			open, err := writingTransactions(ctx, p.pool)
			if err != nil {
				return err
			}
			p.maxOpen.Store(max(p.maxOpen.Load(), open))
			if open >= 2 {
				p.sawAhead.Store(true)
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
	}
	return p.next.Publish(ctx, msgs)
}

// writingSessions selects, from pg_stat_activity, the other sessions of this
// database inside a transaction that has written something (it has a transaction
// id): the relay's batches claimed and not yet committed.
const writingSessions = `datname = current_database() AND pid <> pg_backend_pid()
	AND state LIKE 'idle in transaction%' AND backend_xid IS NOT NULL`

// writingTransactions counts the other sessions of this database inside a
// transaction that has written something (it has a transaction id).
func writingTransactions(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE `+writingSessions).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count open transactions: %w", err)
	}
	return n, nil
}

// TestRelayCommitLostAfterAckRepublishesInOrder ends the relay's open transactions
// (pg_terminate_backend) right after every fourth acknowledged publish, as a crash
// or a lost connection between the broker's ack and the commit does: the rows of
// the batch just acknowledged — and of the next one, claimed meanwhile — stay
// unpublished and are published again. Nothing may be lost, and per product the
// first copy of every event must come in outbox order; the re-sent copies are the
// at-least-once duplicates consumers de-duplicate.
func TestRelayCommitLostAfterAckRepublishesInOrder(t *testing.T) {
	const aggregates, versions = 8, 40
	killer := &commitKiller{every: 4}
	msgs, written := relayInterleaved(t, aggregates, versions, postgres.RelayConfig{BatchSize: 20, Workers: 2},
		func(next ingest.Publisher, pool *pgxpool.Pool) ingest.Publisher {
			killer.next, killer.pool = next, pool
			return killer
		})
	rows := aggregates * versions
	t.Logf("%d rows, %d records, %d sessions ended after an ack", rows, len(msgs), killer.killed.Load())
	if killer.killed.Load() == 0 || len(msgs) <= rows {
		t.Fatalf("%d sessions ended, %d records for %d rows: no commit was lost", killer.killed.Load(), len(msgs), rows)
	}
	if problems := outboxOrder(t, written, msgs); len(problems) > 0 {
		t.Fatalf("after commits lost:\n%s", strings.Join(problems, "\n"))
	}
}

// commitKiller publishes, and after every every-th successful publish ends every
// other session of the database that is inside a writing transaction.
type commitKiller struct {
	next          ingest.Publisher
	pool          *pgxpool.Pool
	every         int64
	calls, killed atomic.Int64
}

func (p *commitKiller) Publish(ctx context.Context, msgs []ingest.OutboundMessage) error {
	if err := p.next.Publish(ctx, msgs); err != nil {
		return err
	}
	if p.calls.Add(1)%p.every != 0 {
		return nil
	}
	var n int64
	err := p.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE `+writingSessions+`) AS x`).Scan(&n)
	if err != nil {
		return fmt.Errorf("end the relay's sessions: %w", err)
	}
	p.killed.Add(n)
	return nil
}
