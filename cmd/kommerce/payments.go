package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/config"
	"github.com/kommerce/kommerce/internal/secretbox"
)

// paymentConfig is the Stripe settings of `kommerce api` and `kommerce dev`. Each
// tenant's keys come from its folder in --tenant-keys-dir (stripe-secret-key and
// stripe-webhook-secret, projected from the Secret of Tenant spec.stripeSecretRef),
// else from the database (kommerce admin set-stripe-keys), else from these flags.
type paymentConfig struct {
	apiURL        string
	secretKey     string
	webhookSecret string
	retryWindow   time.Duration
}

func (c *paymentConfig) register(set *config.Set) {
	set.String(&c.apiURL, "stripe-api-url", "KOMMERCE_STRIPE_API_URL", "",
		"base URL of the Stripe API; unset means Stripe itself, http://127.0.0.1:12111 is stripe-mock (hack/services.sh up stripe-mock)",
		config.Check(config.URL(true, "http", "https")))
	set.String(&c.secretKey, "stripe-secret-key", "KOMMERCE_STRIPE_SECRET_KEY", "",
		"Stripe secret key of tenants without one of their own (tenant keys dir or kommerce admin set-stripe-keys); a tenant with none answers the payment routes with 503 payments_not_configured",
		config.Secret())
	set.String(&c.webhookSecret, "stripe-webhook-secret", "KOMMERCE_STRIPE_WEBHOOK_SECRET", "",
		"signing secret (whsec_...) of the Stripe webhook endpoint of tenants without one of their own",
		config.Secret())
	set.Duration(&c.retryWindow, "payment-retry-window", "KOMMERCE_PAYMENT_RETRY_WINDOW", apiserver.DefaultPaymentRetryWindow,
		"how long an unpaid order keeps its stock after a declined payment, for the shopper to retry; then it is cancelled",
		config.Check(positiveDuration))
}

func (c *paymentConfig) options() stack.PaymentOptions {
	return stack.PaymentOptions{StripeURL: c.apiURL, SecretKey: c.secretKey, WebhookSecret: c.webhookSecret, RetryWindow: c.retryWindow}
}

// setStripeKeys stores a tenant's Stripe keys read from standard input (never flags:
// flags show up in process lists) and prints only their kinds.
func setStripeKeys(ctx context.Context, e *env, db *postgres.DB, box *secretbox.Keyring, tenantID, slug string) error {
	in := bufio.NewReader(e.stdin)
	line := func() string {
		s, _ := in.ReadString('\n')
		return strings.TrimSpace(s)
	}
	k := apiserver.StripeKeys{SecretKey: line(), WebhookSecret: line()}
	if k.SecretKey == "" && k.WebhookSecret == "" {
		return config.Usagef("set-stripe-keys reads the secret key and the webhook secret from the first two lines of standard input")
	}
	if k.SecretKey != "" && !strings.HasPrefix(k.SecretKey, "sk_") && !strings.HasPrefix(k.SecretKey, "rk_") {
		return config.Usagef("the first line must be a Stripe secret key (sk_... or a restricted rk_...)")
	}
	if k.WebhookSecret != "" && !strings.HasPrefix(k.WebhookSecret, "whsec_") {
		return config.Usagef("the second line must be a webhook signing secret (whsec_...)")
	}
	if len(k.SecretKey) > 255 || len(k.WebhookSecret) > 255 {
		return config.Usagef("Stripe keys are at most 255 characters")
	}
	if err := postgres.SetStripeKeys(ctx, db, box, tenantID, k); err != nil {
		return err
	}
	kind := func(v string) string {
		if v == "" {
			return "none"
		}
		return v[:strings.IndexByte(v, '_')+1] + "..."
	}
	fmt.Fprintf(e.stdout, "stripe keys of tenant %s stored: secret key %s, webhook secret %s (API servers use them within 30 s)\n", slug, kind(k.SecretKey), kind(k.WebhookSecret))
	return nil
}
