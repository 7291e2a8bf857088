package main

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres"
)

// runTarget steps the scenario's load against an API that is already running — `make
// run`'s, typically — instead of a stack of its own: nothing is started, proxied or
// stalled. With -database-url (the database that API uses) it first tops up the
// stock of every SKU the shoppers may buy, so that selling out (a 409, counted as an
// error) is not what gets measured, and afterwards checks that every order answered
// 2xx is in the database with its event. The API's per-client-address limit still
// applies: every simulated shopper sends its own X-Forwarded-For, which the API only
// believes when started with KOMMERCE_TRUSTED_PROXIES=127.0.0.1 (load.sh -target
// says so), otherwise all shoppers share one address and are limited together.
func runTarget(ctx context.Context, c *config, sc *Scenario) error {
	base := strings.TrimRight(c.target, "/")
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-target %q: want a base URL such as http://127.0.0.1:8080", c.target)
	}
	cat, err := loadCatalog(ctx, base, c.tenant)
	if err != nil {
		return err
	}
	if err := waitSearchable(ctx, base, c.tenant, cat.Terms[0]); err != nil {
		return err
	}
	var pool *pgxpool.Pool
	if c.dbURL != "" {
		if pool, err = pgxpool.New(ctx, c.dbURL); err != nil {
			return err
		}
		defer pool.Close()
		n, err := topUpStock(ctx, pool, c.tenant, cat)
		if err != nil {
			return fmt.Errorf("stock: %w", err)
		}
		fmt.Printf("stock of %d SKUs set to %d in warehouse main\n", n, loadStock)
		if n > 0 { // let the target's relay and indexer take in those events before measuring
			if err := waitOutboxDrained(ctx, pool, c.tenant); err != nil {
				return err
			}
		}
	} else {
		fmt.Println("no -database-url: stock is not topped up (sold-out SKUs answer 409) and orders are not checked")
	}
	pid := c.apiPID
	if pid == 0 {
		port, _ := strconv.Atoi(u.Port())
		if port == 0 && u.Scheme == "http" {
			port = 80
		}
		pid = pidListening(port)
	}
	fmt.Printf("load bench against %s (tenant %s, API pid %d), %d cores, %s; catalog %d published products (%d SKUs), %d categories, %d search terms; scenario %s; client deadline %s; load average before: %s\n",
		base, c.tenant, pid, numCPU(), goVersion(), len(cat.Products), countSKUs(cat), len(cat.Categories), len(cat.Terms), c.scenario, c.timeout, loadAvg())
	sh := newShop(sc, cat, base, c.tenant, c.whsec, uint64(time.Now().UnixNano()))
	d := &driver{shop: sh, timeout: c.timeout}
	steps, best, err := stepRates(ctx, c, d, newProcSet(pid, -1), sc)
	if err != nil {
		return err
	}
	if limited := limitedCount(steps); limited > 0 {
		fmt.Printf("%d requests were answered 429: the API limited them (start it with KOMMERCE_TRUSTED_PROXIES=127.0.0.1 so each shopper counts as its own client, and KOMMERCE_TENANT_RATE / KOMMERCE_TENANT_BURST above the rates stepped)\n", limited)
	}
	fmt.Printf("API search and autocomplete cache, whole run: %s\n", searchCache(ctx, base))
	var loss lossReport
	if pool != nil {
		if loss, err = checkLoss(ctx, pool, c.tenant, sh.answeredOrders()); err != nil {
			return fmt.Errorf("loss check: %w", err)
		}
		// Orders of earlier runs and of other clients are in the same database.
		fmt.Printf("loss check (this run's answered orders only): %d answered 2xx, %d missing, %d without their order.created event\n", loss.Answered, loss.Missing, loss.NoEvent)
	}
	met := "not met"
	if best >= 1000 {
		met = "met"
	}
	fig := fmt.Sprintf("%d req/s (steps %v, %s each)", best, c.rates, c.step)
	if best == 0 {
		fig = fmt.Sprintf("none of %v req/s (first step: p95 %.0f ms, %d errors)", c.rates, steps[0].All.P95, steps[0].All.Errors)
	}
	fmt.Printf("BENCHSUMMARY\tmixed load against %s: highest rate with p95 < 200 ms and 0 errors\t>= 1000 req/s\t%s\t%s\n", base, fig, met)
	return nil
}

// loadStock is what topUpStock sets every SKU to: more than any run sells.
const loadStock = 1_000_000

// topUpStock sets every SKU of cat to loadStock units in warehouse main, through the
// same inventory service the API uses (each change recorded as an adjustment, with
// its outbox event).
func topUpStock(ctx context.Context, pool *pgxpool.Pool, slug string, cat *catalog) (int, error) {
	db := postgres.NewDB(pool)
	r, err := (&postgres.TenantService{DB: db}).TenantBySlug(ctx, slug)
	if err != nil {
		return 0, err
	}
	tctx := apiserver.NewContextWithTenant(ctx, r.Tenant)
	inv := &postgres.InventoryService{Commerce: &postgres.Commerce{DB: db}}
	n := 0
	for _, p := range cat.Products {
		for _, sku := range p.SKUs {
			if st, err := inv.GetStock(tctx, sku); err == nil && st.Available >= loadStock/2 {
				continue // topped up by an earlier run: no write, no event to index
			}
			if _, err := inv.SetStock(tctx, sku, apiserver.StockSet{Warehouse: "main", OnHand: loadStock, Reason: "load bench"}); err != nil {
				return n, fmt.Errorf("%s: %w", sku, err)
			}
			n++
		}
	}
	return n, nil
}

// waitOutboxDrained waits (up to two minutes) until the tenant's outbox has nothing
// left to relay.
func waitOutboxDrained(ctx context.Context, pool *pgxpool.Pool, slug string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var left int64
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL
				AND tenant_id = (SELECT id FROM tenants WHERE slug = $1)`, slug).Scan(&left)
		})
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			fmt.Printf("outbox still holds %d unrelayed events after 2 minutes; measuring anyway\n", left)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// limitedCount is how many answers of the steps were 429.
func limitedCount(steps []stepResult) int {
	n := 0
	for _, s := range steps {
		n += s.Limited
	}
	return n
}

// pidListening finds the process listening on TCP port (IPv4 or IPv6) from /proc, or
// 0: the socket's inode in /proc/net/tcp*, then the process holding it.
func pidListening(port int) int {
	if port <= 0 {
		return 0
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		file, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			// local_address is hex ip:port; state 0A is LISTEN; the inode is field 9.
			if len(fs) < 10 || fs[3] != "0A" {
				continue
			}
			i := strings.LastIndexByte(fs[1], ':')
			if p, err := strconv.ParseInt(fs[1][i+1:], 16, 32); err == nil && int(p) == port {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
		file.Close()
	}
	if len(inodes) == 0 {
		return 0
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if link, err := os.Readlink(fd); err == nil && inodes[link] {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid
		}
	}
	return 0
}
