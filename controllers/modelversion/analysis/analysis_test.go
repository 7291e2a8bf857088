package analysis_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/controllers/modelversion"
	"github.com/kommerce/kommerce/controllers/modelversion/analysis"
	"github.com/kommerce/kommerce/ingest/experiments"
	exppg "github.com/kommerce/kommerce/ingest/experiments/postgres"
	"github.com/kommerce/kommerce/ingest/ingesttest"
	"github.com/kommerce/kommerce/internal/experiment"
	"github.com/kommerce/kommerce/internal/testenv"
)

var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func trial() modelversion.Trial {
	return modelversion.Trial{Namespace: "shop", Model: "recs-mf", Experiment: "recs-mf-v2-1", Candidate: "recs-mf-v2", Baseline: "recs-mf-v1",
		Strategy: kv1.RolloutABTest, CandidatePercent: 50, StartedAt: t0,
		Criteria: kv1.SuccessCriteria{ConfidencePercent: 95, MinSamples: 500, MaxErrorRatePerMille: ptr(int32(50)),
			Business: []kv1.BusinessCriterion{{Metric: kv1.MetricConversionRate, MinLiftPercent: 0}}},
		RollbackOn: kv1.RollbackTriggers{ErrorRatePerMille: ptr(int32(100)), BusinessDropPercent: ptr(int32(20))}}
}

// arm simulates n units converting with probability p, each served by one request
// of which a share fails.
func arm(seed uint64, n int, p, failing float64) experiment.Aggregate {
	rng := rand.New(rand.NewPCG(seed, 7))
	var a experiment.Aggregate
	for range n {
		var orders, revenue int64
		if rng.Float64() < p {
			orders, revenue = 1, 2000+rng.Int64N(6000)
		}
		a.AddUnit(orders, revenue, 1, 0)
		a.Requests++
		if rng.Float64() < failing {
			a.Errors++
		}
	}
	return a
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name       string
		base, cand experiment.Aggregate
		now        time.Time
		action     modelversion.Action
		verdict    kv1.Verdict
	}{
		{"too few shoppers yet", arm(1, 100, 0.05, 0), arm(2, 100, 0.15, 0), t0.Add(time.Hour), modelversion.ActionNone, kv1.VerdictPending},
		{"a clearly better candidate", arm(1, 4000, 0.05, 0), arm(2, 4000, 0.12, 0), t0.Add(time.Hour), modelversion.ActionPromote, kv1.VerdictBetter},
		{"a clearly worse candidate", arm(1, 4000, 0.12, 0), arm(2, 4000, 0.05, 0), t0.Add(time.Hour), modelversion.ActionRollback, kv1.VerdictWorse},
		{"a candidate whose calls fail", arm(1, 400, 0.05, 0), arm(2, 400, 0.05, 0.4), t0.Add(time.Hour), modelversion.ActionRollback, kv1.VerdictWorse},
		{"no verdict by maxDuration", arm(1, 4000, 0.05, 0), arm(2, 4000, 0.051, 0), t0.Add(400 * time.Hour), modelversion.ActionNone, kv1.VerdictInconclusive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := analysis.Decide(trial(), tt.base, tt.cand, tt.now)
			if d.Action != tt.action || d.Verdict != tt.verdict {
				t.Fatalf("action %q verdict %q (%s), want %q %q; metrics %+v", d.Action, d.Verdict, d.Reason, tt.action, tt.verdict, d.Metrics)
			}
			if len(d.Metrics) == 0 || d.Metrics[0].Name != string(kv1.MetricConversionRate) {
				t.Fatalf("metrics %+v: want ConversionRate first", d.Metrics)
			}
		})
	}
}

// The judge reads what the ingest pipeline stored for the experiment in the real
// PostgreSQL and promotes a candidate whose shoppers convert more.
func TestJudgeReadsTheStoredAggregates(t *testing.T) {
	db := testenv.NewDatabase(t)
	tenant := ingesttest.NewTenant(t, db.Pool, testenv.KafkaBrokers(t), "ax")
	store := exppg.New(db.Pool, experiments.Config{})
	tr := trial()
	rng := rand.New(rand.NewPCG(3, 9))
	var facts []experiments.Fact
	for u := range 6000 { // 3,000 per arm: the test is tuned to 5 % lifts, so a big one still needs a few thousand shoppers
		armName, p := tr.Baseline, 0.05
		if u%2 == 1 {
			armName, p = tr.Candidate, 0.12
		}
		unit := "s-" + strconv.Itoa(u)
		at := t0.Add(time.Duration(u) * time.Second)
		ms := 3.0
		facts = append(facts, experiments.Fact{Exposure: &experiments.Exposure{Experiment: tr.Experiment, UnitKey: unit, Model: tr.Model, Version: "1",
			ExposureFact: experiments.ExposureFact{EventID: "x-" + unit, Arm: armName, RequestID: "r-" + unit, Items: []string{"p1"}, LatencyMs: &ms, At: at}}})
		if rng.Float64() < p {
			facts = append(facts, experiments.Fact{Order: &experiments.OrderFact{OrderID: "o-" + unit, Revenue: 4200, At: at.Add(time.Minute)}, Currency: "EUR", Units: []string{unit}})
		}
	}
	ctx := context.Background()
	for i := 0; i < len(facts); i += 100 {
		if err := store.Record(ctx, tenant.ID, facts[i:min(i+100, len(facts))]); err != nil {
			t.Fatal(err)
		}
	}
	j := &analysis.Judge{Reader: store, Now: func() time.Time { return t0.Add(2 * time.Hour) },
		TenantID: func(context.Context, string) (string, error) { return tenant.ID, nil }}
	d, err := j.Judge(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != modelversion.ActionPromote || d.Verdict != kv1.VerdictBetter {
		t.Fatalf("decision %+v, want a promotion", d)
	}
	m := d.Metrics[0]
	lift, _ := strconv.ParseFloat(m.LiftPercent, 64)
	low, _ := strconv.ParseFloat(m.IntervalLow, 64)
	if m.Samples != 3000 || lift < 50 || low <= 0 {
		t.Fatalf("conversion %+v: want 3000 samples per arm and a lift well above 0", m)
	}
	t.Logf("conversion lift %s%% [%s, %s] on %d shoppers per arm: %s", m.LiftPercent, m.IntervalLow, m.IntervalHigh, m.Samples, d.Reason)
}
