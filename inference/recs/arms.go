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
	for _, a := range e.Arms {
		if a.Weight <= 0 || a.Name == "" || seen[a.Name] {
			return fmt.Errorf("experiment %s: arm %q needs a unique name and a positive weight", e.Name, a.Name)
		}
		seen[a.Name] = true
	}
	return nil
}

// Assign picks the arm of a shopper by a stable hash of the experiment name and
// the shopper's key (user id, or session id for guests): the same shopper always
// lands in the same arm of the same experiment, different experiments split
// independently, and no state is stored.
func (e Experiment) Assign(key string) Arm {
	total := 0
	for _, a := range e.Arms {
		total += a.Weight
	}
	sum := sha256.Sum256([]byte(e.Name + "\x00" + key))
	bucket := int(binary.BigEndian.Uint64(sum[:8]) % uint64(total)) //nolint:gosec // below total, an int
	for _, a := range e.Arms {
		if bucket < a.Weight {
			return a
		}
		bucket -= a.Weight
	}
	return e.Arms[len(e.Arms)-1]
}
