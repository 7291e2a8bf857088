package experiment

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/api/v1alpha1"
)

// arm builds an arm of n visitors of whom conv ordered once, with baskets spread
// over 3000–6000 minor units, 10 impressions per visitor and a click per converter,
// plus healthy inference calls.
func arm(n, conv int64) Aggregate {
	a := Aggregate{RevenueCap: 50000}
	for i := range conv {
		a.AddUnit(1, 3000+(i%7)*500, 10, 1)
	}
	a.Visitors += n - conv
	a.Impressions += 10 * (n - conv)
	a.ImpressionsSq += 100 * float64(n-conv)
	a.Requests, a.Errors = n, 0
	a.Latency = make([]int64, len(LatencyBounds)+1)
	a.Latency[LatencyBucket(8*time.Millisecond)] = n
	return a
}

func ptr[T any](v T) *T { return &v }

func TestJudge(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	conv := func(minLift float64) []Criterion {
		return []Criterion{{Metric: ConversionRate, MinLiftPercent: minLift}}
	}
	slow := arm(200_000, 11_000)
	slow.Latency = make([]int64, len(LatencyBounds)+1)
	slow.Latency[LatencyBucket(10*time.Millisecond)] = 1900
	slow.Latency[LatencyBucket(400*time.Millisecond)] = 100
	down := arm(200_000, 10_000)
	down.Requests, down.Errors = 20, 20
	flaky := arm(200_000, 10_000)
	flaky.Requests, flaky.Errors = 100, 6
	otherCap := arm(200_000, 11_000)
	otherCap.RevenueCap = 10000

	for _, tc := range []struct {
		name      string
		c         Criteria
		base, can Aggregate
		elapsed   time.Duration
		outcome   Outcome
		verdict   Verdict
		reason    string
	}{
		{name: "a 10% lift is Better and promotes", c: Criteria{Business: conv(0)},
			base: arm(200_000, 10_000), can: arm(200_000, 11_000), outcome: Promote, verdict: Better, reason: "every criterion passed"},
		{name: "a 10% lift clears a 2% minimum", c: Criteria{Business: conv(2)},
			base: arm(200_000, 10_000), can: arm(200_000, 11_000), outcome: Promote, verdict: Better},
		{name: "a 10% lift cannot prove 20%: futile", c: Criteria{Business: conv(20)},
			base: arm(200_000, 10_000), can: arm(200_000, 11_000), outcome: InconclusiveOutcome, verdict: Inconclusive, reason: "proven below the required +20%"},
		{name: "equal arms within a tolerated 5% loss are NoWorse", c: Criteria{Business: conv(-5)},
			base: arm(1_000_000, 50_000), can: arm(1_000_000, 50_000), outcome: Promote, verdict: NoWorse},
		{name: "equal arms do not prove an improvement", c: Criteria{Business: conv(0)},
			base: arm(200_000, 10_000), can: arm(200_000, 10_000), outcome: Continue, verdict: Pending, reason: "not yet clear of +0%"},
		{name: "a 10% drop is Worse and rolls back", c: Criteria{Business: conv(0)},
			base: arm(200_000, 10_000), can: arm(200_000, 9_000), outcome: Rollback, verdict: Worse, reason: "ConversionRate is worse"},
		{name: "nothing before minSamples", c: Criteria{Business: conv(0), MinSamples: 300_000},
			base: arm(200_000, 10_000), can: arm(200_000, 11_000), outcome: Continue, verdict: Pending, reason: "200000 of 300000 units per arm"},
		{name: "maxDuration ends a pending test", c: Criteria{Business: conv(0), MaxDuration: 48 * time.Hour},
			base: arm(200_000, 10_000), can: arm(200_000, 10_000), elapsed: 49 * time.Hour,
			outcome: InconclusiveOutcome, verdict: Inconclusive, reason: "maxDuration 48h0m0s passed"},
		{name: "a proven 30% drop rolls back before minSamples", c: Criteria{Business: conv(0), MinSamples: 100_000, Rollback: Triggers{BusinessDropPercent: 20}},
			base: arm(50_000, 2_500), can: arm(50_000, 1_750), outcome: Rollback, verdict: Pending, reason: "below the -20% rollback trigger"},
		{name: "candidate pods down roll back at once", c: Criteria{Business: conv(0), Rollback: Triggers{ErrorRatePerMille: 50}},
			base: arm(200_000, 10_000), can: down, outcome: Rollback, verdict: Pending, reason: "20 of 20 calls"},
		{name: "6 errors in 100 calls do not prove more than 5%", c: Criteria{Business: conv(0), Rollback: Triggers{ErrorRatePerMille: 50}},
			base: arm(200_000, 10_000), can: flaky, outcome: Continue, verdict: Pending},
		{name: "5% of calls over 300ms prove p99 above 200ms", c: Criteria{Business: conv(0), Rollback: Triggers{LatencyP99: 200 * time.Millisecond}},
			base: arm(200_000, 10_000), can: slow, outcome: Rollback, verdict: Better, reason: "100 of 2000 calls slower than 200ms"},
		{name: "promotion waits for the technical success criteria", c: Criteria{Business: conv(0), MaxLatencyP99: 50 * time.Millisecond},
			base: arm(200_000, 10_000), can: slow, outcome: Continue, verdict: Better, reason: "above the 50ms success criterion"},
		{name: "promotion waits for measured inference calls", c: Criteria{Business: conv(0), MaxErrorRatePerMille: ptr(5.0)},
			base: arm(200_000, 10_000), can: func() Aggregate { a := arm(200_000, 11_000); a.Requests = 0; return a }(),
			outcome: Continue, verdict: Better, reason: "no inference call measured"},
		{name: "revenue per visitor follows conversion", c: Criteria{Business: []Criterion{{Metric: RevenuePerVisitor}}},
			base: arm(200_000, 10_000), can: arm(200_000, 11_000), outcome: Promote, verdict: Better},
		{name: "arms capped differently are not compared", c: Criteria{Business: []Criterion{{Metric: RevenuePerVisitor}}},
			base: arm(200_000, 10_000), can: otherCap, outcome: Continue, verdict: Pending, reason: "revenue capped differently"},
		{name: "same orders, same baskets: AOV not yet clear", c: Criteria{Business: []Criterion{{Metric: AverageOrderValue}}},
			base: arm(200_000, 10_000), can: arm(200_000, 11_000), outcome: Continue, verdict: Pending},
		{name: "click-through follows clicks", c: Criteria{Business: []Criterion{{Metric: ClickThroughRate}}},
			base: arm(200_000, 10_000), can: arm(200_000, 11_000), outcome: Promote, verdict: Better},
		{name: "an empty arm is pending", c: Criteria{Business: conv(0)},
			base: Aggregate{}, can: Aggregate{}, outcome: Continue, verdict: Pending, reason: "0 of 1000 units per arm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Judge(tc.c, tc.base, tc.can, start, start.Add(tc.elapsed))
			if d.Outcome != tc.outcome {
				t.Errorf("outcome %s, want %s (%s)", d.Outcome, tc.outcome, d.Reason)
			}
			if !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("reason %q does not say %q", d.Reason, tc.reason)
			}
			if got := d.Metrics[0].Verdict; got != tc.verdict {
				t.Errorf("verdict %s, want %s (%s)", got, tc.verdict, d.Metrics[0].Reason)
			}
			if n := len(d.Metrics); n != len(tc.c.Business)+2 {
				t.Errorf("%d metrics, want %d", n, len(tc.c.Business)+2)
			}
		})
	}
}

func TestJudgeReportsIntervalAroundLift(t *testing.T) {
	d := Judge(Criteria{Business: []Criterion{{Metric: ConversionRate}}, ConfidencePercent: 90},
		arm(200_000, 10_000), arm(200_000, 11_000), time.Time{}, time.Time{})
	r := d.Metrics[0]
	if r.LiftPercent < 9.99 || r.LiftPercent > 10.01 {
		t.Errorf("lift %v, want 10%%", r.LiftPercent)
	}
	if !(r.IntervalLow < r.LiftPercent && r.LiftPercent < r.IntervalHigh) {
		t.Errorf("interval [%v, %v] does not hold the lift %v", r.IntervalLow, r.IntervalHigh, r.LiftPercent)
	}
	if r.Samples != 200_000 || r.ConfidencePercent != 90 || r.Baseline != 0.05 || r.Candidate != 0.055 {
		t.Errorf("result %+v", r)
	}
	if !(r.PValue < 0.1) {
		t.Errorf("p-value %v, want < 0.1 for a Better verdict", r.PValue)
	}
	wide := Judge(Criteria{Business: []Criterion{{Metric: ConversionRate}}, ConfidencePercent: 99},
		arm(200_000, 10_000), arm(200_000, 11_000), time.Time{}, time.Time{}).Metrics[0]
	if !(wide.IntervalLow < r.IntervalLow && wide.IntervalHigh > r.IntervalHigh) {
		t.Errorf("99%% interval [%v, %v] not wider than 90%% [%v, %v]", wide.IntervalLow, wide.IntervalHigh, r.IntervalLow, r.IntervalHigh)
	}
}

// The strings are the API's, so the controller copies them without a table.
func TestNamesMatchAPI(t *testing.T) {
	for got, want := range map[string]string{
		string(ConversionRate):    string(v1alpha1.MetricConversionRate),
		string(RevenuePerVisitor): string(v1alpha1.MetricRevenuePerVisitor),
		string(AverageOrderValue): string(v1alpha1.MetricAverageOrderValue),
		string(ClickThroughRate):  string(v1alpha1.MetricClickThroughRate),
		string(Pending):           string(v1alpha1.VerdictPending),
		string(Better):            string(v1alpha1.VerdictBetter),
		string(NoWorse):           string(v1alpha1.VerdictNoWorse),
		string(Worse):             string(v1alpha1.VerdictWorse),
		string(Inconclusive):      string(v1alpha1.VerdictInconclusive),
	} {
		if got != want {
			t.Errorf("%q, API says %q", got, want)
		}
	}
}

func TestSeries(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var snaps []Snapshot
	snaps = append(snaps, Snapshot{At: t0, Baseline: Aggregate{}, Candidate: Aggregate{}})
	for i := int64(1); i <= 4; i++ {
		snaps = append(snaps, Snapshot{At: t0.Add(time.Duration(i) * time.Hour),
			Baseline: arm(i*50_000, i*2_500), Candidate: arm(i*50_000, i*2_750)})
	}
	bands := Series(Criteria{Business: []Criterion{{Metric: ConversionRate}, {Metric: AverageOrderValue}}}, snaps)
	if len(bands) != 2 || bands[0].Metric != ConversionRate {
		t.Fatalf("bands %+v", bands)
	}
	pts := bands[0].Points
	if len(pts) != 4 {
		t.Fatalf("%d points, want 4 (the empty snapshot has no lift)", len(pts))
	}
	for i, p := range pts {
		if !(p.IntervalLow < p.LiftPercent && p.LiftPercent < p.IntervalHigh) {
			t.Errorf("point %d: [%v, %v] does not hold %v", i, p.IntervalLow, p.IntervalHigh, p.LiftPercent)
		}
		if i > 0 && p.IntervalHigh-p.IntervalLow >= pts[i-1].IntervalHigh-pts[i-1].IntervalLow {
			t.Errorf("point %d: band does not narrow as samples grow", i)
		}
	}
	if pts[3].Samples != 200_000 || !pts[3].At.Equal(t0.Add(4*time.Hour)) {
		t.Errorf("last point %+v", pts[3])
	}
}

func TestSampleSize(t *testing.T) {
	p := Plan{BaselineCV2: ConversionCV2(0.05), CandidateCV2: ConversionCV2(0.0525), LiftPercent: 5, Power: 0.8}
	// Fixed horizon, by hand: (1.95996 + 0.84162)² · (19 + 18.0476) / log(1.05)² ≈ 122153.
	if got := FixedSampleSize(p); got < 122_100 || got > 122_200 {
		t.Errorf("fixed-horizon n = %d, want ≈ 122153", got)
	}
	n := SampleSize(p)
	if ratio := float64(n) / float64(FixedSampleSize(p)); ratio < 1.3 || ratio > 2.5 {
		t.Errorf("always-valid n = %d is %.2f× the fixed one, want 1.3–2.5×", n, ratio)
	}
	bigger := p
	bigger.LiftPercent, bigger.CandidateCV2 = 10, ConversionCV2(0.055)
	if m := SampleSize(bigger); m >= n/3 {
		t.Errorf("n for +10%% = %d, want well under a third of n for +5%% = %d", m, n)
	}
	drop := p
	drop.LiftPercent, drop.CandidateCV2 = -10, ConversionCV2(0.045)
	if m := SampleSize(drop); m <= 0 || m >= n/3 {
		t.Errorf("n for -10%% = %d", m)
	}
	none := p
	none.LiftPercent = 0
	if m := SampleSize(none); m != 0 {
		t.Errorf("n for no lift = %d, want 0", m)
	}
}

func TestLatencyBucketAndAdd(t *testing.T) {
	for d, want := range map[time.Duration]int{
		0: 0, time.Millisecond: 0, 1500 * time.Microsecond: 1, 50 * time.Millisecond: 6,
		time.Minute: len(LatencyBounds) - 1, 2 * time.Minute: len(LatencyBounds),
	} {
		if got := LatencyBucket(d); got != want {
			t.Errorf("LatencyBucket(%s) = %d, want %d", d, got, want)
		}
	}
	a, b := arm(1000, 50), arm(3000, 100)
	s := a.Add(b)
	if s.Visitors != 4000 || s.Converters != 150 || s.Latency[LatencyBucket(8*time.Millisecond)] != 4000 || s.RevenueCap != 50000 {
		t.Errorf("sum %+v", s)
	}
	if d, n, ok := p99(s.Latency); !ok || n != 4000 || d != 10*time.Millisecond {
		t.Errorf("p99 = %s over %d (%v), want 10ms over 4000", d, n, ok)
	}
}

// An aggregate with only the raw revenue sums (no cap) or only impression and click
// counts still gets a verdict.
func TestPartialAggregates(t *testing.T) {
	raw := func(n, conv int64) Aggregate {
		a := arm(n, conv)
		a.RevenueCap, a.CappedRevenue, a.CappedRevenueSq, a.CappedRevenueOrders, a.RevenueOrders = 0, 0, 0, 0, 0
		a.OrdersSq = 0
		a.ImpressionsSq, a.ClicksImpressions, a.ClicksSq, a.Visitors = 0, 0, 0, 0
		return a
	}
	for _, tc := range []struct {
		metric  Metric
		verdict Verdict
	}{
		{RevenuePerVisitor, Pending}, // Visitors cleared: no units
		{AverageOrderValue, Pending},
		{ClickThroughRate, Better}, // judged per impression: 2M impressions per arm
	} {
		d := Judge(Criteria{Business: []Criterion{{Metric: tc.metric}}}, raw(200_000, 10_000), raw(200_000, 11_000), time.Time{}, time.Time{})
		if r := d.Metrics[0]; r.Verdict != tc.verdict {
			t.Errorf("%s: verdict %s (%s), want %s", tc.metric, r.Verdict, r.Reason, tc.verdict)
		}
	}
	withVisitors := func(n, conv int64) Aggregate { a := raw(n, conv); a.Visitors = n; return a }
	for _, m := range []Metric{RevenuePerVisitor, AverageOrderValue} {
		full := Judge(Criteria{Business: []Criterion{{Metric: m}}}, arm(200_000, 10_000), arm(200_000, 11_000), time.Time{}, time.Time{}).Metrics[0]
		part := Judge(Criteria{Business: []Criterion{{Metric: m}}}, withVisitors(200_000, 10_000), withVisitors(200_000, 11_000), time.Time{}, time.Time{}).Metrics[0]
		// No basket reaches the cap, so the raw sums must give the same answer.
		if part.Verdict != full.Verdict || math.Abs(part.IntervalLow-full.IntervalLow) > 1e-9 {
			t.Errorf("%s: raw sums give %s [%v, %v], capped %s [%v, %v]", m,
				part.Verdict, part.IntervalLow, part.IntervalHigh, full.Verdict, full.IntervalLow, full.IntervalHigh)
		}
	}
}

func TestUnitCV2(t *testing.T) {
	a := arm(100_000, 5_000)
	cv2, ok := UnitCV2(ConversionRate, a)
	if want := ConversionCV2(0.05) * 100_000 / 99_999; !ok || math.Abs(cv2-want) > 1e-9 {
		t.Errorf("UnitCV2 = %v, %v; want %v", cv2, ok, want)
	}
	if _, ok := UnitCV2(ConversionRate, Aggregate{}); ok {
		t.Error("UnitCV2 of an empty arm is defined")
	}
}
