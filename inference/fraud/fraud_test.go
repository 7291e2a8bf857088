package fraud_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/features"
	"github.com/kommerce/kommerce/inference/fraud"
	"github.com/kommerce/kommerce/inference/internal/modeltest"
	"github.com/kommerce/kommerce/inference/ort/orttest"
)

type noHistory struct{}

func (noHistory) OtherCustomersOnIP(string, string, time.Time, time.Time) int { return 0 }
func (noHistory) CustomerOrders(string, time.Time, time.Time) int             { return 0 }

type ringHistory struct{}

func (ringHistory) OtherCustomersOnIP(string, string, time.Time, time.Time) int { return 6 }
func (ringHistory) CustomerOrders(string, time.Time, time.Time) int             { return 2 }

func TestScoreAgreesWithOnnxruntimeAndAppliesPolicy(t *testing.T) {
	_, res := modeltest.Train(t, "1")
	s, err := fraud.Load(context.Background(), inference.Fetcher{}, "fraud-logreg", "1", res.ONNX, res.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fraud.Load(context.Background(), inference.Fetcher{}, "fraud-logreg", "1", res.ONNX, res.SHA256[:63]+"0"); err == nil {
		t.Fatal("a wrong sha256 was accepted")
	}
	at := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	ordinary := features.Order{ID: "a", Customer: "c1", At: at.Add(12 * time.Hour), Amount: 4500, Lines: 1, Quantity: 1,
		AccountAge: 400 * 24 * time.Hour, ShippingCountry: "DE", BillingCountry: "DE", ClientIP: "198.51.100.1", PaymentAttempts: 1}
	ring := features.Order{ID: "b", Customer: "c2", At: at, Amount: 90000, Lines: 2, Quantity: 6,
		AccountAge: 3 * time.Hour, ShippingCountry: "NL", BillingCountry: "US", ClientIP: "203.0.113.9", PaymentAttempts: 3}

	// The in-process score is the one onnxruntime computes from the same file.
	rt := orttest.Runtime(t)
	sess, err := rt.Load(context.Background(), modeltest.Read(t, res.ONNX))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	for _, c := range []struct {
		o features.Order
		h features.History
	}{{ordinary, noHistory{}}, {ring, ringHistory{}}} {
		x := features.FraudVector(c.o, c.h)
		in := inference.Tensor{Name: features.FraudInput, DataType: inference.FP32, Shape: []int64{1, int64(len(x))}}
		for _, v := range x {
			in.Float32 = append(in.Float32, float32(v))
		}
		out, err := sess.Run(context.Background(), []inference.Tensor{in})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Score(c.o, c.h, fraud.Policy{Action: fraud.ActionLog, Threshold: 0.5}).Score; math.Abs(got-float64(out[0].Float32[0])) > 1e-5 {
			t.Fatalf("order %s: in-process %g, onnxruntime %g", c.o.ID, got, out[0].Float32[0])
		}
	}

	tests := []struct {
		name   string
		order  features.Order
		hist   features.History
		policy fraud.Policy
		want   fraud.Action
	}{
		{"ordinary order allowed under block", ordinary, noHistory{}, fraud.Policy{Action: fraud.ActionBlock, Threshold: 0.5}, fraud.ActionAllow},
		{"ring order blocked", ring, ringHistory{}, fraud.Policy{Action: fraud.ActionBlock, Threshold: 0.5}, fraud.ActionBlock},
		{"ring order held for review", ring, ringHistory{}, fraud.Policy{Action: fraud.ActionReview, Threshold: 0.5}, fraud.ActionReview},
		{"ring order only logged", ring, ringHistory{}, fraud.Policy{Action: fraud.ActionLog, Threshold: 0.5}, fraud.ActionLog},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.policy.Validate(); err != nil {
				t.Fatal(err)
			}
			d := s.Score(tt.order, tt.hist, tt.policy)
			if d.Action != tt.want || d.Version != "1" {
				t.Fatalf("decision %+v, want action %s", d, tt.want)
			}
		})
	}
	for _, p := range []fraud.Policy{{Action: "deny", Threshold: 0.5}, {Action: fraud.ActionBlock, Threshold: 0}, {Action: fraud.ActionBlock, Threshold: 1}} {
		if p.Validate() == nil {
			t.Errorf("policy %+v accepted", p)
		}
	}
}
