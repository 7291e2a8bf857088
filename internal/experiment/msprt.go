package experiment

import "math"

// ratio is one arm's per-unit sums for a metric of the form Σy / Σx (x ≡ 1 for
// per-visitor metrics): the unit of randomisation is the visitor, so ratio metrics
// such as average order value get their variance from the delta method over units,
// not from treating orders as independent.
type ratio struct {
	n            float64
	sy, syy      float64
	sx, sxx, sxy float64
}

// perUnit is a metric whose denominator is the number of units.
func perUnit(n int64, sy, syy float64) ratio {
	nf := float64(n)
	return ratio{n: nf, sy: sy, syy: syy, sx: nf, sxx: nf, sxy: sy}
}

// value is the metric itself, Σy/Σx.
func (r ratio) value() float64 {
	if r.sx <= 0 {
		return math.NaN()
	}
	return r.sy / r.sx
}

// logMean returns log(ȳ/x̄) and its delta-method variance
// (s²_y/ȳ² + s²_x/x̄² − 2 s_xy/(ȳ x̄)) / n. ok is false while the estimate is not
// defined yet: fewer than two units, no event in the numerator, or no spread.
func (r ratio) logMean() (est, variance float64, ok bool) {
	if r.n < 2 || r.sy <= 0 || r.sx <= 0 {
		return 0, 0, false
	}
	yb, xb := r.sy/r.n, r.sx/r.n
	vyy := (r.syy - r.n*yb*yb) / (r.n - 1)
	vxx := (r.sxx - r.n*xb*xb) / (r.n - 1)
	vxy := (r.sxy - r.n*yb*xb) / (r.n - 1)
	variance = (vyy/(yb*yb) + vxx/(xb*xb) - 2*vxy/(yb*xb)) / r.n
	if !(variance > 0) || math.IsInf(variance, 0) {
		return 0, 0, false
	}
	return math.Log(yb / xb), variance, true
}

// logLift is the estimated log of candidate/baseline and the variance of that
// estimate (the two arms are independent).
func logLift(baseline, candidate ratio) (est, variance float64, ok bool) {
	eb, vb, okb := baseline.logMean()
	ec, vc, okc := candidate.logMean()
	if !okb || !okc {
		return 0, 0, false
	}
	return ec - eb, vb + vc, true
}

// logMixtureLR is log Λ, the normal-mixture likelihood ratio of the mSPRT (Johari,
// Pekelis and Walsh, "Always valid inference"): the estimate est ~ N(θ, v) and, under
// the alternative, θ ~ N(θ0, tau2). Λ is a martingale under θ = θ0, so by Ville's
// inequality P(Λ ever ≥ 1/α) ≤ α however often it is looked at.
func logMixtureLR(est, v, tau2, theta0 float64) float64 {
	d := est - theta0
	return 0.5*math.Log(v/(v+tau2)) + d*d*tau2/(2*v*(v+tau2))
}

// csRadius is the half-width of the always-valid confidence sequence at level 1−α:
// every θ0 with Λ(θ0) < 1/α, i.e. |est − θ0| < radius.
func csRadius(v, tau2, alpha float64) float64 {
	return math.Sqrt(v * (v + tau2) / tau2 * (2*math.Log(1/alpha) + math.Log((v+tau2)/v)))
}

// pValue is the always-valid p-value of θ = 0 at this look, min(1, 1/Λ(0)). (The
// running minimum over looks is also valid; a caller that stops at the first decision
// does not need it.)
func pValue(est, v, tau2 float64) float64 {
	return math.Min(1, math.Exp(-logMixtureLR(est, v, tau2, 0)))
}

// normalQuantile is Φ⁻¹(p).
func normalQuantile(p float64) float64 {
	return math.Sqrt2 * math.Erfinv(2*p-1)
}

// bernoulliMixtureLogLR is the log of an exact always-valid test of H0: p ≤ p0 for k
// events in n Bernoulli trials. It mixes, with equal weights, the likelihood ratios of
// alternatives q_j = p0 + (1−p0)/2^j (j = 1..10) against p0; each is a
// supermartingale under any p ≤ p0, hence so is their mixture, and rejecting when it
// reaches 1/α is valid under continuous monitoring with no normal approximation, which
// matters for rare errors. A candidate whose calls all fail crosses after a few
// requests.
func bernoulliMixtureLogLR(k, n int64, p0 float64) float64 {
	if p0 <= 0 {
		if k > 0 {
			return math.Inf(1)
		}
		return 0
	}
	if p0 >= 1 || n <= 0 {
		return math.Inf(-1)
	}
	const components = 10
	kf, mf := float64(k), float64(n-k)
	terms := make([]float64, 0, components)
	for j := 1; j <= components; j++ {
		q := p0 + (1-p0)/math.Exp2(float64(j))
		t := kf*math.Log(q/p0) - math.Log(components)
		if mf > 0 {
			t += mf * math.Log((1-q)/(1-p0))
		}
		terms = append(terms, t)
	}
	return logSumExp(terms)
}

func logSumExp(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	if math.IsInf(m, 0) {
		return m
	}
	s := 0.0
	for _, x := range xs {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}
