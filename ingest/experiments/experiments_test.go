package experiments

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/internal/events"
)

var t0 = time.Date(2026, 3, 4, 10, 15, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// totals sums a unit's contributions per metric: its value at the end.
func totals(cs []Contribution) map[string]float64 {
	m := map[string]float64{}
	for _, c := range cs {
		m[c.Metric] += c.Value
	}
	return m
}

func TestAttribute(t *testing.T) {
	p := Params{Window: 24 * time.Hour, RevenueCap: 10000}
	exp := func(id, arm string, d time.Duration, items ...string) ExposureFact {
		return ExposureFact{EventID: id, Arm: arm, RequestID: "r-" + id, Items: items, At: at(d)}
	}
	tests := []struct {
		name    string
		exps    []ExposureFact
		outs    []OutcomeFact
		orders  []OrderFact
		wantArm string
		want    map[string]float64
	}{
		{
			name:    "exposure only",
			exps:    []ExposureFact{exp("e1", "a", 0)},
			wantArm: "a",
			want:    map[string]float64{"units": 1, "impressions": 1, "impressions_sq": 1},
		},
		{
			name: "first exposure by event time decides the arm; the other arm's exposure is no impression",
			exps: []ExposureFact{exp("e2", "b", time.Hour, "p1"), exp("e1", "a", 0)},
			outs: []OutcomeFact{{EventID: "c1", Kind: KindClick, ProductID: "p1", At: at(2 * time.Hour)}},
			// p1 was shown by the arm-b exposure; the click still counts for the unit's arm a.
			wantArm: "a",
			want: map[string]float64{"units": 1, "impressions": 1, "impressions_sq": 1, "clicks": 1, "clicks_sq": 1,
				"clicks_impressions": 1},
		},
		{
			name: "click on a recommended product by item, click by request id, click on something else",
			exps: []ExposureFact{exp("e1", "a", 0, "p1", "p2")},
			outs: []OutcomeFact{
				{EventID: "c1", Kind: KindClick, ProductID: "p2", At: at(time.Minute)},
				{EventID: "c2", Kind: KindClick, ProductID: "p9", RequestID: "r-e1", At: at(2 * time.Minute)},
				{EventID: "c3", Kind: KindClick, ProductID: "p9", At: at(3 * time.Minute)},
				{EventID: "c4", Kind: KindClick, ProductID: "p1", RequestID: "r-other", At: at(4 * time.Minute)},
			},
			wantArm: "a",
			want: map[string]float64{"units": 1, "impressions": 1, "impressions_sq": 1, "clicks": 2, "clicks_sq": 4,
				"clicks_impressions": 2},
		},
		{
			name:    "a click on an item shown only later does not count",
			exps:    []ExposureFact{exp("e1", "a", 0), exp("e2", "a", time.Hour, "p1")},
			outs:    []OutcomeFact{{EventID: "c1", Kind: KindClick, ProductID: "p1", At: at(time.Minute)}},
			wantArm: "a",
			want:    map[string]float64{"units": 1, "impressions": 2, "impressions_sq": 4},
		},
		{
			name: "outcomes before the exposure and after the window are ignored; the window's ends count",
			exps: []ExposureFact{exp("e1", "a", 0)},
			outs: []OutcomeFact{
				{EventID: "x1", Kind: KindAddToCart, At: at(-time.Second)},
				{EventID: "x2", Kind: KindAddToCart, At: at(0)},
				{EventID: "x3", Kind: KindAddToCart, At: at(24 * time.Hour)},
				{EventID: "x4", Kind: KindAddToCart, At: at(24*time.Hour + time.Second)},
			},
			orders:  []OrderFact{{OrderID: "o-late", Revenue: 500, At: at(25 * time.Hour)}},
			wantArm: "a",
			want:    map[string]float64{"units": 1, "impressions": 1, "impressions_sq": 1, "add_to_carts": 2},
		},
		{
			name: "orders: converted once, an order counted once, revenue summed, capped and logged per unit",
			exps: []ExposureFact{exp("e1", "a", 0)},
			orders: []OrderFact{
				{OrderID: "o1", Revenue: 8000, At: at(time.Hour)},
				{OrderID: "o2", Revenue: 4000, At: at(3 * time.Hour)},
				{OrderID: "o1", Revenue: 8000, At: at(time.Hour)},
			},
			wantArm: "a",
			want: map[string]float64{"units": 1, "impressions": 1, "impressions_sq": 1, "converted_units": 1,
				"orders": 2, "orders_sq": 4, "revenue": 12000, "revenue_sq": 144e6, "revenue_capped": 10000,
				"revenue_capped_sq": 1e8, "revenue_log1p": math.Log1p(12000), "revenue_log1p_sq": sq(math.Log1p(12000)),
				"revenue_orders": 24000, "revenue_capped_orders": 20000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := Attribute(p, tt.exps, tt.outs, tt.orders)
			if !ok || a.Arm != tt.wantArm {
				t.Fatalf("arm = %q (ok %v), want %q", a.Arm, ok, tt.wantArm)
			}
			got := totals(a.Contributions)
			for m, v := range got {
				if math.Abs(v-tt.want[m]) > 1e-6*math.Max(1, math.Abs(v)) {
					t.Errorf("%s = %v, want %v", m, v, tt.want[m])
				}
			}
			for m, v := range tt.want {
				if _, ok := got[m]; !ok && v != 0 {
					t.Errorf("%s missing, want %v", m, v)
				}
			}
		})
	}
	if _, ok := Attribute(p, nil, []OutcomeFact{{EventID: "c", Kind: KindClick, At: t0}}, nil); ok {
		t.Error("a unit without exposure has no attribution")
	}
}

// TestAttributeHourly checks the hourly split: the first hour holds the unit and its
// first order, a later hour the change a second order makes to every metric.
func TestAttributeHourly(t *testing.T) {
	p := Params{Window: 24 * time.Hour}
	a, _ := Attribute(p, []ExposureFact{{EventID: "e1", Arm: "a", At: at(0)}}, nil, []OrderFact{
		{OrderID: "o1", Revenue: 3, At: at(time.Minute)},
		{OrderID: "o2", Revenue: 2, At: at(2 * time.Hour)},
	})
	h0, h2 := t0.Truncate(time.Hour).Unix(), t0.Add(2*time.Hour).Truncate(time.Hour).Unix()
	got := map[[2]any]float64{}
	for _, c := range a.Contributions {
		got[[2]any{c.Hour, c.Metric}] = c.Value
	}
	want := map[[2]any]float64{
		{h0, "units"}: 1, {h0, "converted_units"}: 1, {h0, "orders"}: 1, {h0, "revenue"}: 3, {h0, "revenue_sq"}: 9,
		{h2, "orders"}: 1, {h2, "revenue"}: 2, {h2, "revenue_sq"}: 25 - 9, {h2, "orders_sq"}: 3, {h2, "revenue_orders"}: 10 - 3,
		{h2, "converted_units"}: 0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%v = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got[[2]any{h2, "units"}]; ok {
		t.Error("a unit counts once, in the hour of its first exposure")
	}
}

// TestAttributeOrderIndependent shuffles the facts: the attribution must not move.
func TestAttributeOrderIndependent(t *testing.T) {
	p := Params{Window: 6 * time.Hour, RevenueCap: 700}
	exps := []ExposureFact{
		{EventID: "e3", Arm: "b", At: at(30 * time.Minute), Items: []string{"p3"}},
		{EventID: "e1", Arm: "a", At: at(0), Items: []string{"p1"}},
		{EventID: "e0", Arm: "b", At: at(0), Items: []string{"p2"}}, // same time: event id decides
		{EventID: "e2", Arm: "b", At: at(time.Hour)},
	}
	outs := []OutcomeFact{
		{EventID: "c1", Kind: KindClick, ProductID: "p1", At: at(time.Minute)},
		{EventID: "c2", Kind: KindClick, ProductID: "p2", At: at(2 * time.Hour)},
		{EventID: "a1", Kind: KindAddToCart, At: at(3 * time.Hour)},
	}
	orders := []OrderFact{{OrderID: "o1", Revenue: 500, At: at(4 * time.Hour)}, {OrderID: "o2", Revenue: 400, At: at(4 * time.Hour)}}
	want, _ := Attribute(p, exps, outs, orders)
	if want.Arm != "b" || want.FirstEventID != "e0" {
		t.Fatalf("first exposure = %s in %s, want e0 in b", want.FirstEventID, want.Arm)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		r.Shuffle(len(exps), func(i, j int) { exps[i], exps[j] = exps[j], exps[i] })
		r.Shuffle(len(outs), func(i, j int) { outs[i], outs[j] = outs[j], outs[i] })
		r.Shuffle(len(orders), func(i, j int) { orders[i], orders[j] = orders[j], orders[i] })
		got, _ := Attribute(p, exps, outs, orders)
		if got.Arm != want.Arm || !slices.Equal(got.Contributions, want.Contributions) {
			t.Fatalf("shuffled facts give %+v, want %+v", got, want)
		}
	}
}

func TestServing(t *testing.T) {
	ms := func(v float64) *float64 { return &v }
	tests := []struct {
		name string
		e    ExposureFact
		want map[string]float64
	}{
		{"no latency", ExposureFact{At: t0}, map[string]float64{"requests": 1}},
		{"error with latency", ExposureFact{At: t0, Error: true, LatencyMs: ms(7)},
			map[string]float64{"requests": 1, "errors": 1, "latency_count": 1, "latency_sum_ms": 7, "latency_le_10": 1}},
		{"on a bucket bound", ExposureFact{At: t0, LatencyMs: ms(5)},
			map[string]float64{"requests": 1, "latency_count": 1, "latency_sum_ms": 5, "latency_le_5": 1}},
		{"beyond the last bound", ExposureFact{At: t0, LatencyMs: ms(90000)},
			map[string]float64{"requests": 1, "latency_count": 1, "latency_sum_ms": 90000, "latency_le_inf": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := totals(Serving(tt.e))
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for m, v := range tt.want {
				if got[m] != v {
					t.Errorf("%s = %v, want %v", m, got[m], v)
				}
			}
		})
	}
}

func TestLatencyQuantile(t *testing.T) {
	buckets := func(kv map[int]int64) []int64 {
		b := make([]int64, len(LatencyBucketsMs)+1)
		for i, n := range kv {
			b[i] = n
		}
		return b
	}
	tests := []struct {
		name    string
		buckets []int64
		q       float64
		want    float64
		ok      bool
	}{
		{"none", nil, 0.99, 0, false},
		{"all fast", buckets(map[int]int64{latencyBucket(5): 100}), 0.99, 5, true},
		{"one slow in a hundred is the 99th percentile's neighbour", buckets(map[int]int64{latencyBucket(10): 99, latencyBucket(500): 1}), 0.99, 10, true},
		{"two slow in a hundred", buckets(map[int]int64{latencyBucket(10): 98, latencyBucket(500): 2}), 0.99, 500, true},
		{"beyond the last bound", buckets(map[int]int64{len(LatencyBucketsMs): 1}), 0.5, math.Inf(1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ArmAggregate{LatencyBuckets: tt.buckets}.LatencyQuantileMs(tt.q)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("= %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestMetricNames keeps metric names unique and storable (experiment_arm_metrics
// checks ^[a-z0-9_]+$) and every one settable.
func TestMetricNames(t *testing.T) {
	seen := map[string]bool{}
	var names []string
	for _, m := range unitMetrics {
		names = append(names, m.Name)
	}
	for _, m := range servingMetrics {
		names = append(names, m.Name)
	}
	for _, n := range names {
		if seen[n] {
			t.Errorf("metric %s twice", n)
		}
		seen[n] = true
		for _, r := range n {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
				t.Errorf("metric %q has %q", n, r)
			}
		}
		var a ArmAggregate
		if !a.SetMetric(n, 3) {
			t.Errorf("metric %s has no setter", n)
		}
	}
	var a ArmAggregate
	if a.SetMetric("from_a_newer_version", 1) {
		t.Error("an unknown metric must be reported")
	}
}

func TestExposureValidation(t *testing.T) {
	env := events.Envelope{ID: "req-1", TenantID: "t1"}
	good := func() events.Exposure {
		return events.Exposure{RequestID: "req-1", TenantID: "t1", SubjectKey: "u1", Experiment: "exp", Arm: "a", Items: []string{"p1"}, At: t0}
	}
	neg := -1.0
	tests := []struct {
		name      string
		change    func(*events.Exposure)
		wantSkip  bool
		wantErr   string
		wantUnit  string
		wantError bool
	}{
		{name: "good", change: func(*events.Exposure) {}, wantUnit: "u1"},
		{name: "no experiment: skipped", change: func(x *events.Exposure) { x.Experiment = "" }, wantSkip: true},
		{name: "timeout is an error of the arm", change: func(x *events.Exposure) { x.Fallback = "timeout" }, wantUnit: "u1", wantError: true},
		{name: "the control arm answering is no error", change: func(x *events.Exposure) { x.Fallback = "arm" }, wantUnit: "u1"},
		{name: "anonymous: no unit", change: func(x *events.Exposure) { x.SubjectKey = AnonymousSubject }},
		{name: "no arm", change: func(x *events.Exposure) { x.Arm = "" }, wantErr: "lacks arm"},
		{name: "no time", change: func(x *events.Exposure) { x.At = time.Time{} }, wantErr: "lacks arm"},
		{name: "another tenant", change: func(x *events.Exposure) { x.TenantID = "t2" }, wantErr: "exposure of tenant"},
		{name: "long arm", change: func(x *events.Exposure) { x.Arm = strings.Repeat("a", MaxKeyBytes+1) }, wantErr: "longer than"},
		{name: "too many items", change: func(x *events.Exposure) { x.Items = make([]string, MaxItems+1) }, wantErr: "items"},
		{name: "negative latency", change: func(x *events.Exposure) { x.LatencyMs = &neg }, wantErr: "latency_ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := good()
			tt.change(&x)
			e, skip, err := exposure(env, x)
			if tt.wantErr != "" {
				if err == nil || !ingest.IsPermanent(err) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want a permanent one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || skip != tt.wantSkip {
				t.Fatalf("skip %v, err %v; want skip %v", skip, err, tt.wantSkip)
			}
			if !skip && (e.UnitKey != tt.wantUnit || e.Error != tt.wantError || e.EventID != "req-1") {
				t.Fatalf("exposure %+v; want unit %q, error %v", e, tt.wantUnit, tt.wantError)
			}
		})
	}
}
