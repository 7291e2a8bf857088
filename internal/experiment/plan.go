package experiment

import "math"

// Plan describes a two-arm experiment with equal allocation, for SampleSize.
type Plan struct {
	// BaselineCV2 and CandidateCV2 are each arm's per-unit squared coefficient of
	// variation, Var(y)/E[y]² (ConversionCV2 for a conversion rate; for revenue,
	// measured on the capped per-visitor revenue of past traffic).
	BaselineCV2, CandidateCV2 float64
	// LiftPercent is the true relative lift the experiment should find (negative for
	// a drop it should find).
	LiftPercent float64
	// MinLiftPercent is the criterion's threshold (0 to prove any improvement).
	MinLiftPercent float64
	// ConfidencePercent of the test (0 means 95).
	ConfidencePercent float64
	// Power wanted, e.g. 0.8.
	Power float64
	// MinDetectableEffectPercent tunes τ as in Criteria (0 means 5).
	MinDetectableEffectPercent float64
}

// ConversionCV2 is the squared coefficient of variation of a conversion indicator
// with rate p: (1 − p)/p.
func ConversionCV2(p float64) float64 { return (1 - p) / p }

// SampleSize is the number of units per arm at which the always-valid test reaches
// Power: the smallest n where the interval's bound at n alone clears the threshold
// with probability Power, Φ((|θ − θm| − r(V))/√V) ≥ Power with θ = log(1 + lift),
// θm = log(1 + minLift), V = (BaselineCV2 + CandidateCV2)/n and r the
// confidence-sequence radius. Looks before n can only add detections, so the power at
// n under continuous monitoring is at least Power (up to the normal approximation).
// It returns 0 when the lift does not clear the threshold.
func SampleSize(p Plan) int64 {
	c := Criteria{ConfidencePercent: p.ConfidencePercent, MinDetectableEffectPercent: p.MinDetectableEffectPercent}.withDefaults()
	theta := math.Log1p(p.LiftPercent/100) - math.Log1p(p.MinLiftPercent/100)
	if p.LiftPercent < 0 {
		// A drop is judged Worse against min(minLift, 0).
		theta = math.Log1p(p.LiftPercent/100) - math.Log1p(math.Min(p.MinLiftPercent, 0)/100)
	}
	theta = math.Abs(theta)
	if theta == 0 || p.Power <= 0 || p.Power >= 1 {
		return 0
	}
	t2 := tau2(c, Criterion{MinLiftPercent: p.MinLiftPercent})
	zp := normalQuantile(p.Power)
	s := p.BaselineCV2 + p.CandidateCV2
	enough := func(n float64) bool {
		v := s / n
		return theta-csRadius(v, t2, c.alpha()) >= zp*math.Sqrt(v)
	}
	hi := 2.0
	for !enough(hi) {
		hi *= 2
		if hi > 1e15 {
			return 0
		}
	}
	lo := hi / 2
	for hi-lo > 1 {
		mid := math.Floor((lo + hi) / 2)
		if enough(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return int64(hi)
}

// FixedSampleSize is the classical fixed-horizon two-sided z-test's n per arm for the
// same plan (looked at once, at the end): the price of always-valid inference is
// SampleSize / FixedSampleSize.
func FixedSampleSize(p Plan) int64 {
	c := Criteria{ConfidencePercent: p.ConfidencePercent}.withDefaults()
	theta := math.Abs(math.Log1p(p.LiftPercent/100) - math.Log1p(p.MinLiftPercent/100))
	z := normalQuantile(1-c.alpha()/2) + normalQuantile(p.Power)
	return int64(math.Ceil(z * z * (p.BaselineCV2 + p.CandidateCV2) / (theta * theta)))
}

// UnitCV2 is a metric's per-unit squared coefficient of variation measured on an
// aggregate, n·Var(log of the metric's estimate) (for a per-visitor metric exactly
// Var(y)/E[y]²; for a ratio metric its delta-method equivalent): the Plan input, taken
// from the baseline's past traffic. ok is false while it is not defined.
func UnitCV2(m Metric, a Aggregate) (cv2 float64, ok bool) {
	r, known := metricRatio(m, a)
	if !known {
		return 0, false
	}
	_, v, ok := r.logMean()
	return v * r.n, ok
}
