// Command api benchmarks product reads of the commerce API against bare net/http
// serving the very same bytes, in one run on one machine, so the figures are ratios
// that mean something on a shared, noisy box. Run it through hack/bench/api.sh.
//
// Scenarios, each at a fixed concurrency for a fixed time with keep-alive clients:
//   - bare product / bare list: net/http handlers writing pre-rendered bodies;
//   - product (cache hit) and list (cache hit): the full API stack — server skeleton,
//     gin, request id, security headers, tenant resolution, rate limits in Redis,
//     OpenAPI validation — reading from the Redis cache (its near copies, kept
//     while the invalidation channel is subscribed, and leased rate limits);
//   - the same with the in-process cache and limiter (no Redis, one replica);
//   - product (cache miss) and list (cache miss): the same stack with the cache off,
//     so every read goes to PostgreSQL.
//
// Per request it reports the CPU time of this process (servers and clients) and of
// redis-server, this process's context switches (the wake-ups a request pays), and the
// CPU time of the PostgreSQL backends serving the benchmark's database.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/cache"
	"github.com/kommerce/kommerce/apiserver/demo"
	"github.com/kommerce/kommerce/apiserver/redis"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/server"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	dbURL := flag.String("database-url", os.Getenv("KOMMERCE_DATABASE_URL"), "PostgreSQL URL of a migrated, otherwise unused database")
	redisURL := flag.String("redis-url", os.Getenv("KOMMERCE_REDIS_URL"), "Redis URL")
	duration := flag.Duration("duration", 6*time.Second, "measuring time per scenario, split over -rounds")
	rounds := flag.Int("rounds", 6, "interleaved rounds: every scenario runs once per round, so load from other processes hits all of them alike")
	warmup := flag.Duration("warmup", time.Second, "unmeasured time before each scenario")
	conc := flag.Int("concurrency", 16, "concurrent keep-alive clients")
	nProducts := flag.Int("products", 200, "demo products to seed and read")
	only := flag.String("only", "", "run only the scenarios whose name contains this (and their baselines)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measured scenarios to this file")
	scenarioProfile := flag.String("scenario-cpuprofile", "", "with -cpuprofile: profile only the measured periods of the scenarios whose name contains this, one file per round (<file>.<round>; `go tool pprof` merges them), so the runtime's own work (GC, scheduler) is that scenario's alone")
	redisPID := flag.Int("redis-pid", 0, "pid of redis-server, to count its CPU time per request")
	flag.Parse()
	ctx := context.Background()

	pool, err := pgxpool.New(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	ro, err := goredis.ParseURL(*redisURL)
	if err != nil {
		return err
	}
	ro.PoolSize = 4 * *conc
	rdb := goredis.NewClient(ro)
	defer rdb.Close()
	unlimited := apiserver.RateLimit{Rate: 1_000_000, Burst: 1_000_000}
	build := func(noCache, inProcess bool) (*stack.Stack, error) {
		// With the API's own metrics, as `kommerce api` runs.
		o := stack.Options{Pool: pool, Redis: rdb, UserLimit: unlimited, TenantLimit: unlimited, NoCache: noCache,
			Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()}
		if inProcess {
			o.Redis = nil
		}
		return stack.New(o)
	}
	cached, err := build(false, false)
	if err != nil {
		return err
	}
	uncached, err := build(true, false)
	if err != nil {
		return err
	}
	local, err := build(false, true)
	if err != nil {
		return err
	}
	slug := fmt.Sprintf("bench%d", os.Getpid())
	tenant, err := cached.Tenants.CreateTenant(ctx, apiserver.TenantCreate{Slug: slug, RedisPrefix: "bench:" + slug + ":"})
	if err != nil {
		return err
	}
	defer func() { // leave nothing behind in the shared Redis
		iter := rdb.Scan(ctx, 0, tenant.RedisPrefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	}()
	tctx := apiserver.NewContextWithTenant(ctx, tenant)
	if _, err := demo.Seed(tctx, cached.Catalog, *nProducts); err != nil {
		return err
	}
	page, err := cached.Catalog.ListProducts(tctx, apiserver.ProductFilter{Status: apiserver.StatusPublished, Limit: 100})
	if err != nil {
		return err
	}
	var ids []string
	for _, p := range page.Items {
		ids = append(ids, p.ID)
	}

	// With -cpuprofile, requests are labelled by server ("api", "miss", "local",
	// "bare") and the load clients by scenario, so `go tool pprof -tagfocus` can take
	// one scenario apart (GC and the runtime's own goroutines carry no label).
	label := func(name string, h http.Handler) http.Handler {
		if *cpuProfile == "" {
			return h
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			pprof.Do(r.Context(), pprof.Labels("server", name), func(context.Context) { h.ServeHTTP(w, r) })
		})
	}
	apiURL, stopAPI, err := serve(label("api", cached.Handler), true)
	if err != nil {
		return err
	}
	defer stopAPI()
	missURL, stopMiss, err := serve(label("miss", uncached.Handler), true)
	if err != nil {
		return err
	}
	defer stopMiss()
	localURL, stopLocal, err := serve(label("local", local.Handler), true)
	if err != nil {
		return err
	}
	defer stopLocal()

	// Capture the exact bytes the API sends, for the bare server.
	bodies := map[string][]byte{}
	get := func(url string) ([]byte, error) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("X-Kommerce-Tenant", slug)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		if res.StatusCode != 200 {
			return nil, fmt.Errorf("GET %s: %d", url, res.StatusCode)
		}
		return io.ReadAll(res.Body)
	}
	for _, id := range ids {
		if bodies["/p/"+id], err = get(apiURL + "/api/v1/products/" + id); err != nil {
			return err
		}
	}
	const listQuery = "/api/v1/products?limit=20"
	if bodies["/list"], err = get(apiURL + listQuery); err != nil {
		return err
	}
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(b)
	})
	bareURL, stopBare, err := serve(label("bare", bare), false)
	if err != nil {
		return err
	}
	defer stopBare()

	productPaths := func(base, prefix string) []string {
		var out []string
		for _, id := range ids {
			out = append(out, base+prefix+id)
		}
		return out
	}
	type scenario struct {
		name, baseline string
		urls           []string
	}
	scenarios := []scenario{
		{"bare net/http, product bytes", "", productPaths(bareURL, "/p/")},
		{"GET product, cache hit (Redis)", "bare net/http, product bytes", productPaths(apiURL, "/api/v1/products/")},
		{"GET product, cache miss", "bare net/http, product bytes", productPaths(missURL, "/api/v1/products/")},
		{"GET product, cache hit, no Redis (in-process cache and limiter)", "bare net/http, product bytes", productPaths(localURL, "/api/v1/products/")},
		{"bare net/http, list bytes", "", []string{bareURL + "/list"}},
		{"list 20 products, cache hit (Redis)", "bare net/http, list bytes", []string{apiURL + listQuery}},
		{"list 20 products, cache miss", "bare net/http, list bytes", []string{missURL + listQuery}},
	}
	results := map[string]result{}
	fmt.Printf("%d products of %d bytes on average, %d clients, %s per scenario in %d interleaved rounds\n\n", len(ids), avg(bodies, "/p/"), *conc, *duration, *rounds)
	fmt.Println("| scenario | requests/s | p50 | p99 | vs bare | CPU per request: Go process + redis-server | context switches per request (Go process) | PostgreSQL CPU per request |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	if *cpuProfile != "" && *scenarioProfile == "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile() // also stopped below, after the scenarios
	}
	// Every server must send the very bytes of the baseline, or the comparison is void.
	for _, s := range scenarios {
		for i, u := range s.urls {
			want := bodies["/list"]
			if !strings.Contains(s.name, "list") {
				want = bodies["/p/"+ids[i]]
			}
			for range 2 { // a miss, then (where cached) a hit
				got, err := get(u)
				if err != nil {
					return err
				}
				if string(got) != string(want) {
					return fmt.Errorf("%s: %s sends other bytes than the baseline (%d bytes, want %d): %.300s", s.name, u, len(got), len(want), got)
				}
			}
		}
	}
	var active []scenario
	for _, s := range scenarios {
		if *only == "" || strings.Contains(s.name, *only) || s.baseline == "" {
			active = append(active, s)
		}
	}
	for _, s := range active {
		load(s.urls, slug, *conc, *warmup)
	}
	acc := map[string]*result{}
	for round := range max(*rounds, 1) {
		for _, s := range active {
			profiled := *cpuProfile != "" && *scenarioProfile != "" && strings.Contains(s.name, *scenarioProfile)
			if profiled {
				f, err := os.Create(fmt.Sprintf("%s.%d", *cpuProfile, round))
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
			}
			c0 := cpuTime(*redisPID)
			pg0 := backendsCPU(ctx, pool)
			var r result
			pprof.Do(ctx, pprof.Labels("scenario", s.name), func(context.Context) {
				r = load(s.urls, slug, *conc, *duration/time.Duration(max(*rounds, 1)))
			})
			c1 := cpuTime(*redisPID)
			pg1 := backendsCPU(ctx, pool)
			if profiled {
				pprof.StopCPUProfile()
			}
			if r.errors > 0 {
				return fmt.Errorf("%s: %d failed requests of %d", s.name, r.errors, len(r.lat))
			}
			a := acc[s.name]
			if a == nil {
				a = &result{}
				acc[s.name] = a
			}
			a.lat = append(a.lat, r.lat...)
			a.elapsed += r.elapsed
			a.cpu.self += c1.self - c0.self
			a.cpu.redis += c1.redis - c0.redis
			a.cpu.switches += c1.switches - c0.switches
			for pid, t := range pg1 {
				a.cpu.postgres += t - pg0[pid] // a connection opened meanwhile started at ~0
			}
		}
	}
	for _, s := range active {
		r := acc[s.name]
		r.finish()
		results[s.name] = *r
		ratio := "1.00× (baseline)"
		if s.baseline != "" {
			ratio = fmt.Sprintf("%.2f×", r.rps/results[s.baseline].rps)
		}
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(len(r.lat)) }
		fmt.Printf("| %s | %.0f | %s | %s | %s | %.0f + %.0f µs | %.1f | %.0f µs |\n", s.name, r.rps, ms(r.p50), ms(r.p99), ratio, per(r.cpu.self), per(r.cpu.redis),
			float64(r.cpu.switches)/float64(len(r.lat)), per(r.cpu.postgres))
	}
	fmt.Println()
	pprof.StopCPUProfile() // the profile is of the scenarios alone
	if cc, ok := cached.Catalog.(*cache.Catalog); ok {
		rs, _ := cc.Store.(*redis.Store)
		fmt.Printf("near cache of the Redis scenarios: subscription lost %d times during the run (each empties it)\n", rs.SubscriptionsLost())
	}
	if err := invalidationLatency(ctx, rdb, tenant.RedisPrefix); err != nil {
		return err
	}
	// One line per target, for hack/bench/all.sh.
	ratioTarget := func(target, scenario string) {
		r, ok := results[scenario]
		if !ok {
			return
		}
		var b result
		for _, s := range scenarios {
			if s.name == scenario {
				b = results[s.baseline]
			}
		}
		x := r.rps / b.rps
		summary(target, ">= 0.5x bare", fmt.Sprintf("%.2fx (%s vs %s req/s)", x, thousands(r.rps), thousands(b.rps)), x >= 0.5)
	}
	ratioTarget("product read, cache hit (Redis)", "GET product, cache hit (Redis)")
	ratioTarget("list of 20, cache hit (Redis)", "list 20 products, cache hit (Redis)")
	if r, ok := results["list 20 products, cache miss"]; ok {
		us := float64(r.cpu.self.Microseconds()) / float64(len(r.lat))
		pg := float64(r.cpu.postgres.Microseconds()) / float64(len(r.lat))
		summary("list of 20, cache miss, CPU per request", "<= 300 µs",
			fmt.Sprintf("%s µs (Go process: API and load clients; PostgreSQL not counted: %s µs)", thousands(us), thousands(pg)), us <= 300)
	}
	return nil
}

// summary prints a BENCHSUMMARY line: target, goal, measured figure, met or not.
func summary(target, goal, measured string, met bool) {
	verdict := "not met"
	if met {
		verdict = "met"
	}
	fmt.Printf("BENCHSUMMARY\t%s\t%s\t%s\t%s\n", target, goal, measured, verdict)
}

// thousands formats x rounded to an integer with thousands separators.
func thousands(x float64) string {
	s := strconv.FormatInt(int64(math.Round(x)), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// invalidationLatency measures the cross-replica staleness of the near cache: two
// Stores (two replicas) on the bench's Redis; one writes a key the other holds near,
// and the other reads until it sees the new value.
func invalidationLatency(ctx context.Context, rdb goredis.UniversalClient, prefix string) error {
	ch := prefix + "invalidate"
	a, b := &redis.Store{Client: rdb, Channel: ch}, &redis.Store{Client: rdb, Channel: ch}
	key := prefix + "latency"
	// Reads before the subscriptions are up go to Redis; wait for a near hit.
	if err := a.Set(ctx, key, []byte("0"), time.Minute); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for !b.Holds(key) {
		if time.Now().After(deadline) {
			return fmt.Errorf("invalidation latency: replica B never held the key near")
		}
		if _, err := b.Get(ctx, key); err != nil {
			return err
		}
	}
	const n = 500
	lat := make([]time.Duration, 0, n)
	for i := 1; i <= n; i++ {
		want := strconv.Itoa(i)
		if err := a.Set(ctx, key, []byte(want), time.Minute); err != nil {
			return err
		}
		t0 := time.Now()
		for {
			v, err := b.Get(ctx, key)
			if err != nil {
				return err
			}
			if string(v) == want {
				break
			}
			if time.Since(t0) > 5*time.Second {
				return fmt.Errorf("invalidation latency: replica B still reads %q after 5s", v)
			}
		}
		lat = append(lat, time.Since(t0))
		for !b.Holds(key) { // held near again before the next write
			if _, err := b.Get(ctx, key); err != nil {
				return err
			}
		}
	}
	slices.Sort(lat)
	fmt.Printf("cross-replica staleness: after a write on replica A returns, replica B reads the new value within p50 %v, p99 %v, max %v (%d writes; includes B's round trip to Redis)\n\n",
		lat[n/2].Round(time.Microsecond), lat[n*99/100].Round(time.Microsecond), lat[n-1].Round(time.Microsecond), n)
	return nil
}

func avg(m map[string][]byte, prefix string) int {
	n, total := 0, 0
	for k, v := range m {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			n, total = n+1, total+len(v)
		}
	}
	return total / max(n, 1)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// serve runs h on a loopback port; withSkeleton wraps it in internal/server as
// `kommerce api` does (probes, metrics, request instrumentation).
func serve(h http.Handler, withSkeleton bool) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	if withSkeleton {
		srv := server.New(server.Options{Name: "api", Handler: h, Registry: prometheus.NewRegistry()})
		go func() { _ = srv.Serve(ctx, ln); close(done) }()
	} else {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln); close(done) }()
		go func() { <-ctx.Done(); _ = srv.Close() }()
	}
	return "http://" + ln.Addr().String(), func() { cancel(); <-done }, nil
}

type result struct {
	lat      []time.Duration
	cpu      cpu // this process (clients and servers) and redis-server
	errors   int
	elapsed  time.Duration
	rps      float64
	p50, p99 time.Duration
}

// cpuTime is the CPU time used so far by this process and, when pid is set, by
// redis-server: what a request costs, whatever else runs on the machine. It also
// counts this process's context switches (voluntary: a thread went to sleep waiting
// for I/O or for work; involuntary: it was preempted), the wake-ups a request pays.
func cpuTime(pid int) cpu {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	c := cpu{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), switches: ru.Nvcsw + ru.Nivcsw}
	if pid > 0 {
		c.redis, _ = procCPU(pid)
	}
	return c
}

type cpu struct {
	self, redis time.Duration
	switches    int64         // context switches of this process
	postgres    time.Duration // the backends serving this benchmark's database
}

// backendsCPU is the CPU time used so far by each PostgreSQL backend connected to
// the benchmark's database (its own pool's connections), by pid, read from /proc
// (PostgreSQL runs on this machine); empty where that is not readable. The figure
// is not part of the target (that counts this process), but it explains it: the
// slower PostgreSQL serves a page, the more often this process goes idle and wakes.
func backendsCPU(ctx context.Context, pool *pgxpool.Pool) map[int]time.Duration {
	out := map[int]time.Duration{}
	rows, err := pool.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
	if err != nil {
		return out
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return out
	}
	for _, pid := range pids {
		if t, ok := procCPU(int(pid)); ok {
			out[int(pid)] = t
		}
	}
	return out
}

// procCPU is the user and system time of process pid from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) <= 12 {
		return 0, false
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond, true // USER_HZ = 100
}

func (r *result) finish() {
	slices.Sort(r.lat)
	r.rps = float64(len(r.lat)) / r.elapsed.Seconds()
	if len(r.lat) > 0 {
		r.p50, r.p99 = r.lat[len(r.lat)/2], r.lat[len(r.lat)*99/100]
	}
}

// load runs conc clients against urls (round robin) for d.
func load(urls []string, tenant string, conc int, d time.Duration) result {
	tr := &http.Transport{MaxIdleConns: conc, MaxIdleConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var errs atomic.Int64
	lat := make([][]time.Duration, conc)
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conc {
		wg.Go(func() {
			for i := w; time.Now().Before(deadline); i++ {
				req, _ := http.NewRequest("GET", urls[i%len(urls)], nil)
				req.Header.Set("X-Kommerce-Tenant", tenant)
				t0 := time.Now()
				res, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				lat[w] = append(lat[w], time.Since(t0))
				if err != nil || res.StatusCode != 200 {
					errs.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return result{lat: slices.Concat(lat...), errors: int(errs.Load()), elapsed: time.Since(start)}
}
