package modelversion_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/controllers/modelversion"
	"github.com/kommerce/kommerce/internal/testenv/kubetest"
)

// One real kube-apiserver for the package; every test runs its own operator (a
// manager in this process) in its own namespace. envtest has no kubelet and no
// Deployment controller: tests play them, writing the Deployment's ready count and
// the pods' container statuses the way a cluster would.

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

// reconcileWait bounds every wait for the operator.
const reconcileWait = 45 * time.Second

// clock is the operator's clock, moved by the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// judge is a Judge whose decision the test sets.
type judge struct {
	mu     sync.Mutex
	d      modelversion.Decision
	trials []modelversion.Trial
}

func (j *judge) Judge(_ context.Context, t modelversion.Trial) (modelversion.Decision, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.trials = append(j.trials, t)
	return j.d, nil
}

func (j *judge) set(d modelversion.Decision) { j.mu.Lock(); j.d = d; j.mu.Unlock() }

func (j *judge) last() (modelversion.Trial, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.trials) == 0 {
		return modelversion.Trial{}, false
	}
	return j.trials[len(j.trials)-1], true
}

// operator is one running manager with the ModelVersion controller, seen through
// an uncached client (what a user sees with kubectl), and the namespace of its test.
type operator struct {
	k8s   client.Client
	ns    string
	clock *clock
	judge *judge
}

// startOperator runs the ModelVersion controller until the test ends; withJudge
// gives it a judge the test controls (else it has none).
func startOperator(t *testing.T, withJudge bool) *operator {
	t.Helper()
	kubetest.Unavailable(t, startErr)
	skip := true
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		t.Fatal(err)
	}
	o := &operator{clock: &clock{now: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}}
	r := &modelversion.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder("kommerce-operator"),
		Settings: modelversion.Settings{Image: "kommerce.local/kommerce:test"},
		Now:      o.clock.Now, MaxConcurrentReconciles: 2,
	}
	if withJudge {
		o.judge = &judge{}
		r.Judge = o.judge
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
	o.k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	o.ns = "mv-" + hex.EncodeToString(b)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.ns}}
	if err := o.k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.k8s.Delete(context.Background(), ns) })
	return o
}
