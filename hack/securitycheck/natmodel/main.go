// Command natmodel prints the figures behind the default per-address hoarding cap
// (docs/security.md, Stock hoarding): how often a cap on unpaid orders per client
// address refuses honest shoppers who share one address (a carrier's or an
// office's NAT), against how much stock one attacking address can hold under it.
//
// Honest checkouts from one address arrive at some rate; each order stays unpaid
// for a while (paid after a few minutes, or abandoned and held until its
// reservation expires). That is an M/G/∞ queue: the number of unpaid orders an
// arriving checkout finds is Poisson with mean rate × mean unpaid time, whatever
// the distribution of the unpaid time, so a cap c refuses a checkout with
// probability P(N ≥ c). The assumptions are flags; the defaults are the ones
// docs/security.md quotes.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"text/tabwriter"
)

func main() {
	payMinutes := flag.Float64("pay-minutes", 2, "mean minutes from checkout to payment of the orders that are paid")
	abandoned := flag.Float64("abandoned", 0.3, "share of placed orders never paid (held until the reservation expires)")
	units := flag.Int("units", 20, "units of a SKU one guest order may take (max_units_guest)")
	flag.Parse()

	caps := []int{10, 20, 30, 50, 100}
	rates := []float64{0.05, 0.5, 2, 5, 10, 20}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "guest TTL\tcheckouts/min from one address\tmean unpaid at once\t"+capHeader(caps, "refused at cap %d")+"\t")
	for _, ttl := range []float64{10, 15} {
		unpaid := (1-*abandoned)**payMinutes + *abandoned*ttl
		for _, r := range rates {
			m := r * unpaid
			fmt.Fprintf(w, "%.0f min\t%g\t%.1f\t", ttl, r, m)
			for _, c := range caps {
				fmt.Fprintf(w, "%s\t", prob(poissonTail(m, c)))
			}
			fmt.Fprintln(w)
		}
	}
	w.Flush()
	fmt.Println()
	fmt.Printf("One attacking address holds at most cap x %d units of each SKU, for one guest TTL at a time:\n", *units)
	for _, c := range caps {
		fmt.Printf("  cap %3d: %6d units\n", c, c*(*units))
	}
}

func capHeader(caps []int, format string) string {
	s := ""
	for i, c := range caps {
		if i > 0 {
			s += "\t"
		}
		s += fmt.Sprintf(format, c)
	}
	return s
}

// poissonTail is P(N ≥ k) for N Poisson with mean m, summed from the upper side
// in log space, so that tiny tails do not vanish in 1 - P(N < k).
func poissonTail(m float64, k int) float64 {
	if m == 0 {
		return 0
	}
	sum := 0.0
	for n := k; n < k+2000; n++ {
		lg, _ := math.Lgamma(float64(n + 1))
		t := math.Exp(float64(n)*math.Log(m) - m - lg)
		sum += t
		if t < sum*1e-17 && float64(n) > m {
			break
		}
	}
	return math.Min(sum, 1)
}

func prob(p float64) string {
	switch {
	case p < 1e-12:
		return "<1e-12"
	case p >= 0.995:
		return "~1"
	case p >= 0.01:
		return fmt.Sprintf("%.2f", p)
	default:
		return fmt.Sprintf("%.0e", p)
	}
}
