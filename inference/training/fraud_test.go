package training

import (
	"context"
	"math"
	"testing"

	"github.com/kommerce/kommerce/inference/features"
)

func TestLogisticBeatsRuleAndBrokenDoesNot(t *testing.T) {
	ds, err := Synthetic{Seed: 2}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	x, y := FraudMatrix(ds.Orders, ds.Fraud)
	cut := len(x) * 8 / 10
	m, err := TrainLogistic(x[:cut], y[:cut], 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	score := func(fm *features.FraudModel) []float64 {
		s := make([]float64, len(x)-cut)
		for i, row := range x[cut:] {
			s[i] = score64(fm, row)
		}
		return s
	}
	amount := make([]float64, len(x)-cut)
	for i, row := range x[cut:] {
		amount[i] = row[0]
	}
	lr := EvaluateScores(score(m), y[cut:], 0.02)
	rule := EvaluateScores(amount, y[cut:], 0.02)
	bad := EvaluateScores(score(m.Negated()), y[cut:], 0.02)
	t.Logf("hold-out %d orders, %d fraud: LR AUC %.3f P@2%% %.3f; amount rule %.3f %.3f; negated %.3f %.3f",
		lr.Orders, lr.Fraud, lr.AUC, lr.PrecisionBudget, rule.AUC, rule.PrecisionBudget, bad.AUC, bad.PrecisionBudget)
	if lr.Fraud < 5 {
		t.Fatalf("only %d fraud orders in the hold-out", lr.Fraud)
	}
	if lr.AUC <= rule.AUC || lr.PrecisionBudget <= rule.PrecisionBudget {
		t.Errorf("logistic regression does not beat the amount rule")
	}
	if bad.AUC >= 0.5 || bad.PrecisionBudget >= rule.PrecisionBudget {
		t.Errorf("a model with negated weights is not worse than the rule: the evaluation cannot tell models apart")
	}
}

func TestEvaluateScores(t *testing.T) {
	tests := []struct {
		name           string
		scores, y      []float64
		wantAUC, wantP float64
	}{
		{"perfect", []float64{0.9, 0.8, 0.1, 0.2}, []float64{1, 1, 0, 0}, 1, 1},
		{"inverted", []float64{0.1, 0.2, 0.9, 0.8}, []float64{1, 1, 0, 0}, 0, 0},
		{"all tied", []float64{0.5, 0.5, 0.5, 0.5}, []float64{1, 0, 1, 0}, 0.5, 1},
		{"one swap", []float64{0.9, 0.7, 0.8, 0.1}, []float64{1, 1, 0, 0}, 0.75, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := EvaluateScores(tt.scores, tt.y, 0.25)
			if math.Abs(m.AUC-tt.wantAUC) > 1e-12 || math.Abs(m.PrecisionBudget-tt.wantP) > 1e-12 {
				t.Errorf("AUC %v P@budget %v, want %v %v", m.AUC, m.PrecisionBudget, tt.wantAUC, tt.wantP)
			}
		})
	}
}
