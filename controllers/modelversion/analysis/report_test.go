package analysis_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/controllers/modelversion/analysis"
	"github.com/kommerce/kommerce/ingest/experiments"
	exppg "github.com/kommerce/kommerce/ingest/experiments/postgres"
	"github.com/kommerce/kommerce/ingest/ingesttest"
	"github.com/kommerce/kommerce/internal/testenv"
	"github.com/kommerce/kommerce/internal/testenv/kubetest"
)

var (
	cfg      *rest.Config
	startErr error
	scheme   = runtime.NewScheme()
)

func TestMain(m *testing.M) {
	_ = clientgoscheme.AddToScheme(scheme)
	_ = kv1.AddToScheme(scheme)
	os.Exit(kubetest.Main(m, func(c *rest.Config, err error) { cfg, startErr = c, err },
		filepath.Join(kubetest.RepoRoot(), "config", "crd", "bases")))
}

// record stores an A/B experiment's exposures and orders over a day: n units, the
// candidate's converting at pc against the baseline's pb.
func record(t *testing.T, store *exppg.Store, tenantID, exp, base, cand string, n int, pb, pc float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 11))
	var facts []experiments.Fact
	for u := range n {
		arm, p := base, pb
		if u%2 == 1 {
			arm, p = cand, pc
		}
		unit := "s-" + strconv.Itoa(u)
		at := t0.Add(time.Duration(u) * 24 * time.Hour / time.Duration(n))
		ms := 2 + 4*rng.Float64()
		facts = append(facts, experiments.Fact{Exposure: &experiments.Exposure{Experiment: exp, UnitKey: unit, Model: "recs-mf", Version: "1",
			ExposureFact: experiments.ExposureFact{EventID: "x-" + unit, Arm: arm, RequestID: "r-" + unit, Items: []string{"p1"}, LatencyMs: &ms, At: at}}})
		if rng.Float64() < p {
			facts = append(facts, experiments.Fact{Order: &experiments.OrderFact{OrderID: "o-" + unit, Revenue: 1500 + rng.Int64N(9000), At: at.Add(time.Minute)},
				Currency: "EUR", Units: []string{unit}})
		}
	}
	for i := 0; i < len(facts); i += 200 {
		if err := store.Record(context.Background(), tenantID, facts[i:min(i+200, len(facts))]); err != nil {
			t.Fatal(err)
		}
	}
}

// The report page of a running A/B test, served by the operator's handler from the
// ModelVersion in the API server and the aggregates in PostgreSQL, as a real
// browser renders it.
func TestReportPage(t *testing.T) {
	kubetest.Unavailable(t, startErr)
	k, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "report-"}}
	if err := k.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Delete(context.Background(), ns) })
	mv := &kv1.ModelVersion{ObjectMeta: metav1.ObjectMeta{Name: "recs-mf-v2", Namespace: ns.Name}, Spec: kv1.ModelVersionSpec{
		Model: "recs-mf", Purpose: kv1.PurposeRecommendations,
		Artifact: kv1.Artifact{URI: "https://models.example/recs-mf-v2.onnx", SHA256: strings.Repeat("ab", 32), Opset: 17,
			Inputs:  []kv1.TensorSpec{{Name: "context_items", DataType: "INT64", Shape: []int64{-1, -1}}},
			Outputs: []kv1.TensorSpec{{Name: "item_indices", DataType: "INT64", Shape: []int64{-1, 10}}}},
		Rollout: kv1.ModelRollout{Strategy: kv1.RolloutABTest, ABTest: &kv1.ABTestRollout{Baseline: "recs-mf-v1", CandidateWeight: 50, BaselineWeight: 50},
			SuccessCriteria: kv1.SuccessCriteria{MinSamples: 500, Business: []kv1.BusinessCriterion{{Metric: kv1.MetricConversionRate, MinLiftPercent: 0}}}},
	}}
	if err := k.Create(ctx, mv); err != nil {
		t.Fatal(err)
	}
	const exp = "recs-mf-v2-7a1b"
	mv.Status = kv1.ModelVersionStatus{Phase: kv1.ModelProgressing, Experiment: exp, StartedAt: &metav1.Time{Time: t0},
		TrafficSplit: []kv1.TrafficShare{{ModelVersion: "recs-mf-v1", Percent: 50}, {ModelVersion: "recs-mf-v2", Percent: 50}}}
	if err := k.Status().Update(ctx, mv); err != nil {
		t.Fatal(err)
	}

	db := testenv.NewDatabase(t)
	tenant := ingesttest.NewTenant(t, db.Pool, testenv.KafkaBrokers(t), "rp")
	store := exppg.New(db.Pool, experiments.Config{})
	record(t, store, tenant.ID, exp, "recs-mf-v1", "recs-mf-v2", 6000, 0.05, 0.12)

	h := &analysis.ReportHandler{Snapshots: store, Judge: &analysis.Judge{Reader: store, Client: k,
		Now:      func() time.Time { return t0.Add(25 * time.Hour) },
		TenantID: func(context.Context, string) (string, error) { return tenant.ID, nil }}}
	srv := httptest.NewServer(h)
	defer srv.Close()

	res, err := http.Get(srv.URL + "/experiments/" + ns.Name + "/recs-mf-v2")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	page := string(body)
	if res.StatusCode != 200 || res.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("status %d, CSP %q:\n%s", res.StatusCode, res.Header.Get("Content-Security-Policy"), page)
	}
	for _, want := range []string{"recs-mf: recs-mf-v2 against recs-mf-v1", `data-arm="recs-mf-v1"`, `data-arm="recs-mf-v2"`, "Promote: ",
		`data-metric="ConversionRate"`, `class="v-better"`, "<polygon"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if n := strings.Count(page, "<polyline"); n != 1 {
		t.Errorf("%d lift lines, want 1 (one business criterion)", n)
	}

	for path, want := range map[string]int{"/experiments/" + ns.Name + "/nope": 404, "/experiments/" + ns.Name: 404, "/other": 404} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
	}

	chrome := testenv.NewChromium(t)
	url := srv.URL + "/experiments/" + ns.Name + "/recs-mf-v2"
	if dom := chrome.DOM(t, url); !strings.Contains(dom, "ConversionRate: cumulative lift") || !strings.Contains(dom, `id="verdict"`) {
		t.Fatalf("the browser's DOM lacks the chart or the verdict:\n%.3000s", dom)
	}
	t.Logf("screenshot of the experiment report: %s", chrome.Screenshot(t, url, 900, 1300))
}
