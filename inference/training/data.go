// Package training learns kommerce's models from platform data and exports them:
// implicit-feedback matrix factorisation (ALS) plus a popularity baseline for
// recommendations, logistic regression for fraud. Each job evaluates on a
// time-based hold-out against its baseline, writes the ONNX file (built from Go with
// inference/onnx), a model card and a ModelVersion manifest.
//
// Data comes through the Source interface: Synthetic (seeded, with planted taste
// clusters and fraud rings, so that tests can tell a correct model from a broken one)
// and EventSource (a tenant's Kafka topics, read against the internal/events contract).
package training

import (
	"context"
	"time"

	"github.com/kommerce/kommerce/inference/features"
	"github.com/kommerce/kommerce/internal/events"
)

// Action is a behaviour event's kind.
type Action string

// The actions the recommendation model learns from, with their weights: the
// behaviour event kinds of internal/events that name a product.
const (
	ActionView     Action = events.BehaviourView
	ActionClick    Action = events.BehaviourClick
	ActionCart     Action = events.BehaviourAddToCart
	ActionPurchase Action = events.BehaviourPurchase
)

// Weight is how much an action says about a shopper's taste (the confidence of an
// implicit-feedback observation).
func (a Action) Weight() float64 {
	switch a {
	case ActionPurchase:
		return 5
	case ActionCart:
		return 3
	case ActionView, ActionClick:
		return 1
	}
	return 0
}

// Interaction is one shopper's action on one product.
type Interaction struct {
	User   string
	Item   string
	Action Action
	At     time.Time
}

// Dataset is what a Source returns.
type Dataset struct {
	Interactions []Interaction
	Orders       []features.Order
	// Fraud holds the ids of orders later disputed as fraudulent or refunded for
	// fraud: the labels.
	Fraud map[string]bool
	// From and To bound the data window.
	From, To time.Time
	// Description says where the data came from, for the model card.
	Description string
}

// Source provides training data.
type Source interface {
	Load(ctx context.Context) (*Dataset, error)
}

// window sets From and To from the timestamps in the dataset.
func (d *Dataset) window() {
	first := true
	see := func(t time.Time) {
		if first || t.Before(d.From) {
			d.From = t
		}
		if first || t.After(d.To) {
			d.To = t
		}
		first = false
	}
	for _, in := range d.Interactions {
		see(in.At)
	}
	for _, o := range d.Orders {
		see(o.At)
	}
}
