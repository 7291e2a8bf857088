package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/testenv"
)

// store is a tenant with an admin, a customer and published products for the commerce
// tests.
type store struct {
	e        *apiEnv
	t        *apiserver.Tenant
	slug     string
	admin    string
	customer string
}

func (e *apiEnv) store(slug string) *store {
	e.t.Helper()
	t := e.tenant(slug)
	return &store{e: e, t: t, slug: slug, admin: e.user(t, "admin@"+slug+".test", apiserver.RoleAdmin),
		customer: e.user(t, "jane@"+slug+".test", apiserver.RoleCustomer)}
}

// product creates a published product with one SKU at eur cents (and usd when > 0)
// and puts stock of it in warehouse "main".
func (s *store) product(sku string, eur, usd, stock int64) string {
	s.e.t.Helper()
	prices := []any{map[string]any{"currency": "EUR", "amount": eur}}
	if usd > 0 {
		prices = append(prices, map[string]any{"currency": "USD", "amount": usd})
	}
	id := s.e.do("POST", "/api/v1/products", s.slug, s.admin, map[string]any{"name": "Product " + sku, "status": "published",
		"variants": []any{map[string]any{"sku": sku, "prices": prices}}}).want(201, "").str("id")
	if stock > 0 {
		s.setStock(sku, "main", stock)
	}
	return id
}

func (s *store) setStock(sku, warehouse string, n int64) *resp {
	s.e.t.Helper()
	return s.e.do("PUT", "/api/v1/stock/"+sku, s.slug, s.admin, map[string]any{"warehouse": warehouse, "on_hand": n}).want(200, "")
}

func (s *store) stock(sku string) apiserver.Stock {
	s.e.t.Helper()
	var st apiserver.Stock
	s.e.do("GET", "/api/v1/stock/"+sku, s.slug, s.admin, nil).want(200, "").decode(&st)
	return st
}

// guestCart starts a guest cart and returns its id and token.
func (s *store) guestCart() (string, string) {
	s.e.t.Helper()
	r := s.e.do("POST", "/api/v1/carts", s.slug, "", nil).want(201, "")
	if r.str("token") == "" {
		s.e.t.Fatalf("guest cart without token: %s", r.raw)
	}
	return r.str("id"), r.str("token")
}

// add puts quantity units of sku into a guest cart (token) or a customer's cart
// (auth); it returns the answer for the caller to check.
func (s *store) add(cart, token, auth, sku string, quantity int64) *resp {
	s.e.t.Helper()
	return s.e.do("POST", "/api/v1/carts/"+cart+"/items", s.slug, auth, map[string]any{"sku": sku, "quantity": quantity}, cartHeader(token)...)
}

func (s *store) checkout(cart, token, auth, key string, body any) *resp {
	s.e.t.Helper()
	h := cartHeader(token)
	if key != "" {
		h = append(h, "Idempotency-Key", key)
	}
	return s.e.do("POST", "/api/v1/carts/"+cart+"/checkout", s.slug, auth, body, h...)
}

// buyAsGuest fills a guest cart with the lines and checks it out; it returns the
// order id.
func (s *store) buyAsGuest(lines map[string]int64) string {
	s.e.t.Helper()
	cart, token := s.guestCart()
	for sku, q := range lines {
		s.add(cart, token, "", sku, q).want(201, "")
	}
	return s.checkout(cart, token, "", "key-"+cart, map[string]any{"email": "guest@example.test"}).want(201, "").str("id")
}

func cartHeader(token string) []string {
	if token == "" {
		return nil
	}
	return []string{"X-Cart-Token", token}
}

func (r *resp) decode(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.raw, v); err != nil {
		r.t.Fatalf("%s: decode %s: %v", r.req, r.raw, err)
	}
}

func (r *resp) order() apiserver.Order {
	r.t.Helper()
	var o apiserver.Order
	r.decode(&o)
	return o
}

func (r *resp) cart() apiserver.Cart {
	r.t.Helper()
	var c apiserver.Cart
	r.decode(&c)
	return c
}

// platform runs fn in a transaction that sees every tenant's rows.
func (e *apiEnv) platform(fn func(tx pgx.Tx)) {
	e.t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, e.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
			return err
		}
		fn(tx)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// scalar reads one value with platform rights.
func (e *apiEnv) scalar(dst any, sql string, args ...any) {
	e.t.Helper()
	e.platform(func(tx pgx.Tx) {
		if err := tx.QueryRow(context.Background(), sql, args...).Scan(dst); err != nil {
			e.t.Fatalf("%s: %v", sql, err)
		}
	})
}

// checkStockInvariants asserts what must hold for every SKU of a tenant whatever
// happened: reserved is exactly what the reservations hold, nothing is reserved
// beyond what is on hand, on hand and reserved are the warehouses' sums, each
// warehouse's reserved is what the reservations placed there hold, every
// reservation belongs to an order that holds stock, and every order that holds
// stock has reservations for each of its item lines, of the line's quantity in all.
// A warehouse's reserved between zero and its on hand is not checked: the constraint
// stock_locations_reserved_within_on_hand makes any other value impossible.
func (e *apiEnv) checkStockInvariants(tenantID string) {
	e.t.Helper()
	checks := map[string]string{
		"reserved differs from the reservations": `SELECT count(*) FROM stock s WHERE s.tenant_id = $1 AND s.reserved <>
			coalesce((SELECT sum(r.quantity) FROM reservations r WHERE r.tenant_id = s.tenant_id AND r.sku = s.sku), 0)`,
		"reserved above on hand": `SELECT count(*) FROM stock WHERE tenant_id = $1 AND reserved > on_hand`,
		"on hand differs from the warehouses": `SELECT count(*) FROM stock s WHERE s.tenant_id = $1 AND s.on_hand <>
			coalesce((SELECT sum(l.on_hand) FROM stock_locations l WHERE l.tenant_id = s.tenant_id AND l.sku = s.sku), 0)`,
		"reservation of an order that holds no stock": `SELECT count(*) FROM reservations r JOIN orders o ON o.tenant_id = r.tenant_id AND o.id = r.order_id
			WHERE r.tenant_id = $1 AND o.status NOT IN ('pending_payment', 'paid')`,
		"order line without its reservation": `SELECT count(*) FROM order_lines l JOIN orders o ON o.tenant_id = l.tenant_id AND o.id = l.order_id
			WHERE l.tenant_id = $1 AND l.kind = 'item' AND o.status IN ('pending_payment', 'paid') AND l.quantity <>
			coalesce((SELECT sum(r.quantity) FROM reservations r WHERE r.tenant_id = l.tenant_id AND r.order_id = l.order_id AND r.sku = l.sku), 0)`,
		"reserved differs from the warehouses' reserved": `SELECT count(*) FROM stock s WHERE s.tenant_id = $1 AND s.reserved <>
			coalesce((SELECT sum(l.reserved) FROM stock_locations l WHERE l.tenant_id = s.tenant_id AND l.sku = s.sku), 0)`,
		"a warehouse's reserved differs from its reservations": `SELECT count(*) FROM stock_locations l WHERE l.tenant_id = $1 AND l.reserved <>
			coalesce((SELECT sum(r.quantity) FROM reservations r WHERE r.tenant_id = l.tenant_id AND r.sku = l.sku AND r.warehouse = l.warehouse), 0)`,
		"order total not the sum of its lines": `SELECT count(*) FROM orders o WHERE o.tenant_id = $1 AND o.total <>
			(SELECT sum(amount) FROM order_lines l WHERE l.tenant_id = o.tenant_id AND l.order_id = o.id)`,
	}
	for what, sql := range checks {
		var n int
		e.scalar(&n, sql, tenantID)
		if n != 0 {
			e.t.Errorf("%s: %d rows", what, n)
		}
	}
}

// checkOutbox reads every outbox row the test's API wrote, for every tenant, and
// fails the test unless each one matches its contract in internal/events: a
// registered type, the contract's aggregate type, data decoded strictly into the
// contract's Go type. The rows written by SQL (stock.changed from the reservation
// function and the stock statements) are checked here as much as those made in Go.
//
// It opens its own connection: some tests close the API's pool on purpose.
func (e *apiEnv) checkOutbox() {
	e.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.db.URL)
	if err != nil {
		e.t.Fatalf("outbox check: %v", err)
	}
	defer conn.Close(ctx)
	n := 0
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT event_type, aggregate_type, payload FROM outbox ORDER BY id")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var typ, agg string
			var b []byte
			if err := rows.Scan(&typ, &agg, &b); err != nil {
				return err
			}
			n++
			c, ok := events.Lookup(events.Type(typ))
			if !ok {
				e.t.Errorf("outbox holds %s, a type with no contract: %s", typ, b)
				continue
			}
			if agg != c.Aggregate {
				e.t.Errorf("outbox %s has aggregate type %q, its contract says %q", typ, agg, c.Aggregate)
			}
			if _, err := events.Decode(c.Type, b); err != nil {
				e.t.Errorf("outbox: %v: %s", err, b)
			}
		}
		return rows.Err()
	})
	if err != nil {
		e.t.Fatalf("outbox check: %v", err)
	}
	e.t.Logf("outbox: %d events checked against their contracts", n)
}

// outboxEvents returns the payloads of a tenant's events of one type, oldest first,
// each checked against its contract in internal/events first.
func (e *apiEnv) outboxEvents(tenantID, typ string) [][]byte {
	e.t.Helper()
	var out [][]byte
	e.platform(func(tx pgx.Tx) {
		rows, err := tx.Query(context.Background(), "SELECT payload FROM outbox WHERE tenant_id = $1 AND event_type = $2 ORDER BY id", tenantID, typ)
		if err != nil {
			e.t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				e.t.Fatal(err)
			}
			if _, err := events.Decode(events.Type(typ), b); err != nil {
				e.t.Fatalf("outbox: %v: %s", err, b)
			}
			out = append(out, b)
		}
	})
	return out
}

// startShopAPI starts the API with a pool of conns connections on its test database,
// so concurrent checkouts really run concurrently in PostgreSQL.
func startShopAPI(t *testing.T, conns int, mod func(*stack.Options)) *apiEnv {
	t.Helper()
	e := &apiEnv{t: t, db: testenv.NewDatabase(t), redis: testenv.NewRedis(t)}
	cfg, err := pgxpool.ParseConfig(e.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = int32(conns)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e.start(func(o *stack.Options) {
		o.Pool = pool
		if mod != nil {
			mod(o)
		}
	})
	return e
}

// client is an HTTP client with enough idle connections for the concurrency tests.
var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}

func sku(prefix string, i int) string { return fmt.Sprintf("%s-%03d", prefix, i) }
