package migrations_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/kommerce/kommerce/internal/db/migrations"
	"github.com/kommerce/kommerce/internal/testenv"
)

const tenant = "00000000-0000-4000-8000-000000000001"

// atVersion5 returns a database migrated up to 00005 (reservations per SKU) with the
// statements of seed applied, and a goose provider to migrate it further.
func atVersion5(t *testing.T, seed string) (*sql.DB, *goose.Provider) {
	t.Helper()
	ctx := context.Background()
	db, p := migratedTo(t, 5)
	tx := platformTx(t, db)
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`
		INSERT INTO tenants (id, slug, name, topic_prefix, index_prefix, redis_prefix) VALUES ('%s', 'shop', 'Shop', 'shop', 'shop', 'shop');
		INSERT INTO carts (tenant_id, id, storefront, currency, token_hash, status)
		SELECT '%[1]s', ('00000000-0000-4000-8000-00000000010' || n)::uuid, 'default', 'EUR', sha256(n::text::bytea), 'checked_out'
		FROM generate_series(1, 5) n;
		INSERT INTO orders (tenant_id, id, storefront, cart_id, currency, subtotal, shipping, tax, total, status)
		SELECT '%[1]s', ('00000000-0000-4000-8000-00000000020' || n)::uuid, 'default', ('00000000-0000-4000-8000-00000000010' || n)::uuid,
			'EUR', 100, 0, 0, 100, 'pending_payment'
		FROM generate_series(1, 5) n;
		`, tenant)+seed); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return db, p
}

// platformTx begins a transaction that sees every tenant's rows; the caller ends it
// (an open one would block the migrations' ALTER TABLE).
func platformTx(t *testing.T, db *sql.DB) *sql.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT set_config('kommerce.platform', 'on', true)`); err != nil {
		_ = tx.Rollback()
		t.Fatal(err)
	}
	return tx
}

func order(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-00000000020%d", n) }

// rows returns the query's rows as "a b c" strings, in its order.
func rows(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	tx := platformTx(t, db)
	defer func() { _ = tx.Rollback() }()
	rs, err := tx.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out []string
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = fmt.Sprint(v)
		}
		out = append(out, strings.Join(parts, " "))
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// TestWarehouseReservationsMigration migrates reservations taken per SKU (00005) to
// reservations placed in warehouses (00006): oldest first, each in the warehouse with
// most available (ties by name), split when none has enough; the warehouses' reserved
// units then add up to the SKUs'. Down merges them back, and up again places them the
// same way.
func TestWarehouseReservationsMigration(t *testing.T) {
	ctx := context.Background()
	db, p := atVersion5(t, fmt.Sprintf(`
		INSERT INTO stock (tenant_id, sku, on_hand, reserved) VALUES ('%[1]s', 'S1', 10, 10), ('%[1]s', 'S2', 4, 4), ('%[1]s', 'S3', 5, 0);
		INSERT INTO stock_locations (tenant_id, sku, warehouse, on_hand) VALUES
			('%[1]s', 'S1', 'a', 3), ('%[1]s', 'S1', 'b', 5), ('%[1]s', 'S1', 'c', 2), ('%[1]s', 'S2', 'main', 4), ('%[1]s', 'S3', 'main', 5);
		INSERT INTO reservations (tenant_id, order_id, sku, quantity, expires_at, created_at) VALUES
			('%[1]s', '%[2]s', 'S1', 4, now() + interval '1 hour', now() - interval '3 minutes'),
			('%[1]s', '%[3]s', 'S1', 3, NULL, now() - interval '2 minutes'),
			('%[1]s', '%[4]s', 'S1', 3, now() + interval '1 hour', now() - interval '1 minute'),
			('%[1]s', '%[4]s', 'S2', 4, now() + interval '1 hour', now() - interval '1 minute');
		`, tenant, order(1), order(2), order(3)))
	if _, err := p.UpTo(ctx, 6); err != nil {
		t.Fatal(err)
	}
	// Order 1 (oldest): b has most (5) → b 4. Order 2: a 3, b 1, c 2 → a 3. Order 3:
	// c 2, then b 1 → split; its S2 goes to main.
	same(t, "reservations", rows(t, db, `SELECT order_id, sku, warehouse, quantity, expires_at IS NULL FROM reservations ORDER BY order_id, sku, warehouse`), []string{
		order(1) + " S1 b 4 false",
		order(2) + " S1 a 3 true",
		order(3) + " S1 b 1 false",
		order(3) + " S1 c 2 false",
		order(3) + " S2 main 4 false",
	})
	same(t, "warehouses", rows(t, db, `SELECT sku, warehouse, on_hand, reserved FROM stock_locations ORDER BY sku, warehouse`), []string{
		"S1 a 3 3", "S1 b 5 5", "S1 c 2 2", "S2 main 4 4", "S3 main 5 0",
	})

	if _, err := p.Down(ctx); err != nil {
		t.Fatal(err)
	}
	same(t, "reservations after down", rows(t, db, `SELECT order_id, sku, quantity FROM reservations ORDER BY order_id, sku`), []string{
		order(1) + " S1 4", order(2) + " S1 3", order(3) + " S1 3", order(3) + " S2 4",
	})
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	same(t, "warehouses after up again", rows(t, db, `SELECT sku, warehouse, on_hand, reserved FROM stock_locations ORDER BY sku, warehouse`), []string{
		"S1 a 3 3", "S1 b 5 5", "S1 c 2 2", "S2 main 4 4", "S3 main 5 0",
	})
}

// TestWarehouseReservationsMigrationRefusesBrokenData: reservations the warehouses
// cannot hold stop the migration with the SKU named, rather than being guessed, and
// leave the database at 00005.
func TestWarehouseReservationsMigrationRefusesBrokenData(t *testing.T) {
	ctx := context.Background()
	db, p := atVersion5(t, fmt.Sprintf(`
		INSERT INTO stock (tenant_id, sku, on_hand, reserved) VALUES ('%[1]s', 'S1', 6, 6);
		INSERT INTO stock_locations (tenant_id, sku, warehouse, on_hand) VALUES ('%[1]s', 'S1', 'a', 2);
		INSERT INTO reservations (tenant_id, order_id, sku, quantity) VALUES ('%[1]s', '%[2]s', 'S1', 6);
		`, tenant, order(1)))
	_, err := p.UpTo(ctx, 6)
	if err == nil || !strings.Contains(err.Error(), "SKU S1") {
		t.Fatalf("migrating reservations the warehouses lack: %v", err)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != 5 {
		t.Fatalf("version after the failed migration: %d, %v", v, err)
	}
	same(t, "reservations", rows(t, db, `SELECT order_id, sku, quantity FROM reservations`), []string{order(1) + " S1 6"})
}

// migratedTo returns a new empty database migrated up to version, and a goose
// provider to migrate it further.
func migratedTo(t *testing.T, version int64) (*sql.DB, *goose.Provider) {
	t.Helper()
	db, err := migrations.Open(testenv.NewEmptyDatabase(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), version); err != nil {
		t.Fatal(err)
	}
	return db, p
}
