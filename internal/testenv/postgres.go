package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/internal/db/migrations"
)

// Database is one test's own PostgreSQL database.
type Database struct {
	// Name of the database.
	Name string
	// URL connects as the application role (not a superuser, so row-level security
	// applies to it exactly as in production).
	URL string
	// Pool is open on URL and closed in cleanup.
	Pool *pgxpool.Pool
}

var pgReach reachability

// PostgresURL returns the base URL of the test server, failing or skipping t when it
// does not answer within a few seconds.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := env("KOMMERCE_TEST_DATABASE_URL", DefaultDatabaseURL)
	err := pgReach.check(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	if err != nil {
		Unavailable(t, "postgres", redactURL(base), err)
	}
	return base
}

// NewDatabase creates a database migrated to the latest schema, cloned from a template
// that is built once per schema version, and drops it when the test ends.
func NewDatabase(t testing.TB) *Database {
	t.Helper()
	base := PostgresURL(t)
	tmpl, err := ensureTemplate(base)
	if err != nil {
		t.Fatalf("prepare migrated template database: %v", err)
	}
	return createDatabase(t, base, tmpl)
}

// NewEmptyDatabase creates a database without any migration applied.
func NewEmptyDatabase(t testing.TB) *Database {
	t.Helper()
	return createDatabase(t, PostgresURL(t), "template0")
}

func createDatabase(t testing.TB, base, template string) *Database {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := Name(t, "t", "_")
	if err := adminExec(ctx, base, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", pgx.Identifier{name}.Sanitize(), pgx.Identifier{template}.Sanitize())); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	dbURL := withDatabase(base, name)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", name, err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := dropDatabase(ctx, base, name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return &Database{Name: name, URL: dbURL, Pool: pool}
}

// dropDatabase drops name, terminating whatever is still connected. A drop can race
// with a backend that is still exiting or with an autovacuum worker that PostgreSQL will
// not let an ordinary role terminate (hack/services.sh grants pg_signal_backend for
// that, but a cluster set up by hand may lack it); both pass within moments, so the
// drop is retried a few times before the test is failed for leaking a database.
func dropDatabase(ctx context.Context, base, name string) error {
	stmt := fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", pgx.Identifier{name}.Sanitize())
	return retryDrop(ctx, 100*time.Millisecond, func() error { return adminExec(ctx, base, stmt) })
}

// dropAttempts is how often a drop is tried: with waits doubling from 100 ms, about
// three seconds in all.
const dropAttempts = 6

// retryDrop runs drop until it succeeds, fails for a reason waiting cannot mend, or
// dropAttempts are used up, waiting first and then twice as long after each try.
func retryDrop(ctx context.Context, first time.Duration, drop func() error) error {
	var err error
	for attempt := range dropAttempts {
		if err = drop(); err == nil || !transientDropError(err) || attempt == dropAttempts-1 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(first << attempt):
		}
	}
	return err
}

// transientDropError reports whether err is one of the two errors a forced drop gives
// while another process is briefly still in the database: no privilege to signal it
// (42501) or the database still in use (55006).
func transientDropError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "42501" || pgErr.Code == "55006")
}

// ensureTemplate returns the name of a database holding the current schema, creating
// it under an advisory lock so parallel test binaries build it once.
func ensureTemplate(base string) (string, error) {
	sum, err := schemaHash()
	if err != nil {
		return "", err
	}
	name := "kommerce_tmpl_" + sum
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7311)"); err != nil {
		return "", err
	}
	defer func() { _, _ = conn.Exec(context.Background(), "SELECT pg_advisory_unlock(7311)") }()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	if _, err := conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", building)); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE template0", building)); err != nil {
		return "", err
	}
	db, err := migrations.Open(withDatabase(base, building))
	if err != nil {
		return "", err
	}
	err = migrations.Up(ctx, db, slog.New(slog.DiscardHandler))
	_ = db.Close()
	if err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, name)); err != nil {
		return "", err
	}
	return name, nil
}

// schemaHash identifies the embedded migrations, so a changed migration gets a new
// template instead of reusing a stale one.
func schemaHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS(), path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

func adminExec(ctx context.Context, base, sql string) error {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func withDatabase(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Path = "/" + name
	return u.String()
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
