package experiment

import (
	"fmt"
	"math"
	"time"
)

// Guard reports whether a rollback trigger fires now, and why. It is the part of
// Judge that must run on every look, whatever the business criteria say:
//
//   - error rate: fires once the candidate's error rate is proven above
//     ErrorRatePerMille by an exact always-valid test (a mixture of Bernoulli
//     likelihood ratios, no normal approximation), so a few failures out of a few
//     calls do not roll back a healthy candidate, but a candidate whose pods are down
//     is rolled back after a handful of calls;
//   - latency: p99 ≤ T is the same as "at most 1 % of calls are slower than T", so
//     it fires once the share of calls slower than T is proven above 1 % by the same
//     test on the Latency histogram;
//   - business drop: fires once a business criterion's always-valid lift interval
//     lies entirely below −BusinessDropPercent (a proven drop, not a point estimate),
//     from 100 units and 30 events per arm on, without waiting for MinSamples.
//
// Every test runs at ConfidencePercent.
func Guard(c Criteria, baseline, candidate Aggregate) (reason string, rollback bool) {
	c = c.withDefaults()
	var rs []Result
	for _, cr := range c.Business {
		rs = append(rs, evaluate(c, cr, baseline, candidate))
	}
	return guard(c, rs, baseline, candidate)
}

func guard(c Criteria, business []Result, _, candidate Aggregate) (string, bool) {
	logBound := math.Log(1 / c.alpha())
	if t := c.Rollback.ErrorRatePerMille; t > 0 && candidate.Requests > 0 {
		if bernoulliMixtureLogLR(candidate.Errors, candidate.Requests, t/1000) >= logBound {
			return fmt.Sprintf("candidate error rate %.1f‰ (%d of %d calls) is proven above the %g‰ rollback trigger",
				1000*float64(candidate.Errors)/float64(candidate.Requests), candidate.Errors, candidate.Requests, t), true
		}
	}
	if t := c.Rollback.LatencyP99; t > 0 {
		if slow, total, bound, ok := slowerThan(candidate.Latency, t); ok && total > 0 {
			if bernoulliMixtureLogLR(slow, total, 0.01) >= logBound {
				return fmt.Sprintf("candidate latency p99 is proven above %s: %d of %d calls slower than %s",
					t, slow, total, bound), true
			}
		}
	}
	if d := c.Rollback.BusinessDropPercent; d > 0 {
		for _, r := range business {
			if r.Samples >= guardFloor && r.Events >= minEvents && r.IntervalHigh < -d {
				return fmt.Sprintf("%s dropped: lift %+.2f%% in [%+.2f%%, %+.2f%%] at %g%%, below the %g%% rollback trigger",
					r.Metric, r.LiftPercent, r.IntervalLow, r.IntervalHigh, r.ConfidencePercent, -d), true
			}
		}
	}
	return "", false
}

// slowerThan counts the calls in a Latency histogram slower than the smallest bucket
// bound at or above t; ok is false when t is beyond the last bound.
func slowerThan(hist []int64, t time.Duration) (slow, total int64, bound time.Duration, ok bool) {
	j := -1
	for i, b := range LatencyBounds {
		if b >= t {
			j = i
			break
		}
	}
	if j < 0 {
		return 0, 0, 0, false
	}
	for i, n := range hist {
		total += n
		if i > j {
			slow += n
		}
	}
	return slow, total, LatencyBounds[j], true
}

// p99 estimates the 99th percentile latency of a histogram as the upper bound of the
// bucket holding it (an overestimate, never an underestimate); +Inf past the last
// bound.
func p99(hist []int64) (time.Duration, int64, bool) {
	var total int64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return 0, 0, false
	}
	need := int64(math.Ceil(0.99 * float64(total)))
	var cum int64
	for i, n := range hist {
		cum += n
		if cum >= need {
			if i < len(LatencyBounds) {
				return LatencyBounds[i], total, true
			}
			break
		}
	}
	return time.Duration(math.MaxInt64), total, true
}

// technical reports ErrorRate and LatencyP99 for the candidate: Worse when the
// rollback trigger is proven exceeded, NoWorse when the measured value meets the
// success criterion, Pending otherwise. The success criteria are thresholds on the
// measured values (like Flagger's), checked when the business criteria have passed.
func technical(c Criteria, baseline, candidate Aggregate) (errRes, latRes Result) {
	nan := math.NaN()
	errRes = Result{Metric: ErrorRate, ConfidencePercent: c.ConfidencePercent, Samples: candidate.Requests,
		LiftPercent: nan, IntervalLow: nan, IntervalHigh: nan, PValue: 1,
		Candidate: rate(candidate.Errors, candidate.Requests), Baseline: rate(baseline.Errors, baseline.Requests)}
	switch {
	case c.MaxErrorRatePerMille == nil:
		errRes.Verdict, errRes.Reason = NoWorse, "not checked"
	case candidate.Requests == 0:
		errRes.Verdict, errRes.Reason = Pending, "no inference call measured for the candidate"
	case 1000*errRes.Candidate > *c.MaxErrorRatePerMille:
		errRes.Verdict, errRes.Reason = Pending,
			fmt.Sprintf("error rate %.2f‰ above the %g‰ success criterion", 1000*errRes.Candidate, *c.MaxErrorRatePerMille)
	default:
		errRes.Verdict, errRes.Reason = NoWorse, fmt.Sprintf("error rate %.2f‰", 1000*errRes.Candidate)
	}

	latRes = Result{Metric: LatencyP99, ConfidencePercent: c.ConfidencePercent,
		LiftPercent: nan, IntervalLow: nan, IntervalHigh: nan, PValue: 1, Candidate: nan, Baseline: nan}
	cp, n, okc := p99(candidate.Latency)
	latRes.Samples = n
	if bp, _, okb := p99(baseline.Latency); okb {
		latRes.Baseline = bp.Seconds()
	}
	switch {
	case c.MaxLatencyP99 == 0:
		latRes.Verdict, latRes.Reason = NoWorse, "not checked"
	case !okc:
		latRes.Verdict, latRes.Reason = Pending, "no latency measured for the candidate"
	case cp > c.MaxLatencyP99:
		latRes.Verdict, latRes.Reason = Pending, fmt.Sprintf("p99 up to %s above the %s success criterion", cp, c.MaxLatencyP99)
	default:
		latRes.Verdict, latRes.Reason = NoWorse, fmt.Sprintf("p99 at most %s", cp)
	}
	if okc {
		latRes.Candidate = cp.Seconds()
	}
	if c.Rollback.ErrorRatePerMille > 0 && candidate.Requests > 0 &&
		bernoulliMixtureLogLR(candidate.Errors, candidate.Requests, c.Rollback.ErrorRatePerMille/1000) >= math.Log(1/c.alpha()) {
		errRes.Verdict, errRes.Reason = Worse, fmt.Sprintf("error rate proven above the %g‰ rollback trigger", c.Rollback.ErrorRatePerMille)
	}
	if t := c.Rollback.LatencyP99; t > 0 {
		if slow, total, _, ok := slowerThan(candidate.Latency, t); ok && total > 0 &&
			bernoulliMixtureLogLR(slow, total, 0.01) >= math.Log(1/c.alpha()) {
			latRes.Verdict, latRes.Reason = Worse, fmt.Sprintf("p99 proven above the %s rollback trigger", t)
		}
	}
	return errRes, latRes
}

func rate(k, n int64) float64 {
	if n == 0 {
		return math.NaN()
	}
	return float64(k) / float64(n)
}
