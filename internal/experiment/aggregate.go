package experiment

import "time"

// Aggregate is what the experiment consumer keeps for one arm (baseline or candidate)
// of one experiment. Every field is a plain sum over the arm's exposed units, so it can
// be computed by one GROUP BY over per-unit rows or maintained incrementally, and two
// aggregates of disjoint units add up field by field (see Add).
//
// A unit is what the traffic split is sticky by (a signed-in user or a session): the
// statistics treat units as independent, which they are because assignment is random
// per unit. Per-unit values (o, r, k, m below) are the unit's totals inside the
// attribution window; when a late event raises a unit's total from x to x+d, the
// square sums grow by (x+d)²−x², so the consumer must know each unit's current totals
// (it needs them anyway to be idempotent).
//
// Money is in minor units of the storefront's currency. Sums of squares are float64:
// they overflow int64 quickly and the analysis needs them only to a few digits.
type Aggregate struct {
	// Visitors is the number of exposed units (n): distinct units assigned to the arm
	// that received at least one answer from it.
	Visitors int64 `json:"visitors"`
	// Converters is the number of units with at least one attributed order.
	Converters int64 `json:"converters"`
	// Orders is Σ o, the attributed orders.
	Orders int64 `json:"orders"`
	// OrdersSq is Σ o², per unit.
	OrdersSq float64 `json:"ordersSq"`
	// Revenue is Σ r, the attributed revenue, uncapped (shown, not tested).
	Revenue int64 `json:"revenue"`
	// RevenueSq is Σ r², uncapped.
	RevenueSq float64 `json:"revenueSq"`
	// RevenueOrders is Σ r·o, uncapped.
	RevenueOrders float64 `json:"revenueOrders"`
	// RevenueCap is the per-unit cap c applied to the Capped* sums, in minor units;
	// 0 means no cap (the Capped* sums then equal the raw ones). It must be fixed
	// before the experiment starts and be the same for both arms: Judge refuses to
	// compare arms capped differently.
	RevenueCap int64 `json:"revenueCap"`
	// CappedRevenue is Σ min(r, c): the sum RevenuePerVisitor and AverageOrderValue
	// are tested on, so that one huge basket cannot swing the verdict. With
	// RevenueCap 0 the three Capped* fields may be left 0: the raw sums are used.
	CappedRevenue int64 `json:"cappedRevenue"`
	// CappedRevenueSq is Σ min(r, c)².
	CappedRevenueSq float64 `json:"cappedRevenueSq"`
	// CappedRevenueOrders is Σ min(r, c)·o, the cross term the variance of average
	// order value (a ratio of two per-unit sums) needs.
	CappedRevenueOrders float64 `json:"cappedRevenueOrders"`
	// Impressions is Σ m, recommendation items shown to the unit.
	Impressions int64 `json:"impressions"`
	// ImpressionsSq is Σ m².
	ImpressionsSq float64 `json:"impressionsSq"`
	// Clicks is Σ k, clicks on shown recommendation items.
	Clicks int64 `json:"clicks"`
	// ClicksSq is Σ k².
	ClicksSq float64 `json:"clicksSq"`
	// ClicksImpressions is Σ k·m, the cross term of click-through rate.
	ClicksImpressions float64 `json:"clicksImpressions"`
	// Requests is the number of inference calls routed to the arm.
	Requests int64 `json:"requests"`
	// Errors is the number of those calls that failed (including the ones answered by
	// the fallback to the baseline).
	Errors int64 `json:"errors"`
	// Latency counts the arm's inference calls by duration: Latency[i] counts calls
	// that took more than LatencyBounds[i-1] and at most LatencyBounds[i]; the last
	// element counts calls slower than the last bound. Its total should equal Requests
	// minus the calls that failed before an answer was timed (a nil slice means no
	// latency was recorded).
	Latency []int64 `json:"latency,omitempty"`
}

// LatencyBounds are the upper bounds of the Latency buckets. A latency threshold that
// is not one of them is judged at the next larger bound, which can only make a latency
// guardrail fire later, never wrongly.
var LatencyBounds = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond,
	50 * time.Millisecond, 75 * time.Millisecond, 100 * time.Millisecond,
	150 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond,
	500 * time.Millisecond, 750 * time.Millisecond, time.Second,
	2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
}

// LatencyBucket returns the index in Aggregate.Latency that a call of duration d
// counts in; the consumer uses it so both sides agree on the edges.
func LatencyBucket(d time.Duration) int {
	for i, b := range LatencyBounds {
		if d <= b {
			return i
		}
	}
	return len(LatencyBounds)
}

// Add returns the field-wise sum of two aggregates of disjoint units with the same
// revenue cap (e.g. two shards of one arm).
func (a Aggregate) Add(b Aggregate) Aggregate {
	s := Aggregate{
		Visitors:            a.Visitors + b.Visitors,
		Converters:          a.Converters + b.Converters,
		Orders:              a.Orders + b.Orders,
		OrdersSq:            a.OrdersSq + b.OrdersSq,
		Revenue:             a.Revenue + b.Revenue,
		RevenueSq:           a.RevenueSq + b.RevenueSq,
		RevenueOrders:       a.RevenueOrders + b.RevenueOrders,
		RevenueCap:          a.RevenueCap,
		CappedRevenue:       a.CappedRevenue + b.CappedRevenue,
		CappedRevenueSq:     a.CappedRevenueSq + b.CappedRevenueSq,
		CappedRevenueOrders: a.CappedRevenueOrders + b.CappedRevenueOrders,
		Impressions:         a.Impressions + b.Impressions,
		ImpressionsSq:       a.ImpressionsSq + b.ImpressionsSq,
		Clicks:              a.Clicks + b.Clicks,
		ClicksSq:            a.ClicksSq + b.ClicksSq,
		ClicksImpressions:   a.ClicksImpressions + b.ClicksImpressions,
		Requests:            a.Requests + b.Requests,
		Errors:              a.Errors + b.Errors,
	}
	if a.RevenueCap == 0 {
		s.RevenueCap = b.RevenueCap
	}
	if a.Latency != nil || b.Latency != nil {
		s.Latency = make([]int64, len(LatencyBounds)+1)
		for i := range s.Latency {
			if i < len(a.Latency) {
				s.Latency[i] += a.Latency[i]
			}
			if i < len(b.Latency) {
				s.Latency[i] += b.Latency[i]
			}
		}
	}
	return s
}

// AddUnit adds one unit's totals to the aggregate, capping its revenue at
// a.RevenueCap: the reference for what a consumer must store, and what the simulation
// uses.
func (a *Aggregate) AddUnit(orders, revenue, impressions, clicks int64) {
	a.Visitors++
	if orders > 0 {
		a.Converters++
	}
	o, r, m, k := float64(orders), float64(revenue), float64(impressions), float64(clicks)
	a.Orders += orders
	a.OrdersSq += o * o
	a.Revenue += revenue
	a.RevenueSq += r * r
	a.RevenueOrders += r * o
	capped := revenue
	if a.RevenueCap > 0 && capped > a.RevenueCap {
		capped = a.RevenueCap
	}
	c := float64(capped)
	a.CappedRevenue += capped
	a.CappedRevenueSq += c * c
	a.CappedRevenueOrders += c * o
	a.Impressions += impressions
	a.ImpressionsSq += m * m
	a.Clicks += clicks
	a.ClicksSq += k * k
	a.ClicksImpressions += k * m
}
