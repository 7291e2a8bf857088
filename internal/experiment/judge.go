package experiment

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Metric names a judged quantity. The business metrics carry the same strings as
// v1alpha1.BusinessMetric; ErrorRate and LatencyP99 are the technical ones
// MeasuredMetric also reports.
type Metric string

// Metrics.
const (
	ConversionRate    Metric = "ConversionRate"
	RevenuePerVisitor Metric = "RevenuePerVisitor"
	AverageOrderValue Metric = "AverageOrderValue"
	ClickThroughRate  Metric = "ClickThroughRate"
	ErrorRate         Metric = "ErrorRate"
	LatencyP99        Metric = "LatencyP99"
)

// Verdict is the judgement on one metric; the strings are those of v1alpha1.Verdict.
type Verdict string

// Verdicts.
const (
	// Pending: not enough data yet (fewer than MinSamples units per arm, or the
	// interval still straddles the thresholds).
	Pending Verdict = "Pending"
	// Better: the whole lift interval lies above 0 and above minLiftPercent.
	Better Verdict = "Better"
	// NoWorse: the interval lies above a negative minLiftPercent (the tolerated loss)
	// but not above 0.
	NoWorse Verdict = "NoWorse"
	// Worse: the whole interval lies below 0 and below minLiftPercent.
	Worse Verdict = "Worse"
	// Inconclusive: maxDuration passed without a verdict, or the interval lies
	// entirely below a positive minLiftPercent so the criterion can no longer pass.
	Inconclusive Verdict = "Inconclusive"
)

// Outcome is what the controller should do with the experiment now.
type Outcome string

// Outcomes.
const (
	// Continue: keep the split and look again later.
	Continue Outcome = "Continue"
	// Promote: every business criterion passed and the technical criteria hold.
	Promote Outcome = "Promote"
	// Rollback: a guardrail fired or a business criterion is Worse.
	Rollback Outcome = "Rollback"
	// Inconclusive: no verdict by maxDuration, or a criterion can no longer pass.
	InconclusiveOutcome Outcome = "Inconclusive"
)

// Defaults used when a Criteria field is zero; they are the CRD defaults.
const (
	DefaultConfidencePercent          = 95
	DefaultMinSamples                 = 1000
	DefaultMaxDuration                = 336 * time.Hour
	DefaultMinDetectableEffectPercent = 5
	// guardFloor is the fewest units per arm before the business-drop guardrail may
	// fire: below it the normal approximation of the mixture test is not trusted.
	guardFloor = 100
	// minEvents is the fewest events (converters, orders, clicks) per arm before any
	// business verdict or drop: with fewer, a revenue variance estimated from a
	// handful of baskets can be tiny by chance and the normal approximation breaks.
	minEvents = 30
)

// Criterion is one business criterion (v1alpha1.BusinessCriterion).
type Criterion struct {
	// Metric judged.
	Metric Metric
	// MinLiftPercent is the relative lift the candidate must prove: the lower bound of
	// the lift interval must exceed it. 0 asks for a proven improvement; a negative
	// value is a non-inferiority margin (the loss tolerated).
	MinLiftPercent float64
}

// Triggers are v1alpha1.RollbackTriggers; a zero field is off.
type Triggers struct {
	// ErrorRatePerMille rolls back once the candidate's error rate is proven above it.
	ErrorRatePerMille float64
	// LatencyP99 rolls back once the candidate's p99 latency is proven above it.
	LatencyP99 time.Duration
	// BusinessDropPercent rolls back once a business criterion's lift interval lies
	// entirely below −BusinessDropPercent, even before MinSamples.
	BusinessDropPercent float64
}

// Criteria is everything Judge needs from a ModelVersion's rollout; the controller
// copies it from spec.rollout (successCriteria, rollbackOn, abTest.maxDuration).
type Criteria struct {
	// Business criteria; every one must pass for Promote.
	Business []Criterion
	// ConfidencePercent of every interval and test (80–99; 0 means 95).
	ConfidencePercent float64
	// MinSamples is the fewest units per arm before a business verdict (0 means 1000).
	MinSamples int64
	// MaxDuration after startedAt ends the experiment as Inconclusive (0 means 336h).
	MaxDuration time.Duration
	// MaxErrorRatePerMille must hold (measured) for Promote; nil skips the check.
	MaxErrorRatePerMille *float64
	// MaxLatencyP99 must hold (measured) for Promote; 0 skips the check.
	MaxLatencyP99 time.Duration
	// Rollback triggers, checked on every call.
	Rollback Triggers
	// MinDetectableEffectPercent tunes the mixing variance of the test: τ = log(1 +
	// max(MDE, minLiftPercent)/100). 0 means 5. Any value keeps the test valid; it
	// only moves where it is most powerful.
	MinDetectableEffectPercent float64
	// RevenueCap, when not 0, is the cap the aggregates must have been built with.
	RevenueCap int64
}

func (c Criteria) withDefaults() Criteria {
	if c.ConfidencePercent == 0 {
		c.ConfidencePercent = DefaultConfidencePercent
	}
	if c.MinSamples == 0 {
		c.MinSamples = DefaultMinSamples
	}
	if c.MaxDuration == 0 {
		c.MaxDuration = DefaultMaxDuration
	}
	if c.MinDetectableEffectPercent == 0 {
		c.MinDetectableEffectPercent = DefaultMinDetectableEffectPercent
	}
	return c
}

func (c Criteria) alpha() float64 { return 1 - c.ConfidencePercent/100 }

// Result is the judgement on one metric, shaped like v1alpha1.MeasuredMetric.
type Result struct {
	// Metric judged.
	Metric Metric
	// Candidate and Baseline are the metric's values: fractions for rates, minor
	// units for RevenuePerVisitor (capped) and AverageOrderValue (capped), seconds for
	// LatencyP99 (a bucket bound).
	Candidate, Baseline float64
	// LiftPercent is 100·(candidate/baseline − 1); IntervalLow and IntervalHigh bound
	// it with the always-valid confidence sequence at ConfidencePercent. NaN when not
	// computed (technical metrics, or no event yet).
	LiftPercent, IntervalLow, IntervalHigh float64
	// PValue is the always-valid p-value of "no difference" at this look.
	PValue float64
	// ConfidencePercent of the interval.
	ConfidencePercent float64
	// Samples is the smaller arm's unit count (requests for technical metrics).
	Samples int64
	// Events is the smaller arm's count of the events the metric is made of
	// (converters, orders or clicks).
	Events int64
	// Verdict on the metric.
	Verdict Verdict
	// Reason says the verdict in words.
	Reason string
}

// Decision is Judge's answer.
type Decision struct {
	// Outcome for the experiment.
	Outcome Outcome
	// Reason says in words why (for events and status.blockedBy).
	Reason string
	// Metrics are the business criteria in order, then ErrorRate and LatencyP99.
	Metrics []Result
}

// Judge decides an A/B experiment from the two arms' aggregates. It keeps no state:
// call it on every look with the cumulative aggregates. The error guarantees hold
// when the caller acts on the first Outcome other than Continue (the tests are
// always valid, so looking often costs nothing).
func Judge(c Criteria, baseline, candidate Aggregate, startedAt, now time.Time) Decision {
	c = c.withDefaults()
	d := Decision{Outcome: Continue}
	timedOut := !startedAt.IsZero() && now.Sub(startedAt) >= c.MaxDuration
	var waiting, futile []string
	allPass := true
	for _, cr := range c.Business {
		r := evaluate(c, cr, baseline, candidate)
		pending := r.Verdict == Pending
		if timedOut && pending {
			r.Verdict = Inconclusive
		}
		d.Metrics = append(d.Metrics, r)
		switch {
		case r.Verdict == Better || r.Verdict == NoWorse:
		case !pending:
			allPass = false
			futile = append(futile, fmt.Sprintf("%s: %s", r.Metric, r.Reason))
		default:
			allPass = false
			waiting = append(waiting, fmt.Sprintf("%s: %s", r.Metric, r.Reason))
		}
	}
	errRes, latRes := technical(c, baseline, candidate)
	d.Metrics = append(d.Metrics, errRes, latRes)

	if reason, fire := guard(c, d.Metrics, baseline, candidate); fire {
		d.Outcome, d.Reason = Rollback, reason
		return d
	}
	for _, r := range d.Metrics[:len(c.Business)] {
		if r.Verdict == Worse {
			d.Outcome, d.Reason = Rollback, fmt.Sprintf("%s is worse: %s", r.Metric, r.Reason)
			return d
		}
	}
	samples := min(baseline.Visitors, candidate.Visitors)
	if allPass && (len(c.Business) > 0 || samples >= c.MinSamples) {
		var notMet []string
		for _, r := range []Result{errRes, latRes} {
			if r.Verdict == Pending {
				notMet = append(notMet, fmt.Sprintf("%s: %s", r.Metric, r.Reason))
			}
		}
		if len(notMet) == 0 {
			d.Outcome, d.Reason = Promote, "every criterion passed"
			if len(c.Business) > 0 {
				d.Reason = "every criterion passed: " + summary(d.Metrics[:len(c.Business)])
			}
			return d
		}
		waiting = append(waiting, notMet...)
	}
	if len(futile) > 0 {
		d.Outcome, d.Reason = InconclusiveOutcome, strings.Join(futile, "; ")
		return d
	}
	if len(c.Business) == 0 && samples < c.MinSamples {
		waiting = append([]string{fmt.Sprintf("%d of %d units per arm", samples, c.MinSamples)}, waiting...)
	}
	if timedOut {
		d.Outcome = InconclusiveOutcome
		d.Reason = "maxDuration " + c.MaxDuration.String() + " passed without a verdict: " + strings.Join(waiting, "; ")
		return d
	}
	d.Reason = "waiting: " + strings.Join(waiting, "; ")
	return d
}

func summary(rs []Result) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s %s (lift %+.2f%%, [%+.2f%%, %+.2f%%])",
			r.Metric, r.Verdict, r.LiftPercent, r.IntervalLow, r.IntervalHigh))
	}
	return strings.Join(parts, ", ")
}

// metricRatio returns an arm's sums for a business metric. Sums of squares an
// aggregate left at zero fall back to what they are when every unit has at most one
// event (o² = o), and click-through without per-unit impression sums falls back to
// treating impressions as independent trials, so partial aggregates still give a
// (less exact) answer.
func metricRatio(m Metric, a Aggregate) (ratio, bool) {
	rev, revSq, revOrd := float64(a.CappedRevenue), a.CappedRevenueSq, a.CappedRevenueOrders
	if a.RevenueCap == 0 && rev == 0 && revSq == 0 {
		rev, revSq, revOrd = float64(a.Revenue), a.RevenueSq, a.RevenueOrders
	}
	ordSq := math.Max(a.OrdersSq, float64(a.Orders))
	if revOrd == 0 && a.Orders == a.Converters {
		revOrd = rev // o is 0 or 1, and r > 0 only where o = 1
	}
	switch m {
	case ConversionRate:
		// A converter indicator is 0 or 1, so Σy² = Σy.
		return perUnit(a.Visitors, float64(a.Converters), float64(a.Converters)), true
	case RevenuePerVisitor:
		return perUnit(a.Visitors, rev, revSq), true
	case AverageOrderValue:
		return ratio{n: float64(a.Visitors), sy: rev, syy: revSq,
			sx: float64(a.Orders), sxx: ordSq, sxy: revOrd}, true
	case ClickThroughRate:
		clicksSq := math.Max(a.ClicksSq, float64(a.Clicks))
		if a.ImpressionsSq == 0 && a.ClicksImpressions == 0 {
			return perUnit(a.Impressions, float64(a.Clicks), float64(a.Clicks)), true
		}
		return ratio{n: float64(a.Visitors), sy: float64(a.Clicks), syy: clicksSq,
			sx: float64(a.Impressions), sxx: a.ImpressionsSq, sxy: a.ClicksImpressions}, true
	}
	return ratio{}, false
}

// units is the sample size of a metric in an arm: visitors, or impressions for
// click-through judged per impression.
func units(m Metric, a Aggregate) int64 {
	if m == ClickThroughRate && a.ImpressionsSq == 0 && a.ClicksImpressions == 0 {
		return a.Impressions
	}
	return a.Visitors
}

// events counts what the metric's numerator counts in an arm: converters for
// conversion and revenue per visitor, orders for average order value, clicks for
// click-through. The normal approximation needs a few of them (minEvents).
func events(m Metric, a Aggregate) int64 {
	switch m {
	case AverageOrderValue:
		return a.Orders
	case ClickThroughRate:
		return a.Clicks
	}
	return a.Converters
}

// tau2 is the mixing variance on the log-lift scale for a criterion.
func tau2(c Criteria, cr Criterion) float64 {
	e := math.Max(c.MinDetectableEffectPercent, cr.MinLiftPercent)
	t := math.Log1p(e / 100)
	return t * t
}

// interval computes the lift, its always-valid interval and p-value; ok is false
// while the estimate is undefined.
func interval(c Criteria, cr Criterion, baseline, candidate Aggregate) (r Result, ok bool) {
	r = Result{Metric: cr.Metric, ConfidencePercent: c.ConfidencePercent,
		Samples:     min(units(cr.Metric, baseline), units(cr.Metric, candidate)),
		Events:      min(events(cr.Metric, baseline), events(cr.Metric, candidate)),
		LiftPercent: math.NaN(), IntervalLow: math.NaN(), IntervalHigh: math.NaN(), PValue: 1}
	rb, known := metricRatio(cr.Metric, baseline)
	if !known {
		r.Verdict, r.Reason = Pending, "unknown metric"
		return r, false
	}
	rc, _ := metricRatio(cr.Metric, candidate)
	r.Baseline, r.Candidate = rb.value(), rc.value()
	if (cr.Metric == RevenuePerVisitor || cr.Metric == AverageOrderValue) &&
		(baseline.RevenueCap != candidate.RevenueCap || (c.RevenueCap != 0 && c.RevenueCap != baseline.RevenueCap)) {
		r.Verdict = Pending
		r.Reason = fmt.Sprintf("revenue capped differently (baseline %d, candidate %d, expected %d)",
			baseline.RevenueCap, candidate.RevenueCap, c.RevenueCap)
		return r, false
	}
	est, v, ok := logLift(rb, rc)
	if !ok {
		r.Verdict, r.Reason = Pending, "not enough events in both arms to estimate a lift"
		return r, false
	}
	t2 := tau2(c, cr)
	rad := csRadius(v, t2, c.alpha())
	r.LiftPercent = 100 * math.Expm1(est)
	r.IntervalLow = 100 * math.Expm1(est-rad)
	r.IntervalHigh = 100 * math.Expm1(est+rad)
	r.PValue = pValue(est, v, t2)
	return r, true
}

// evaluate gives a business criterion its verdict.
func evaluate(c Criteria, cr Criterion, baseline, candidate Aggregate) Result {
	r, ok := interval(c, cr, baseline, candidate)
	if !ok {
		if r.Samples < c.MinSamples {
			r.Reason = fmt.Sprintf("%d of %d units per arm; %s", r.Samples, c.MinSamples, r.Reason)
		}
		return r
	}
	if r.Samples < c.MinSamples {
		r.Verdict, r.Reason = Pending, fmt.Sprintf("%d of %d units per arm", r.Samples, c.MinSamples)
		return r
	}
	if r.Events < minEvents {
		r.Verdict, r.Reason = Pending, fmt.Sprintf("%d of %d events per arm", r.Events, minEvents)
		return r
	}
	m := cr.MinLiftPercent
	lo, hi := r.IntervalLow, r.IntervalHigh
	span := fmt.Sprintf("lift %+.2f%% in [%+.2f%%, %+.2f%%] at %g%%", r.LiftPercent, lo, hi, c.ConfidencePercent)
	switch {
	case lo > m && lo > 0:
		r.Verdict, r.Reason = Better, span+fmt.Sprintf(", above %+g%%", m)
	case lo > m:
		r.Verdict, r.Reason = NoWorse, span+fmt.Sprintf(", above the tolerated %+g%%", m)
	case hi < math.Min(m, 0):
		r.Verdict, r.Reason = Worse, span+fmt.Sprintf(", below %+g%%", math.Min(m, 0))
	case hi < m:
		r.Verdict, r.Reason = Inconclusive, span+fmt.Sprintf(", proven below the required %+g%%", m)
	default:
		r.Verdict, r.Reason = Pending, span+fmt.Sprintf(", not yet clear of %+g%%", m)
	}
	return r
}
