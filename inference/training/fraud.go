package training

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/kommerce/kommerce/inference/features"
)

// orderHistory is a History over a slice of orders.
type orderHistory struct{ orders []features.Order }

func (h orderHistory) OtherCustomersOnIP(ip, customer string, since, before time.Time) int {
	seen := map[string]bool{}
	for _, o := range h.orders {
		if o.ClientIP == ip && o.Customer != customer && !o.At.Before(since) && o.At.Before(before) {
			seen[o.Customer] = true
		}
	}
	return len(seen)
}

func (h orderHistory) CustomerOrders(customer string, since, before time.Time) int {
	n := 0
	for _, o := range h.orders {
		if o.Customer == customer && !o.At.Before(since) && o.At.Before(before) {
			n++
		}
	}
	return n
}

// FraudMatrix computes the feature rows and labels of orders (sorted by time); the
// history of each order is every order before it.
func FraudMatrix(orders []features.Order, fraud map[string]bool) (x [][]float64, y []float64) {
	sorted := append([]features.Order(nil), orders...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At.Before(sorted[j].At) })
	byIP := map[string][]features.Order{}
	byCustomer := map[string][]features.Order{}
	for _, o := range sorted {
		byIP[o.ClientIP] = append(byIP[o.ClientIP], o)
		byCustomer[o.Customer] = append(byCustomer[o.Customer], o)
	}
	h := indexedHistory{byIP: byIP, byCustomer: byCustomer}
	for _, o := range sorted {
		x = append(x, features.FraudVector(o, h))
		if fraud[o.ID] {
			y = append(y, 1)
		} else {
			y = append(y, 0)
		}
	}
	return x, y
}

// indexedHistory answers History from orders grouped by IP and customer.
type indexedHistory struct{ byIP, byCustomer map[string][]features.Order }

func (h indexedHistory) OtherCustomersOnIP(ip, customer string, since, before time.Time) int {
	return orderHistory{h.byIP[ip]}.OtherCustomersOnIP(ip, customer, since, before)
}

func (h indexedHistory) CustomerOrders(customer string, since, before time.Time) int {
	return orderHistory{h.byCustomer[customer]}.CustomerOrders(customer, since, before)
}

// score64 is the forward pass of m in float64, as training evaluates it.
func score64(m *features.FraudModel, x []float64) float64 {
	z := m.Bias
	for k, v := range x {
		z += m.W[k] * (v - m.Mean[k]) / m.Scale[k]
	}
	return 1 / (1 + math.Exp(-z))
}

// TrainLogistic fits a logistic regression with L2 penalty lambda by Newton's method
// (iteratively reweighted least squares) on standardised features.
func TrainLogistic(x [][]float64, y []float64, lambda float64) (*features.FraudModel, error) {
	if len(x) == 0 || len(x) != len(y) {
		return nil, errors.New("no labelled orders to learn from")
	}
	var pos float64
	for _, v := range y {
		pos += v
	}
	if pos == 0 || pos == float64(len(y)) {
		return nil, fmt.Errorf("the labels have a single class (%v fraud of %d orders)", pos, len(y))
	}
	f := len(x[0])
	m := &features.FraudModel{Mean: make([]float64, f), Scale: make([]float64, f), W: make([]float64, f)}
	n := float64(len(x))
	for _, row := range x {
		for k, v := range row {
			m.Mean[k] += v / n
		}
	}
	for _, row := range x {
		for k, v := range row {
			m.Scale[k] += (v - m.Mean[k]) * (v - m.Mean[k]) / n
		}
	}
	for k := range m.Scale {
		m.Scale[k] = math.Sqrt(m.Scale[k])
		if m.Scale[k] < 1e-9 {
			m.Scale[k] = 1 // a constant column: standardising would divide by zero
		}
	}
	// Parameters θ = (bias, W); design rows are (1, standardised x).
	d := f + 1
	theta := make([]float64, d)
	row := make([]float64, d)
	for range 30 {
		h := make([]float64, d*d)
		g := make([]float64, d)
		for i, xr := range x {
			row[0] = 1
			for k, v := range xr {
				row[k+1] = (v - m.Mean[k]) / m.Scale[k]
			}
			p := 1 / (1 + math.Exp(-dot(theta, row)))
			w := p * (1 - p)
			for a := range d {
				g[a] += (p - y[i]) * row[a]
				for b := range d {
					h[a*d+b] += w * row[a] * row[b]
				}
			}
		}
		for a := 1; a < d; a++ {
			g[a] += lambda * theta[a]
			h[a*d+a] += lambda
		}
		h[0] += 1e-9
		step, err := solveSPD(h, g, d)
		if err != nil {
			return nil, fmt.Errorf("logistic regression: %w", err)
		}
		change := 0.0
		for a := range d {
			theta[a] -= step[a]
			change = math.Max(change, math.Abs(step[a]))
		}
		if change < 1e-8 {
			break
		}
	}
	m.Bias = theta[0]
	copy(m.W, theta[1:])
	return m, nil
}

// ClassMetrics are offline metrics of a fraud score on a hold-out.
type ClassMetrics struct {
	Orders          int     `json:"orders"`
	Fraud           int     `json:"fraud"`
	AUC             float64 `json:"auc"`
	ReviewBudget    float64 `json:"review_budget"`       // share of orders a team can review
	PrecisionBudget float64 `json:"precision_at_budget"` // fraud share among the reviewed
	RecallBudget    float64 `json:"recall_at_budget"`    // share of fraud caught by the review
}

// EvaluateScores computes AUC (ties count half) and precision and recall when the
// highest-scored budget share of orders is reviewed.
func EvaluateScores(scores, y []float64, budget float64) ClassMetrics {
	m := ClassMetrics{Orders: len(y), ReviewBudget: budget}
	idx := make([]int, len(y))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	for _, v := range y {
		if v == 1 {
			m.Fraud++
		}
	}
	neg := m.Orders - m.Fraud
	if m.Fraud == 0 || neg == 0 {
		return m
	}
	// AUC by ranks, averaging ranks over ties (Mann-Whitney U).
	asc := append([]int(nil), idx...)
	sort.SliceStable(asc, func(a, b int) bool { return scores[asc[a]] < scores[asc[b]] })
	rankSum := 0.0
	for i := 0; i < len(asc); {
		j := i
		for j < len(asc) && scores[asc[j]] == scores[asc[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if y[asc[k]] == 1 {
				rankSum += avg
			}
		}
		i = j
	}
	m.AUC = (rankSum - float64(m.Fraud)*float64(m.Fraud+1)/2) / (float64(m.Fraud) * float64(neg))
	k := max(1, int(math.Round(budget*float64(m.Orders))))
	hits := 0
	for _, i := range idx[:k] {
		if y[i] == 1 {
			hits++
		}
	}
	m.PrecisionBudget = float64(hits) / float64(k)
	m.RecallBudget = float64(hits) / float64(m.Fraud)
	return m
}
