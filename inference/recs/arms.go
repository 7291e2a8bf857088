package recs

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Arm is one branch of an experiment: a model version, or popularity when Model
// is empty.
type Arm struct {
	Name    string
	Model   string
	Version string // "" = the server's default version of Model
	Weight  int    // share of traffic, relative to the other arms
	// URL is the arm's inference server (one Service per ModelVersion in a
	// cluster); "" means the Recommender's default client.
	URL string
	// Baseline marks the arm the others are compared with: when another arm's
	// model fails, the baseline's model answers in its place (the failure still
	// counts against the failing arm), rather than popularity.
	Baseline bool
	// Shadow arms are never assigned: ShadowPercent of requests are mirrored to
	// them after the answer, and only how much their answer differs is recorded.
	Shadow        bool
	ShadowPercent int
}

// Experiment splits shoppers between arms.
type Experiment struct {
	Name string
	Arms []Arm
}

// Validate checks the experiment has arms with positive weights and unique names.
func (e Experiment) Validate() error {
	if e.Name == "" || len(e.Arms) == 0 {
		return fmt.Errorf("experiment needs a name and at least one arm")
	}
	seen := map[string]bool{}
	served, baselines := 0, 0
	for _, a := range e.Arms {
		if a.Name == "" || seen[a.Name] {
			return fmt.Errorf("experiment %s: arm %q needs a unique name", e.Name, a.Name)
		}
		seen[a.Name] = true
		switch {
		case a.Shadow && (a.Model == "" || a.ShadowPercent < 1 || a.ShadowPercent > 100 || a.Baseline):
			return fmt.Errorf("experiment %s: shadow arm %q needs a model, a share of 1-100 %% and cannot be the baseline", e.Name, a.Name)
		case !a.Shadow && a.Weight <= 0:
			return fmt.Errorf("experiment %s: arm %q needs a positive weight", e.Name, a.Name)
		case !a.Shadow:
			served++
		}
		if a.Baseline {
			baselines++
		}
	}
	if served == 0 || baselines > 1 {
		return fmt.Errorf("experiment %s: needs at least one served arm and at most one baseline", e.Name)
	}
	return nil
}

// baseline returns the baseline arm, if any.
func (e Experiment) baseline() (Arm, bool) {
	for _, a := range e.Arms {
		if a.Baseline && a.Model != "" {
			return a, true
		}
	}
	return Arm{}, false
}

// Assign picks the arm of a shopper by a stable hash of the experiment name and
// the shopper's key (user id, or session id for guests): the same shopper always
// lands in the same arm of the same experiment, different experiments split
// independently, and no state is stored.
func (e Experiment) Assign(key string) Arm {
	total := 0
	var last Arm
	for _, a := range e.Arms {
		if !a.Shadow {
			total += a.Weight
			last = a
		}
	}
	bucket := int(bucketOf(e.Name, key, uint64(total))) //nolint:gosec // below total, an int
	for _, a := range e.Arms {
		if a.Shadow {
			continue
		}
		if bucket < a.Weight {
			return a
		}
		bucket -= a.Weight
	}
	return last
}

// bucketOf is a stable hash of name and key in [0, n).
func bucketOf(name, key string, n uint64) uint64 {
	sum := sha256.Sum256([]byte(name + "\x00" + key))
	return binary.BigEndian.Uint64(sum[:8]) % n
}
