package stack

import (
	"net/http"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/apiserver/stripe"
)

// PaymentOptions configures payments: Stripe PaymentIntents, refunds and the webhook.
// A tenant's keys come from its folder in Options.KeysDir (stripe-secret-key,
// stripe-webhook-secret beside tenant-id), else the database (kommerce admin
// set-stripe-keys), else SecretKey and WebhookSecret here. A tenant with none gets
// 503 payments_not_configured from the payment routes.
type PaymentOptions struct {
	// StripeURL is the Stripe API's base URL: empty for Stripe's own, stripe-mock's
	// (http://127.0.0.1:12111) in tests and `kommerce dev`.
	StripeURL string
	// SecretKey and WebhookSecret serve every tenant without keys of its own (a pod of
	// one storefront, `kommerce dev`).
	SecretKey     string
	WebhookSecret string
	// RetryWindow is how long an order keeps its stock after a declined payment
	// (default 15m).
	RetryWindow time.Duration
	// WebhookTolerance is the age a webhook signature may have (default 300 s).
	WebhookTolerance time.Duration
	// KeysTTL is how long a tenant's keys are cached (default 30 s).
	KeysTTL time.Duration
	// HTTPClient calls Stripe (default: 20 s timeout).
	HTTPClient *http.Client
	// Gateway replaces the Stripe client (tests that count or break calls).
	Gateway apiserver.PaymentGateway
}

// payments builds the payment service over the commerce services' database.
func payments(o Options, c *postgres.Commerce) *postgres.PaymentService {
	po := o.Commerce.Payments
	chain := stripe.Chain{}
	if o.KeysDir != "" {
		chain = append(chain, &stripe.DirKeys{Dir: o.KeysDir, Reload: 30 * time.Second})
	}
	chain = append(chain, &postgres.PaymentKeyStore{DB: c.DB, Box: o.Secrets}, stripe.Static{SecretKey: po.SecretKey, WebhookSecret: po.WebhookSecret})
	ttl := po.KeysTTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	gw := po.Gateway
	if gw == nil {
		gw = stripe.New(stripe.Options{URL: po.StripeURL, HTTPClient: po.HTTPClient})
	}
	return &postgres.PaymentService{Commerce: c, Gateway: gw, Webhooks: stripe.Webhooks{Tolerance: po.WebhookTolerance},
		Keys: &stripe.Cached{Source: chain, TTL: ttl}, RetryWindow: po.RetryWindow, Logger: o.Logger}
}
