package postgres

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/testenv"
)

// TestDeadlockIsAConflict: two tenant transactions that take two locks in opposite
// orders deadlock for sure (each holds its first lock before asking for its second);
// PostgreSQL aborts one, and InTenant answers it as a conflict the client may retry
// (409) — not an internal error (500) — with the PostgreSQL error still in the chain.
func TestDeadlockIsAConflict(t *testing.T) {
	db := NewDB(testenv.NewDatabase(t).Pool)
	ctx := apiserver.NewContextWithTenant(context.Background(), &apiserver.Tenant{ID: "00000000-0000-0000-0000-000000000001", Slug: "shop"})
	var held sync.WaitGroup
	held.Add(2)
	errs := make([]error, 2)
	var done sync.WaitGroup
	for i, order := range [][2]int64{{1, 2}, {2, 1}} {
		done.Add(1)
		go func() {
			defer done.Done()
			first := true
			errs[i] = db.InTenant(ctx, false, func(tx pgx.Tx, _ *dbq.Queries, _ string) error {
				for _, k := range order {
					if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", k); err != nil {
						return err
					}
					if first {
						first = false
						held.Done()
						held.Wait()
					}
				}
				return nil
			})
		}()
	}
	done.Wait()
	conflicts := 0
	for _, err := range errs {
		switch {
		case err == nil:
		case apiserver.ErrorCode(err) == apiserver.ErrConflict:
			if code, _ := pgCode(err); code != pgDeadlock {
				t.Errorf("conflict without its cause: %v", err)
			}
			conflicts++
		default:
			t.Errorf("deadlock answered as %s: %v", apiserver.ErrorCode(err), err)
		}
	}
	if conflicts != 1 {
		t.Fatalf("%d conflicts, want 1 (errors %v)", conflicts, errs)
	}
}
