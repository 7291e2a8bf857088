// Command load is the seed's load target (issue 18, target 3): a mixed shop workload
// driven by vegeta (as a library) against the real stack on this machine — `kommerce
// api` and `kommerce ingest` as separate processes, PostgreSQL, Redis, Kafka,
// Elasticsearch and stripe-mock from hack/services.sh. Run it through
// hack/bench/load.sh, which makes a fresh database and tenant with the demo catalog.
//
// The workload is scenario.json: sessions of shoppers (one client address each) that
// browse and search (product pages picked by Zipf over the catalog, category lists,
// search, autocomplete), some fill a guest cart, some of those check out with an
// Idempotency-Key and pay (a PaymentIntent on stripe-mock, then Stripe's signed
// payment_intent.succeeded delivery), with think times between steps (shop.Targeter).
//
// It steps the rate up (-rates, each step -step long) and reports, per step, p50/p95/
// p99/max latency, errors, the mix, the latency per class and the CPU of each process;
// the highest rate with p95 < 200 ms and no error is the figure. Then, at a rate that
// passed (-stall-rate, default half the best), it stalls PostgreSQL and then Redis for
// -stall (toxiproxy, in this process, sits between the API and both: a latency toxic
// holds every byte for -stall while it is on) and reports errors, the longest request
// and the recovery time (until p95 over 1-s windows is back under 200 ms). At the end
// it checks nothing was lost: every order a checkout answered 2xx exists with its
// order.created event in the outbox, and every order in the database was answered.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/demo"
	"github.com/kommerce/kommerce/apiserver/postgres"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

type config struct {
	scenario, kommerce, dbURL, redisURL, esURL, brokers, stripeURL, tenant, whsec string
	rates                                                                         []int
	step, warmup, stall, timeout                                                  time.Duration
	stallRate                                                                     int
	stallGap                                                                      time.Duration
	tenantRate                                                                    int
	outDir                                                                        string
	perfOut                                                                       string
	profileRate                                                                   int
	target                                                                        string // an API already running (e.g. make run's); nothing is started
	apiPID                                                                        int
}

func parseFlags() (*config, error) {
	c := &config{}
	short := os.Getenv("BENCH_SHORT") == "1"
	flag.StringVar(&c.scenario, "scenario", "hack/bench/load/scenario.json", "the workload")
	flag.StringVar(&c.kommerce, "kommerce", "bin/kommerce", "the kommerce binary to start api and ingest from")
	flag.StringVar(&c.dbURL, "database-url", os.Getenv("KOMMERCE_DATABASE_URL"), "PostgreSQL URL of the migrated bench database")
	flag.StringVar(&c.redisURL, "redis-url", os.Getenv("KOMMERCE_TEST_REDIS_URL"), "Redis URL")
	flag.StringVar(&c.esURL, "elasticsearch-url", os.Getenv("KOMMERCE_TEST_ELASTICSEARCH_URL"), "Elasticsearch URL")
	flag.StringVar(&c.brokers, "kafka-brokers", os.Getenv("KOMMERCE_TEST_KAFKA_BROKERS"), "Kafka brokers")
	flag.StringVar(&c.stripeURL, "stripe-url", "http://127.0.0.1:12111", "stripe-mock")
	flag.StringVar(&c.tenant, "tenant", "", "tenant slug (made and seeded by load.sh)")
	flag.StringVar(&c.whsec, "stripe-webhook-secret", "whsec_kommerce_load", "webhook signing secret given to the API and used to sign deliveries")
	rates := flag.String("rates", "100,200,400,600,800,1000", "request rates to step through, per second")
	flag.DurationVar(&c.step, "step", 25*time.Second, "length of each step")
	flag.DurationVar(&c.warmup, "warmup", 8*time.Second, "warm-up at the first rate, not measured")
	flag.DurationVar(&c.stall, "stall", time.Second, "length of each PostgreSQL and Redis stall")
	flag.DurationVar(&c.stallGap, "stall-gap", 10*time.Second, "time between the stalls (the stall run lasts 2.5 of these)")
	flag.IntVar(&c.stallRate, "stall-rate", 0, "rate of the stall run (0: half the best rate that passed, or half the first rate when none passed)")
	flag.DurationVar(&c.timeout, "timeout", 10*time.Second, "the client's deadline per request")
	flag.IntVar(&c.tenantRate, "tenant-rate", 100000, "KOMMERCE_TENANT_RATE given to the API (the default 1000/s would cap the shop below the target)")
	flag.StringVar(&c.outDir, "out", "", "directory for results.json (and where load.sh puts the profile)")
	flag.StringVar(&c.perfOut, "perf-out", "", "record the API's CPU with perf into this file during the step at -profile-rate (native frames too: PostgreSQL driver, syscalls)")
	flag.IntVar(&c.profileRate, "profile-rate", 400, "the step whose API CPU -perf-out records")
	flag.StringVar(&c.target, "target", "", "base URL of an API that is already running (e.g. make run's http://127.0.0.1:8080): start nothing, stall nothing, only step the load against it; -database-url, when set, tops up stock and checks the orders")
	flag.IntVar(&c.apiPID, "api-pid", 0, "with -target: the process whose CPU is reported as the API's (0: the one listening on the target's port, when it can be found)")
	shortFlag := flag.Bool("short", short, "short mode: fewer, shorter steps (also BENCH_SHORT=1)")
	flag.Parse()
	if *shortFlag {
		if !isSet("rates") {
			*rates = "200,400,700,1000" // up to the seed's target, so a short run can meet it
		}
		if !isSet("step") {
			c.step = 10 * time.Second
		}
		if !isSet("warmup") {
			c.warmup = 4 * time.Second
		}
		if !isSet("stall-gap") {
			c.stallGap = 6 * time.Second
		}
	}
	for _, f := range strings.Split(*rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-rates: %q is not a positive whole number", f)
		}
		c.rates = append(c.rates, n)
	}
	if c.target != "" {
		if c.tenant == "" {
			c.tenant = "demo" // make run's demo tenant
		}
		return c, nil
	}
	if c.dbURL == "" || c.tenant == "" || c.redisURL == "" || c.esURL == "" || c.brokers == "" {
		return nil, errors.New("need -database-url, -tenant, -redis-url, -elasticsearch-url and -kafka-brokers (hack/bench/load.sh sets them)")
	}
	return c, nil
}

func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func run(ctx context.Context) error {
	c, err := parseFlags()
	if err != nil {
		return err
	}
	sc, err := loadScenario(c.scenario)
	if err != nil {
		return err
	}
	if c.target != "" {
		return runTarget(ctx, c, sc)
	}
	pool, err := pgxpool.New(ctx, c.dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := seedCommerce(ctx, pool, c.tenant, sc.Products); err != nil {
		return fmt.Errorf("stock and checkout settings: %w", err)
	}

	tox, err := startProxies(c.dbURL, c.redisURL)
	if err != nil {
		return err
	}
	defer tox.stop()
	st, err := startStack(ctx, c, tox)
	if err != nil {
		return err
	}
	defer st.stop()
	if c.outDir != "" { // for load.sh's profiler
		if err := os.WriteFile(c.outDir+"/api.pid", []byte(strconv.Itoa(st.api.Process.Pid)), 0o644); err != nil {
			return err
		}
	}

	cat, err := loadCatalog(ctx, st.base, c.tenant)
	if err != nil {
		return err
	}
	if err := waitSearchable(ctx, st.base, c.tenant, cat.Terms[0]); err != nil {
		return err
	}
	fmt.Printf("load bench: %d cores, %s, catalog %d published products (%d SKUs), %d categories, %d search terms; scenario %s\n",
		numCPU(), goVersion(), len(cat.Products), countSKUs(cat), len(cat.Categories), len(cat.Terms), c.scenario)
	fmt.Printf("API %s (pid %d) via toxiproxy to PostgreSQL and Redis; ingest pid %d; client deadline %s; load average before: %s\n",
		st.base, st.api.Process.Pid, st.ingest.Process.Pid, c.timeout, loadAvg())

	sh := newShop(sc, cat, st.base, c.tenant, c.whsec, uint64(time.Now().UnixNano()))
	procs := newProcSet(st.api.Process.Pid, st.ingest.Process.Pid)
	d := &driver{shop: sh, timeout: c.timeout}

	steps, best, err := stepRates(ctx, c, d, procs, sc)
	if err != nil {
		return err
	}

	stallRate := c.stallRate
	if stallRate == 0 { // a rate that passed, with room to spare
		stallRate = best / 2
		if best == 0 {
			stallRate = max(1, c.rates[0]/2)
		}
	}
	stalls := d.stallRun(ctx, tox, stallRate, c.stall, c.stallGap, c.timeout)
	printStalls(stalls, c)
	fmt.Printf("API rate-limit checks let through because the limiter failed (failed open), whole run: %s\n", failedOpen(ctx, st.base))
	fmt.Printf("API search and autocomplete cache, whole run: %s\n", searchCache(ctx, st.base))

	// Give the relay a moment to publish the last events, then check.
	var loss lossReport
	for range 30 {
		if loss, err = checkLoss(ctx, pool, c.tenant, sh.answeredOrders()); err != nil || loss.Unpublished == 0 {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return fmt.Errorf("loss check: %w", err)
	}
	fmt.Println(loss)
	if c.outDir != "" {
		b, _ := json.MarshalIndent(map[string]any{"steps": steps, "stalls": stalls, "loss": loss}, "", "  ")
		if err := os.WriteFile(c.outDir+"/results.json", b, 0o644); err != nil {
			return err
		}
	}
	printSummaries(steps, best, stalls, loss, c)
	return nil
}

// stepRates measures the idle floor, warms up at the first rate, then steps through
// c.rates (stopping after an overloaded step) and prints the table. It returns the
// steps (without the idle one) and the highest rate that passed.
func stepRates(ctx context.Context, c *config, d *driver, procs *procSet, sc *Scenario) ([]stepResult, int, error) {
	// What the processes burn with no load from this run: shared services also
	// serve other work on the machine, and this is the floor under every step.
	idle := procs.sample()
	select {
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	steps := []stepResult{{Rate: 0, CPU: procs.since(idle)}}
	fmt.Printf("idle (5 s, no load): CPU cores %s\n", cpuLine(steps[0].CPU))
	d.attack(ctx, c.rates[0], c.warmup, "warmup")
	best := 0
	for _, rate := range c.rates {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		before := procs.sample()
		var prof *exec.Cmd
		if c.perfOut != "" && rate == c.profileRate && procs.api > 0 {
			prof = startPerf(ctx, c.perfOut, procs.api, c.step)
		}
		rs := d.attack(ctx, rate, c.step, fmt.Sprintf("step-%d", rate))
		if prof != nil {
			_ = prof.Wait()
		}
		s := summarize(rate, c.step, rs)
		s.CPU = procs.since(before)
		steps = append(steps, s)
		printStep(s)
		if s.passed() && rate > best {
			best = rate
		}
		if s.overloaded() {
			break // the rates above an overloaded step only queue more; spare the machine
		}
	}
	printSteps(steps, sc)
	return steps[1:], best, nil
}

// seedCommerce stocks every SKU of the demo catalog deep enough that the run never
// sells out (a sold-out 409 would count as an error, and is not what is measured)
// and gives the storefront the demo checkout settings.
func seedCommerce(ctx context.Context, pool *pgxpool.Pool, slug string, products int) error {
	db := postgres.NewDB(pool)
	r, err := (&postgres.TenantService{DB: db}).TenantBySlug(ctx, slug)
	if err != nil {
		return err
	}
	tctx := apiserver.NewContextWithTenant(ctx, r.Tenant)
	cm := &postgres.Commerce{DB: db}
	stock := map[string]int64{}
	for i := range products {
		for _, v := range *demo.Product(i, nil).Variants {
			stock[v.SKU] = 1_000_000
		}
	}
	if _, err := (&postgres.InventoryService{Commerce: cm}).SeedStock(tctx, "main", "load bench", stock); err != nil {
		return err
	}
	_, err = (&postgres.SettingsService{Commerce: cm}).PutCheckoutSettings(tctx, "default", demo.CheckoutSettings())
	return err
}

// stack is the API and ingest processes.
type stack struct {
	base        string
	api, ingest *exec.Cmd
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startStack starts `kommerce api` (PostgreSQL and Redis through the proxies) and
// `kommerce ingest` (PostgreSQL directly) and waits for the API to be ready. The
// load's settings of the API: the tenant limit raised above the rates measured
// (the per-address limit stays the default, 20/s: each shopper has its own address,
// which the API takes from X-Forwarded-For because 127.0.0.1 is a trusted proxy, as
// an ingress in front of it would be).
func startStack(ctx context.Context, c *config, tox *proxies) (*stack, error) {
	apiAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	ingAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	common := []string{
		"KOMMERCE_ELASTICSEARCH_URL=" + c.esURL, "KOMMERCE_KAFKA_BROKERS=" + c.brokers,
		"KOMMERCE_LOG_LEVEL=warn", "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_TRACES_EXPORTER=none",
	}
	api := exec.CommandContext(ctx, c.kommerce, "api")
	api.Env = append(os.Environ(), common...)
	api.Env = append(api.Env, "KOMMERCE_HTTP_ADDR="+apiAddr,
		"KOMMERCE_DATABASE_URL="+tox.dbURL, "KOMMERCE_REDIS_URL="+tox.redisURL,
		"KOMMERCE_TENANT_RATE="+strconv.Itoa(c.tenantRate), "KOMMERCE_TENANT_BURST="+strconv.Itoa(2*c.tenantRate),
		"KOMMERCE_TRUSTED_PROXIES=127.0.0.1",
		"KOMMERCE_STRIPE_API_URL="+c.stripeURL, "KOMMERCE_STRIPE_SECRET_KEY=sk_test_kommerceload",
		"KOMMERCE_STRIPE_WEBHOOK_SECRET="+c.whsec)
	ing := exec.CommandContext(ctx, c.kommerce, "ingest")
	ing.Env = append(os.Environ(), common...)
	ing.Env = append(ing.Env, "KOMMERCE_HTTP_ADDR="+ingAddr, "KOMMERCE_DATABASE_URL="+c.dbURL,
		"KOMMERCE_INGEST_GROUP=load-indexer-"+c.tenant, "KOMMERCE_EXPERIMENTS_GROUP=load-experiments-"+c.tenant)
	for _, cmd := range []*exec.Cmd{api, ing} {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 20 * time.Second
		if err := cmd.Start(); err != nil {
			return nil, err
		}
	}
	st := &stack{base: "http://" + apiAddr, api: api, ingest: ing}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(st.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return st, nil
			}
		}
		if time.Now().After(deadline) {
			st.stop()
			return nil, fmt.Errorf("the API at %s was not ready within a minute", st.base)
		}
		select {
		case <-ctx.Done():
			st.stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *stack) stop() {
	for _, cmd := range []*exec.Cmd{s.api, s.ingest} {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, cmd := range []*exec.Cmd{s.api, s.ingest} {
		_ = cmd.Wait()
	}
}

// loadCatalog reads what anonymous shoppers see: the published products (paged),
// the categories, and words of product names as search terms.
func loadCatalog(ctx context.Context, base, tenant string) (*catalog, error) {
	cat := &catalog{}
	seen := map[string]bool{}
	cursor := ""
	for {
		var page struct {
			Items []struct {
				ID       string `json:"id"`
				Name     string `json:"name"`
				Variants []struct {
					SKU string `json:"sku"`
				} `json:"variants"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		if err := getJSON(ctx, base+"/api/v1/products?limit=100&cursor="+url.QueryEscape(cursor), tenant, &page); err != nil {
			return nil, err
		}
		for _, p := range page.Items {
			cp := catalogProduct{ID: p.ID}
			for _, v := range p.Variants {
				cp.SKUs = append(cp.SKUs, v.SKU)
			}
			if len(cp.SKUs) > 0 {
				cat.Products = append(cat.Products, cp)
			}
			for _, w := range strings.Fields(strings.ToLower(p.Name)) {
				if len(w) >= 4 && !seen[w] {
					seen[w] = true
					cat.Terms = append(cat.Terms, w)
				}
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	var cats struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := getJSON(ctx, base+"/api/v1/categories", tenant, &cats); err != nil {
		return nil, err
	}
	for _, c := range cats.Items {
		cat.Categories = append(cat.Categories, c.ID)
	}
	if len(cat.Products) == 0 || len(cat.Categories) == 0 || len(cat.Terms) == 0 {
		return nil, fmt.Errorf("tenant %s has %d published products, %d categories: seed it first (load.sh does)", tenant, len(cat.Products), len(cat.Categories))
	}
	slices.Sort(cat.Terms) // reproducible Zipf ranks for the same catalog
	return cat, nil
}

func getJSON(ctx context.Context, u, tenant string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Kommerce-Tenant", tenant)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

// waitSearchable waits until ingest has indexed the catalog far enough that a search
// finds something, so search requests measure searching, not an empty index.
func waitSearchable(ctx context.Context, base, tenant, term string) error {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var res struct {
			Hits []json.RawMessage `json:"hits"`
		}
		err := getJSON(ctx, base+"/api/v1/search?limit=1&q="+url.QueryEscape(term), tenant, &res)
		if err == nil && len(res.Hits) > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("search for %q found nothing after 3 minutes (ingest not indexing?): %v", term, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// checkLoss compares the orders the checkouts were answered 2xx for with the
// database: each must exist with its order.created event in the outbox, and the
// tenant must hold no order nobody was answered for.
func checkLoss(ctx context.Context, pool *pgxpool.Pool, slug string, answered map[string]bool) (lossReport, error) {
	rep := lossReport{Answered: len(answered)}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
			return err
		}
		var tid string
		if err := tx.QueryRow(ctx, "SELECT id FROM tenants WHERE slug = $1", slug).Scan(&tid); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT o.id::text, EXISTS (SELECT 1 FROM outbox e WHERE e.tenant_id = o.tenant_id
			AND e.event_type = 'order.created' AND e.aggregate_id = o.id::text) FROM orders o WHERE o.tenant_id = $1`, tid)
		if err != nil {
			return err
		}
		inDB := map[string]bool{}
		for rows.Next() {
			var id string
			var ev bool
			if err := rows.Scan(&id, &ev); err != nil {
				return err
			}
			inDB[id] = true
			rep.InDB++
			if !ev {
				rep.NoEvent++
			}
			if !answered[id] {
				rep.Unanswered++
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for id := range answered {
			if !inDB[id] {
				rep.Missing++
			}
		}
		return tx.QueryRow(ctx, "SELECT count(*) FROM outbox WHERE tenant_id = $1 AND published_at IS NULL", tid).Scan(&rep.Unpublished)
	})
	return rep, err
}

type lossReport struct {
	Answered    int `json:"answered_2xx"`
	InDB        int `json:"orders_in_db"`
	Missing     int `json:"answered_but_missing"`
	NoEvent     int `json:"orders_without_event"`
	Unanswered  int `json:"orders_not_answered_2xx"`
	Unpublished int `json:"outbox_unpublished_at_end"`
}

func (l lossReport) ok() bool { return l.Missing == 0 && l.NoEvent == 0 }

func (l lossReport) String() string {
	return fmt.Sprintf("loss check: %d checkouts answered 2xx, %d orders in the database, %d answered but missing, %d orders without their order.created event, %d orders never answered 2xx (a client timed out or failed on them), %d outbox rows not yet relayed at the end",
		l.Answered, l.InDB, l.Missing, l.NoEvent, l.Unanswered, l.Unpublished)
}

func countSKUs(c *catalog) int {
	n := 0
	for _, p := range c.Products {
		n += len(p.SKUs)
	}
	return n
}

// startPerf samples the API's CPU with perf for most of a step (from 2 s in, so the
// step's start is not in it). Without perf it does nothing.
func startPerf(ctx context.Context, out string, pid int, step time.Duration) *exec.Cmd {
	secs := max(1, int((step-4*time.Second)/time.Second))
	cmd := exec.CommandContext(ctx, "sh", "-c", fmt.Sprintf("sleep 2; exec perf record -F 499 -g -p %d -o %s -- sleep %d", pid, out, secs))
	if err := cmd.Start(); err != nil {
		fmt.Printf("perf: %v\n", err)
		return nil
	}
	return cmd
}

// metricLines fetches the API's /metrics and returns its lines.
func metricLines(ctx context.Context, base string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return strings.Split(string(b), "\n"), nil
}

// searchCache reads the API's search answer cache lookups by result (hit, miss,
// shared) from its /metrics, summed over search and autocomplete.
func searchCache(ctx context.Context, base string) string {
	lines, err := metricLines(ctx, base)
	if err != nil {
		return err.Error()
	}
	n := map[string]float64{}
	for _, line := range lines {
		if !strings.HasPrefix(line, "kommerce_api_search_cache_lookups_total{") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(strings.TrimSpace(line[strings.LastIndexByte(line, ' '):]), &v); err != nil {
			continue
		}
		for _, r := range []string{"hit", "miss", "shared"} {
			if strings.Contains(line, `result="`+r+`"`) {
				n[r] += v
			}
		}
	}
	total := n["hit"] + n["miss"] + n["shared"]
	if total == 0 {
		return "no lookups (cache off?)"
	}
	return fmt.Sprintf("%.0f lookups: %.0f hit (%.0f %%), %.0f shared, %.0f miss (engine calls)", total, n["hit"], 100*n["hit"]/total, n["shared"], n["miss"])
}

// failedOpen reads the API's count of rate-limit checks that failed and let the
// request through, from its /metrics.
func failedOpen(ctx context.Context, base string) string {
	lines, err := metricLines(ctx, base)
	if err != nil {
		return err.Error()
	}
	for _, line := range lines {
		if strings.HasPrefix(line, "kommerce_api_rate_limit_checks_total") && strings.Contains(line, `"failed_open"`) {
			return strings.TrimSpace(line[strings.LastIndexByte(line, ' '):])
		}
	}
	return "0"
}
