// Package fraud scores orders at checkout in process. A logistic regression is a
// ten-weight dot product: calling a model server for it costs ~500× its compute
// (docs/benchmarks.md), so the API loads the published ONNX file (verified by
// sha256) and scores it in plain Go with the computation the runtimes are checked
// against; the ONNX file stays the unit that is versioned and published.
package fraud

import (
	"context"
	"fmt"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/features"
)

// Action is what a storefront does with a risky order.
type Action string

// Storefront actions.
const (
	ActionLog    Action = "log"    // record the score only
	ActionReview Action = "review" // hold the order for a person
	ActionBlock  Action = "block"  // refuse the order
	ActionAllow  Action = "allow"  // the decision for an order below the threshold
)

// Policy is a storefront's fraud setting.
type Policy struct {
	// Action taken when the score reaches Threshold: log, review or block.
	Action Action
	// Threshold in (0, 1).
	Threshold float64
}

// Validate checks the policy.
func (p Policy) Validate() error {
	switch p.Action {
	case ActionLog, ActionReview, ActionBlock:
	default:
		return fmt.Errorf("fraud action %q: accepted values are log, review, block", p.Action)
	}
	if p.Threshold <= 0 || p.Threshold >= 1 {
		return fmt.Errorf("fraud threshold %v must be between 0 and 1 (exclusive)", p.Threshold)
	}
	return nil
}

// Decision is the outcome for one order.
type Decision struct {
	Score   float64
	Action  Action // allow, or the policy's action when Score >= Threshold
	Model   string
	Version string
}

// Scorer holds one fraud model version.
type Scorer struct {
	model   *features.FraudModel
	name    string
	version string
}

// Load fetches a fraud model (path or http(s) URL), refusing a sha256 mismatch.
func Load(ctx context.Context, f inference.Fetcher, name, version, uri, sha256 string) (*Scorer, error) {
	b, err := f.Fetch(ctx, uri, sha256)
	if err != nil {
		return nil, err
	}
	m, err := features.ReadFraud(b)
	if err != nil {
		return nil, fmt.Errorf("fraud model %s version %s: %w", name, version, err)
	}
	if len(m.W) != len(features.FraudFeatures) {
		return nil, fmt.Errorf("fraud model %s version %s has %d features; this build computes %d", name, version, len(m.W), len(features.FraudFeatures))
	}
	return &Scorer{model: m, name: name, version: version}, nil
}

// Score computes the order's features from its history and applies the policy.
func (s *Scorer) Score(o features.Order, h features.History, p Policy) Decision {
	x := features.FraudVector(o, h)
	in := make([]float32, len(x))
	for i, v := range x {
		in[i] = float32(v)
	}
	d := Decision{Score: s.model.Score(in), Action: ActionAllow, Model: s.name, Version: s.version}
	if d.Score >= p.Threshold {
		d.Action = p.Action
	}
	return d
}
