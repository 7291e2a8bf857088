package training

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/kommerce/kommerce/inference/features"
)

// Synthetic generates a seeded dataset with planted structure: every product belongs
// to a taste cluster and every shopper mostly browses and buys within one or two
// clusters, so a model that learns taste beats global popularity; a few fraud rings
// (new accounts sharing an address, buying high-value baskets at night, shipping
// abroad, retrying payments) hide among ordinary orders, with noisy labels.
type Synthetic struct {
	Seed     uint64
	Users    int     // shoppers (default 1500)
	Items    int     // products (default 400)
	Clusters int     // taste clusters (default 8)
	Days     int     // data window (default 90)
	Taste    float64 // probability an interaction follows the shopper's taste (default 0.8)
	Rings    int     // fraud rings (default 6)
	// Start is the first day of the window (default 2026-01-01 UTC).
	Start time.Time
	// Catalog, when set, plants the tastes in a real shop's products instead of
	// made-up ones (p-0000…): each product keeps its id and its cluster (e.g. its
	// category), and Items and Clusters follow from it. `kommerce dev` trains its
	// demo model this way, so the model's answers are products the demo API knows.
	Catalog []CatalogItem
}

// CatalogItem is one real product and the taste cluster it belongs to.
type CatalogItem struct {
	ID      string
	Cluster string
}

func (s Synthetic) withDefaults() Synthetic {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&s.Users, 1500)
	def(&s.Items, 400)
	def(&s.Clusters, 8)
	def(&s.Days, 90)
	def(&s.Rings, 6)
	if s.Taste == 0 {
		s.Taste = 0.8
	}
	if s.Start.IsZero() {
		s.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return s
}

// items names the products and says which cluster each is in: the Catalog's when
// one is given (clusters numbered in order of first appearance), else made-up
// products dealt round-robin into Clusters clusters.
func (s *Synthetic) items() (name func(int) string, cluster func(int) int, err error) {
	if len(s.Catalog) == 0 {
		if s.Clusters > s.Items {
			return nil, nil, fmt.Errorf("synthetic: %d clusters for %d items", s.Clusters, s.Items)
		}
		return ItemID, func(i int) int { return i % s.Clusters }, nil
	}
	index := map[string]int{}
	seen := map[string]bool{}
	of := make([]int, len(s.Catalog))
	for i, it := range s.Catalog {
		if it.ID == "" || seen[it.ID] {
			return nil, nil, fmt.Errorf("synthetic: catalog item %d has an empty or repeated id %q", i, it.ID)
		}
		seen[it.ID] = true
		c, ok := index[it.Cluster]
		if !ok {
			c = len(index)
			index[it.Cluster] = c
		}
		of[i] = c
	}
	s.Items, s.Clusters = len(s.Catalog), len(index)
	return func(i int) string { return s.Catalog[i].ID }, func(i int) int { return of[i] }, nil
}

// ItemID and UserID name synthetic entities.
func ItemID(i int) string { return fmt.Sprintf("p-%04d", i) }

// UserID names a synthetic shopper.
func UserID(u int) string { return fmt.Sprintf("u-%05d", u) }

// Load implements Source.
func (s Synthetic) Load(context.Context) (*Dataset, error) {
	s = s.withDefaults()
	name, clusterOf, err := s.items()
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15)) //nolint:gosec // seeded on purpose: training runs are reproducible
	ds := &Dataset{Fraud: map[string]bool{}, Description: fmt.Sprintf(
		"synthetic (seed %d): %d shoppers, %d products in %d taste clusters, %d days, taste %.2f, %d fraud rings",
		s.Seed, s.Users, s.Items, s.Clusters, s.Days, s.Taste, s.Rings)}

	// Products: cluster by index, a Zipf-like popularity and a price.
	cluster := make([]int, s.Items)
	byCluster := make([][]int, s.Clusters)
	pop := make([]float64, s.Items)
	price := make([]int64, s.Items)
	for i := range s.Items {
		c := clusterOf(i)
		cluster[i] = c
		byCluster[c] = append(byCluster[c], i)
		pop[i] = 1 / math.Pow(float64(len(byCluster[c])), 0.8)
		price[i] = int64(500 + rng.IntN(15000))
	}
	// Global popularity is skewed towards the first clusters, so that popularity is a
	// real (not trivial) baseline.
	global := make([]float64, s.Items)
	for i := range global {
		global[i] = pop[i] / float64(1+cluster[i])
	}
	clusterPick := make([]*sampler, s.Clusters)
	for c, items := range byCluster {
		w := make([]float64, len(items))
		for k, i := range items {
			w[k] = pop[i]
		}
		clusterPick[c] = newSampler(items, w)
	}
	all := make([]int, s.Items)
	for i := range all {
		all[i] = i
	}
	globalPick := newSampler(all, global)

	span := time.Duration(s.Days) * 24 * time.Hour
	for u := range s.Users {
		tastes := []int{rng.IntN(s.Clusters)}
		if rng.Float64() < 0.3 {
			tastes = append(tastes, rng.IntN(s.Clusters))
		}
		n := 5 + rng.IntN(40)
		for range n {
			var item int
			if rng.Float64() < s.Taste {
				item = clusterPick[tastes[rng.IntN(len(tastes))]].pick(rng)
			} else {
				item = globalPick.pick(rng)
			}
			at := s.Start.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Second)
			act := ActionView
			switch r := rng.Float64(); {
			case r < 0.08:
				act = ActionPurchase
			case r < 0.25:
				act = ActionCart
			}
			ds.Interactions = append(ds.Interactions, Interaction{User: UserID(u), Item: name(item), Action: act, At: at})
			if act == ActionPurchase {
				ds.Orders = append(ds.Orders, s.legitOrder(rng, u, len(ds.Orders), at, price[item]))
			}
		}
	}
	// Fraud rings: fresh accounts sharing one address.
	for r := range s.Rings {
		ip := fmt.Sprintf("203.0.113.%d", r+1)
		members := 3 + rng.IntN(5)
		for m := range members {
			user := fmt.Sprintf("ring-%d-%d", r, m)
			for range 2 + rng.IntN(4) {
				day := rng.IntN(s.Days)
				at := s.Start.Add(time.Duration(day)*24*time.Hour + time.Duration(rng.IntN(5))*time.Hour + time.Duration(rng.IntN(3600))*time.Second)
				o := features.Order{
					ID: fmt.Sprintf("o-%06d", len(ds.Orders)), Customer: user, At: at, Currency: "EUR",
					Amount: int64(20000 + rng.IntN(80000)), Lines: 1 + rng.IntN(3), Quantity: 2 + rng.IntN(6),
					AccountAge: time.Duration(rng.IntN(48)) * time.Hour, ShippingCountry: "NL", BillingCountry: "US",
					ClientIP: ip, PaymentAttempts: 1 + rng.IntN(4),
				}
				if rng.Float64() < 0.3 {
					o.BillingCountry = "NL"
				}
				ds.Orders = append(ds.Orders, o)
				if rng.Float64() < 0.9 { // some fraud is never disputed
					ds.Fraud[o.ID] = true
				}
			}
		}
	}
	// Friendly fraud: a few ordinary orders disputed anyway.
	for _, o := range ds.Orders {
		if !ds.Fraud[o.ID] && rng.Float64() < 0.005 {
			ds.Fraud[o.ID] = true
		}
	}
	sort.SliceStable(ds.Interactions, func(i, j int) bool { return ds.Interactions[i].At.Before(ds.Interactions[j].At) })
	sort.SliceStable(ds.Orders, func(i, j int) bool { return ds.Orders[i].At.Before(ds.Orders[j].At) })
	ds.window()
	return ds, nil
}

func (s Synthetic) legitOrder(rng *rand.Rand, u, n int, at time.Time, price int64) features.Order {
	o := features.Order{
		ID: fmt.Sprintf("o-%06d", n), Customer: UserID(u), At: at, Currency: "EUR",
		Amount: price + int64(rng.IntN(6000)), Lines: 1 + rng.IntN(4), Quantity: 1 + rng.IntN(3),
		AccountAge:      time.Duration(30+rng.IntN(900)) * 24 * time.Hour,
		ShippingCountry: "DE", BillingCountry: "DE",
		ClientIP: fmt.Sprintf("198.51.%d.%d", u/250, u%250), PaymentAttempts: 1,
	}
	if rng.Float64() < 0.15 { // big baskets: amount alone is a weak signal
		o.Amount = int64(20000 + rng.IntN(80000))
		o.Quantity += rng.IntN(5)
	}
	if rng.Float64() < 0.1 {
		o.Guest, o.AccountAge = true, 0
	}
	if rng.Float64() < 0.05 {
		o.BillingCountry = "AT"
	}
	if rng.Float64() < 0.05 {
		o.PaymentAttempts = 2
	}
	return o
}

// sampler draws items with probability proportional to their weight.
type sampler struct {
	items []int
	cum   []float64
}

func newSampler(items []int, w []float64) *sampler {
	s := &sampler{items: items, cum: make([]float64, len(w))}
	total := 0.0
	for i, x := range w {
		total += x
		s.cum[i] = total
	}
	return s
}

func (s *sampler) pick(rng *rand.Rand) int {
	x := rng.Float64() * s.cum[len(s.cum)-1]
	return s.items[sort.SearchFloat64s(s.cum, x)]
}
