// Package experiments is the experiment analysis of `kommerce ingest`: it joins
// model exposures with what the exposed shoppers did afterwards (clicks on
// recommended items, add-to-carts, orders and their revenue) inside an attribution
// window, per experiment arm, and keeps per-arm sums the statistics read.
//
// The unit of analysis is the subject an arm was assigned by (a user id, else a
// session id: events.Exposure.SubjectKey). A unit counts once per experiment, in the
// arm of its first exposure by event time (not arrival); what it does from that
// exposure until Window later counts to that arm. Requests, errors and latency are
// counted per exposure, for the arm that served it.
//
// Results are a function of the set of events seen, never of their order: every
// event is stored once under its event id (or order id), and whenever one arrives
// the contribution of each unit it concerns is recomputed from all of the unit's
// stored events (Attribute); the arm sums move by the difference. Replays,
// duplicates and outcomes that arrive before their exposure therefore end in the
// aggregates an in-order run produces. This package holds the domain (the metrics,
// the pure attribution, the Kafka handler); postgres holds the store.
package experiments

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// DefaultWindow is the attribution window when none is configured: a day covers
// the usual "recommended now, bought tonight" path of a shopping visit while
// keeping purchases days later, which the recommendation hardly caused, from
// diluting the comparison; and it lets a unit's outcome be final a day after its
// exposure, so the sequential test is not kept waiting for long.
const DefaultWindow = 24 * time.Hour

// Config is the analysis configuration, the same for every tenant.
type Config struct {
	// Window is the attribution window after a unit's first exposure [DefaultWindow].
	Window time.Duration
	// RevenueCaps caps each unit's revenue (minor units) per experiment name for the
	// capped revenue sums; an experiment without a cap has them equal the plain sums.
	RevenueCaps map[string]int64
}

// Params returns the attribution parameters of one experiment.
func (c Config) Params(experiment string) Params {
	w := c.Window
	if w <= 0 {
		w = DefaultWindow
	}
	return Params{Window: w, RevenueCap: c.RevenueCaps[experiment]}
}

// Params are the attribution parameters of one experiment. Changing them changes
// the contribution of units recomputed afterwards only: rebuild the tables (replay
// the topics from the start into empty tables) to apply them to the past.
type Params struct {
	Window     time.Duration
	RevenueCap int64 // 0: no cap
}

func (p Params) capped(revenue int64) float64 {
	if p.RevenueCap > 0 && revenue > p.RevenueCap {
		return float64(p.RevenueCap)
	}
	return float64(revenue)
}

// ExposureFact is one stored exposure of a unit in an experiment.
type ExposureFact struct {
	EventID   string
	Arm       string
	RequestID string
	Items     []string
	Error     bool
	LatencyMs *float64
	At        time.Time
}

// Outcome kinds.
const (
	KindClick     = "click"
	KindAddToCart = "add_to_cart"
)

// OutcomeFact is one stored click or add-to-cart of a unit.
type OutcomeFact struct {
	EventID   string
	Kind      string
	ProductID string
	RequestID string // the recommendation request clicked, when the app reported it
	At        time.Time
}

// OrderFact is one stored order of a unit.
type OrderFact struct {
	OrderID string
	Revenue int64 // minor units
	At      time.Time
}

// Contribution is part of what a unit adds to its arm's sum of one metric, in the
// hour (unix seconds of its start) of the events that moved it.
type Contribution struct {
	Hour   int64   `json:"h"`
	Metric string  `json:"m"`
	Value  float64 `json:"v"`
}

// Attribution is a unit's place in an experiment: its arm and first exposure, and
// what it contributes to the arm's metrics.
type Attribution struct {
	Arm           string
	FirstEventID  string
	FirstAt       time.Time
	Contributions []Contribution
}

// step is one event of a unit's window in the order the window replays them.
type step struct {
	at    time.Time
	rank  int // exposures first at equal times, then outcomes, then orders
	id    string
	apply func(*UnitState)
}

// Attribute computes a unit's attribution from all its stored facts: the
// exposures of the experiment, and the outcomes and orders of the unit (any may lie
// outside the window; they are ignored). ok is false without exposures. The result
// depends on the facts only, not on the order of the slices.
func Attribute(p Params, exposures []ExposureFact, outcomes []OutcomeFact, orders []OrderFact) (Attribution, bool) {
	if len(exposures) == 0 {
		return Attribution{}, false
	}
	exps := slices.Clone(exposures)
	slices.SortFunc(exps, func(a, b ExposureFact) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.EventID, b.EventID))
	})
	first := exps[0]
	start, end := first.At, first.At.Add(p.Window)
	in := func(t time.Time) bool { return !t.Before(start) && !t.After(end) }

	var steps []step
	for _, e := range exps {
		if e.Arm != first.Arm || !in(e.At) {
			continue
		}
		steps = append(steps, step{e.At, 0, e.EventID, func(s *UnitState) {
			s.Exposed = true
			s.Impressions++
		}})
	}
	requests := map[string]bool{}
	for _, e := range exps {
		if e.RequestID != "" {
			requests[e.RequestID] = true
		}
	}
	for _, o := range outcomes {
		if !in(o.At) {
			continue
		}
		switch o.Kind {
		case KindClick:
			if !recommendedClick(o, exps, requests) {
				continue
			}
			steps = append(steps, step{o.At, 1, o.EventID, func(s *UnitState) { s.Clicks++ }})
		case KindAddToCart:
			steps = append(steps, step{o.At, 1, o.EventID, func(s *UnitState) { s.AddToCarts++ }})
		}
	}
	seen := map[string]bool{}
	for _, o := range orders {
		if !in(o.At) || seen[o.OrderID] {
			continue
		}
		seen[o.OrderID] = true
		steps = append(steps, step{o.At, 2, o.OrderID, func(s *UnitState) {
			s.Orders++
			s.Revenue += o.Revenue
		}})
	}
	slices.SortFunc(steps, func(a, b step) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.rank, b.rank), cmp.Compare(a.id, b.id))
	})
	return Attribution{Arm: first.Arm, FirstEventID: first.EventID, FirstAt: first.At, Contributions: hourly(p, steps)}, true
}

// hourly replays steps and returns, per hour with events and metric, the metric's
// value at the end of that hour minus its value at the end of the previous hour
// with events (zero differences left out).
func hourly(p Params, steps []step) []Contribution {
	var out []Contribution
	var state UnitState
	prev := make([]float64, len(unitMetrics))
	for i := 0; i < len(steps); {
		hour := steps[i].at.UTC().Truncate(time.Hour)
		for ; i < len(steps) && steps[i].at.UTC().Truncate(time.Hour).Equal(hour); i++ {
			steps[i].apply(&state)
		}
		for j, m := range unitMetrics {
			v := m.Of(state, p)
			if d := v - prev[j]; d != 0 {
				out = append(out, Contribution{Hour: hour.Unix(), Metric: m.Name, Value: d})
			}
			prev[j] = v
		}
	}
	return out
}

// recommendedClick reports whether a click was on an item the unit was recommended
// in the experiment: by the request id when the app reported it, else by the
// product being among the items of one of the unit's exposures before the click.
func recommendedClick(o OutcomeFact, exps []ExposureFact, requests map[string]bool) bool {
	if o.RequestID != "" {
		return requests[o.RequestID]
	}
	if o.ProductID == "" {
		return false
	}
	for _, e := range exps {
		if !e.At.After(o.At) && slices.Contains(e.Items, o.ProductID) {
			return true
		}
	}
	return false
}

// Serving returns what one exposure adds to the serving metrics of the arm that
// served it, in the hour it was served.
func Serving(e ExposureFact) []Contribution {
	hour := e.At.UTC().Truncate(time.Hour).Unix()
	var out []Contribution
	for _, m := range servingMetrics {
		if v := m.Of(e); v != 0 {
			out = append(out, Contribution{Hour: hour, Metric: m.Name, Value: v})
		}
	}
	return out
}

// Fact is one event as the store records it: exactly one of its parts is set.
type Fact struct {
	// Exposure of a unit (or of an anonymous shopper: serving metrics only).
	Exposure *Exposure
	// Outcome is a click or add-to-cart of Units (the event's session and user).
	Outcome *OutcomeFact
	// Order is an order (once per order id) of Units (its customer, if any), in
	// Currency.
	Order    *OrderFact
	Currency string
	// LinkOrderID links an order, which may not have arrived yet, to Units (a
	// purchase event naming it).
	LinkOrderID string
	Units       []string
}

// Store keeps the facts and the per-arm sums.
type Store interface {
	// Record stores facts of one tenant, in one transaction, and re-attributes every
	// unit they concern. It is idempotent: a fact already stored (same event id,
	// same order id, same link) changes nothing. Errors are ingest.Permanent when
	// the store refuses a fact itself (a value out of range), ingest.Unavailable
	// when the store cannot be reached; others may pass on a retry. Nothing of a
	// failed call is stored.
	Record(ctx context.Context, tenantID string, facts []Fact) error
}

// Exposure is an exposure as the store records it.
type Exposure struct {
	ExposureFact
	Experiment string
	UnitKey    string // empty: an anonymous shopper, counted in serving metrics only
	Model      string
	Version    string
}
