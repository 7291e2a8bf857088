package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"time"
)

// Scenario is the shop's workload, read from scenario.json: how sessions are made up
// and how often each kind of request comes. Everything random in a run is drawn from
// these numbers, so the file is the whole description of the load.
type Scenario struct {
	Products          int                `json:"products"`
	ZipfS             float64            `json:"zipf_s"`
	ZipfV             float64            `json:"zipf_v"`
	ThinkTimeMS       int                `json:"think_time_ms"`
	BrowseMin         int                `json:"browse_min"`
	BrowseMax         int                `json:"browse_max"`
	BrowseMix         map[string]float64 `json:"browse_mix"`
	CartProbability   float64            `json:"cart_probability"`
	CartLinesMax      int                `json:"cart_lines_max"`
	CartBrowseBetween int                `json:"cart_browse_between"`
	UpdateProbability float64            `json:"update_probability"`
	BuyProbability    float64            `json:"buy_probability"`
	TargetMix         map[string]float64 `json:"target_mix"`
	Tolerance         float64            `json:"tolerance"`
	browseKinds       []action
	browseCumulative  []float64
}

// action is one request of a session.
type action int

const (
	actProduct    action = iota // GET /products/{id}, a Zipf-picked product
	actCategory                 // GET /products?category=…&limit=20
	actSearch                   // GET /search?q=…&limit=20
	actSuggest                  // GET /search/suggest?q=…
	actCartCreate               // POST /carts
	actCartAdd                  // POST /carts/{id}/items
	actCartUpdate               // PATCH /carts/{id}/items/{line}
	actCheckout                 // POST /carts/{id}/checkout with Idempotency-Key
	actPay                      // POST /orders/{id}/payments (a PaymentIntent on stripe-mock)
	actWebhook                  // Stripe's signed payment_intent.succeeded delivery
)

var actionNames = map[string]action{"product": actProduct, "category": actCategory, "search": actSearch, "suggest": actSuggest}

func (a action) String() string {
	return [...]string{"product", "category", "search", "suggest", "cart-create", "cart-add", "cart-update", "checkout", "pay", "webhook"}[a]
}

// Classes of requests, as the issue counts them: browse and search together are the
// "browse" share of target_mix, but their latencies are reported apart.
const (
	classBrowse   = "browse"
	classSearch   = "search"
	classCart     = "cart"
	classCheckout = "checkout"
)

var classes = []string{classBrowse, classSearch, classCart, classCheckout}

func (a action) class() string {
	switch a {
	case actProduct, actCategory:
		return classBrowse
	case actSearch, actSuggest:
		return classSearch
	case actCartCreate, actCartAdd, actCartUpdate:
		return classCart
	default:
		return classCheckout
	}
}

// mixClass folds search into browse, the share target_mix speaks of.
func mixClass(a action) string {
	if c := a.class(); c != classSearch {
		return c
	}
	return classBrowse
}

func loadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Scenario
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	return &s, nil
}

// validate checks the numbers and prepares the browse mix for drawing.
func (s *Scenario) validate() error {
	switch {
	case s.Products < 1:
		return fmt.Errorf("products must be at least 1")
	case s.ZipfS <= 1 || s.ZipfV < 1:
		return fmt.Errorf("zipf_s must be above 1 and zipf_v at least 1 (math/rand's Zipf)")
	case s.BrowseMin < 0 || s.BrowseMax < s.BrowseMin:
		return fmt.Errorf("browse_min..browse_max must be a range of whole numbers from 0")
	case s.CartLinesMax < 1 || s.CartBrowseBetween < 0:
		return fmt.Errorf("cart_lines_max must be at least 1 and cart_browse_between at least 0")
	case s.ThinkTimeMS < 0:
		return fmt.Errorf("think_time_ms must not be negative")
	}
	for _, p := range []float64{s.CartProbability, s.UpdateProbability, s.BuyProbability} {
		if p < 0 || p > 1 {
			return fmt.Errorf("probabilities must be within 0..1, got %v", p)
		}
	}
	s.browseKinds, s.browseCumulative = nil, nil
	total := 0.0
	for _, name := range []string{"product", "category", "search", "suggest"} { // fixed order: reproducible draws
		w, ok := s.BrowseMix[name]
		if !ok || w < 0 {
			continue
		}
		total += w
		s.browseKinds = append(s.browseKinds, actionNames[name])
		s.browseCumulative = append(s.browseCumulative, total)
	}
	if total <= 0 {
		return fmt.Errorf("browse_mix needs a positive weight for at least one of product, category, search, suggest")
	}
	for k := range s.BrowseMix {
		if _, ok := actionNames[k]; !ok {
			return fmt.Errorf("browse_mix: unknown kind %q (want product, category, search, suggest)", k)
		}
	}
	for i := range s.browseCumulative {
		s.browseCumulative[i] /= total
	}
	return nil
}

// browseAction draws one browse or search request by browse_mix.
func (s *Scenario) browseAction(r *rand.Rand) action {
	u := r.Float64()
	for i, c := range s.browseCumulative {
		if u < c {
			return s.browseKinds[i]
		}
	}
	return s.browseKinds[len(s.browseKinds)-1]
}

// plan draws one session's requests: browsing, then maybe a cart (lines added with
// some browsing between them, maybe one quantity changed), then maybe a guest
// checkout and its payment. The ids the requests need come from earlier answers
// while the session runs; the plan only says what comes next.
func (s *Scenario) plan(r *rand.Rand) []action {
	n := s.BrowseMin + r.IntN(s.BrowseMax-s.BrowseMin+1)
	p := make([]action, 0, n+8)
	for range n {
		p = append(p, s.browseAction(r))
	}
	if r.Float64() >= s.CartProbability {
		return p
	}
	p = append(p, actCartCreate)
	for range 1 + r.IntN(s.CartLinesMax) {
		for range r.IntN(s.CartBrowseBetween + 1) {
			p = append(p, s.browseAction(r))
		}
		p = append(p, actCartAdd)
	}
	if r.Float64() < s.UpdateProbability {
		p = append(p, actCartUpdate)
	}
	if r.Float64() < s.BuyProbability {
		p = append(p, actCheckout, actPay, actWebhook)
	}
	return p
}

// thinkTime is a shopper's pause before its next request: exponential with the mean
// think_time_ms, capped at four times the mean so one unlucky draw cannot park a
// session for minutes.
func (s *Scenario) thinkTime(r *rand.Rand) time.Duration {
	mean := float64(s.ThinkTimeMS)
	return time.Duration(math.Min(r.ExpFloat64()*mean, 4*mean) * float64(time.Millisecond))
}

// mix is the share of each target_mix class among the requests of plans.
func mix(plans [][]action) map[string]float64 {
	counts := map[string]float64{}
	total := 0.0
	for _, p := range plans {
		for _, a := range p {
			counts[mixClass(a)]++
			total++
		}
	}
	for k := range counts {
		counts[k] /= total
	}
	return counts
}

// zipf picks ranks 0..n-1 with P(k) ∝ 1/(v+k)^s: a few hot products take most views,
// the long tail still gets some. The rank is mapped to a product by a fixed shuffle,
// so the hot products are not simply the first by name.
type zipf struct {
	z    *rand.Zipf
	perm []int
}

func newZipf(r *rand.Rand, s, v float64, n int) *zipf {
	return &zipf{z: rand.NewZipf(r, s, v, uint64(n-1)), perm: r.Perm(n)}
}

func (z *zipf) pick() int { return z.perm[z.z.Uint64()] }
