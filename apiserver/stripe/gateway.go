// Package stripe is the payment provider adapter of the API: PaymentIntents and
// refunds through stripe-go (stripe-mock in tests and `kommerce dev`), verification
// and reading of webhook events, and the sources of tenants' Stripe keys.
//
// Keys are per tenant and per call: one process serves many tenants, each with its
// own Stripe account, so no key is ever set globally (stripe.Key stays empty).
package stripe

import (
	"context"
	"errors"
	"fmt"
	"github.com/kommerce/kommerce/internal/tracing"
	"net/http"
	"strings"
	"time"

	sgo "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/paymentintent"
	"github.com/stripe/stripe-go/v76/refund"

	"github.com/kommerce/kommerce/apiserver"
)

// Gateway implements apiserver.PaymentGateway with stripe-go.
type Gateway struct {
	backend sgo.Backend
}

var _ apiserver.PaymentGateway = (*Gateway)(nil)

// Options configures a Gateway.
type Options struct {
	// URL is the API's base URL; empty means Stripe's (https://api.stripe.com).
	// stripe-mock listens on http://127.0.0.1:12111 under hack/services.sh.
	URL string
	// HTTPClient defaults to a client with a 20 s timeout.
	HTTPClient *http.Client
	// Retries is how often a failed call (network error, 409 lock, 5xx) is retried
	// with the same Idempotency-Key; stripe-go's default is 2.
	Retries int64
}

// New returns a gateway. stripe-go logs nothing: errors are returned and logged
// once by the caller.
func New(o Options) *Gateway {
	hc := o.HTTPClient
	if hc == nil {
		// Traced when tracing is on (Stripe's API then joins the request's trace).
		hc = &http.Client{Timeout: 20 * time.Second, Transport: tracing.Transport(nil)}
	}
	cfg := &sgo.BackendConfig{HTTPClient: hc, LeveledLogger: &sgo.LeveledLogger{Level: sgo.LevelNull}}
	if o.URL != "" {
		cfg.URL = sgo.String(strings.TrimRight(o.URL, "/"))
	}
	if o.Retries > 0 {
		cfg.MaxNetworkRetries = sgo.Int64(o.Retries)
	}
	return &Gateway{backend: sgo.GetBackendWithConfig(sgo.APIBackend, cfg)}
}

// CreateIntent implements apiserver.PaymentGateway. Cards and every other method
// the account enables are offered (automatic payment methods).
func (g *Gateway) CreateIntent(ctx context.Context, key string, req apiserver.IntentRequest) (*apiserver.Intent, error) {
	p := &sgo.PaymentIntentParams{
		Amount:                  sgo.Int64(req.Amount),
		Currency:                sgo.String(strings.ToLower(req.Currency)),
		AutomaticPaymentMethods: &sgo.PaymentIntentAutomaticPaymentMethodsParams{Enabled: sgo.Bool(true)},
	}
	if req.Description != "" {
		p.Description = sgo.String(req.Description)
	}
	setParams(ctx, &p.Params, req.IdempotencyKey, req.Metadata)
	c := paymentintent.Client{B: g.backend, Key: key}
	pi, err := c.New(p)
	if err != nil {
		return nil, callError("create payment intent", err)
	}
	return intentOf(pi), nil
}

// GetIntent implements apiserver.PaymentGateway.
func (g *Gateway) GetIntent(ctx context.Context, key, id string) (*apiserver.Intent, error) {
	p := &sgo.PaymentIntentParams{}
	p.Context = ctx
	c := paymentintent.Client{B: g.backend, Key: key}
	pi, err := c.Get(id, p)
	if err != nil {
		return nil, callError("get payment intent", err)
	}
	return intentOf(pi), nil
}

func intentOf(pi *sgo.PaymentIntent) *apiserver.Intent {
	return &apiserver.Intent{ID: pi.ID, Status: string(pi.Status), ClientSecret: pi.ClientSecret}
}

// setParams sets what every POST to Stripe carries: the request's context, the
// Idempotency-Key that makes its retries safe, and the metadata.
func setParams(ctx context.Context, p *sgo.Params, idempotencyKey string, metadata map[string]string) {
	p.Context = ctx
	p.SetIdempotencyKey(idempotencyKey)
	for k, v := range metadata {
		p.AddMetadata(k, v)
	}
}

// CreateRefund implements apiserver.PaymentGateway.
func (g *Gateway) CreateRefund(ctx context.Context, key string, req apiserver.RefundCall) (*apiserver.RefundResult, error) {
	p := &sgo.RefundParams{PaymentIntent: sgo.String(req.IntentID), Amount: sgo.Int64(req.Amount)}
	if req.Reason != "" {
		p.Reason = sgo.String(req.Reason)
	}
	setParams(ctx, &p.Params, req.IdempotencyKey, req.Metadata)
	c := refund.Client{B: g.backend, Key: key}
	r, err := c.New(p)
	if err != nil {
		return nil, callError("create refund", err)
	}
	return &apiserver.RefundResult{ID: r.ID, Status: string(r.Status), FailureReason: string(r.FailureReason)}, nil
}

// callError turns a stripe-go error into the *apiserver.Error a client sees,
// wrapped with the cause for the server's log: refused credentials, a request Stripe
// refused, or an outage (network, 429, 5xx) that a retry may get past.
func callError(op string, err error) error {
	var se *sgo.Error
	var out *apiserver.Error
	switch {
	case errors.As(err, &se) && (se.HTTPStatusCode == http.StatusUnauthorized || se.HTTPStatusCode == http.StatusForbidden):
		out = apiserver.Errorf(apiserver.ErrPaymentsNotConfigured, "The shop's payment provider refused its credentials; payments are not available.")
	case errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 && se.HTTPStatusCode != http.StatusTooManyRequests && se.HTTPStatusCode != http.StatusConflict:
		detail := string(se.Code)
		if detail == "" {
			detail = string(se.Type)
		}
		out = apiserver.Errorf(apiserver.ErrPaymentRejected, "The payment provider refused the request (%s).", detail)
	default:
		out = apiserver.Errorf(apiserver.ErrUnavailable, "The payment provider is unavailable; retry later.")
	}
	return fmt.Errorf("stripe %s: %s: %w", op, redact(err), out)
}

// redact keeps a provider error short and without anything that looks like a key.
func redact(err error) string {
	var se *sgo.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("status %d, type %s, code %s, request %s", se.HTTPStatusCode, se.Type, se.Code, se.RequestID)
	}
	s := err.Error()
	for _, p := range []string{"sk_", "rk_", "whsec_"} {
		if i := strings.Index(s, p); i >= 0 {
			s = s[:i] + "[redacted]"
		}
	}
	return s
}
