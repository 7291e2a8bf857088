package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/inference/ort/orttest"
	"github.com/kommerce/kommerce/ingest/ingesttest"
	"github.com/kommerce/kommerce/internal/testenv"
	"github.com/kommerce/kommerce/internal/testenv/kubetest"
)

// TestDashboardsAndAlertsNameExportedMetrics starts every kommerce server in this
// process against the real services (the API and ingest with tracing on, inference
// with a trained model, the operator against a real API server with leader election),
// drives each through the work its metrics describe, scrapes every /metrics, and fails
// on any metric that a dashboard panel or an alerting rule of the chart names but no
// server exports.
func TestDashboardsAndAlertsNameExportedMetrics(t *testing.T) {
	exported := map[string]bool{}
	scrape := func(url string) {
		t.Helper()
		names := scrapeNames(t, url)
		if len(names) == 0 {
			t.Fatalf("%s exports nothing", url)
		}
		for name := range names {
			exported[name] = true
		}
	}
	api, ingest := startAPIAndIngest(t)
	driveAPI(t, api)
	testenv.Eventually(t, 90*time.Second, "ingest reports consumed messages", func() (bool, string) {
		names := scrapeNames(t, ingest+"/metrics")
		// The batch histogram is observed after a batch is handled, later than the
		// message counter: wait for both, or a scrape between them misses it.
		return names["kommerce_ingest_messages_total"] && names["kommerce_ingest_consumer_lag"] &&
			names["kommerce_ingest_batch_duration_seconds_bucket"], "not yet"
	})
	scrape(api + "/metrics")
	scrape(ingest + "/metrics")
	scrape(startInference(t) + "/metrics")
	scrape(startOperator(t) + "/metrics")

	root := kubetest.RepoRoot()
	recorded := map[string]bool{}
	var exprs []namedExpr
	raw, err := os.ReadFile(filepath.Join(root, "charts", "kommerce", "rules", "kommerce.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Record, Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil || len(rules.Groups) == 0 {
		t.Fatalf("rules: %v", err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
			exprs = append(exprs, namedExpr{where: "rule " + r.Record + r.Alert, expr: r.Expr})
		}
	}
	dashboards, _ := filepath.Glob(filepath.Join(root, "charts", "kommerce", "dashboards", "*.json"))
	if len(dashboards) < 5 {
		t.Fatalf("%d dashboards, want API, ingest, inference, operator and experiments", len(dashboards))
	}
	for _, path := range dashboards {
		var d struct {
			Panels []struct {
				Title   string
				Targets []struct{ Expr string }
			}
		}
		raw, err := os.ReadFile(path)
		if err != nil || json.Unmarshal(raw, &d) != nil || len(d.Panels) == 0 {
			t.Fatalf("dashboard %s: %v", path, err)
		}
		for _, p := range d.Panels {
			if len(p.Targets) == 0 {
				t.Errorf("%s panel %q has no query", filepath.Base(path), p.Title)
			}
			for _, tg := range p.Targets {
				exprs = append(exprs, namedExpr{where: filepath.Base(path) + " panel " + p.Title, expr: tg.Expr})
			}
		}
	}
	checked := 0
	for _, e := range exprs {
		names := metricNames(e.expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric found in %q", e.where, e.expr)
		}
		for _, n := range names {
			checked++
			if !exported[n] && !recorded[n] {
				t.Errorf("%s names %s, which no server exports", e.where, n)
			}
		}
	}
	t.Logf("%d metric references in %d queries checked against %d exported names", checked, len(exprs), len(exported))
}

type namedExpr struct{ where, expr string }

// promqlWords are the PromQL functions, aggregations and keywords that can stand
// where a metric name could.
var promqlWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`sum min max avg count stddev stdvar topk bottomk quantile count_values group
		rate irate increase delta idelta deriv predict_linear histogram_quantile abs absent absent_over_time ceil floor round
		clamp clamp_min clamp_max changes resets sort sort_desc scalar vector time timestamp label_replace label_join
		avg_over_time min_over_time max_over_time sum_over_time count_over_time last_over_time quantile_over_time
		by without on ignoring group_left group_right and or unless bool offset inf nan`) {
		promqlWords[w] = true
	}
}

var (
	reString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	reMatchers = regexp.MustCompile(`\{[^}]*\}`)
	reRange    = regexp.MustCompile(`\[[^\]]*\]`)
	reGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	reVar      = regexp.MustCompile(`\$\w+`)
	reIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	reNumber   = regexp.MustCompile(`\b\d+(\.\d+)?(e[+-]?\d+)?\b`)
)

// metricNames returns the metric names a PromQL expression selects: what is left
// once strings, label matchers, ranges, grouping clauses, Grafana variables, numbers,
// functions and keywords are taken out.
func metricNames(expr string) []string {
	s := reString.ReplaceAllString(expr, " ")
	s = reMatchers.ReplaceAllString(s, " ")
	s = reRange.ReplaceAllString(s, " ")
	s = reGrouping.ReplaceAllString(s, " ")
	s = reVar.ReplaceAllString(s, " ")
	s = reNumber.ReplaceAllString(s, " ")
	seen := map[string]bool{}
	var out []string
	for _, id := range reIdent.FindAllString(s, -1) {
		if promqlWords[strings.ToLower(id)] || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want string
	}{
		{`sum by (code) (rate(kommerce_http_requests_total{server="api", route!~"GET /(healthz|readyz)"}[$__rate_interval]))`, "kommerce_http_requests_total"},
		{`histogram_quantile(0.95, sum by (le) (rate(a_bucket{x="1"}[5m])))`, "a_bucket"},
		{`kommerce:api_error_ratio:rate1h > 14.4 * 0.001 and kommerce:api_error_ratio:rate5m > 14.4 * 0.001`, "kommerce:api_error_ratio:rate1h kommerce:api_error_ratio:rate5m"},
		{`max by (namespace) (up{job="by"}) < 1 or absent(leader_election_master_status)`, "leader_election_master_status up"},
		{`sum(rate(x[10m])) / on (pod) group_left (node) y`, "x y"},
		{`delta(lag[15m:1m]) > 1e3`, "lag"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			if got := strings.Join(metricNames(tt.expr), " "); got != tt.want {
				t.Errorf("metricNames = %q, want %q", got, tt.want)
			}
		})
	}
}

// scrapeNames returns the metric names a /metrics endpoint exports, with the base
// name of each histogram and summary series (x for x_bucket, x_sum, x_count) too.
func scrapeNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	resp, err := http.Get(url)
	if err != nil {
		return names // not listening yet: the caller waits or fails on the empty set
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# TYPE ") {
			if f := strings.Fields(line); len(f) >= 3 {
				names[f[2]] = true
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		names[name] = true
	}
	return names
}

// startAPIAndIngest runs `kommerce api` and `kommerce ingest` with tracing on against
// the real services, for a tenant with keys and an admin, and returns their base URLs.
func startAPIAndIngest(t *testing.T) (apiURL, ingestURL string) {
	t.Helper()
	otlpURL, _ := testenv.Jaeger(t)
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	es := testenv.NewElasticsearchIndex(t)
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, es.Index)
	metricsTenant = tenant.Slug
	if code, _, stderr := invoke(t, map[string]string{"KOMMERCE_DATABASE_URL": db.URL}, "admin", "rotate-keys", "--tenant", tenant.Slug); code != 0 {
		t.Fatalf("rotate-keys: exit %d: %s", code, stderr)
	}
	if code, _, stderr := invokeStdin(t, map[string]string{"KOMMERCE_DATABASE_URL": db.URL}, "metrics-password-1\n",
		"admin", "create-user", "--tenant", tenant.Slug, "--email", "ops@metrics.test", "--role", "admin", "--password-stdin"); code != 0 {
		t.Fatalf("create-user: exit %d: %s", code, stderr)
	}
	apiAddr, ingestAddr := freeAddr(t), freeAddr(t)
	common := map[string]string{
		"KOMMERCE_DATABASE_URL": db.URL, "KOMMERCE_ELASTICSEARCH_URL": es.URL, "KOMMERCE_KAFKA_BROKERS": strings.Join(brokers, ","),
		"KOMMERCE_LOG_LEVEL": "warn", "OTEL_EXPORTER_OTLP_ENDPOINT": otlpURL,
	}
	apiEnv := map[string]string{"KOMMERCE_HTTP_ADDR": apiAddr}
	ingestEnv := map[string]string{"KOMMERCE_HTTP_ADDR": ingestAddr, "KOMMERCE_INGEST_GROUP": testenv.Name(t, "g", "-"), "KOMMERCE_KAFKA_PARTITIONS": "1"}
	for k, v := range common {
		apiEnv[k], ingestEnv[k] = v, v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan string, 2)
	for name, env := range map[string]map[string]string{"api": apiEnv, "ingest": ingestEnv} {
		go func() {
			var logs testenv.SyncBuffer
			err := run(ctx, []string{"kommerce", name}, func(k string) string { return env[k] }, strings.NewReader(""), &bytes.Buffer{}, &logs)
			if c := exitCode(err, &logs); c != 0 {
				done <- fmt.Sprintf("kommerce %s exited %d: %s", name, c, logs.String())
				return
			}
			done <- ""
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if msg := <-done; msg != "" {
				t.Error(msg)
			}
		}
	})
	apiURL, ingestURL = "http://"+apiAddr, "http://"+ingestAddr
	for _, u := range []string{apiURL, ingestURL} {
		testenv.Eventually(t, 60*time.Second, u+" ready", func() (bool, string) {
			return status(u+"/readyz") == 200, fmt.Sprintf("/readyz %d", status(u+"/readyz"))
		})
	}
	return apiURL, ingestURL
}

var metricsTenant string

// driveAPI does what the API's metrics count: sign-in, catalog writes and cached
// reads, a checkout, recommendations and a Stripe webhook of a shop without keys.
func driveAPI(t *testing.T, base string) {
	t.Helper()
	call := func(method, path string, body any, headers ...string) (int, map[string]any) {
		t.Helper()
		var rd io.Reader = http.NoBody
		if body != nil {
			j, _ := json.Marshal(body)
			rd = bytes.NewReader(j)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("X-Kommerce-Tenant", metricsTenant)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	code, login := call("POST", "/api/v1/auth/login", map[string]string{"email": "ops@metrics.test", "password": "metrics-password-1"})
	if code != 200 {
		t.Fatalf("login: %d %v", code, login)
	}
	auth := []string{"Authorization", "Bearer " + fmt.Sprint(login["access_token"])}
	code, product := call("POST", "/api/v1/products", map[string]any{"name": "Metered Mug", "status": "published",
		"variants": []any{map[string]any{"sku": "MM-1", "prices": []any{map[string]any{"currency": "EUR", "amount": 900}}}}}, auth...)
	if code != 201 {
		t.Fatalf("product: %d %v", code, product)
	}
	for range 2 {
		call("GET", "/api/v1/products/"+fmt.Sprint(product["id"]), nil)
	}
	if code, m := call("PUT", "/api/v1/stock/MM-1", map[string]any{"warehouse": "main", "on_hand": 5}, auth...); code != 200 {
		t.Fatalf("stock: %d %v", code, m)
	}
	_, cart := call("POST", "/api/v1/carts", nil)
	token := []string{"X-Cart-Token", fmt.Sprint(cart["token"])}
	cartPath := "/api/v1/carts/" + fmt.Sprint(cart["id"])
	call("POST", cartPath+"/items", map[string]any{"sku": "MM-1", "quantity": 1}, token...)
	if code, m := call("POST", cartPath+"/checkout", map[string]any{"email": "x@metrics.test"}, append(token, "Idempotency-Key", "m1")...); code != 201 {
		t.Fatalf("checkout: %d %v", code, m)
	}
	call("GET", "/api/v1/recommendations?limit=3", nil)
	for range 2 { // a miss, then a hit of the search result cache
		if code, m := call("GET", "/api/v1/search?q=mug", nil); code != 200 {
			t.Fatalf("search: %d %v", code, m)
		}
	}
	if code, _ := call("POST", "/api/v1/payments/stripe/webhook", map[string]any{"id": "evt_1"}, "Stripe-Signature", "t=1,v1=00"); code < 400 {
		t.Fatalf("webhook of a shop without keys answered %d", code)
	}
}

// startInference serves a freshly trained recommendation model and runs one request.
func startInference(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	code, stdout, stderr := invoke(t, nil, "train", "recommendations", "--out", dir, "--version", "1", "--factors", "8", "--log-level", "warn")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	var sum string
	for _, l := range strings.Split(stdout, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "sha256" {
			sum = f[1]
		}
	}
	list := writeList(t, dir, fmt.Sprintf("models:\n- {name: recs, version: \"1\", uri: %q, sha256: %s}\n", filepath.Join(dir, "recs-als-1.onnx"), sum))
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	env := map[string]string{"KOMMERCE_ONNXRUNTIME_LIB": orttest.Library(t), "KOMMERCE_HTTP_ADDR": addr}
	go func() {
		var out, errOut strings.Builder
		done <- run(ctx, []string{"kommerce", "inference", "--models", list, "--log-level", "warn"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("inference: %v", err)
		}
	})
	base := "http://" + addr
	serving(t, done, base+"/v2/health/ready")
	resp, err := http.Post(base+"/v2/models/recs/infer", "application/json", strings.NewReader(`{"inputs":[{"name":"items","shape":[1,2],"datatype":"INT64","data":[3,4]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("infer: %d", resp.StatusCode)
	}
	return base
}

// startOperator runs the operator with leader election against a real API server
// and waits until it reconciled a Tenant.
func startOperator(t *testing.T) string {
	t.Helper()
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
	metricsAddr := freeAddr(t)
	scheme := runtime.NewScheme()
	_ = kv1.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	// A process of its own (this test binary in operator mode, operator_test.go's
	// TestMain): controller-runtime refuses a second controller of one name in a
	// process, and other tests of this package run the operator in process.
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), "KOMMERCE_TEST_OPERATOR_PROCESS=1", "KUBECONFIG="+kubeconfig, "KOMMERCE_DATABASE_URL="+db.URL,
		"KOMMERCE_TEST_OPERATOR_ARGS=--metrics-addr "+metricsAddr+" --probe-addr "+probeListenAddr(t)+
			" --report-addr 0 --leader-elect --leader-election-namespace default --log-level warn")
	var logs testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := <-done; err != nil {
			t.Errorf("operator: %v\n%s", err, logs.String())
		}
		cancel()
	})
	tn := &kv1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "metrics"}, Spec: kv1.TenantSpec{
		Owners: []kv1.TenantOwner{{Kind: kv1.OwnerUser, Name: "ops@example.com"}}, Namespaces: []kv1.NamespaceName{"metrics-shop"},
	}}
	if err := c.Create(ctx, tn); err != nil {
		t.Fatal(err)
	}
	base := "http://" + metricsAddr
	testenv.Eventually(t, 90*time.Second, "the operator exports reconciles and readiness", func() (bool, string) {
		names := scrapeNames(t, base+"/metrics")
		// reconcile_total is exported at 0 as soon as a controller starts; the
		// histogram only once a reconcile finished.
		return names["kommerce_operator_resource_ready"] && names["leader_election_master_status"] && names["controller_runtime_reconcile_total"] &&
				names["controller_runtime_reconcile_time_seconds_bucket"],
			fmt.Sprintf("resource_ready %v leader %v", names["kommerce_operator_resource_ready"], names["leader_election_master_status"])
	})
	return base
}
