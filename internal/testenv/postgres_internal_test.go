package testenv

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestTransientDropError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "42501"}, true},
		{fmt.Errorf("drop: %w", &pgconn.PgError{Code: "55006"}), true},
		{&pgconn.PgError{Code: "42601"}, false}, // syntax error: retrying cannot help
		{errors.New("connection refused"), false},
		{nil, false},
	} {
		if got := transientDropError(tc.err); got != tc.want {
			t.Errorf("transientDropError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestRetryDrop: a drop refused while a process is briefly in the database is tried
// again, one that fails otherwise is not, and the tries end.
func TestRetryDrop(t *testing.T) {
	refused := &pgconn.PgError{Code: "42501", Message: "must be a member of the role whose process is being terminated"}
	for _, tc := range []struct {
		name      string
		errs      []error // what each try returns; nil after the list
		wantTries int
		wantErr   error
	}{
		{"first try", nil, 1, nil},
		{"refused twice, then dropped", []error{refused, &pgconn.PgError{Code: "55006"}}, 3, nil},
		{"another error is not retried", []error{errors.New("connection refused")}, 1, errors.New("connection refused")},
		{"refused every time", []error{refused, refused, refused, refused, refused, refused, refused}, dropAttempts, refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tries := 0
			err := retryDrop(context.Background(), time.Millisecond, func() error {
				tries++
				if tries <= len(tc.errs) {
					return tc.errs[tries-1]
				}
				return nil
			})
			if tries != tc.wantTries || fmt.Sprint(err) != fmt.Sprint(tc.wantErr) {
				t.Fatalf("%d tries, error %v; want %d tries, error %v", tries, err, tc.wantTries, tc.wantErr)
			}
		})
	}
	// A cancelled context ends the waiting with the last error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tries := 0
	if err := retryDrop(ctx, time.Hour, func() error { tries++; return refused }); !errors.Is(err, refused) || tries != 1 {
		t.Fatalf("cancelled: %d tries, %v", tries, err)
	}
}

// TestDropDatabaseWithOpenConnection drops a database while a session is still in it,
// which is what every test's cleanup does when a pool is slow to let go.
func TestDropDatabaseWithOpenConnection(t *testing.T) {
	base := PostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := Name(t, "t", "_")
	if err := adminExec(ctx, base, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, withDatabase(base, name))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	if err := dropDatabase(ctx, base, name); err != nil {
		t.Fatalf("drop with a session open: %v", err)
	}
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("database %s still exists after the drop", name)
	}
	if err := conn.Ping(ctx); err == nil {
		t.Fatal("the session in the dropped database still answers")
	}
	// Dropping again is not an error: cleanup may run after a test dropped it itself.
	if err := dropDatabase(ctx, base, name); err != nil {
		t.Fatalf("second drop: %v", err)
	}
}
