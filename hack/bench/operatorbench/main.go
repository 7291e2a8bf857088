// Command operatorbench measures how fast Tenants become Ready, on a real
// kube-apiserver (envtest) and PostgreSQL:
//
//   - bare writes (the floor of the target): every object a Tenant ends up with under
//     the operator — children, database row, finalizer and spec.isolation, status, Ready
//     Event — copied from one Tenant the operator's reconcile provisioned and written
//     with plain calls, no controller code (floor.go);
//   - minimal bare writes: the floor of earlier rounds, smaller objects and fewer
//     writes, kept for comparison;
//   - direct reconcile: the same Reconcile code called directly by the benchmark right after
//     each create (plain API client, no informers, work queue or watches), with the
//     same concurrency;
//   - operator: `kommerce operator` as a separate process reacting to the creates.
//
// Each contender runs on a kube-apiserver, etcd and database of its own, started
// fresh for it (bed), so none pays for the objects an earlier one left behind, and
// the burst's creates come from a process of their own (stream.go), as kubectl's
// would, so none shares a process with the stream it is timed against.
// All are timed the same way: from the create call returning to a watch on Tenants
// seeing Ready=True. Each runs one tenant at a time (-seq) and then a burst of -n
// tenants created back to back. Around each burst it counts the kube-apiserver's
// requests (apiserver_request_total) and the CPU of kube-apiserver, etcd and the
// operator, and the operator's reconcile passes; the operator's memory is read from
// /proc. The last line is a BENCHSUMMARY for hack/bench/all.sh.
//
//	go run ./hack/bench/operatorbench -kommerce bin/kommerce -n 200
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/controllers/tenant"
	"github.com/kommerce/kommerce/hack/bench/benchsummary"
	"github.com/kommerce/kommerce/internal/db/migrations"
	"github.com/kommerce/kommerce/internal/tenantstore"
	"github.com/kommerce/kommerce/internal/testenv/kubetest"
)

type options struct {
	kommerce    string
	n, seq      int
	concurrency int
	qps         int
	rate        float64
	dbURL       string
	profile     string
	apiProfile  string
	short       bool
}

func main() {
	var o options
	flag.StringVar(&o.kommerce, "kommerce", "bin/kommerce", "kommerce binary to run as the operator")
	flag.IntVar(&o.n, "n", 200, "tenants in the burst")
	flag.IntVar(&o.seq, "seq", 20, "tenants applied one at a time")
	flag.IntVar(&o.concurrency, "concurrency", 4, "reconciles in parallel (operator --max-concurrent-reconciles and baseline workers)")
	flag.IntVar(&o.qps, "qps", 200, "client-side API rate limit of both (requests per second)")
	flag.Float64Var(&o.rate, "rate", 0, "creates per second in the burst (0: back to back, the target's burst); a paced burst that leaves CPU to spare times each Tenant's own latency rather than catch-up")
	flag.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the operator process during its burst to this file")
	flag.StringVar(&o.apiProfile, "apiserver-profile", "", "write CPU profiles of kube-apiserver over the first n×8 ms of the bare and of the operator burst to <this>-bare.pprof and <this>-operator.pprof")
	flag.BoolVar(&o.short, "short", os.Getenv("BENCH_SHORT") == "1", "short mode (also BENCH_SHORT=1): a burst of at most 200")
	flag.StringVar(&o.dbURL, "database-url", envOr("KOMMERCE_TEST_DATABASE_URL", "postgres://kommerce:kommerce@127.0.0.1:55432/kommerce?sslmode=disable"), "PostgreSQL server to create the benchmark database on")
	asStream := flag.Bool("stream", false, "internal: be the stream of creates of a burst (-n, -rate, -qps, -stream-kubeconfig, -stream-prefix)")
	kubeconfig := flag.String("stream-kubeconfig", "", "internal: the stream's credentials")
	prefix := flag.String("stream-prefix", "", "internal: the stream's Tenant name prefix")
	flag.Parse()
	if *asStream {
		if err := runStream(context.Background(), *kubeconfig, *prefix, o.n, o.rate, o.qps); err != nil {
			fmt.Fprintf(os.Stderr, "operatorbench -stream: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if o.short {
		o.n, o.seq = min(o.n, 200), min(o.seq, 20)
	}
	log.SetLogger(logr.Discard())
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintf(os.Stderr, "operatorbench: %v\n", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func say(format string, args ...any) { fmt.Fprintf(os.Stderr, "operatorbench: "+format+"\n", args...) }

func run(ctx context.Context, o options) error {
	scheme := newScheme()

	// Baseline 1, the floor of the target: the same objects the operator's reconcile
	// gives a Tenant, copied from one it provisioned, with plain writes.
	var bareRes result
	err := onBed(ctx, o, scheme, func(b *bed) error {
		say("capturing what the operator's reconcile gives a Tenant")
		tmpl, err := capture(ctx, b.c, b.w, b.direct.reconcile)
		if err != nil {
			return fmt.Errorf("capture: %w", err)
		}
		say("baseline (bare writes of the same objects): %d sequential, then a burst of %d, %d workers", o.seq, o.n, o.concurrency)
		same := &sameWriter{c: b.wc, store: b.store, tmpl: tmpl}
		var apiProf *profiler
		bareRes, err = measure(ctx, b, "bare", o, same.write, func() {
			if o.apiProfile != "" {
				apiProf = apiserverProfile(ctx, b.cfg, o.apiProfile+"-bare.pprof", apiProfileWindow(o.n))
			}
		})
		if err == nil {
			err = same.wait()
		}
		if apiProf != nil {
			if perr := apiProf.wait(); perr != nil {
				say("kube-apiserver profile: %v", perr)
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("bare writes: %w", err)
	}
	// Baseline 2: the floor of earlier rounds, smaller objects and fewer writes (no
	// finalizer, isolation or Event; one condition), kept for comparison.
	var minRes result
	err = onBed(ctx, o, scheme, func(b *bed) error {
		say("baseline (bare writes, minimal objects): %d sequential, then a burst of %d, %d workers", o.seq, o.n, o.concurrency)
		var err error
		minRes, err = measure(ctx, b, "mini", o, (&bareWriter{c: b.wc, store: b.store}).write, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("minimal bare writes: %w", err)
	}
	// Baseline 3: the operator's reconcile code driven directly.
	var directRes result
	err = onBed(ctx, o, scheme, func(b *bed) error {
		say("baseline (direct reconcile): %d sequential, then a burst of %d, %d workers", o.seq, o.n, o.concurrency)
		var err error
		directRes, err = measure(ctx, b, "base", o, b.direct.reconcile, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("direct reconcile: %w", err)
	}

	// Operator: a separate process reacting to the API.
	var opRes result
	var mem memory
	err = onBed(ctx, o, scheme, func(b *bed) error {
		var err error
		opRes, mem, err = measureOperator(ctx, b, o, directRes.total)
		return err
	})
	if err != nil {
		return err
	}
	report(o, bareRes, minRes, directRes, opRes, mem.idle, mem.peak, mem.hwm)
	return nil
}

// memory is the operator's resident memory: idle before its burst, the peak sampled
// during it, and the kernel's high-water mark.
type memory struct{ idle, peak, hwm float64 }

// measureOperator starts `kommerce operator` on b and runs its sequential and burst
// Tenants; directTotal is how long the direct reconcile's burst took, the length
// of the operator's CPU profile.
func measureOperator(ctx context.Context, b *bed, o options, directTotal time.Duration) (result, memory, error) {
	var res result
	var mem memory
	op, err := startOperator(ctx, b.env, o, b.dbURL)
	if err != nil {
		return res, mem, err
	}
	defer op.stop()
	mem.idle = op.rss()
	say("operator: %d sequential, then a burst of %d, --max-concurrent-reconciles %d", o.seq, o.n, o.concurrency)
	if res.seq, err = sequential(ctx, b.c, b.w, "op-s", o.seq, nil); err != nil {
		return res, mem, fmt.Errorf("operator sequential: %w\n%s", err, op.logTail())
	}
	before, err := apiRequests(ctx, b.cfg)
	if err != nil {
		return res, mem, err
	}
	opBefore, err := operatorMetrics(ctx, op.metricsAddr)
	if err != nil {
		return res, mem, err
	}
	peak := op.samplePeak()
	var prof, apiProf *profiler
	if o.profile != "" {
		// The operator's burst lasts about as long as the direct reconcile's.
		prof = op.cpuProfile(ctx, o.profile, directTotal)
	}
	if o.apiProfile != "" {
		apiProf = apiserverProfile(ctx, b.cfg, o.apiProfile+"-operator.pprof", apiProfileWindow(o.n))
	}
	br, err := burst(ctx, b, "op-b", o.n, 0, o.rate, o.qps, nil)
	peak.stop()
	if err != nil {
		return res, mem, fmt.Errorf("operator burst: %w\n%s", err, op.logTail())
	}
	if res.api, err = requestsSince(ctx, b.cfg, before); err != nil {
		return res, mem, err
	}
	res.add(br)
	opAfter, err := operatorMetrics(ctx, op.metricsAddr)
	if err != nil {
		return res, mem, err
	}
	res.op = opAfter.sub(opBefore)
	for _, p := range []*profiler{prof, apiProf} {
		if p != nil {
			if err := p.wait(); err != nil {
				say("profile: %v", err)
			}
		}
	}
	mem.peak = max(peak.max(), op.rss())
	mem.hwm = op.hwm()
	return res, mem, nil
}

// bed is one contender's own kube-apiserver, etcd and database. Every contender
// starts on an empty cluster and registry: the envtest runs no garbage collector
// or namespace controller, so the namespaces and children of an earlier
// contender's Tenants would stay, and a later contender would pay for them — the
// API server's and etcd's larger heaps and stores, and for the operator an
// informer cache listing them all at its start.
type bed struct {
	env   *envtest.Environment
	cfg   *rest.Config
	c     client.WithWatch // the benchmark's: the one-at-a-time creates and the Ready watch
	wc    client.Client    // the contender's own (see onBed)
	w     *readyWatch
	dbURL string
	// kubeconfig is the stream process's credentials (a user of its own).
	kubeconfig string
	store      tenantstore.Store
	// direct is the reconciler without a manager, on wc: the direct contender, and
	// what capture provisions the floor's template Tenant with.
	direct *direct
}

// beds counts the beds made, so each gets a database of its own.
var beds int

// onBed starts a fresh bed, runs fn on it and tears it down.
func onBed(ctx context.Context, o options, scheme *runtime.Scheme, fn func(*bed) error) error {
	say("starting kube-apiserver, etcd and a database")
	env, cfg, err := kubetest.Start(filepath.Join(kubetest.RepoRoot(), "config", "crd", "bases"))
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	cfg.QPS, cfg.Burst = float32(o.qps), 2*o.qps
	beds++
	dbURL, dropDB, err := createDatabase(ctx, o.dbURL, beds)
	if err != nil {
		return err
	}
	defer dropDB()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	benchDB = pool
	defer func() { benchDB = nil }()

	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	w, err := newReadyWatch(ctx, c)
	if err != nil {
		return err
	}
	defer w.stop()
	// The contenders other than the operator write with a client of their own, as
	// the operator does: controller-runtime gives each client its own rate limiter
	// per resource type, and a contender sharing the benchmark's Tenant limiter would
	// slow the stream of creates it is timed against.
	wc, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	store := tenantstore.NewPostgres(pool)
	stop := make(chan struct{})
	defer close(stop) // the direct reconciler's Event recorder ends with its bed
	d, err := newDirect(cfg, wc, scheme, store, stop)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "operatorbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kubeconfig, err := userKubeconfig(env, "stream", dir)
	if err != nil {
		return err
	}
	return fn(&bed{env: env, cfg: cfg, c: c, wc: wc, w: w, dbURL: dbURL, kubeconfig: kubeconfig, store: store, direct: d})
}

// createDatabase makes a fresh migrated database and returns its URL and a cleanup.
func createDatabase(ctx context.Context, base string, seq int) (string, func(), error) {
	name := "kommerce_bench_operator_" + strconv.Itoa(os.Getpid()) + "_" + strconv.Itoa(seq)
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("connect to PostgreSQL (hack/services.sh up postgres): %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	drop := func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(context.Background())
		}
	}
	url := strings.Replace(base, "/kommerce?", "/"+name+"?", 1)
	db, err := migrations.Open(url)
	if err == nil {
		err = migrations.Up(ctx, db, slog.New(slog.NewTextHandler(io.Discard, nil)))
		db.Close()
	}
	if err != nil {
		drop()
		return "", nil, err
	}
	return url, drop, nil
}

// readyWatch records when each Tenant was first seen Ready.
type readyWatch struct {
	mu     sync.Mutex
	seen   map[string]time.Time
	notify chan struct{}
	cancel context.CancelFunc
}

func newReadyWatch(ctx context.Context, c client.WithWatch) (*readyWatch, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &readyWatch{seen: map[string]time.Time{}, notify: make(chan struct{}, 1), cancel: cancel}
	wi, err := c.Watch(ctx, &kv1.TenantList{})
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		for ev := range wi.ResultChan() {
			t, ok := ev.Object.(*kv1.Tenant)
			if !ok || ev.Type == watch.Deleted || !meta.IsStatusConditionTrue(t.Status.Conditions, kv1.ConditionReady) {
				continue
			}
			now := time.Now()
			w.mu.Lock()
			if _, done := w.seen[t.Name]; !done {
				w.seen[t.Name] = now
			}
			w.mu.Unlock()
			select {
			case w.notify <- struct{}{}:
			default:
			}
		}
	}()
	return w, nil
}

func (w *readyWatch) stop() { w.cancel() }

// wait blocks until every name is Ready and returns the Ready times.
func (w *readyWatch) wait(ctx context.Context, names []string, timeout time.Duration) (map[string]time.Time, error) {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		out := map[string]time.Time{}
		for _, n := range names {
			if at, ok := w.seen[n]; ok {
				out[n] = at
			}
		}
		w.mu.Unlock()
		if len(out) == len(names) {
			return out, nil
		}
		select {
		case <-w.notify:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			return nil, fmt.Errorf("%d of %d tenants Ready after %s", len(out), len(names), timeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func benchTenant(name string) *kv1.Tenant {
	return &kv1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: kv1.TenantSpec{
			Owners:     []kv1.TenantOwner{{Kind: kv1.OwnerGroup, Name: name + "-admins"}},
			Namespaces: []kv1.NamespaceName{kv1.NamespaceName(name + "-shop")},
		},
	}
}

func runID() string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeFunc brings a Tenant just created to Ready: a contender other than the
// operator. It gets the created object (its UID and resourceVersion), which the
// operator has from its informer.
type writeFunc func(ctx context.Context, t *kv1.Tenant) error

// sequential applies n tenants one after the other, each waiting for Ready; reconcile
// (baseline) drives it directly, nil leaves it to the operator.
func sequential(ctx context.Context, c client.Client, w *readyWatch, prefix string, n int, reconcile writeFunc) ([]time.Duration, error) {
	id := runID()
	var out []time.Duration
	for i := range n {
		name := fmt.Sprintf("%s-%s-%03d", prefix, id, i)
		t := benchTenant(name)
		if err := c.Create(ctx, t); err != nil {
			return nil, err
		}
		created := time.Now()
		if reconcile != nil {
			if err := reconcile(ctx, t); err != nil {
				return nil, err
			}
		}
		ready, err := w.wait(ctx, []string{name}, 60*time.Second)
		if err != nil {
			return nil, err
		}
		out = append(out, ready[name].Sub(created))
	}
	return out, nil
}

// burst has a stream process create n tenants back to back (or rate a second) and
// waits for all. With reconcile set, workers goroutines reconcile each tenant as soon
// as the stream reports it created. It returns each Tenant's latency, the time from
// the first create to the last Ready, how long the stream took to create them all,
// and the stream's CPU.
func burst(ctx context.Context, b *bed, prefix string, n, workers int, rate float64, qps int, reconcile writeFunc) (burstResult, error) {
	var res burstResult
	prefix += "-" + runID()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	created := map[string]time.Time{}
	queue := make(chan *kv1.Tenant, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	if reconcile != nil {
		for range workers {
			wg.Go(func() {
				for t := range queue {
					if err := reconcile(ctx, t); err != nil {
						errs <- err
					}
				}
			})
		}
	}
	s, err := startStream(ctx, b.kubeconfig, prefix, n, rate, qps)
	if err != nil {
		close(queue)
		return res, err
	}
	var start, lastCreate time.Time
	for {
		l, ok, err := s.next()
		if err != nil || !ok {
			close(queue)
			if err != nil {
				s.kill() // it may be blocked writing lines nobody reads now
				wg.Wait()
				return res, err
			}
			break
		}
		if l.Start != 0 {
			start = time.Unix(0, l.Start)
			continue
		}
		lastCreate = time.Unix(0, l.At)
		created[l.Name] = lastCreate
		if reconcile != nil {
			t := benchTenant(l.Name)
			t.UID, t.ResourceVersion, t.Generation = l.UID, l.ResourceVersion, l.Generation
			queue <- t
		}
	}
	if res.streamCPU, err = s.wait(); err != nil {
		wg.Wait()
		return res, err
	}
	if len(created) != n {
		wg.Wait()
		return res, fmt.Errorf("the stream reported %d of %d creates", len(created), n)
	}
	ready, err := b.w.wait(ctx, names, 10*time.Minute)
	wg.Wait()
	close(errs)
	if e := <-errs; e != nil {
		return res, e
	}
	if err != nil {
		return res, err
	}
	var last time.Time
	res.latencies = make([]time.Duration, 0, n)
	for _, name := range names {
		res.latencies = append(res.latencies, ready[name].Sub(created[name]))
		if ready[name].After(last) {
			last = ready[name]
		}
	}
	res.total, res.stream = last.Sub(start), lastCreate.Sub(start)
	return res, nil
}

// burstResult is what burst measured.
type burstResult struct {
	latencies     []time.Duration
	total, stream time.Duration // first create to last Ready; to the last create
	streamCPU     time.Duration
}

// apiProfileWindow is how long each kube-apiserver profile runs from the start of a
// burst: the same for both, and shorter than either burst of n back to back
// (at least 10 ms per Tenant here), so that each covers its own burst and nothing
// after it, and the two profiles' shares can be set against each other.
func apiProfileWindow(n int) time.Duration { return time.Duration(n) * 8 * time.Millisecond }

// measure runs one contender: o.seq tenants one at a time, then a burst of o.n with
// o.concurrency workers, counting the API requests of the burst. beforeBurst, if set,
// runs just before the burst starts.
func measure(ctx context.Context, b *bed, prefix string, o options, write writeFunc, beforeBurst func()) (result, error) {
	var res result
	var err error
	if res.seq, err = sequential(ctx, b.c, b.w, prefix+"-s", o.seq, write); err != nil {
		return res, fmt.Errorf("sequential: %w", err)
	}
	before, err := apiRequests(ctx, b.cfg)
	if err != nil {
		return res, err
	}
	if beforeBurst != nil {
		beforeBurst()
	}
	br, err := burst(ctx, b, prefix+"-b", o.n, o.concurrency, o.rate, o.qps, write)
	if err != nil {
		return res, fmt.Errorf("burst: %w", err)
	}
	if res.api, err = requestsSince(ctx, b.cfg, before); err != nil {
		return res, err
	}
	res.add(br)
	return res, nil
}

// direct runs the Tenant reconciler without a manager: plain client, no cache.
type direct struct {
	r *tenant.Reconciler
}

// newDirect returns the reconciler on c; its Event recorder stops when stop closes.
func newDirect(cfg *rest.Config, c client.Client, scheme *runtime.Scheme, store tenantstore.Store, stop <-chan struct{}) (*direct, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	b.StartRecordingToSink(stop)
	rec, ok := b.NewRecorder(scheme, "kommerce-bench").(recorder.EventRecorder)
	if !ok {
		return nil, errors.New("event recorder lacks AnnotatedEventf")
	}
	return &direct{r: &tenant.Reconciler{Client: c, Recorder: rec, Store: store, Rand: rand.Reader}}, nil
}

// reconcile runs passes until one asks for nothing more, as the work queue would.
func (d *direct) reconcile(ctx context.Context, t *kv1.Tenant) error {
	name := t.Name
	for range 10 {
		res, err := d.r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Name: name}})
		if err != nil {
			return err
		}
		if res.IsZero() {
			return nil
		}
		time.Sleep(res.RequeueAfter)
	}
	return fmt.Errorf("tenant %s still requeued after 10 passes", name)
}

type operatorProc struct {
	cmd                    *exec.Cmd
	log                    *os.File
	done                   chan error
	metricsAddr, pprofAddr string
}

// newScheme knows the built-in kinds and kommerce's.
func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = kv1.AddToScheme(scheme)
	return scheme
}

// userKubeconfig adds a cluster administrator named name to env and writes its
// kubeconfig into dir, for a process of the benchmark's own (the operator, the
// stream of creates) to connect as itself.
func userKubeconfig(env *envtest.Environment, name, dir string) (string, error) {
	user, err := env.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name+".kubeconfig")
	return path, os.WriteFile(path, kc, 0o600)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// profiler is a CPU profile of the operator being taken.
type profiler struct{ done chan error }

func (p *profiler) wait() error { return <-p.done }

// cpuProfile records the operator's CPU for about d (at least 5s) into path.
func (p *operatorProc) cpuProfile(ctx context.Context, path string, d time.Duration) *profiler {
	pr := &profiler{done: make(chan error, 1)}
	secs := max(5, int(d.Seconds()+0.5))
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.pprofAddr, secs), nil)
		if err != nil {
			pr.done <- err
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			pr.done <- err
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			pr.done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		pr.done <- errors.Join(err, f.Close())
	}()
	return pr
}

func startOperator(ctx context.Context, env *envtest.Environment, o options, dbURL string) (*operatorProc, error) {
	dir, err := os.MkdirTemp("", "operatorbench")
	if err != nil {
		return nil, err
	}
	kubeconfig, err := userKubeconfig(env, "operator", dir)
	if err != nil {
		return nil, err
	}
	probe, err := freeAddr()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	pprofAddr := "0"
	if o.profile != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	logf, err := os.Create(filepath.Join(dir, "operator.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, o.kommerce, "operator", "--metrics-addr", metricsAddr, "--probe-addr", probe, "--pprof-addr", pprofAddr,
		"--max-concurrent-reconciles", strconv.Itoa(o.concurrency),
		"--kube-api-qps", strconv.Itoa(o.qps), "--kube-api-burst", strconv.Itoa(2*o.qps), "--log-level", "warn")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "KOMMERCE_DATABASE_URL="+dbURL)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &operatorProc{cmd: cmd, log: logf, done: make(chan error, 1), metricsAddr: metricsAddr, pprofAddr: pprofAddr}
	go func() { p.done <- cmd.Wait() }()
	for range 300 {
		resp, err := http.Get("http://" + probe + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				time.Sleep(2 * time.Second) // let the start-up list of leftovers settle
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("operator exited: %w\n%s", err, p.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
	p.stop()
	return nil, fmt.Errorf("operator not ready after 30s\n%s", p.logTail())
}

func (p *operatorProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			say("operator exited: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
	}
	p.log.Close()
	_ = os.RemoveAll(filepath.Dir(p.log.Name()))
}

func (p *operatorProc) logTail() string {
	b, _ := os.ReadFile(p.log.Name())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// status reads a "Vm...:  123 kB" line of /proc/<pid>/status in MiB.
func (p *operatorProc) status(key string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return math.NaN()
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key+":") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return math.NaN()
}

func (p *operatorProc) rss() float64 { return p.status("VmRSS") }
func (p *operatorProc) hwm() float64 { return p.status("VmHWM") }

type sampler struct {
	mu   sync.Mutex
	peak float64
	quit chan struct{}
}

func (p *operatorProc) samplePeak() *sampler {
	s := &sampler{quit: make(chan struct{})}
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-t.C:
				v := p.rss()
				s.mu.Lock()
				s.peak = max(s.peak, v)
				s.mu.Unlock()
			}
		}
	}()
	return s
}

func (s *sampler) stop() { close(s.quit) }
func (s *sampler) max() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

func ratio(a, b time.Duration) string { return fmt.Sprintf("%.2f×", float64(a)/float64(b)) }

// result is one contender's latencies.
type result struct {
	seq, burst    []time.Duration
	total, stream time.Duration // the burst's first create to last Ready; to its last create
	api, op       counters      // API requests during the burst; the operator's own metrics
}

// add records the burst's figures; the stream process's CPU joins the others in api.
func (r *result) add(b burstResult) {
	r.burst, r.total, r.stream = b.latencies, b.total, b.stream
	if r.api == nil {
		r.api = counters{}
	}
	r.api["cpu ms stream of creates (its own process)"] += float64(b.streamCPU) / float64(time.Millisecond)
}

// settle is how long the work a burst triggers after its last Ready (passes
// caused by the contender's own writes) is given to land in the counts.
const settle = 3 * time.Second

// requestsSince waits for the trailing work to settle and returns the API requests
// made since before.
func requestsSince(ctx context.Context, cfg *rest.Config, before counters) (counters, error) {
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	after, err := apiRequests(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return after.sub(before), nil
}

func row(r result, burst bool) (p50, p99 time.Duration) {
	d := r.seq
	if burst {
		d = r.burst
	}
	return pct(d, .5), pct(d, .99)
}

func report(o options, bare, minimal, direct, op result, idle, peak, hwm float64) {
	paced := "created back to back"
	if o.rate > 0 {
		paced = fmt.Sprintf("created %g a second", o.rate)
	}
	fmt.Printf("\nTenant applied → Ready (seen by a watch), envtest + PostgreSQL, concurrency %d, client QPS %d, burst %s\n", o.concurrency, o.qps, paced)
	fmt.Printf("bare writes: the operator's objects, copied; minimal: the smaller objects and fewer writes of earlier rounds\n\n")
	fmt.Println("| run | tenants | bare writes p50 / p99 | minimal bare p50 / p99 | direct reconcile p50 / p99 | operator p50 / p99 | operator p99 ÷ bare p99 | ÷ minimal p99 |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, b := range []bool{false, true} {
		name, n := "one at a time", len(op.seq)
		if b {
			name, n = "burst", len(op.burst)
		}
		b50, b99 := row(bare, b)
		m50, m99 := row(minimal, b)
		d50, d99 := row(direct, b)
		o50, o99 := row(op, b)
		fmt.Printf("| %s | %d | %s / %s | %s / %s | %s / %s | %s / %s | %s | %s |\n", name, n, ms(b50), ms(b99), ms(m50), ms(m99), ms(d50), ms(d99), ms(o50), ms(o99), ratio(o99, b99), ratio(o99, m99))
	}
	fmt.Printf("\nBurst of %d, first create to last Ready: bare %s, minimal %s, direct %s, operator %s (%s of bare, %s of minimal).\n",
		len(op.burst), ms(bare.total), ms(minimal.total), ms(direct.total), ms(op.total), ratio(op.total, bare.total), ratio(op.total, minimal.total))
	fmt.Printf("The stream of creates (a process of its own), first to last create: bare %s, minimal %s, direct %s, operator %s.\n",
		ms(bare.stream), ms(minimal.stream), ms(direct.stream), ms(op.stream))
	fmt.Printf("Operator memory: RSS %.0f MiB idle, %.0f MiB peak during the burst, high-water mark %.0f MiB (%d Tenants, %d namespaces, %d owned objects).\n",
		idle, peak, hwm, len(op.seq)+len(op.burst), len(op.seq)+len(op.burst), 6*(len(op.seq)+len(op.burst)))
	n := len(op.burst)
	fmt.Printf("\nPer Tenant of the burst (kube-apiserver apiserver_request_total, every client, watches left out; includes the benchmark's own Tenant create):\n")
	fmt.Printf("bare writes:\n%s", perTenant(bare.api, n))
	fmt.Printf("minimal bare writes:\n%s", perTenant(minimal.api, n))
	fmt.Printf("direct reconcile:\n%s", perTenant(direct.api, n))
	fmt.Printf("operator:\n%s", perTenant(op.api, n))
	fmt.Printf("operator's own metrics:\n%s", perTenant(op.op, n))

	_, b99 := row(bare, true)
	_, m99 := row(minimal, true)
	_, o99 := row(op, true)
	size := "1,000 Tenants"
	if n != 1000 {
		size = fmt.Sprintf("%d Tenants (target at 1,000)", n)
	}
	goal := "<= 1.5x"
	if o.rate > 0 {
		// The target is the burst created back to back; a paced one is a figure.
		size = fmt.Sprintf("%d Tenants created %g a second (the target's burst is back to back)", n, o.rate)
		goal = ""
	}
	x := float64(o99) / float64(b99)
	fmt.Println()
	benchsummary.Print(os.Stdout, benchsummary.Result{
		Target:   fmt.Sprintf("operator: %s apply -> Ready p99 vs bare writes of the same objects", size),
		Goal:     goal,
		Measured: fmt.Sprintf("%.2fx (%s vs %s)", x, ms(o99), ms(b99)),
		Met:      goal != "" && x <= 1.5,
	})
	// The earlier rounds' floor, a figure beside the target (no goal): what the
	// operator's objects and writes cost over the least a Tenant could be given.
	benchsummary.Print(os.Stdout, benchsummary.Result{
		Target:   fmt.Sprintf("operator: %s apply -> Ready p99 vs the minimal bare writes of earlier rounds (smaller objects; no finalizer, isolation or Event)", size),
		Measured: fmt.Sprintf("%.2fx (%s vs %s)", float64(o99)/float64(m99), ms(o99), ms(m99)),
	})
}

// bareWriter is the floor of earlier rounds: smaller objects than the operator's
// (one label, one rule), created with plain calls, the database row and a status with
// Ready alone — no finalizer, spec.isolation or Event. sameWriter is the target's.
type bareWriter struct {
	c     client.Client
	store tenantstore.Store
}

func (b *bareWriter) write(ctx context.Context, t *kv1.Tenant) error {
	name := t.Name
	ns := name + "-shop"
	labels := map[string]string{"kommerce.io/bench": name}
	om := func(n string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: n, Namespace: ns, Labels: labels} }
	key := make([]byte, 119) // the size of a PKCS#8 Ed25519 PEM block
	_, _ = rand.Read(key)
	pods := resource.MustParse("100")
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}},
		&corev1.ResourceQuota{ObjectMeta: om("q"), Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: pods}}},
		&corev1.LimitRange{ObjectMeta: om("l"), Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}}}}},
		&networkingv1.NetworkPolicy{ObjectMeta: om("n"), Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: labels}}}}}}},
		&rbacv1.Role{ObjectMeta: om("r"), Rules: []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}}}},
		&rbacv1.RoleBinding{ObjectMeta: om("rb"), RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "r"},
			Subjects: []rbacv1.Subject{{Kind: "Group", APIGroup: rbacv1.GroupName, Name: name + "-admins"}}},
		&corev1.Secret{ObjectMeta: om("s"), Data: map[string][]byte{"jwt-signing-key": key}},
	}
	for _, o := range objs {
		if err := b.c.Create(ctx, o); err != nil {
			return fmt.Errorf("create %T: %w", o, err)
		}
	}
	if _, err := b.store.Ensure(ctx, tenantstore.Desired{Slug: name, Name: name}); err != nil {
		return err
	}
	t = t.DeepCopy()
	patch := client.MergeFrom(t.DeepCopy())
	ready := metav1.Condition{Type: kv1.ConditionReady, Status: metav1.ConditionTrue, Reason: kv1.ReasonAllPartsReady, Message: "bare", LastTransitionTime: metav1.Now()}
	t.Status.Conditions = []metav1.Condition{ready}
	return b.c.Status().Patch(ctx, t, patch)
}
