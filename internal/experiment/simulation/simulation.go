// Package simulation runs seeded A/A and planted-lift experiments through
// experiment.Judge, looking after every batch of visitors as a dashboard watcher
// would, to measure the false-positive rate and the power of the method. Each run has
// its own random stream derived from the scenario's seed and the run index, so the
// figures do not depend on the number of workers.
package simulation

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/kommerce/kommerce/internal/experiment"
)

// Basket is the distribution of one order's value, in minor units.
type Basket struct {
	// Kind is "lognormal" or "pareto".
	Kind string
	// Median and Sigma of a lognormal basket: exp(N(log Median, Sigma²)).
	Median, Sigma float64
	// Xm (minimum) and Alpha (tail index) of a Pareto basket; Alpha ≤ 2 has an
	// infinite variance, where a plain mean test has no CLT to lean on.
	Xm, Alpha float64
}

func (b Basket) draw(r *rand.Rand) float64 {
	switch b.Kind {
	case "pareto":
		return b.Xm / math.Pow(1-r.Float64(), 1/b.Alpha)
	default:
		return b.Median * math.Exp(b.Sigma*r.NormFloat64())
	}
}

// Arm is how one arm's visitors behave.
type Arm struct {
	// Conversion is the share of visitors who order.
	Conversion float64
	// SecondOrder is the share of converters who order twice.
	SecondOrder float64
	// Basket is each order's value.
	Basket Basket
	// BasketScale multiplies every order's value (0 means 1).
	BasketScale float64
	// Impressions is the mean number of recommendations a visitor sees (1 + a
	// Poisson count); 0 simulates no impressions (and is much faster).
	Impressions float64
	// CTR is the mean click probability of an impression. Visitors differ: a quarter
	// click at 2.5·CTR, the rest at 0.5·CTR, so a visitor's impressions are not
	// independent trials.
	CTR float64
}

// Scenario is one simulated experiment design, repeated Runs times.
type Scenario struct {
	Name                string
	Baseline, Candidate Arm
	// Criteria given to Judge.
	Criteria experiment.Criteria
	// RevenueCap applied by the simulated consumer (0: none).
	RevenueCap int64
	// PerArm is the horizon: visitors per arm when the run stops undecided.
	PerArm int64
	// Batch is the visitors per arm between two looks.
	Batch int64
	// Runs and Seed of the repetition.
	Runs int
	Seed uint64
}

// Summary counts the runs' first decisions.
type Summary struct {
	Runs                                          int
	Promoted, RolledBack, Inconclusive, Undecided int
	// MeanStopPerArm is the mean visitors per arm when a decided run stopped.
	MeanStopPerArm float64
}

// Decided is the number of runs that ended with Promote or Rollback.
func (s Summary) Decided() int { return s.Promoted + s.RolledBack }

type runResult struct {
	outcome experiment.Outcome
	stop    int64
}

// Run simulates the scenario.
func Run(s Scenario) Summary {
	results := make([]runResult, s.Runs)
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = runOne(s, i)
			}
		}()
	}
	for i := range s.Runs {
		next <- i
	}
	close(next)
	wg.Wait()

	sum := Summary{Runs: s.Runs}
	var stops float64
	for _, r := range results {
		switch r.outcome {
		case experiment.Promote:
			sum.Promoted++
		case experiment.Rollback:
			sum.RolledBack++
		case experiment.InconclusiveOutcome:
			sum.Inconclusive++
		default:
			sum.Undecided++
			continue
		}
		stops += float64(r.stop)
	}
	if d := s.Runs - sum.Undecided; d > 0 {
		sum.MeanStopPerArm = stops / float64(d)
	}
	return sum
}

func runOne(s Scenario, i int) runResult {
	r := rand.New(rand.NewPCG(s.Seed, uint64(i)))
	base := experiment.Aggregate{RevenueCap: s.RevenueCap}
	cand := experiment.Aggregate{RevenueCap: s.RevenueCap}
	start := time.Unix(0, 0)
	for base.Visitors < s.PerArm {
		batch := min(s.Batch, s.PerArm-base.Visitors)
		addVisitors(r, &base, s.Baseline, batch)
		addVisitors(r, &cand, s.Candidate, batch)
		d := experiment.Judge(s.Criteria, base, cand, start, start)
		if d.Outcome != experiment.Continue {
			return runResult{outcome: d.Outcome, stop: base.Visitors}
		}
	}
	return runResult{outcome: experiment.Continue, stop: base.Visitors}
}

// addVisitors adds n visitors of an arm: a binomial number of converters, each with
// one or two orders of random value.
func addVisitors(r *rand.Rand, a *experiment.Aggregate, arm Arm, n int64) {
	if arm.Impressions > 0 {
		addBrowsingVisitors(r, a, arm, n)
		return
	}
	k := binomial(r, n, arm.Conversion)
	a.Visitors += n - k
	scale := arm.BasketScale
	if scale == 0 {
		scale = 1
	}
	for range k {
		orders := int64(1)
		if arm.SecondOrder > 0 && r.Float64() < arm.SecondOrder {
			orders = 2
		}
		var revenue float64
		for range orders {
			revenue += scale * arm.Basket.draw(r)
		}
		a.AddUnit(orders, int64(math.Round(math.Min(revenue, 1e15))), 0, 0)
	}
}

// addBrowsingVisitors adds n visitors one by one, with impressions and clicks.
func addBrowsingVisitors(r *rand.Rand, a *experiment.Aggregate, arm Arm, n int64) {
	scale := arm.BasketScale
	if scale == 0 {
		scale = 1
	}
	expMean := math.Exp(-(arm.Impressions - 1))
	for range n {
		m := 1 + poisson(r, arm.Impressions-1, expMean)
		ctr := 0.5 * arm.CTR
		if r.Float64() < 0.25 {
			ctr = 2.5 * arm.CTR
		}
		var k int64
		for range m {
			if r.Float64() < ctr {
				k++
			}
		}
		var orders int64
		var revenue float64
		if r.Float64() < arm.Conversion {
			orders = 1
			revenue = scale * arm.Basket.draw(r)
		}
		a.AddUnit(orders, int64(math.Round(revenue)), m, k)
	}
}

// poisson draws Poisson(mean) by inversion (small means only); expMean is e^−mean.
func poisson(r *rand.Rand, mean, expMean float64) int64 {
	if mean <= 0 {
		return 0
	}
	u := r.Float64()
	p := expMean
	cdf := p
	var k int64
	for u > cdf && k < 1000 {
		k++
		p *= mean / float64(k)
		cdf += p
	}
	return k
}

// binomial draws Binomial(n, p) by inversion (O(np), fine for batches), or by n
// Bernoulli draws when (1−p)^n underflows.
func binomial(r *rand.Rand, n int64, p float64) int64 {
	if p <= 0 || n <= 0 {
		return 0
	}
	if p >= 1 {
		return n
	}
	q := math.Pow(1-p, float64(n))
	if q < 1e-300 {
		var k int64
		for range n {
			if r.Float64() < p {
				k++
			}
		}
		return k
	}
	u := r.Float64()
	ratio := p / (1 - p)
	var k int64
	pmf, cdf := q, q
	for u > cdf && k < n {
		pmf *= ratio * float64(n-k) / float64(k+1)
		k++
		cdf += pmf
	}
	return k
}

// UnitCV2 estimates an arm's per-unit squared coefficient of variation for a metric
// (experiment.UnitCV2) from n simulated visitors: the input SampleSize needs, in
// practice measured on the baseline's past traffic.
func UnitCV2(m experiment.Metric, arm Arm, cap int64, n int64, seed uint64) float64 {
	r := rand.New(rand.NewPCG(seed, math.MaxUint64))
	a := experiment.Aggregate{RevenueCap: cap}
	for a.Visitors < n {
		addVisitors(r, &a, arm, min(10000, n-a.Visitors))
	}
	cv2, _ := experiment.UnitCV2(m, a)
	return cv2
}

// Wilson is the Wilson score interval of k successes in n trials at the given
// confidence (e.g. 0.95).
func Wilson(k, n int, confidence float64) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	z := math.Sqrt2 * math.Erfinv(confidence)
	nf, p := float64(n), float64(k)/float64(n)
	den := 1 + z*z/nf
	center := (p + z*z/(2*nf)) / den
	half := z / den * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf))
	return math.Max(0, center-half), math.Min(1, center+half)
}
