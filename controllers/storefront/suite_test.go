package storefront_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/controllers/storefront"
	"github.com/kommerce/kommerce/controllers/tenant"
	"github.com/kommerce/kommerce/internal/testenv/kubetest"
)

// One real kube-apiserver for the package; every test runs its own operator (a
// manager with the Storefront controller only) and uses its own namespaces and
// Tenant. Tenants are made Ready by writing their status, as the Tenant controller
// would: that controller has its own tests.

var (
	cfg      *rest.Config
	scheme   = runtime.NewScheme()
	startErr error
)

func TestMain(m *testing.M) {
	_ = clientgoscheme.AddToScheme(scheme)
	_ = kv1.AddToScheme(scheme)
	handler := slog.NewTextHandler(io.Discard, nil)
	if os.Getenv("KOMMERCE_TEST_LOG") != "" {
		handler = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	log.SetLogger(logr.FromSlogHandler(handler))
	os.Exit(kubetest.Main(m, func(c *rest.Config, err error) { cfg, startErr = c, err },
		filepath.Join(kubetest.RepoRoot(), "config", "crd", "bases")))
}

// reconcileWait bounds every wait for the operator; generous, as the suite runs
// beside CPU-heavy builds.
const reconcileWait = 45 * time.Second

// checkServer answers the pre-promotion checks the operator sends to preview
// Services, which do not resolve in envtest: the test's checker sends them here
// instead, path and tenant header intact.
type checkServer struct {
	*httptest.Server
	mu     sync.Mutex
	status map[string]int // path → status; 200 when absent
	seen   []string       // "<tenant> <path>"
}

func newCheckServer(t *testing.T) *checkServer {
	cs := &checkServer{status: map[string]int{}}
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.mu.Lock()
		code, ok := cs.status[r.URL.Path]
		cs.seen = append(cs.seen, r.Header.Get("X-Kommerce-Tenant")+" "+r.URL.RequestURI())
		cs.mu.Unlock()
		if !ok {
			code = http.StatusOK
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"answer":"`+http.StatusText(code)+`"}`)
	}))
	t.Cleanup(cs.Close)
	return cs
}

func (cs *checkServer) answer(path string, code int) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.status[path] = code
}

func (cs *checkServer) requests() []string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]string(nil), cs.seen...)
}

// redirectChecker runs the real HTTP checker against the check server, keeping the
// preview URL's host in a header so a test can see where the check was meant to go.
type redirectChecker struct {
	target string
	mu     sync.Mutex
	hosts  []string
}

func (c *redirectChecker) Check(ctx context.Context, req storefront.CheckRequest) storefront.CheckAnswer {
	u, err := url.Parse(req.URL)
	if err != nil {
		return storefront.CheckAnswer{Err: err}
	}
	c.mu.Lock()
	c.hosts = append(c.hosts, u.Host)
	c.mu.Unlock()
	req.URL = strings.TrimSuffix(c.target, "/") + u.RequestURI()
	return storefront.HTTPChecker{}.Check(ctx, req)
}

// operator is one running manager with the Storefront controller, seen through an
// uncached client (what a user sees with kubectl).
type operator struct {
	k8s     client.Client
	checks  *checkServer
	checker *redirectChecker
	// dataPlane is the operator's data-plane Secret.
	dataPlane types.NamespacedName
	clock     *clock
}

// clock is the operator's time; tests move it forward to pass a deadline or a
// rollback window without waiting.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

type option func(*storefront.Reconciler)

// startOperator creates the data-plane Secret in its own namespace and runs the
// Storefront controller until the test ends.
func startOperator(t *testing.T, opts ...option) *operator {
	t.Helper()
	kubetest.Unavailable(t, startErr)
	k, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	system := createNamespace(t, k, shortName("system"))
	dp := types.NamespacedName{Namespace: system, Name: "data-plane"}
	if err := k.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: dp.Namespace, Name: dp.Name},
		StringData: map[string]string{
			"database-url": "postgres://kommerce:secret@postgres:5432/kommerce", "kafka-brokers": "kafka:9092",
			"elasticsearch-url": "http://elasticsearch:9200", "secrets-key": "k1 AAAA", "unrelated": "not copied",
		},
	}); err != nil {
		t.Fatal(err)
	}
	byObject := tenant.CacheByObject()
	for o, b := range storefront.CacheByObject() {
		byObject[o] = b
	}
	skip := true
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{ByObject: byObject},
		Controller:             config.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		t.Fatal(err)
	}
	cs := newCheckServer(t)
	o := &operator{k8s: k, checks: cs, checker: &redirectChecker{target: cs.URL}, dataPlane: dp, clock: &clock{}}
	r := &storefront.Reconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("kommerce-operator"),
		Checker:                 o.checker,
		DataPlaneSecret:         dp,
		OperatorNamespace:       system,
		Now:                     o.clock.now,
		MaxConcurrentReconciles: 2,
	}
	for _, opt := range opts {
		opt(r)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return o
}
