package experiment_test

import (
	"testing"

	"github.com/kommerce/kommerce/internal/experiment/simulation"
)

// TestSimulation is the proof by simulation with fewer runs than hack/sim (which runs
// 1000 of each and prints the figures docs/experiments.md shows): seeded A/A
// experiments looked at after every 1000 visitors per arm must promote or roll back
// in at most 5 % of runs, and at the sample size SampleSize states for +5 % the
// planted +5 % must be promoted, and a planted −10 % rolled back, in at least 80 %.
// The runs are the first ones of hack/sim's (same seeds).
func TestSimulation(t *testing.T) {
	const seed, batch = 15, 1000
	runs := map[string][3]int{ // A/A, +5 %, −10 %
		"ConversionRate":    {1000, 400, 200},
		"RevenuePerVisitor": {400, 400, 100},
		"ClickThroughRate":  {200, 200, 50},
	}
	for _, f := range simulation.Families() {
		if f.PlanLike != nil {
			continue // the uncapped contrast is slow and is expected to lack power
		}
		t.Run(f.Name, func(t *testing.T) {
			n := runs[string(f.Metric)]
			perArm, fixed := f.Plan(seed)
			aa, lift, drop := f.Scenarios(perArm, batch, 0, seed)
			aa.Runs, lift.Runs, drop.Runs = n[0], n[1], n[2]
			a, l, d := simulation.Run(aa), simulation.Run(lift), simulation.Run(drop)

			lo, hi := simulation.Wilson(a.Decided(), a.Runs, 0.95)
			t.Logf("n = %d per arm (fixed horizon %d); A/A false positives %d/%d (95%% Wilson %.2f–%.2f%%); +5%% promoted %d/%d; −10%% rolled back %d/%d",
				perArm, fixed, a.Decided(), a.Runs, 100*lo, 100*hi, l.Promoted, l.Runs, d.RolledBack, d.Runs)
			if fpr := float64(a.Decided()) / float64(a.Runs); fpr > 0.05 {
				t.Errorf("A/A false-positive rate %.2f%% > 5%%", 100*fpr)
			}
			if p := float64(l.Promoted) / float64(l.Runs); p < simulation.Power {
				t.Errorf("+5%% promoted in %.1f%% of runs at the stated n = %d, want ≥ %.0f%%", 100*p, perArm, 100*simulation.Power)
			}
			if l.RolledBack > 0 {
				t.Errorf("+5%% rolled back in %d runs", l.RolledBack)
			}
			if p := float64(d.RolledBack) / float64(d.Runs); p < simulation.Power {
				t.Errorf("−10%% rolled back in %.1f%% of runs, want ≥ %.0f%%", 100*p, 100*simulation.Power)
			}
			if d.Promoted > 0 {
				t.Errorf("−10%% promoted in %d runs", d.Promoted)
			}
		})
	}
}
