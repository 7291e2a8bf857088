// Package fraudscore adapts inference/fraud (a published fraud model, scored in
// process) to the checkout's apiserver.FraudScorer.
package fraudscore

import (
	"context"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/features"
	"github.com/kommerce/kommerce/inference/fraud"
)

// Scorer is an apiserver.FraudScorer over one loaded model version.
type Scorer struct {
	model *fraud.Scorer
}

var _ apiserver.FraudScorer = (*Scorer)(nil)

// Load fetches a fraud model (a path or http(s) URL), refusing a sha256 mismatch.
func Load(ctx context.Context, name, version, uri, sha256 string) (*Scorer, error) {
	m, err := fraud.Load(ctx, inference.Fetcher{}, name, version, uri, sha256)
	if err != nil {
		return nil, err
	}
	return &Scorer{model: m}, nil
}

// Score implements apiserver.FraudScorer.
func (s *Scorer) Score(o apiserver.FraudOrder, p apiserver.FraudPolicy) apiserver.FraudDecision {
	order := features.Order{Customer: o.Customer, Guest: o.Guest, At: o.At, Amount: o.Amount, Currency: o.Currency,
		Lines: o.Lines, Quantity: o.Quantity, AccountAge: o.AccountAge, ShippingCountry: o.ShippingCountry,
		BillingCountry: o.BillingCountry, ClientIP: o.ClientIP}
	d := s.model.Score(order, counts{o.OtherCustomersOnIP, o.CustomerOrders}, fraud.Policy{Action: fraud.Action(p.Action), Threshold: p.Threshold})
	return apiserver.FraudDecision{Score: d.Score, Action: string(d.Action), Model: d.Model, Version: d.Version}
}

// counts answers the history questions with what the order store counted for the
// same windows (30 days by address, 24 hours by customer) before the order.
type counts struct{ othersOnIP, customerOrders int }

func (c counts) OtherCustomersOnIP(string, string, time.Time, time.Time) int { return c.othersOnIP }
func (c counts) CustomerOrders(string, time.Time, time.Time) int             { return c.customerOrders }
