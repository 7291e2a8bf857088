package stripe

import (
	"context"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/internal/testenv"
)

// TestGatewayOnStripeMock makes the real calls against stripe-mock, Stripe's own
// mock of its API, which validates every parameter against Stripe's OpenAPI spec.
func TestGatewayOnStripeMock(t *testing.T) {
	g := New(Options{URL: testenv.StripeURL(t), Retries: 1})
	ctx := context.Background()
	in, err := g.CreateIntent(ctx, "sk_test_gateway", apiserver.IntentRequest{Amount: 1999, Currency: "EUR", IdempotencyKey: "kommerce-pi-test",
		Description: "Order 1", Metadata: map[string]string{apiserver.MetaOrderID: "o1"}})
	if err != nil || !strings.HasPrefix(in.ID, "pi_") || in.ClientSecret == "" || in.Status == "" {
		t.Fatalf("create intent: %+v %v", in, err)
	}
	got, err := g.GetIntent(ctx, "sk_test_gateway", in.ID)
	if err != nil || got.ID != in.ID || got.ClientSecret == "" {
		t.Fatalf("get intent: %+v %v", got, err)
	}
	r, err := g.CreateRefund(ctx, "sk_test_gateway", apiserver.RefundCall{IntentID: in.ID, Amount: 500, Reason: apiserver.RefundRequestedByCustomer,
		IdempotencyKey: "kommerce-re-test"})
	if err != nil || !strings.HasPrefix(r.ID, "re_") || r.Status == "" {
		t.Fatalf("refund: %+v %v", r, err)
	}

	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"a key Stripe refuses", func() error {
			_, err := g.GetIntent(ctx, "not-a-key", in.ID)
			return err
		}, apiserver.ErrPaymentsNotConfigured},
		{"a request Stripe refuses", func() error {
			_, err := g.CreateRefund(ctx, "sk_test_gateway", apiserver.RefundCall{IntentID: in.ID, Amount: 1, Reason: "no-such-reason", IdempotencyKey: "k2"})
			return err
		}, apiserver.ErrPaymentRejected},
		{"Stripe unreachable", func() error {
			_, err := New(Options{URL: "http://127.0.0.1:1", Retries: 1}).GetIntent(ctx, "sk_test_gateway", in.ID)
			return err
		}, apiserver.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if apiserver.ErrorCode(err) != tt.code {
				t.Fatalf("error %v, want code %s", err, tt.code)
			}
			if strings.Contains(err.Error(), "sk_test_gateway") || strings.Contains(apiserver.ErrorMessage(err), "stripe") {
				t.Fatalf("error leaks a key or internals: %v / %q", err, apiserver.ErrorMessage(err))
			}
		})
	}
}
