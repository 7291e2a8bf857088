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
		// A traced request also leaves its traceparent for the transaction: every
		// outbox row it writes takes it as its trace_context (migration 00015), so
		// the relay and the consumers continue this request's trace.
		if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.tenant_id', $1, true), set_config('kommerce.traceparent', $2, true)", t.ID, tracing.Traceparent(ctx)); err != nil {
			return fmt.Errorf("bind transaction to tenant: %w", err)
		}
		return fn(tx, dbq.New(tx), t.ID)
	})
	return concurrencyConflict(err)
}

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
