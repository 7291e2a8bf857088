package features_test

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/inference/features"
	"github.com/kommerce/kommerce/inference/training"
)

// history answers with fixed counts and records the windows it was asked about.
type history struct {
	onIP, orders int
	ipSince      time.Time
}

func (h *history) OtherCustomersOnIP(_, _ string, since, _ time.Time) int {
	h.ipSince = since
	return h.onIP
}
func (h *history) CustomerOrders(string, time.Time, time.Time) int { return h.orders }

func TestFraudVector(t *testing.T) {
	noon := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	base := features.Order{Customer: "c", At: noon, Amount: 9900, Lines: 2, Quantity: 3, AccountAge: 99 * 24 * time.Hour,
		ShippingCountry: "DE", BillingCountry: "DE", PaymentAttempts: 1}
	col := map[string]int{}
	for i, f := range features.FraudFeatures {
		col[f.Name] = i
	}
	tests := []struct {
		name string
		edit func(*features.Order)
		hist history
		want map[string]float64
	}{
		{"ordinary account order", func(*features.Order) {}, history{}, map[string]float64{
			"log_amount": math.Log1p(99), "quantity": 3, "lines": 2, "log_account_age_days": math.Log1p(99),
			"guest": 0, "country_mismatch": 0, "night": 0, "extra_payment_attempts": 0,
			"log_accounts_on_ip_30d": 0, "customer_orders_24h": 0}},
		{"guest has no account age", func(o *features.Order) { o.Guest = true }, history{}, map[string]float64{
			"guest": 1, "log_account_age_days": 0}},
		{"countries differ", func(o *features.Order) { o.BillingCountry = "FR" }, history{}, map[string]float64{"country_mismatch": 1}},
		{"05:59 UTC is night", func(o *features.Order) { o.At = time.Date(2026, 3, 4, 5, 59, 0, 0, time.UTC) }, history{}, map[string]float64{"night": 1}},
		{"06:00 UTC is day", func(o *features.Order) { o.At = time.Date(2026, 3, 4, 6, 0, 0, 0, time.UTC) }, history{}, map[string]float64{"night": 0}},
		{"night is judged in UTC", func(o *features.Order) {
			o.At = time.Date(2026, 3, 4, 2, 0, 0, 0, time.FixedZone("X", 5*3600)) // 21:00 UTC
		}, history{}, map[string]float64{"night": 0}},
		{"retries before success", func(o *features.Order) { o.PaymentAttempts = 4 }, history{}, map[string]float64{"extra_payment_attempts": 3}},
		{"no attempt counts as none extra", func(o *features.Order) { o.PaymentAttempts = 0 }, history{}, map[string]float64{"extra_payment_attempts": 0}},
		{"history counts", func(*features.Order) {}, history{onIP: 4, orders: 2}, map[string]float64{
			"log_accounts_on_ip_30d": math.Log1p(4), "customer_orders_24h": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.edit(&o)
			h := tt.hist
			x := features.FraudVector(o, &h)
			if len(x) != len(features.FraudFeatures) {
				t.Fatalf("%d values for %d features", len(x), len(features.FraudFeatures))
			}
			for name, want := range tt.want {
				if got := x[col[name]]; math.Abs(got-want) > 1e-12 {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			if want := o.At.Add(-30 * 24 * time.Hour); !h.ipSince.Equal(want) {
				t.Errorf("IP window starts %v, want %v", h.ipSince, want)
			}
		})
	}
}

func TestItems(t *testing.T) {
	tests := []struct {
		name    string
		md      map[string]string
		want    []string
		wantErr string
	}{
		{"list", map[string]string{features.MetaItems: `["p1","p2"]`}, []string{"p1", "p2"}, ""},
		{"missing", map[string]string{}, nil, "has no kommerce.items"},
		{"not a list", map[string]string{features.MetaItems: `{"p1":0}`}, nil, "not a JSON array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := features.Items(tt.md)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Items = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestDecodeItems(t *testing.T) {
	items := []string{"a", "b", "c", "d"}
	tests := []struct {
		name    string
		indices []int64
		exclude map[string]bool
		limit   int
		want    []string
		wantErr bool
	}{
		{"in order", []int64{2, 0, 1}, nil, 10, []string{"c", "a", "b"}, false},
		{"context excluded", []int64{2, 0, 1}, map[string]bool{"a": true}, 10, []string{"c", "b"}, false},
		{"stops at limit", []int64{3, 2, 1, 0}, nil, 2, []string{"d", "c"}, false},
		{"bad index after the limit is not read", []int64{3, 2, 99}, nil, 2, []string{"d", "c"}, false},
		{"index past the list", []int64{1, 4}, nil, 10, nil, true},
		{"negative index", []int64{-1}, nil, 10, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := features.DecodeItems(tt.indices, items, tt.exclude, tt.limit)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("DecodeItems = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestReadFraudReadsWhatTrainingExports checks the two sides of the fraud graph's
// contract against each other: the parameters ExportFraud writes are the ones
// ReadFraud finds, under the same initializer names.
func TestReadFraudReadsWhatTrainingExports(t *testing.T) {
	n := len(features.FraudFeatures)
	m := &features.FraudModel{Mean: make([]float64, n), Scale: make([]float64, n), W: make([]float64, n), Bias: -2.5}
	for i := range n {
		m.Mean[i], m.Scale[i], m.W[i] = float64(i)/4, 1+float64(i)/8, float64(i%3)-1
	}
	b, err := training.ExportFraud(m, "7", "test")
	if err != nil {
		t.Fatal(err)
	}
	got, err := features.ReadFraud(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("read %+v, exported %+v", got, m)
	}
	if _, err := features.ReadFraud([]byte("not onnx")); err == nil {
		t.Fatal("ReadFraud accepted bytes that are not a model")
	}
}
