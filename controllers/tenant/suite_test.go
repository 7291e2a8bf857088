package tenant_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/controllers/tenant"
	"github.com/kommerce/kommerce/internal/tenantstore"
	"github.com/kommerce/kommerce/internal/testenv"
	"github.com/kommerce/kommerce/internal/testenv/kubetest"
)

// One real kube-apiserver for the package; every test runs its own operator (a
// manager in this process) against its own database, one test at a time, and
// deletes its Tenants before its operator stops.

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

// operator is one running manager with the Tenant controller, seen through an
// uncached client (what a user sees with kubectl).
type operator struct {
	k8s   client.Client
	db    *testenv.Database
	store *tenantstore.Postgres
}

type option func(*tenant.Reconciler)

// startOperator runs the Tenant controller until the test ends.
func startOperator(t *testing.T, opts ...option) *operator {
	t.Helper()
	kubetest.Unavailable(t, startErr)
	return startOperatorAs(t, cfg, opts...)
}

// startOperatorAs runs the Tenant controller with the API credentials of as; the
// test's own client (operator.k8s) stays the suite's administrator.
func startOperatorAs(t *testing.T, as *rest.Config, opts ...option) *operator {
	t.Helper()
	db := testenv.NewDatabase(t)
	skip := true
	mgr, err := ctrl.NewManager(as, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{ByObject: tenant.CacheByObject()},
		Controller:             config.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		t.Fatal(err)
	}
	store := tenantstore.NewPostgres(db.Pool)
	r := &tenant.Reconciler{
		Client:                  mgr.GetClient(),
		Recorder:                mgr.GetEventRecorder("kommerce-operator"),
		Store:                   store,
		MaxConcurrentReconciles: 2,
	}
	for _, o := range opts {
		o(r)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &operator{k8s: k8s, db: db, store: store}
}

// reconcileWait bounds every wait for the operator: generous, since the suite runs
// beside CPU-heavy builds; a test that waits this long has failed anyway.
const reconcileWait = 45 * time.Second
