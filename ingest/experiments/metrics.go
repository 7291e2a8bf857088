package experiments

import (
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/kommerce/kommerce/internal/experiment"
)

// UnitState is what one unit has done in its attribution window up to a moment:
// the per-unit quantities every unit metric is a function of.
type UnitState struct {
	Exposed     bool
	Impressions int64
	Clicks      int64
	AddToCarts  int64
	Orders      int64
	Revenue     int64 // minor units
}

// unitMetric is one per-arm sum over units: Of maps a unit's state to its value, Set
// stores the arm's sum in an ArmAggregate. Every metric is a function of the state
// (not of an event), so a unit's contribution up to an hour is Of(state at the end
// of that hour) and the hourly deltas telescope: the sum of a unit's deltas up to
// hour h is exactly its value at h, whatever the function (squares, caps, logs).
type unitMetric struct {
	Name string
	Of   func(s UnitState, p Params) float64
	Set  func(a *ArmAggregate, v float64)
}

// servingMetric is one per-arm sum over exposures (requests served by the arm,
// whichever unit they were for): Of maps one exposure to its value.
type servingMetric struct {
	Name string
	Of   func(e ExposureFact) float64
	Set  func(a *ArmAggregate, v float64)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// unitMetrics lists the metrics summed over an arm's units. To add one: a field in
// ArmAggregate and a line here; no migration (experiment_arm_metrics stores a row
// per metric name). Existing units get it when next recomputed (or on a rebuild).
var unitMetrics = []unitMetric{
	{"units", func(s UnitState, _ Params) float64 { return b2f(s.Exposed) }, func(a *ArmAggregate, v float64) { a.Units = ri(v) }},
	{"converted_units", func(s UnitState, _ Params) float64 { return b2f(s.Orders > 0) }, func(a *ArmAggregate, v float64) { a.ConvertedUnits = ri(v) }},
	{"impressions", func(s UnitState, _ Params) float64 { return float64(s.Impressions) }, func(a *ArmAggregate, v float64) { a.Impressions = ri(v) }},
	{"clicks", func(s UnitState, _ Params) float64 { return float64(s.Clicks) }, func(a *ArmAggregate, v float64) { a.Clicks = ri(v) }},
	{"add_to_carts", func(s UnitState, _ Params) float64 { return float64(s.AddToCarts) }, func(a *ArmAggregate, v float64) { a.AddToCarts = ri(v) }},
	{"orders", func(s UnitState, _ Params) float64 { return float64(s.Orders) }, func(a *ArmAggregate, v float64) { a.Orders = ri(v) }},
	{"revenue", func(s UnitState, _ Params) float64 { return float64(s.Revenue) }, func(a *ArmAggregate, v float64) { a.Revenue = ri(v) }},
	{"revenue_sq", func(s UnitState, _ Params) float64 { return sq(float64(s.Revenue)) }, func(a *ArmAggregate, v float64) { a.RevenueSq = v }},
	{"revenue_capped", func(s UnitState, p Params) float64 { return p.capped(s.Revenue) }, func(a *ArmAggregate, v float64) { a.RevenueCapped = v }},
	{"revenue_capped_sq", func(s UnitState, p Params) float64 { return sq(p.capped(s.Revenue)) }, func(a *ArmAggregate, v float64) { a.RevenueCappedSq = v }},
	{"revenue_log1p", func(s UnitState, _ Params) float64 { return math.Log1p(float64(s.Revenue)) }, func(a *ArmAggregate, v float64) { a.RevenueLog1p = v }},
	{"revenue_log1p_sq", func(s UnitState, _ Params) float64 { return sq(math.Log1p(float64(s.Revenue))) }, func(a *ArmAggregate, v float64) { a.RevenueLog1pSq = v }},
	{"clicks_sq", func(s UnitState, _ Params) float64 { return sq(float64(s.Clicks)) }, func(a *ArmAggregate, v float64) { a.ClicksSq = v }},
	{"impressions_sq", func(s UnitState, _ Params) float64 { return sq(float64(s.Impressions)) }, func(a *ArmAggregate, v float64) { a.ImpressionsSq = v }},
	{"clicks_impressions", func(s UnitState, _ Params) float64 { return float64(s.Clicks) * float64(s.Impressions) }, func(a *ArmAggregate, v float64) { a.ClicksImpressions = v }},
	{"orders_sq", func(s UnitState, _ Params) float64 { return sq(float64(s.Orders)) }, func(a *ArmAggregate, v float64) { a.OrdersSq = v }},
	{"revenue_orders", func(s UnitState, _ Params) float64 { return float64(s.Revenue) * float64(s.Orders) }, func(a *ArmAggregate, v float64) { a.RevenueOrders = v }},
	{"revenue_capped_orders", func(s UnitState, p Params) float64 { return p.capped(s.Revenue) * float64(s.Orders) }, func(a *ArmAggregate, v float64) { a.RevenueCappedOrders = v }},
}

// LatencyBucketsMs are the upper bounds of the latency histogram kept per arm, in
// milliseconds; the last bucket (+Inf) holds the rest. They are the statistics'
// own bounds (experiment.LatencyBounds), so the latency guardrails read the stored
// histogram as it is.
var LatencyBucketsMs = func() []float64 {
	out := make([]float64, len(experiment.LatencyBounds))
	for i, b := range experiment.LatencyBounds {
		out[i] = float64(b) / float64(time.Millisecond)
	}
	return out
}()

func latencyBucketName(i int) string {
	if i == len(LatencyBucketsMs) {
		return "latency_le_inf"
	}
	return "latency_le_" + strconv.FormatFloat(LatencyBucketsMs[i], 'f', -1, 64)
}

func latencyBucket(ms float64) int {
	i, _ := slices.BinarySearch(LatencyBucketsMs, ms)
	return i
}

// servingMetrics lists the metrics summed over the exposures an arm served.
var servingMetrics = func() []servingMetric {
	m := []servingMetric{
		{"requests", func(ExposureFact) float64 { return 1 }, func(a *ArmAggregate, v float64) { a.Requests = ri(v) }},
		{"errors", func(e ExposureFact) float64 { return b2f(e.Error) }, func(a *ArmAggregate, v float64) { a.Errors = ri(v) }},
		{"latency_count", func(e ExposureFact) float64 { return b2f(e.LatencyMs != nil) }, func(a *ArmAggregate, v float64) { a.LatencyCount = ri(v) }},
		{"latency_sum_ms", func(e ExposureFact) float64 {
			if e.LatencyMs == nil {
				return 0
			}
			return *e.LatencyMs
		}, func(a *ArmAggregate, v float64) { a.LatencySumMs = v }},
	}
	for i := range len(LatencyBucketsMs) + 1 {
		m = append(m, servingMetric{latencyBucketName(i),
			func(e ExposureFact) float64 { return b2f(e.LatencyMs != nil && latencyBucket(*e.LatencyMs) == i) },
			func(a *ArmAggregate, v float64) {
				if a.LatencyBuckets == nil {
					a.LatencyBuckets = make([]int64, len(LatencyBucketsMs)+1)
				}
				a.LatencyBuckets[i] = ri(v)
			}})
	}
	return m
}()

func sq(x float64) float64 { return x * x }

// ArmAggregate is what an experiment's arm has accumulated: sums over the units
// assigned to it (each unit counts once, in the arm of its first exposure, with what
// it did in the attribution window after it) and over the requests it served. The
// sums of squares and cross products are there for the variance of per-unit means
// and of ratios (delta method); revenue is in minor units.
type ArmAggregate struct {
	Arm string `json:"arm"`
	// Units exposed, and how many of them ordered at least once.
	Units          int64 `json:"units"`
	ConvertedUnits int64 `json:"converted_units"`
	// Impressions are recommendation lists shown in the unit's arm; Clicks are clicks
	// on a recommended item.
	Impressions int64 `json:"impressions"`
	Clicks      int64 `json:"clicks"`
	AddToCarts  int64 `json:"add_to_carts"`
	// Orders counted once by order id; Revenue their merchandise subtotal.
	Orders  int64 `json:"orders"`
	Revenue int64 `json:"revenue"`
	// RevenueSq is the sum over units of the unit's revenue squared.
	RevenueSq float64 `json:"revenue_sq"`
	// RevenueCapped(Sq): the same with each unit's revenue capped at the
	// experiment's cap (winsorized), for heavy tails.
	RevenueCapped   float64 `json:"revenue_capped"`
	RevenueCappedSq float64 `json:"revenue_capped_sq"`
	// RevenueLog1p(Sq): sum over units of log1p(revenue) and its square.
	RevenueLog1p   float64 `json:"revenue_log1p"`
	RevenueLog1pSq float64 `json:"revenue_log1p_sq"`
	// Per-unit second moments for click-through rate (clicks/impressions) and
	// average order value (revenue/orders).
	ClicksSq          float64 `json:"clicks_sq"`
	ImpressionsSq     float64 `json:"impressions_sq"`
	ClicksImpressions float64 `json:"clicks_impressions"`
	OrdersSq          float64 `json:"orders_sq"`
	RevenueOrders     float64 `json:"revenue_orders"`
	// RevenueCappedOrders is Σ min(r, cap)·o, for the variance of the capped
	// average order value.
	RevenueCappedOrders float64 `json:"revenue_capped_orders"`

	// Requests the arm served (every exposure, whichever unit it was for), Errors
	// among them (the arm's model failed, timed out or was cut off by its breaker,
	// so the fallback answered).
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	// Latency of the requests that reported it: count, sum, and a histogram with
	// LatencyBucketsMs as upper bounds (one more bucket for the rest); nil when
	// none reported it.
	LatencyCount   int64   `json:"latency_count"`
	LatencySumMs   float64 `json:"latency_sum_ms"`
	LatencyBuckets []int64 `json:"latency_buckets,omitempty"`
}

// LatencyQuantileMs estimates the q-quantile (0 < q ≤ 1) of the arm's latency from
// its histogram: the upper bound of the bucket holding it (+Inf for the last);
// ok is false when no request reported a latency.
func (a ArmAggregate) LatencyQuantileMs(q float64) (ms float64, ok bool) {
	var total int64
	for _, n := range a.LatencyBuckets {
		total += n
	}
	if total == 0 {
		return 0, false
	}
	rank := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i, n := range a.LatencyBuckets {
		seen += n
		if seen >= rank {
			if i == len(LatencyBucketsMs) {
				return math.Inf(1), true
			}
			return LatencyBucketsMs[i], true
		}
	}
	return math.Inf(1), true
}

// Snapshot is an experiment's per-arm aggregates as they stood at the end of one
// hour (Hour is the hour's start, UTC): units first exposed and outcomes that
// happened up to then, by event time. Successive snapshots are cumulative.
type Snapshot struct {
	Hour time.Time      `json:"hour"`
	Arms []ArmAggregate `json:"arms"`
}

// setters maps every metric name to its ArmAggregate setter.
var setters = func() map[string]func(*ArmAggregate, float64) {
	m := map[string]func(*ArmAggregate, float64){}
	for _, u := range unitMetrics {
		m[u.Name] = u.Set
	}
	for _, s := range servingMetrics {
		m[s.Name] = s.Set
	}
	return m
}()

// SetMetric stores the sum of the named metric in a; it reports false for a name
// this version does not know (written by a newer one), which readers ignore.
func (a *ArmAggregate) SetMetric(name string, v float64) bool {
	set, ok := setters[name]
	if ok {
		set(a, v)
	}
	return ok
}

// ri rounds a sum read back as float8 to the integer it is (numeric sums of integer
// contributions are exact; the conversion may not be).
func ri(v float64) int64 { return int64(math.Round(v)) }
