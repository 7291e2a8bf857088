// Package postgres implements the apiserver services on PostgreSQL through pgx v5
// and sqlc-generated queries (queries/*.sql, generated into dbq).
//
// Every service method is one transaction. A tenant transaction first sets
// kommerce.tenant_id for itself (set_config(..., true) is transaction-local), so the
// row-level security policies of every tenant table apply: even a query that forgot
// its tenant filter could only see that tenant's rows. Lookups that must work before
// the tenant is known (slug, host, CORS origins) run as the platform instead.
package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/tracing"
)

// DB is the connection pool shared by the services of this package.
type DB struct {
	Pool *pgxpool.Pool
}

// NewDB wraps an open pool.
func NewDB(pool *pgxpool.Pool) *DB { return &DB{Pool: pool} }

// InTenant runs fn in one transaction bound to the tenant in ctx. readOnly
// transactions let PostgreSQL refuse accidental writes in read paths.
func (db *DB) InTenant(ctx context.Context, readOnly bool, fn func(tx pgx.Tx, q *dbq.Queries, tenantID string) error) error {
	t, err := apiserver.RequireTenant(ctx)
	if err != nil {
		return err
	}
	opts := pgx.TxOptions{}
	if readOnly {
		opts.AccessMode = pgx.ReadOnly
	}
	err = pgx.BeginTxFunc(ctx, db.Pool, opts, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, setTenantSQL, t.ID, tracing.Traceparent(ctx)); err != nil {
			return fmt.Errorf("bind transaction to tenant: %w", err)
		}
		return fn(tx, dbq.New(tx), t.ID)
	})
	return concurrencyConflict(err)
}

// setTenantSQL binds a transaction to a tenant (and, for a traced request, its
// traceparent: every outbox row it writes takes it as its trace_context, migration
// 00015, so the relay and the consumers continue this request's trace).
const setTenantSQL = "SELECT set_config('kommerce.tenant_id', $1, true), set_config('kommerce.traceparent', $2, true)"

// ReadInTenant runs fn, which must send exactly one statement through q, in a
// read-only transaction bound to the tenant in ctx, like InTenant — but in one round
// trip instead of four: the tenant setting and the statement go to PostgreSQL as one
// pipeline (a pgx batch) ended by one Sync. It is for the hot reads behind cache
// misses, where each round trip costs more CPU (two system calls and a wake-up on
// each side) than the statement itself.
//
// The pipeline needs no BEGIN or COMMIT: in the extended query protocol, the
// statements a client sends before a Sync run in one implicit transaction, which the
// Sync commits (or, after an error, rolls back); a pool in simple-protocol mode sends
// the batch as one multi-statement query, which is one implicit transaction too. The
// settings are transaction-local (set_config(..., true)), so they end with it and
// never reach the next user of the pooled connection; transaction_read_only is one of
// them, so the statement cannot write (TestReadInTenant and
// TestReadInTenantLeavesNothingBehind check both).
func (db *DB) ReadInTenant(ctx context.Context, fn func(q *dbq.Queries, tenantID string) error) error {
	return db.readInTenant(ctx, func(p *pipelinedRead) error { return fn(dbq.New(p), p.tenantID) })
}

// readInTenant is ReadInTenant for callers that read the statement's rows
// themselves (pipelinedRead.Query), as AppendProductPageJSON does.
func (db *DB) readInTenant(ctx context.Context, fn func(p *pipelinedRead) error) error {
	t, err := apiserver.RequireTenant(ctx)
	if err != nil {
		return err
	}
	c, err := db.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	// Release closes a connection left inside a transaction rather than reuse it.
	defer c.Release()
	p := &pipelinedRead{conn: c.Conn(), tenantID: t.ID, traceparent: tracing.Traceparent(ctx)}
	err = fn(p)
	if p.results != nil {
		// Reads what is left (up to the Sync's ReadyForQuery); the first error of the
		// pipeline wins.
		if cerr := p.results.Close(); err == nil {
			err = cerr
		}
	}
	if c.Conn().PgConn().TxStatus() != 'I' {
		// Not reached when the pipeline was read to its end (the Sync ends the
		// implicit transaction, committed or rolled back); a connection left in a
		// transaction otherwise is rolled back before it goes back to the pool.
		if _, rerr := c.Conn().Exec(ctx, "ROLLBACK"); rerr != nil && err == nil {
			err = rerr
		}
	}
	return concurrencyConflict(err)
}

// setReadTenantSQL is setTenantSQL for the implicit transaction of ReadInTenant,
// which it also makes read-only (allowed at any point of a transaction: only the
// way back to read-write is refused once a statement has run).
const setReadTenantSQL = "SELECT set_config('kommerce.tenant_id', $1, true), set_config('kommerce.traceparent', $2, true), set_config('transaction_read_only', 'on', true)"

// setReadTenantGenericSQL is setReadTenantSQL that also has the statement run on its
// generic plan (pipelinedRead.genericPlan), as transaction-local as the rest.
const setReadTenantGenericSQL = "SELECT set_config('kommerce.tenant_id', $1, true), set_config('kommerce.traceparent', $2, true), set_config('transaction_read_only', 'on', true), set_config('plan_cache_mode', 'force_generic_plan', true)"

// pipelinedRead is the dbq.DBTX of ReadInTenant: its one statement is sent in a
// batch after the tenant setting, both before the batch's one Sync.
type pipelinedRead struct {
	conn                  *pgx.Conn
	tenantID, traceparent string
	genericPlan           bool // run the statement on its generic plan (plan_cache_mode)
	results               pgx.BatchResults
}

var errSecondStatement = errors.New("ReadInTenant sends one statement")

// send queues the statement, sends the pipeline and reads the results that come
// before the statement's own.
func (p *pipelinedRead) send(ctx context.Context, sql string, args []any) error {
	if p.results != nil {
		return errSecondStatement
	}
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 2)}
	if p.genericPlan {
		b.Queue(setReadTenantGenericSQL, p.tenantID, p.traceparent)
	} else {
		b.Queue(setReadTenantSQL, p.tenantID, p.traceparent)
	}
	b.Queue(sql, args...)
	p.results = p.conn.SendBatch(ctx, b)
	if _, err := p.results.Exec(); err != nil {
		return fmt.Errorf("bind transaction to tenant: %w", err)
	}
	return nil
}

// Exec implements dbq.DBTX.
func (p *pipelinedRead) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := p.send(ctx, sql, args); err != nil {
		return pgconn.CommandTag{}, err
	}
	return p.results.Exec()
}

// Query implements dbq.DBTX.
func (p *pipelinedRead) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := p.send(ctx, sql, args); err != nil {
		return nil, err
	}
	return p.results.Query()
}

// QueryRow implements dbq.DBTX.
func (p *pipelinedRead) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := p.send(ctx, sql, args); err != nil {
		return errRow{err}
	}
	return p.results.QueryRow()
}

// errRow is a pgx.Row whose Scan reports an error that came before the row.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// concurrencyConflict turns a deadlock or a serialization failure into a conflict the
// client may retry (409) rather than an internal error: the transaction was rolled
// back whole, and what collided was another request, not a bug. Methods whose
// statements can collide this way lock in a fixed order (or retry, like Checkout) so
// this is a last resort; the PostgreSQL error stays in the chain for them.
func concurrencyConflict(err error) error {
	if code, _ := pgCode(err); code != pgDeadlock && code != pgSerializationFailure {
		return err
	}
	return conflictError{cause: err, conflict: apiserver.Errorf(apiserver.ErrConflict, "A concurrent request changed the same data; retry.")}
}

// conflictError is an apiserver conflict that still unwraps to its PostgreSQL cause.
type conflictError struct {
	cause    error
	conflict *apiserver.Error
}

func (e conflictError) Error() string   { return e.conflict.Error() + ": " + e.cause.Error() }
func (e conflictError) Unwrap() []error { return []error{e.conflict, e.cause} }

// AsPlatform runs fn in one transaction that may see every tenant's rows; only for
// registry lookups and administration.
func (db *DB) AsPlatform(ctx context.Context, fn func(q *dbq.Queries) error) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
			return fmt.Errorf("enter platform mode: %w", err)
		}
		return fn(dbq.New(tx))
	})
}

// PostgreSQL error codes this package turns into domain errors.
const (
	pgUniqueViolation      = "23505"
	pgForeignKeyViolation  = "23503"
	pgCheckViolation       = "23514"
	pgInvalidText          = "22P02"
	pgDeadlock             = "40P01"
	pgSerializationFailure = "40001"
)

func pgCode(err error) (string, string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code, pe.ConstraintName
	}
	return "", ""
}

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return apiserver.Errorf(apiserver.ErrNotFound, "No %s with that id.", what)
	}
	if code, _ := pgCode(err); code == pgInvalidText {
		return apiserver.Errorf(apiserver.ErrNotFound, "No %s with that id.", what)
	}
	return err
}
