package httpapi

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/metrics"
	"github.com/kommerce/kommerce/internal/tracing"
)

// paymentsAvailable answers 503 when the server was built without payments.
func (h *handler) paymentsAvailable(c *gin.Context) {
	if h.Payments == nil {
		h.writeError(c, apiserver.Errorf(apiserver.ErrPaymentsNotConfigured, "Payments are not configured on this server."))
		return
	}
	c.Next()
}

// payOrder creates the order's PaymentIntent (201) or returns the existing one (200),
// with the client secret Stripe.js confirms it with.
func (h *handler) payOrder(c *gin.Context) {
	s, created, err := h.Payments.PayOrder(c.Request.Context(), c.Param("id"), c.GetHeader("X-Cart-Token"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeNoStore(c, status, s)
}

func (h *handler) orderPayments(c *gin.Context) {
	r, err := h.Payments.PaymentRecords(c.Request.Context(), c.Param("id"), c.GetHeader("X-Cart-Token"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, r)
}

// refundOrder refunds (staff). A retry with the same Idempotency-Key and body gets the
// first refund again, marked Idempotent-Replayed: true.
func (h *handler) refundOrder(c *gin.Context) {
	var in apiserver.RefundInput
	if c.Request.ContentLength != 0 {
		if err := decode(c, &in); err != nil {
			h.writeError(c, err)
			return
		}
	}
	r, replayed, err := h.Payments.RefundOrder(c.Request.Context(), apiserver.RefundRequest{OrderID: c.Param("id"),
		IdempotencyKey: c.GetHeader("Idempotency-Key"), Input: in})
	if replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	if err != nil {
		h.writeError(c, err)
		return
	}
	status := http.StatusCreated
	if replayed {
		status = http.StatusOK
	}
	writeNoStore(c, status, r)
}

// stripeWebhook receives Stripe's events. The body is read raw (the signature covers
// its exact bytes) and handed to the payment service, which verifies it with the
// secret of the tenant it is for. 2xx tells Stripe to stop redelivering: applied,
// duplicate and ignored events all get 200; a bad signature 400 (Stripe retries,
// then gives up).
func (h *handler) stripeWebhook(c *gin.Context) {
	fail := func(err error) {
		h.Metrics.Webhook(apiserver.ErrorCode(err))
		h.writeError(c, err)
	}
	ctx, err := h.webhookTenant(c)
	if err != nil {
		fail(err)
		return
	}
	if err := h.webhookLimit(ctx, c); err != nil {
		fail(err)
		return
	}
	if ct := c.GetHeader("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			fail(apiserver.Errorf(apiserver.ErrUnsupportedMediaType, "Stripe sends events as application/json."))
			return
		}
	}
	body, err := io.ReadAll(c.Request.Body)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		fail(apiserver.Errorf(apiserver.ErrPayloadTooLarge, "The body is larger than %d bytes.", mbe.Limit))
		return
	case err != nil:
		fail(apiserver.Errorf(apiserver.ErrInvalid, "The body could not be read."))
		return
	}
	res, err := h.Payments.StripeWebhook(ctx, apiserver.WebhookRequest{Payload: body, Signature: c.GetHeader("Stripe-Signature")})
	switch {
	case err != nil:
		fail(err)
		return
	case res.Duplicate:
		h.Metrics.Webhook(metrics.Duplicate)
	case res.Ignored != "":
		h.Metrics.Webhook(metrics.Ignored)
	default:
		h.Metrics.Webhook(metrics.Applied)
	}
	writeNoStore(c, http.StatusOK, res)
}

// webhookLimit applies WebhookLimit, per client address, to deliveries addressed to no
// tenant, before the body is read: finding their tenant costs database lookups, so a
// flood of forged ones must not cost one each. A delivery addressed to a tenant (pod
// tenant, X-Kommerce-Tenant or storefront Host) is not limited: its tenant and secret
// are cached and checking it is one HMAC, and limiting it would let a forged flood
// from behind the same ingress address crowd out Stripe's genuine deliveries.
func (h *handler) webhookLimit(ctx context.Context, c *gin.Context) error {
	if apiserver.TenantFromContext(ctx) != nil {
		return nil
	}
	// The in-memory limiter never fails.
	res, _ := h.webhookLimiter.Allow(ctx, []apiserver.RateLimitKey{{Key: "unaddressed|" + c.ClientIP(), Limit: h.WebhookLimit}})
	if res.Allowed {
		return nil
	}
	setRetryAfter(c, res.RetryAfter)
	return apiserver.Errorf(apiserver.ErrRateLimited, "Too many webhook deliveries without a shop from this address; retry after the time in Retry-After, or send them to the shop's host.")
}

// webhookTenant is the tenant a delivery was addressed to, when it was: the pod's
// tenant, X-Kommerce-Tenant, or the storefront Host. None is no error: the payment
// service then takes the tenant the event names (and only that tenant's secret can
// verify it).
func (h *handler) webhookTenant(c *gin.Context) (context.Context, error) {
	ctx := c.Request.Context()
	r, err := h.lookupTenant(ctx, c)
	switch {
	case apiserver.ErrorCode(err) == apiserver.ErrTenantRequired:
		return ctx, nil // no header, no pod tenant, an unmapped Host: the event names it
	case err != nil:
		return nil, err
	}
	tracing.SetTenant(ctx, r.Tenant.ID)
	return apiserver.NewContextWithTenant(ctx, r.Tenant), nil
}
