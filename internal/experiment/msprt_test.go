package experiment

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestCSRadiusIsWhereTheMixtureCrossesTheBoundary(t *testing.T) {
	for _, tc := range []struct {
		name           string
		v, tau2, alpha float64
	}{
		{"small variance", 1e-5, 0.0024, 0.05},
		{"variance near tau", 0.002, 0.0024, 0.05},
		{"large variance", 0.5, 0.0024, 0.01},
		{"80 percent", 1e-4, 0.01, 0.2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := csRadius(tc.v, tc.tau2, tc.alpha)
			got := logMixtureLR(0.3+r, tc.v, tc.tau2, 0.3)
			if want := math.Log(1 / tc.alpha); math.Abs(got-want) > 1e-9 {
				t.Fatalf("log Λ at the interval's edge = %v, want log(1/α) = %v", got, want)
			}
			if p := pValue(r, tc.v, tc.tau2); math.Abs(p-tc.alpha) > 1e-9 {
				t.Fatalf("p-value at the edge = %v, want α = %v", p, tc.alpha)
			}
		})
	}
}

func TestLogMeanPerUnit(t *testing.T) {
	// 1000 visitors, 50 converters: variance of log p̂ is (1−p)/(n p) with the
	// n−1 sample variance.
	est, v, ok := perUnit(1000, 50, 50).logMean()
	if !ok {
		t.Fatal("not ok")
	}
	p := 0.05
	want := (50 - 1000*p*p) / 999 / (p * p) / 1000
	if math.Abs(est-math.Log(p)) > 1e-12 || math.Abs(v-want) > 1e-12 {
		t.Fatalf("logMean = %v, %v; want %v, %v", est, v, math.Log(p), want)
	}
	for name, r := range map[string]ratio{
		"one unit":       perUnit(1, 1, 1),
		"no event":       perUnit(1000, 0, 0),
		"no spread":      perUnit(1000, 1000, 1000),
		"no denominator": {n: 10, sy: 3, syy: 3},
	} {
		if _, _, ok := r.logMean(); ok {
			t.Errorf("%s: logMean ok, want undefined", name)
		}
	}
}

// The delta-method variance of a ratio metric (average order value) must match the
// spread of the estimate over replicated arms, or the test on AOV and CTR would be
// miscalibrated.
func TestRatioVarianceMatchesReplication(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	const reps, units = 2000, 3000
	var sum, sumSq, predicted float64
	for range reps {
		a := Aggregate{RevenueCap: 40000}
		for range units {
			orders := int64(0)
			if u := r.Float64(); u < 0.2 {
				orders = 1
			} else if u < 0.25 {
				orders = 3
			}
			var rev int64
			for range orders {
				rev += int64(3000 * math.Exp(0.8*r.NormFloat64()))
			}
			a.AddUnit(orders, rev, 0, 0)
		}
		m, _ := metricRatio(AverageOrderValue, a)
		est, v, ok := m.logMean()
		if !ok {
			t.Fatal("aov undefined")
		}
		sum += est
		sumSq += est * est
		predicted += v
	}
	empirical := (sumSq - sum*sum/reps) / (reps - 1)
	predicted /= reps
	if ratio := predicted / empirical; ratio < 0.9 || ratio > 1.1 {
		t.Fatalf("delta-method variance %.3g vs replicated %.3g (ratio %.3f), want within 10%%", predicted, empirical, ratio)
	}
}

// The error-rate and latency guardrails are exact tests: under continuous monitoring
// at the boundary p = p0 they may fire in at most α of the runs.
func TestBernoulliMixtureIsAlwaysValid(t *testing.T) {
	const runs, steps, p0, alpha = 400, 3000, 0.05, 0.05
	r := rand.New(rand.NewPCG(3, 3))
	fired := 0
	for range runs {
		var k int64
		for n := int64(1); n <= steps; n++ {
			if r.Float64() < p0 {
				k++
			}
			if n%5 == 0 && bernoulliMixtureLogLR(k, n, p0) >= math.Log(1/alpha) {
				fired++
				break
			}
		}
	}
	if rate := float64(fired) / runs; rate > alpha {
		t.Fatalf("fired in %.1f%% of runs at p = p0, want ≤ %.0f%%", 100*rate, 100*alpha)
	}
	// And it has power: a 10 % error rate against a 5 % trigger is found in 3000 calls.
	if bernoulliMixtureLogLR(300, 3000, p0) < math.Log(1/alpha) {
		t.Fatal("10% errors over 3000 calls not proven above 5%")
	}
}
