package features

import (
	"fmt"
	"math"
	"time"

	"github.com/kommerce/kommerce/inference/onnx"
)

// Feature is one input column of the fraud model.
type Feature struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// FraudFeatures is the fraud model's input schema, in column order. Training and the
// API's checkout both compute exactly these, with FraudVector.
var FraudFeatures = []Feature{
	{"log_amount", "ln(1 + order total in major units)"},
	{"quantity", "units in the order"},
	{"lines", "order lines"},
	{"log_account_age_days", "ln(1 + days since the account was created); 0 for guests"},
	{"guest", "1 for a guest checkout"},
	{"country_mismatch", "1 when shipping and billing countries differ"},
	{"night", "1 when the order is placed between 00:00 and 05:59 UTC"},
	{"extra_payment_attempts", "payment attempts before the successful one"},
	{"log_accounts_on_ip_30d", "ln(1 + other customers who ordered from the same client IP in the previous 30 days)"},
	{"customer_orders_24h", "orders by the same customer in the previous 24 hours"},
}

// Order is what the fraud model sees of an order at checkout.
type Order struct {
	ID         string
	Customer   string // customer id, or the guest's email hash
	Guest      bool
	At         time.Time
	Amount     int64 // total in minor units
	Currency   string
	Lines      int
	Quantity   int
	AccountAge time.Duration // since the customer's account was created (0 for guests)
	// ShippingCountry and BillingCountry are ISO 3166 codes.
	ShippingCountry string
	BillingCountry  string
	// ClientIP is the address checkout came from (hashed or raw; only equality
	// between orders is used).
	ClientIP string
	// PaymentAttempts counts the payment attempts before this order's success.
	PaymentAttempts int
}

// History answers the questions about earlier orders that two features need. In
// training it is built from the dataset in time order; the API backs it with its
// order store.
type History interface {
	// OtherCustomersOnIP counts distinct customers other than customer who ordered
	// from ip in [since, before).
	OtherCustomersOnIP(ip, customer string, since, before time.Time) int
	// CustomerOrders counts the customer's orders in [since, before).
	CustomerOrders(customer string, since, before time.Time) int
}

// FraudVector computes the features of o, in FraudFeatures order.
func FraudVector(o Order, h History) []float64 {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	age := 0.0
	if !o.Guest {
		age = math.Log1p(o.AccountAge.Hours() / 24)
	}
	hour := o.At.UTC().Hour()
	return []float64{
		math.Log1p(float64(o.Amount) / 100),
		float64(o.Quantity),
		float64(o.Lines),
		age,
		b(o.Guest),
		b(o.ShippingCountry != o.BillingCountry),
		b(hour < 6),
		float64(max(o.PaymentAttempts-1, 0)),
		math.Log1p(float64(h.OtherCustomersOnIP(o.ClientIP, o.Customer, o.At.Add(-30*24*time.Hour), o.At))),
		float64(h.CustomerOrders(o.Customer, o.At.Add(-24*time.Hour), o.At)),
	}
}

// FraudModel is a logistic regression on standardised features:
// p = σ(Σ_k W_k (x_k − Mean_k) / Scale_k + Bias). The exported graph computes the
// same: FraudInput → Sub(mean) → Div(scale) → Gemm(weights, bias) → Sigmoid →
// FraudOutput, with the parameters stored as the initializers "mean", "scale",
// "weights" and "bias".
type FraudModel struct {
	Mean, Scale, W []float64
	Bias           float64
}

// Score is the plain-Go forward pass of the exported graph, computed the way the
// graph does (float32 inputs and parameters): the reference every runtime is
// checked against.
func (m *FraudModel) Score(x []float32) float64 {
	z := float64(float32(m.Bias))
	for k, v := range x {
		s := (v - float32(m.Mean[k])) / float32(m.Scale[k])
		z += float64(s) * float64(float32(m.W[k]))
	}
	return 1 / (1 + math.Exp(-z))
}

// Negated returns a deliberately broken copy of m (weights with the wrong sign).
func (m *FraudModel) Negated() *FraudModel {
	b := *m
	b.W = make([]float64, len(m.W))
	for i, w := range m.W {
		b.W[i] = -w
	}
	b.Bias = -m.Bias
	return &b
}

// Names of the fraud graph's parameter initializers.
const (
	FraudMean    = "mean"
	FraudScale   = "scale"
	FraudWeights = "weights"
	FraudBias    = "bias"
)

// ReadFraud rebuilds a FraudModel from an exported fraud graph.
func ReadFraud(b []byte) (*FraudModel, error) {
	m, err := onnx.Decode(b)
	if err != nil {
		return nil, err
	}
	g := m.GetGraph()
	fm := &FraudModel{}
	for name, dst := range map[string]*[]float64{FraudMean: &fm.Mean, FraudScale: &fm.Scale, FraudWeights: &fm.W} {
		t := onnx.Initializer(g, name)
		if t == nil {
			return nil, fmt.Errorf("graph has no initializer %q", name)
		}
		v, err := onnx.Floats(t)
		if err != nil {
			return nil, err
		}
		*dst = make([]float64, len(v))
		for i, x := range v {
			(*dst)[i] = float64(x)
		}
	}
	var bias []float32
	if t := onnx.Initializer(g, FraudBias); t != nil {
		bias, err = onnx.Floats(t)
	}
	if err != nil || len(bias) != 1 {
		return nil, fmt.Errorf("fraud graph has no one-element bias")
	}
	fm.Bias = float64(bias[0])
	if len(fm.Mean) != len(fm.W) || len(fm.Scale) != len(fm.W) {
		return nil, fmt.Errorf("fraud graph has %d means, %d scales, %d weights", len(fm.Mean), len(fm.Scale), len(fm.W))
	}
	return fm, nil
}
