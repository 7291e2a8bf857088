package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/controllers"
	"github.com/kommerce/kommerce/controllers/modelversion"
	"github.com/kommerce/kommerce/controllers/modelversion/analysis"
	"github.com/kommerce/kommerce/controllers/storefront"
	"github.com/kommerce/kommerce/controllers/tenant"
	"github.com/kommerce/kommerce/ingest/experiments"
	exppg "github.com/kommerce/kommerce/ingest/experiments/postgres"
	"github.com/kommerce/kommerce/internal/config"
	"github.com/kommerce/kommerce/internal/k8s"
	"github.com/kommerce/kommerce/internal/tenantstore"
	"github.com/kommerce/kommerce/internal/version"
)

// operatorConfig is the settings of `kommerce operator`.
type operatorConfig struct {
	logConfig
	kubeconfig        string
	databaseURL       string
	metricsAddr       string
	probeAddr         string
	pprofAddr         string
	leaderElect       bool
	leaderElectionNS  string
	watchNamespaces   string
	concurrency       int
	kubeQPS           int
	kubeBurst         int
	gracefulShutdown  time.Duration
	leaderElectionID  string
	leaseDuration     time.Duration
	renewDeadline     time.Duration
	leaderRetryPeriod time.Duration
	inferenceImage    string
	reportAddr        string
	dataPlaneSecret   string
	storefrontImage   string
	operatorNamespace string
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// namespaceList checks a comma-separated list of namespace names (empty allowed).
func namespaceList(v string) error {
	for _, ns := range splitList(v) {
		if !dnsLabel.MatchString(ns) {
			return fmt.Errorf("want comma-separated namespace names, %q is not one", ns)
		}
	}
	return nil
}

// namespaceName checks one namespace name (empty allowed).
func namespaceName(v string) error {
	if v != "" && !dnsLabel.MatchString(v) {
		return errors.New("want a namespace name (lowercase letters, digits and '-')")
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// namespacedName checks "<namespace>/<name>" (empty allowed).
func namespacedName(v string) error {
	if v == "" {
		return nil
	}
	ns, name, ok := strings.Cut(v, "/")
	if !ok || !dnsLabel.MatchString(ns) || name == "" || strings.Contains(name, "/") {
		return errors.New("want <namespace>/<name>, e.g. kommerce-system/kommerce-data-plane")
	}
	return nil
}

// listenAddrOrOff accepts host:port, or 0 to turn the listener off.
func listenAddrOrOff(v string) error {
	if v == "0" {
		return nil
	}
	return config.HostPort(v)
}

func (c *operatorConfig) register(set *config.Set) {
	c.logConfig.register(set)
	set.String(&c.kubeconfig, "kubeconfig", "KUBECONFIG", "", "kubeconfig file (a list separated by ':' is merged); in-cluster configuration when unset")
	databaseURLFlag(set, &c.databaseURL)
	set.String(&c.metricsAddr, "metrics-addr", "KOMMERCE_METRICS_ADDR", defaultOperatorMetricsAddr, "listen address of the Prometheus /metrics endpoint (0 turns it off)", config.Check(listenAddrOrOff))
	set.String(&c.probeAddr, "probe-addr", "KOMMERCE_PROBE_ADDR", defaultOperatorProbeAddr, "listen address of /healthz and /readyz (0 turns it off)", config.Check(listenAddrOrOff))
	set.String(&c.pprofAddr, "pprof-addr", "KOMMERCE_PPROF_ADDR", "0", "listen address of Go's /debug/pprof endpoints, for profiling the reconcilers (0 turns it off)", config.Check(listenAddrOrOff))
	set.String(&c.reportAddr, "report-addr", "KOMMERCE_REPORT_ADDR", defaultOperatorReportAddr, "listen address of the experiment reports, GET /experiments/<namespace>/<modelversion> (HTML; 0 turns it off); every replica serves them", config.Check(listenAddrOrOff))
	set.Bool(&c.leaderElect, "leader-elect", "KOMMERCE_LEADER_ELECT", false, "elect one active replica through a Lease (set true when running more than one)")
	set.String(&c.leaderElectionNS, "leader-election-namespace", "KOMMERCE_LEADER_ELECTION_NAMESPACE", "", "namespace of the leader Lease (default: the pod's own namespace)", config.Check(namespaceName))
	set.String(&c.leaderElectionID, "leader-election-id", "KOMMERCE_LEADER_ELECTION_ID", "kommerce-operator.kommerce.io", "name of the leader Lease")
	set.Duration(&c.leaseDuration, "leader-lease-duration", "KOMMERCE_LEADER_LEASE_DURATION", 15*time.Second, "how long a lost leader's lease blocks the others")
	set.Duration(&c.renewDeadline, "leader-renew-deadline", "KOMMERCE_LEADER_RENEW_DEADLINE", 10*time.Second, "how long the leader retries renewing before it gives up")
	set.Duration(&c.leaderRetryPeriod, "leader-retry-period", "KOMMERCE_LEADER_RETRY_PERIOD", 2*time.Second, "how often candidates try to acquire the lease")
	set.String(&c.watchNamespaces, "watch-namespaces", "KOMMERCE_WATCH_NAMESPACES", "", "comma-separated namespaces whose objects the operator sees and manages (empty: all); a Tenant using another namespace reports NamespaceNotWatched", config.Check(namespaceList))
	set.Int(&c.concurrency, "max-concurrent-reconciles", "KOMMERCE_MAX_CONCURRENT_RECONCILES", 4, "resources of one kind reconciled in parallel", config.Check(config.Positive))
	set.Int(&c.kubeQPS, "kube-api-qps", "KOMMERCE_KUBE_API_QPS", 50, "sustained requests per second to the Kubernetes API", config.Check(config.Positive))
	set.Int(&c.kubeBurst, "kube-api-burst", "KOMMERCE_KUBE_API_BURST", 100, "request burst to the Kubernetes API", config.Check(config.Positive))
	set.String(&c.inferenceImage, "inference-image", "KOMMERCE_INFERENCE_IMAGE", "kommerce:"+version.Version, "image running `kommerce inference` in each ModelVersion's pods")
	set.String(&c.dataPlaneSecret, "data-plane-secret", "KOMMERCE_DATA_PLANE_SECRET", "", "<namespace>/<name> of the Secret whose database-url (required), redis-url, kafka-brokers, elasticsearch-url and secrets-key every Storefront's pods use (copied into <storefront>-connections); unset: Storefronts report DataPlaneNotConfigured", config.Check(namespacedName))
	set.String(&c.storefrontImage, "storefront-image", "KOMMERCE_STOREFRONT_IMAGE", storefront.DefaultRepository, "image repository of Storefronts without spec.image; a Storefront runs <repository>:<spec.version>")
	set.String(&c.operatorNamespace, "operator-namespace", "KOMMERCE_OPERATOR_NAMESPACE", "", "namespace the operator runs in; each Storefront gets a NetworkPolicy letting it reach the API pods for the pre-promotion checks (unset: no such policy)", config.Check(namespaceName))
	set.Duration(&c.gracefulShutdown, "shutdown-timeout", "KOMMERCE_SHUTDOWN_TIMEOUT", 30*time.Second, "how long running reconciles may finish after SIGTERM")
}

func runOperator(ctx context.Context, e *env) error {
	set := config.NewSet("operator", `Run the Kubernetes operator:
  - the Tenant controller (namespaces, quotas, limit ranges, network policies, owners'
    RBAC, identity Secrets and the tenants registry in PostgreSQL);
  - the Storefront controller (settings ConfigMap, blue/green API Deployments, ingest
    Deployment, Services, autoscaler, disruption budget, Ingresses; blue-green rollouts
    with pre-promotion checks, freeze windows, abort and undo);
  - the ModelVersion controller (inference pods per version, rollouts and traffic
    splits, judged on the experiment aggregates the ingest pipeline keeps).`, e.getenv)
	var c operatorConfig
	c.register(set)
	if _, err := set.Parse(e.args, e.stdout); err != nil {
		return err
	}
	log := c.logger(e.stderr)
	sink := logr.FromSlogHandler(log.Handler())
	ctrl.SetLogger(sink)
	if e.stderr == os.Stderr {
		// klog (client-go's logger) is process-global and not safe to swap while
		// clients run; bridge it only for the real process, not an in-process test.
		klog.SetLogger(sink)
	}

	restCfg, err := kubeConfig(c.kubeconfig)
	if err != nil {
		return err
	}
	restCfg.QPS, restCfg.Burst = float32(c.kubeQPS), c.kubeBurst
	restCfg.UserAgent = "kommerce-operator"
	// No gzip between the operator and the API server: they talk over the cluster
	// network, where the bytes are cheap and the CPU is not. The API server gzips
	// watch streams per flush for clients that accept it; at 1,000 new Tenants that
	// was 0.4 ms of its CPU per Tenant, and decompressing 0.2 ms of the operator's
	// (hack/bench/operator.sh -apiserver-profile, -cpuprofile).
	restCfg.DisableCompression = true

	pool, err := openDatabase(ctx, log, c.databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := tenantstore.NewPostgres(pool)

	mgr, watched, err := newManager(restCfg, &c)
	if err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("database", func(r *http.Request) error { return store.Ping(r.Context()) }); err != nil {
		return fmt.Errorf("add readiness check: %w", err)
	}
	r := &tenant.Reconciler{
		Client:                  mgr.GetClient(),
		Recorder:                mgr.GetEventRecorder(k8s.FieldManager),
		Store:                   store,
		Watched:                 watched,
		MaxConcurrentReconciles: c.concurrency,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the tenant controller: %w", err)
	}
	if err := setupStorefronts(mgr, &c, store); err != nil {
		return err
	}
	// Rollouts are judged on what shoppers did: the aggregates the ingest pipeline
	// keeps in the platform database, tested with always-valid sequential tests.
	aggregates := exppg.New(pool, experiments.Config{})
	judge := &analysis.Judge{Reader: aggregates, Client: mgr.GetClient()}
	if err := modelversion.Setup(mgr, modelversion.Options{Image: c.inferenceImage, Judge: judge, MaxConcurrentReconciles: c.concurrency}); err != nil {
		return fmt.Errorf("set up the modelversion controller: %w", err)
	}
	if c.reportAddr != "0" {
		reports := &analysis.ReportHandler{Judge: judge, Snapshots: aggregates, Log: log}
		if err := mgr.Add(newReportServer(c.reportAddr, reports, log)); err != nil {
			return fmt.Errorf("set up the experiment reports: %w", err)
		}
	}
	// kommerce_operator_resource_ready, for the not-Ready alert; unregistered at exit
	// so that an operator started again in the same process registers its own.
	readiness := controllers.ReadinessCollector{Reader: mgr.GetClient()}
	if err := ctrlmetrics.Registry.Register(readiness); err != nil {
		return fmt.Errorf("register readiness metrics: %w", err)
	}
	defer ctrlmetrics.Registry.Unregister(readiness)
	log.Info("operator starting", "metricsAddr", c.metricsAddr, "probeAddr", c.probeAddr,
		"leaderElect", c.leaderElect, "watchNamespaces", c.watchNamespaces, "host", restCfg.Host,
		"dataPlaneSecret", c.dataPlaneSecret, "storefrontImage", c.storefrontImage, "operatorNamespace", c.operatorNamespace)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("operator: %w", err)
	}
	log.Info("operator stopped")
	return nil
}

// reportServer serves the experiment reports on every replica, leader or not: they
// only read.
type reportServer struct {
	addr string
	h    http.Handler
	log  *slog.Logger
}

func newReportServer(addr string, h http.Handler, log *slog.Logger) *reportServer {
	return &reportServer{addr: addr, h: h, log: log}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (s *reportServer) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable.
func (s *reportServer) Start(ctx context.Context) error {
	srv := &http.Server{Addr: s.addr, Handler: s.h, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	s.log.Info("experiment reports served", "addr", s.addr)
	select {
	case err := <-errc:
		return fmt.Errorf("experiment reports on %s: %w", s.addr, err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

// setupStorefronts registers the Storefront controller.
func setupStorefronts(mgr ctrl.Manager, c *operatorConfig, hosts tenantstore.HostStore) error {
	sr := &storefront.Reconciler{
		Hosts:                   hosts,
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder(k8s.FieldManager),
		Repository:              c.storefrontImage,
		OperatorNamespace:       c.operatorNamespace,
		MaxConcurrentReconciles: c.concurrency,
	}
	if ns, name, ok := strings.Cut(c.dataPlaneSecret, "/"); ok {
		sr.DataPlaneSecret = types.NamespacedName{Namespace: ns, Name: name}
	}
	if err := sr.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the storefront controller: %w", err)
	}
	return nil
}

// kubeConfig loads the kubeconfig files in path, or the in-cluster configuration.
func kubeConfig(path string) (*rest.Config, error) {
	if path != "" {
		rules := &clientcmd.ClientConfigLoadingRules{Precedence: filepath.SplitList(path)}
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, config.Usagef("kubeconfig %s: %v", path, err)
		}
		return cfg, nil
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, config.Usagef("no cluster to talk to: set --kubeconfig or KUBECONFIG, or run the operator in a pod (%v)", err)
	}
	return cfg, nil
}

// openDatabase opens the pool of the tenants registry. An unreachable database is
// not fatal: in a pod, exiting would only crash-loop while PostgreSQL is down (or its
// Secret is wrong), and the Tenant controller already reports the failure where a
// user looks, as the DatabaseReady condition, retrying until the database answers.
// /readyz fails meanwhile.
func openDatabase(ctx context.Context, log *slog.Logger, url string) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, config.Usagef("KOMMERCE_DATABASE_URL: %v", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		log.Warn("PostgreSQL unreachable at start; tenants report DatabaseReady=False until it answers", "err", err)
	}
	return pool, nil
}

// newManager builds the controller-runtime manager and the predicate telling which
// namespaces its cache sees.
func newManager(restCfg *rest.Config, c *operatorConfig) (ctrl.Manager, func(string) bool, error) {
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), kv1.AddToScheme(scheme)); err != nil {
		return nil, nil, fmt.Errorf("build scheme: %w", err)
	}
	byObject := tenant.CacheByObject()
	for o, b := range storefront.CacheByObject() {
		byObject[o] = b
	}
	cacheOpts := cache.Options{ByObject: byObject}
	var watched func(string) bool
	if nss := splitList(c.watchNamespaces); len(nss) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range nss {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
		watched = func(ns string) bool { _, ok := cacheOpts.DefaultNamespaces[ns]; return ok }
	}
	lease, renew, retry := c.leaseDuration, c.renewDeadline, c.leaderRetryPeriod
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: c.metricsAddr},
		HealthProbeBindAddress:        c.probeAddr,
		PprofBindAddress:              c.pprofAddr,
		LeaderElection:                c.leaderElect,
		LeaderElectionID:              c.leaderElectionID,
		LeaderElectionNamespace:       c.leaderElectionNS,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &lease,
		RenewDeadline:                 &renew,
		RetryPeriod:                   &retry,
		GracefulShutdownTimeout:       &c.gracefulShutdown,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("create manager: %w", err)
	}
	return mgr, watched, nil
}
