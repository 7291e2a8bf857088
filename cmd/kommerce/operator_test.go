package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/internal/testenv"
	"github.com/kommerce/kommerce/internal/testenv/kubetest"
)

func TestOperatorFlags(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "help lists the settings", args: []string{"--help"}, wantCode: 0, wantStdout: "KOMMERCE_WATCH_NAMESPACES"},
		{name: "help names leader election", args: []string{"--help"}, wantCode: 0, wantStdout: "KOMMERCE_LEADER_ELECT"},
		{name: "help names the data-plane Secret", args: []string{"--help"}, wantCode: 0, wantStdout: "KOMMERCE_DATA_PLANE_SECRET"},
		{name: "help names the storefront image", args: []string{"--help"}, wantCode: 0, wantStdout: "KOMMERCE_STOREFRONT_IMAGE"},
		{name: "help names the operator namespace", args: []string{"--help"}, wantCode: 0, wantStdout: "KOMMERCE_OPERATOR_NAMESPACE"},
		{name: "data-plane Secret without namespace", env: map[string]string{"KOMMERCE_DATA_PLANE_SECRET": "kommerce-data-plane"}, wantCode: 2, wantStderr: "want <namespace>/<name>"},
		{name: "bad operator namespace", args: []string{"--operator-namespace", "Kommerce"}, wantCode: 2, wantStderr: "want a namespace name"},
		{name: "bad watch namespace", args: []string{"--watch-namespaces", "shop,Bad_NS"}, wantCode: 2, wantStderr: `"Bad_NS" is not one`},
		{name: "bad metrics address", env: map[string]string{"KOMMERCE_METRICS_ADDR": "8080"}, wantCode: 2, wantStderr: "KOMMERCE_METRICS_ADDR"},
		{name: "zero concurrency", args: []string{"--max-concurrent-reconciles", "0"}, wantCode: 2, wantStderr: "must be at least 1"},
		{name: "bad leader election namespace", args: []string{"--leader-election-namespace", "a,b"}, wantCode: 2, wantStderr: "want a namespace name"},
		{name: "no cluster", wantCode: 2, wantStderr: "no cluster to talk to: set --kubeconfig or KUBECONFIG"},
		{name: "missing kubeconfig file", env: map[string]string{"KUBECONFIG": filepath.Join(t.TempDir(), "nope")}, wantCode: 2, wantStderr: "kubeconfig"},
		{name: "malformed database URL", env: map[string]string{"KUBECONFIG": kubeconfig, "KOMMERCE_DATABASE_URL": "postgres://kommerce:x@127.0.0.1:notaport/kommerce"},
			wantCode: 2, wantStderr: "KOMMERCE_DATABASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := invoke(t, tt.env, append([]string{"operator"}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit %d stdout %q stderr %q; want %d, %q, %q", code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func probeListenAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestOperatorRunsTenantController runs `kommerce operator` in-process against a real
// API server and database: a Tenant becomes Ready, the probes answer, and SIGTERM
// (context cancellation) stops it cleanly.
func TestOperatorRunsTenantController(t *testing.T) {
	env, cfg, err := kubetest.Start(filepath.Join(kubetest.RepoRoot(), "config", "crd", "bases"))
	kubetest.Unavailable(t, err)
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "operator", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	db := testenv.NewDatabase(t)
	probe := probeListenAddr(t)
	report := probeListenAddr(t)
	vars := map[string]string{"KUBECONFIG": kubeconfig, "KOMMERCE_DATABASE_URL": db.URL,
		"KOMMERCE_DATA_PLANE_SECRET": "cmdtest-system/data-plane", "KOMMERCE_OPERATOR_NAMESPACE": "cmdtest-system"}

	scheme := runtime.NewScheme()
	_ = kv1.AddToScheme(scheme)
	_ = clientgoscheme.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cmdtest-system"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "cmdtest-system", Name: "data-plane"},
			StringData: map[string]string{"database-url": db.URL}},
	} {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	// The client exists before the operator starts: klog.SetLogger in runOperator
	// must not race with client-go reading klog's settings.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr testenv.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"kommerce", "operator", "--metrics-addr", "0", "--probe-addr", probe, "--report-addr", report, "--log-format", "json"},
			func(k string) string { return vars[k] }, strings.NewReader(""), &bytes.Buffer{}, &stderr)
	}()

	tn := &kv1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: "cmdtest"},
		Spec: kv1.TenantSpec{
			Owners:     []kv1.TenantOwner{{Kind: kv1.OwnerUser, Name: "ops@example.com"}},
			Namespaces: []kv1.NamespaceName{"cmdtest-shop"},
		},
	}
	if err := c.Create(ctx, tn); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-done:
			return false, fmt.Errorf("operator exited early: %w", err)
		default:
		}
		if err := c.Get(ctx, types.NamespacedName{Name: tn.Name}, tn); err != nil {
			return false, nil
		}
		return meta.IsStatusConditionTrue(tn.Status.Conditions, kv1.ConditionReady), nil
	})
	if err != nil {
		t.Fatalf("tenant not Ready: %v; status %+v\nlog:\n%s", err, tn.Status, stderr.String())
	}

	// A tenant `kommerce admin create-tenant` makes beside it is named by the same rule
	// (tenancy_test.go): the row, and what the Tenant recorded in spec.isolation.
	if code, _, errOut := invokeStdin(t, map[string]string{"KOMMERCE_DATABASE_URL": db.URL, "KOMMERCE_LOG_LEVEL": "warn"}, "", "admin", "create-tenant", "cmdtest-cli"); code != 0 {
		t.Fatalf("admin create-tenant: exit %d, %s", code, errOut)
	}
	rows := tenantRules(t, db)
	iso := tn.Spec.Isolation
	recorded := ruleOf(tn.Name, iso.TenantID, "active", iso.TopicPrefix, iso.IndexPrefix, iso.RedisPrefix)
	if cli := rows["cmdtest-cli"].rule; cli == (namingRule{}) || rows[tn.Name].rule != cli || recorded != cli {
		t.Errorf("naming rules differ:\n CLI row                %+v\n operator row           %+v\n Tenant spec.isolation  %+v", cli, rows[tn.Name].rule, recorded)
	}

	storefrontDeploys(t, c, tn.Name, "cmdtest-shop", &stderr)

	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + probe + path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s = %d", path, resp.StatusCode)
		}
	}
	// The experiment reports are served (a ModelVersion that does not exist is a
	// 404 naming it; analysis/report_test.go renders a real one).
	resp, err := http.Get("http://" + report + "/experiments/cmdtest-shop/no-such-version")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "no-such-version") {
		t.Errorf("report of a missing ModelVersion: %d %s", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("operator returned %v after cancellation", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("operator did not stop after cancellation")
	}
	logs := stderr.String()
	if !strings.Contains(logs, `"msg":"operator starting"`) || !strings.Contains(logs, `"msg":"operator stopped"`) {
		t.Errorf("log lacks start/stop lines:\n%s", logs)
	}
	if strings.Contains(logs, "PRIVATE KEY") {
		t.Error("a signing key reached the log")
	}

	t.Run("without database", func(t *testing.T) { operatorWithoutDatabase(t, c, kubeconfig) })
}

// storefrontDeploys applies a Storefront in the tenant's namespace: the operator's
// Storefront controller (registered, its cache and data-plane Secret wired) creates
// the first colour's Deployment and reports the rollout under way.
func storefrontDeploys(t *testing.T, c client.Client, tenantName, ns string, logs *testenv.SyncBuffer) {
	t.Helper()
	ctx := context.Background()
	sf := &kv1.Storefront{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: kv1.StorefrontSpec{
			TenantRef: kv1.LocalObjectReference{Name: tenantName}, Version: "1.0.0",
			Channels: []kv1.Channel{{Name: "de", Currency: "EUR", Locales: []string{"de-DE"}, Hostname: "shop.example.de"}},
		},
	}
	if err := c.Create(ctx, sf); err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web-api-blue"}, &d); err != nil {
			return false, nil
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(sf), sf); err != nil {
			return false, nil
		}
		return sf.Status.Phase == kv1.StorefrontDeploying, nil
	})
	if err != nil {
		t.Fatalf("storefront not deploying: %v; status %+v\nlog:\n%s", err, sf.Status, logs.String())
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "kommerce:1.0.0" {
		t.Errorf("API image %s, want the default repository kommerce:1.0.0", img)
	}
	var ingest appsv1.Deployment
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web-ingest"}, &ingest); err != nil {
		t.Fatal(err)
	}
	podSettingsExist(t, d.Spec.Template.Spec.Containers[0], "api")
	podSettingsExist(t, ingest.Spec.Template.Spec.Containers[0], "ingest")
}

// pendingAPISettings are settings the operator sets in API pods that `kommerce api`
// gains in another change (the storefront settings file); until then the API
// ignores them.
var pendingAPISettings = map[string]bool{"KOMMERCE_STOREFRONT_SETTINGS": true}

// podSettingsExist checks that every KOMMERCE_* variable the operator puts in a pod
// is a setting of the subcommand the pod runs (its --help lists it), so a renamed
// flag cannot leave a pod silently running on a default.
func podSettingsExist(t *testing.T, c corev1.Container, sub string) {
	t.Helper()
	if len(c.Args) != 1 || c.Args[0] != sub {
		t.Errorf("container %s runs %v, want [%s]", c.Name, c.Args, sub)
	}
	code, help, _ := invoke(t, nil, sub, "--help")
	if code != 0 {
		t.Fatalf("kommerce %s --help: exit %d", sub, code)
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "KOMMERCE_") && !strings.Contains(help, " "+e.Name+" ") && !(sub == "api" && pendingAPISettings[e.Name]) {
			t.Errorf("the %s pod sets %s, which `kommerce %s --help` does not list", sub, e.Name, sub)
		}
	}
}

// TestMain doubles as a real `kommerce operator` process for operatorWithoutDatabase,
// which runs the test binary with KOMMERCE_TEST_OPERATOR_PROCESS=1 (a controller name
// may be registered only once per process, and a signal must be real). Dispatching
// here rather than in a Test function keeps the normal run free of a skipped test.
func TestMain(m *testing.M) {
	if os.Getenv("KOMMERCE_TEST_OPERATOR_PROCESS") != "1" {
		os.Exit(m.Run())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	args := append([]string{"kommerce", "operator"}, strings.Fields(os.Getenv("KOMMERCE_TEST_OPERATOR_ARGS"))...)
	if err := run(ctx, args, os.Getenv, strings.NewReader(""), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "operator:", err)
		stop()
		os.Exit(1)
	}
	stop()
	os.Exit(0)
}

// operatorWithoutDatabase runs the operator with a database that refuses connections:
// the process keeps running (in a pod it would otherwise crash-loop), the Tenant's
// DatabaseReady condition names the failure, /healthz answers and /readyz does not,
// and SIGTERM still stops it cleanly.
func operatorWithoutDatabase(t *testing.T, c client.Client, kubeconfig string) {
	probe := probeListenAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), "KOMMERCE_TEST_OPERATOR_PROCESS=1", "KUBECONFIG="+kubeconfig,
		"KOMMERCE_DATABASE_URL=postgres://kommerce:x@127.0.0.1:1/kommerce?connect_timeout=2",
		"KOMMERCE_TEST_OPERATOR_ARGS=--metrics-addr 0 --report-addr 0 --probe-addr "+probe+" --log-format json")
	var stderr testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tn := &kv1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: "cmdtest-nodb"},
		Spec: kv1.TenantSpec{
			Owners:     []kv1.TenantOwner{{Kind: kv1.OwnerUser, Name: "ops@example.com"}},
			Namespaces: []kv1.NamespaceName{"cmdtest-nodb-shop"},
		},
	}
	if err := c.Create(ctx, tn); err != nil {
		t.Fatal(err)
	}
	var cond *metav1.Condition
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-done:
			return false, fmt.Errorf("operator exited: %v", err)
		default:
		}
		if err := c.Get(ctx, types.NamespacedName{Name: tn.Name}, tn); err != nil {
			return false, nil
		}
		cond = meta.FindStatusCondition(tn.Status.Conditions, kv1.TenantDatabaseReady)
		return cond != nil && cond.Status == metav1.ConditionFalse, nil
	})
	if err != nil {
		t.Fatalf("no DatabaseReady=False: %v; status %+v\nlog:\n%s", err, tn.Status, stderr.String())
	}
	if cond.Reason != kv1.ReasonDatabaseError || !strings.Contains(cond.Message, "unreachable") {
		t.Errorf("DatabaseReady = %s %q, want reason %s naming the unreachable database", cond.Reason, cond.Message, kv1.ReasonDatabaseError)
	}
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusInternalServerError} {
		resp, err := http.Get("http://" + probe + path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	if !strings.Contains(stderr.String(), "PostgreSQL unreachable at start") {
		t.Errorf("log does not say the database is unreachable:\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("operator exited with %v after SIGTERM\n%s", err, stderr.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("operator did not stop after SIGTERM")
	}
}
