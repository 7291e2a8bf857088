// Command checkout benchmarks POST /api/v1/carts/{id}/checkout through the whole API
// (HTTP server, gin, validation, idempotency key, order, reservation, outbox) on real
// PostgreSQL, with each reservation strategy in the same run on the same machine:
//
//   - conditional: UPDATE stock ... WHERE on_hand - reserved >= n (the default);
//   - for-update: SELECT ... FOR UPDATE in SKU order, check in Go, then UPDATE;
//   - unsafe: the control — read without a lock, then write the reserved quantity
//     computed from the read; the same transaction without the safety.
//
// Scenarios, measured in interleaved rounds so load from other processes hits every
// strategy alike: "hot" (every buyer takes 1 unit of one SKU) and "spread" (1 unit of
// a random one of -skus SKUs). Then a race per strategy: -race-buyers buyers for the
// last -race-units units of one SKU; the safe strategies must sell exactly those, the
// control must oversell (else the race shows nothing and the run fails).
//
// Carts are created with SQL before measuring (setup is not what is measured). Run it
// through hack/bench/checkout.sh.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/hack/bench/benchsummary"
	"github.com/kommerce/kommerce/internal/server"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var strategies = []postgres.LockStrategy{postgres.LockConditional, postgres.LockForUpdate, postgres.LockUnsafe}

type config struct {
	conc, checkouts, rounds, skus, raceUnits, raceBuyers int
}

func run() error {
	dbURL := flag.String("database-url", os.Getenv("KOMMERCE_DATABASE_URL"), "PostgreSQL URL of a migrated, otherwise unused database")
	var c config
	flag.IntVar(&c.conc, "concurrency", 64, "concurrent buyers (keep-alive clients)")
	flag.IntVar(&c.checkouts, "checkouts", 1500, "checkouts per scenario, strategy and round")
	flag.IntVar(&c.rounds, "rounds", 3, "interleaved rounds")
	flag.IntVar(&c.skus, "skus", 1000, "SKUs of the spread scenario")
	flag.IntVar(&c.raceUnits, "race-units", 50, "units left of the raced SKU")
	flag.IntVar(&c.raceBuyers, "race-buyers", 512, "buyers racing for them")
	poolSize := flag.Int("pool", 32, "PostgreSQL connections of the API")
	fsync := flag.String("fsync", "", "the machine's fsync rate as measured by pg_test_fsync, printed beside the hot-SKU figures")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measured rounds (API and load generator) to this file")
	flag.Parse()

	ctx := context.Background()
	pcfg, err := pgxpool.ParseConfig(*dbURL)
	if err != nil {
		return err
	}
	pcfg.MaxConns = int32(*poolSize)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()

	shops := map[postgres.LockStrategy]*shop{}
	for _, s := range strategies {
		sh, err := newShop(ctx, pool, s, c)
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		defer sh.stop()
		shops[s] = sh
	}
	fmt.Printf("checkout bench: %d concurrent buyers, %d checkouts per scenario, strategy and round, %d rounds, API pool %d\n",
		c.conc, c.checkouts, c.rounds, *poolSize)

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	results := map[string]*result{}
	for round := range c.rounds {
		for _, scenario := range []string{"hot", "spread"} {
			order := slices.Clone(strategies)
			for i := 0; i < round; i++ { // rotate, so no strategy always runs first
				order = append(order[1:], order[0])
			}
			for _, s := range order {
				carts, err := shops[s].carts(ctx, scenario, c.checkouts, c.skus)
				if err != nil {
					return err
				}
				r := shops[s].load(carts, c.conc)
				key := scenario + "/" + string(s)
				if results[key] == nil {
					results[key] = &result{}
				}
				results[key].add(r)
				if r.failed > 0 {
					return fmt.Errorf("%s round %d: %d of %d checkouts failed: %s", key, round, r.failed, len(carts), r.firstError)
				}
			}
		}
	}

	pprof.StopCPUProfile()
	var summary []benchsummary.Result
	fmt.Printf("\n%-8s %-24s %12s %9s %9s %10s\n", "scenario", "strategy", "checkouts/s", "p50", "p99", "vs control")
	for _, scenario := range []string{"hot", "spread"} {
		control := results[scenario+"/"+string(postgres.LockUnsafe)].throughput()
		for _, s := range strategies {
			r := results[scenario+"/"+string(s)]
			fmt.Printf("%-8s %-24s %12.0f %9s %9s %9.2fx\n", scenario, s, r.throughput(), ms(r.pct(50)), ms(r.pct(99)), r.throughput()/control)
		}
		// The safe default against the unsafe control: what never overselling costs.
		r := results[scenario+"/"+string(postgres.LockConditional)]
		summary = append(summary, benchsummary.Result{
			Target:   fmt.Sprintf("checkout throughput, %s, safe conditional reservation vs the unsafe control", map[string]string{"hot": "one hot SKU in 3 warehouses", "spread": fmt.Sprintf("%d SKUs", c.skus)}[scenario]),
			Goal:     ">= 0.8x",
			Measured: fmt.Sprintf("%.2fx (%.0f vs %.0f checkouts/s, p99 %s)", r.throughput()/control, r.throughput(), control, ms(r.pct(99))),
			Met:      r.throughput()/control >= 0.8,
		})
	}
	if *fsync != "" {
		fmt.Printf("disk: %s (pg_test_fsync; one commit per checkout, and a hot SKU's row stays locked through its commit)\n", *fsync)
	}

	fmt.Printf("\nrace: %d buyers for the last %d units of one SKU\n", c.raceBuyers, c.raceUnits)
	var bad []string
	var raceSummary string
	for _, s := range strategies {
		sold, refused, check, consistent, err := shops[s].race(ctx, c.raceUnits, c.raceBuyers, c.conc)
		if err != nil {
			return fmt.Errorf("race %s: %w", s, err)
		}
		fmt.Printf("%-24s sold %4d units, refused %4d, oversold %4d; %s\n", s, sold, refused, sold-c.raceUnits, check)
		raceSummary += fmt.Sprintf("%s%s sold %d, oversold %d", map[bool]string{true: "; "}[raceSummary != ""], s, sold, max(0, sold-c.raceUnits))
		switch {
		case s == postgres.LockUnsafe && sold <= c.raceUnits:
			bad = append(bad, "the unsafe control did not oversell: the race cannot tell safe from unsafe on this run")
		case s != postgres.LockUnsafe && sold != c.raceUnits:
			bad = append(bad, fmt.Sprintf("%s sold %d of %d units", s, sold, c.raceUnits))
		case s != postgres.LockUnsafe && !consistent:
			bad = append(bad, fmt.Sprintf("%s: %s", s, check))
		}
	}
	summary = append(summary, benchsummary.Result{
		Target:   fmt.Sprintf("race: %d buyers for the last %d units, safe strategies", c.raceBuyers, c.raceUnits),
		Goal:     fmt.Sprintf("exactly %d sold, stock = warehouses = reservations; the control oversells", c.raceUnits),
		Measured: raceSummary,
		Met:      len(bad) == 0,
	})
	for _, r := range summary {
		benchsummary.Print(os.Stdout, r)
	}
	if len(bad) > 0 {
		return errors.New(fmt.Sprint(bad))
	}
	return nil
}

// shop is one strategy's API on a loopback listener with its own tenant and catalog.
type shop struct {
	strategy postgres.LockStrategy
	pool     *pgxpool.Pool
	tenant   *apiserver.Tenant
	base     string
	stop     func()
	client   *http.Client
	hot      string
	spread   []string
}

func newShop(ctx context.Context, pool *pgxpool.Pool, s postgres.LockStrategy, c config) (*shop, error) {
	st, err := stack.New(stack.Options{Pool: pool, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		UserLimit: apiserver.RateLimit{Rate: 1_000_000, Burst: 1_000_000}, TenantLimit: apiserver.RateLimit{Rate: 1_000_000, Burst: 1_000_000},
		// All orders are one shopper's (one e-mail, one address): the hoarding caps are
		// off, so checkout takes no per-shopper lock and the bench measures reservations.
		Commerce: stack.CommerceOptions{Lock: s, Defaults: apiserver.CheckoutDefaults{
			Hoarding: apiserver.HoardPolicy{MaxUnitsGuest: -1, MaxUnitsCustomer: -1, MaxUnpaid: -1, MaxUnpaidPerAddress: -1}}}})
	if err != nil {
		return nil, err
	}
	slug := map[postgres.LockStrategy]string{postgres.LockConditional: "bench-conditional", postgres.LockForUpdate: "bench-for-update",
		postgres.LockUnsafe: "bench-unsafe"}[s]
	t, err := st.Tenants.CreateTenant(ctx, apiserver.TenantCreate{Slug: slug, Name: "Checkout bench " + string(s)})
	if err != nil {
		return nil, err
	}
	sh := &shop{strategy: s, pool: pool, tenant: t, hot: "HOT",
		client: &http.Client{Transport: &http.Transport{MaxIdleConns: c.conc, MaxIdleConnsPerHost: c.conc, DisableCompression: true}}}
	tctx := apiserver.NewContextWithTenant(ctx, t)
	// The catalog: the hot SKU and the spread SKUs, 100 variants a product.
	skus := []string{sh.hot}
	for i := range c.skus {
		sh.spread = append(sh.spread, fmt.Sprintf("SPREAD-%05d", i))
	}
	skus = append(skus, sh.spread...)
	for i := 0; i < len(skus); i += apiserver.MaxVariants {
		var vs []apiserver.Variant
		for _, sku := range skus[i:min(i+apiserver.MaxVariants, len(skus))] {
			vs = append(vs, apiserver.Variant{SKU: sku, Prices: []apiserver.Price{{Currency: "EUR", Amount: 1999}}})
		}
		name, status := fmt.Sprintf("Bench product %d", i), apiserver.StatusPublished
		if _, err := st.Catalog.CreateProduct(tctx, apiserver.ProductInput{Name: &name, Status: &status, Variants: &vs}); err != nil {
			return nil, err
		}
	}
	onHand := map[string]int64{sh.hot: apiserver.MaxOnHand}
	for _, sku := range sh.spread {
		onHand[sku] = 1_000_000
	}
	inv := &postgres.InventoryService{Commerce: &postgres.Commerce{DB: st.DB}}
	if _, err := inv.SeedStock(tctx, "main", "bench", onHand); err != nil {
		return nil, err
	}
	// The hot SKU is stocked in three warehouses, so every checkout places its unit
	// among them (the most available first); the spread SKUs have one.
	for _, w := range []string{"east", "west"} {
		if _, err := inv.SetStock(tctx, sh.hot, apiserver.StockSet{Warehouse: w, OnHand: apiserver.MaxOnHand, Reason: "bench"}); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	srv := server.New(server.Options{Name: "api", Handler: st.Handler, Registry: prometheus.NewRegistry()})
	go func() { _ = srv.Serve(sctx, ln); close(done) }()
	sh.base, sh.stop = "http://"+ln.Addr().String(), func() { cancel(); <-done }
	return sh, nil
}

type cart struct{ id, token string }

// carts creates n guest carts of one line (1 unit) with SQL: the hot SKU, a random
// spread SKU, or the race SKU.
func (s *shop) carts(ctx context.Context, scenario string, n, skus int) ([]cart, error) {
	out := make([]cart, n)
	ids, hashes, lines := make([]string, n), make([][]byte, n), make([]string, n)
	for i := range out {
		out[i] = cart{id: newID(), token: "ct_bench_" + rand.Text()}
		h := sha256.Sum256([]byte(out[i].token))
		ids[i], hashes[i] = out[i].id, h[:]
		switch scenario {
		case "hot":
			lines[i] = s.hot
		case "spread":
			lines[i] = s.spread[mrand.IntN(len(s.spread))]
		default:
			lines[i] = scenario
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.tenant_id', $1, true)", s.tenant.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO carts (tenant_id, id, storefront, currency, token_hash)
			SELECT $1, unnest($2::uuid[]), 'default', 'EUR', unnest($3::bytea[])`, s.tenant.ID, ids, hashes); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO cart_lines (tenant_id, cart_id, sku, quantity)
			SELECT $1, unnest($2::uuid[]), unnest($3::text[]), 1`, s.tenant.ID, ids, lines)
		return err
	})
	return out, err
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

type measured struct {
	wall       time.Duration
	lat        []time.Duration
	statuses   map[int]int
	failed     int
	firstError string
}

// load checks out every cart with conc concurrent buyers.
func (s *shop) load(carts []cart, conc int) measured {
	work := make(chan cart)
	var mu sync.Mutex
	r := measured{statuses: map[int]int{}}
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				t0 := time.Now()
				status, body, err := s.checkout(c)
				d := time.Since(t0)
				mu.Lock()
				r.lat = append(r.lat, d)
				r.statuses[status]++
				if err != nil || (status != 201 && status != 409) {
					r.failed++
					if r.firstError == "" {
						r.firstError = fmt.Sprintf("status %d %s %v", status, body, err)
					}
				}
				mu.Unlock()
			}
		}()
	}
	for _, c := range carts {
		work <- c
	}
	close(work)
	wg.Wait()
	r.wall = time.Since(start)
	return r
}

func (s *shop) checkout(c cart) (int, []byte, error) {
	req, err := http.NewRequest("POST", s.base+"/api/v1/carts/"+c.id+"/checkout", bytes.NewReader([]byte(`{"email":"bench@example.test"}`)))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Kommerce-Tenant", s.tenant.Slug)
	req.Header.Set("X-Cart-Token", c.token)
	req.Header.Set("Idempotency-Key", c.id)
	res, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// race puts units of a fresh SKU on sale, lets buyers race for them, and reports
// what was sold (orders placed) against what the database holds.
func (s *shop) race(ctx context.Context, units, buyers, conc int) (sold, refused int, check string, consistent bool, err error) {
	sku := fmt.Sprintf("RACE-%d", time.Now().UnixNano()%1_000_000)
	st, err := stack.New(stack.Options{Pool: s.pool, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return 0, 0, "", false, err
	}
	tctx := apiserver.NewContextWithTenant(ctx, s.tenant)
	name, status := "Race "+sku, apiserver.StatusPublished
	vs := []apiserver.Variant{{SKU: sku, Prices: []apiserver.Price{{Currency: "EUR", Amount: 100}}}}
	if _, err := st.Catalog.CreateProduct(tctx, apiserver.ProductInput{Name: &name, Status: &status, Variants: &vs}); err != nil {
		return 0, 0, "", false, err
	}
	// The units are split over three warehouses.
	inv := &postgres.InventoryService{Commerce: &postgres.Commerce{DB: st.DB}}
	if _, err := inv.SeedStock(tctx, "main", "race", map[string]int64{sku: int64(units - 2*(units/3))}); err != nil {
		return 0, 0, "", false, err
	}
	for _, w := range []string{"east", "west"} {
		if _, err := inv.SetStock(tctx, sku, apiserver.StockSet{Warehouse: w, OnHand: int64(units / 3), Reason: "race"}); err != nil {
			return 0, 0, "", false, err
		}
	}
	carts, err := s.carts(ctx, sku, buyers, 0)
	if err != nil {
		return 0, 0, "", false, err
	}
	r := s.load(carts, conc)
	if r.failed > 0 {
		return 0, 0, "", false, fmt.Errorf("%d failed: %s", r.failed, r.firstError)
	}
	var reserved, placed, held int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.tenant_id', $1, true)", s.tenant.ID); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT s.reserved,
				(SELECT sum(l.reserved) FROM stock_locations l WHERE l.tenant_id = s.tenant_id AND l.sku = s.sku),
				coalesce((SELECT sum(quantity) FROM reservations r WHERE r.tenant_id = s.tenant_id AND r.sku = s.sku), 0)
			FROM stock s WHERE s.tenant_id = $1 AND s.sku = $2`, s.tenant.ID, sku).Scan(&reserved, &placed, &held)
	})
	if err != nil {
		return 0, 0, "", false, err
	}
	check = fmt.Sprintf("stock says %d reserved, its warehouses %d, the orders' reservations hold %d", reserved, placed, held)
	return r.statuses[201], r.statuses[409], check, reserved == placed && placed == held, nil
}

// result accumulates the rounds of one scenario and strategy.
type result struct {
	n    int
	wall time.Duration
	lat  []time.Duration
}

func (r *result) add(x measured) {
	r.n += len(x.lat)
	r.wall += x.wall
	r.lat = append(r.lat, x.lat...)
}

func (r *result) throughput() float64 { return float64(r.n) / r.wall.Seconds() }

func (r *result) pct(p float64) time.Duration {
	s := slices.Clone(r.lat)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[int(math.Ceil(p/100*float64(len(s))))-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
