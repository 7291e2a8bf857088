package apiserver

import (
	"context"
	"errors"
	"time"
)

// Payment is the PaymentIntent of an order as this API knows it. An order has at most
// one: retries, with another card too, confirm the same intent (Stripe's advice), so
// no retry or race can charge an order twice. It never carries a secret; the intent's
// client_secret is returned only by PayOrder (PaymentSession).
type Payment struct {
	ID       string `json:"id"`
	OrderID  string `json:"order_id"`
	Provider string `json:"provider"` // stripe
	IntentID string `json:"intent_id,omitempty"`
	// Status is the intent's Stripe status (requires_payment_method, processing,
	// succeeded, ...) or "creating" while the intent is being created.
	Status         string `json:"status"`
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency"`
	AmountReceived int64  `json:"amount_received"`
	AmountRefunded int64  `json:"amount_refunded"`
	// Failures counts declined attempts; LastFailure is the last decline's code.
	Failures    int       `json:"failures"`
	LastFailure string    `json:"last_failure,omitempty"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Payment statuses this API uses beside Stripe's own.
const (
	PaymentCreating  = "creating"
	PaymentSucceeded = "succeeded"
)

// PaymentSession is the answer to PayOrder: the order's payment and the secret the
// storefront hands to Stripe.js to confirm it.
type PaymentSession struct {
	Payment
	ClientSecret string `json:"client_secret"`
}

// Charge is the captured money of a payment.
type Charge struct {
	ID             string `json:"id"`
	IntentID       string `json:"intent_id"`
	Amount         int64  `json:"amount"`
	AmountRefunded int64  `json:"amount_refunded"`
	Currency       string `json:"currency"`
}

// Refund is one refund asked for through the API.
type Refund struct {
	ID       string `json:"id"`
	OrderID  string `json:"order_id"`
	StripeID string `json:"stripe_id,omitempty"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	// Status is "requested" until Stripe answered, then Stripe's refund status
	// (pending, succeeded, failed, canceled, requires_action).
	Status    string    `json:"status"`
	Reason    string    `json:"reason,omitempty"`
	Note      string    `json:"note,omitempty"`
	Actor     string    `json:"actor,omitempty"` // staff only
	Failure   string    `json:"failure,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Dispute is a chargeback of a payment.
type Dispute struct {
	ID       string    `json:"id"`
	Amount   int64     `json:"amount"`
	Currency string    `json:"currency"`
	Reason   string    `json:"reason"`
	Status   string    `json:"status"`
	OpenedAt time.Time `json:"opened_at"`
}

// PaymentRecords is everything known about an order's money.
type PaymentRecords struct {
	OrderID  string     `json:"order_id"`
	Intents  []*Payment `json:"intents"`
	Charges  []Charge   `json:"charges"`
	Refunds  []Refund   `json:"refunds"`
	Disputes []Dispute  `json:"disputes"`
}

// Refund reasons (Stripe's). fraudulent also labels the order for fraud training.
const (
	RefundDuplicate           = "duplicate"
	RefundFraudulent          = "fraudulent"
	RefundRequestedByCustomer = "requested_by_customer"
)

// RefundInput is the body of POST /orders/{id}/refunds. A nil Amount refunds all that
// is left.
type RefundInput struct {
	Amount *int64 `json:"amount,omitempty"`
	Reason string `json:"reason,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Validate checks the input.
func (in *RefundInput) Validate() error {
	if in.Amount != nil && (*in.Amount < 1 || *in.Amount > MaxAmount) {
		return FieldErrorf("amount", "A refund amount is from 1 to %d minor units.", int64(MaxAmount))
	}
	switch in.Reason {
	case "", RefundDuplicate, RefundFraudulent, RefundRequestedByCustomer:
	default:
		return FieldErrorf("reason", "The reason is one of duplicate, fraudulent, requested_by_customer.")
	}
	return ValidText("note", in.Note, MaxReasonLen)
}

// RefundRequest is one refund attempt; IdempotencyKey is required and scoped to the
// order: the first accepted refund for a key is the answer to every retry with it.
type RefundRequest struct {
	OrderID        string
	IdempotencyKey string
	Input          RefundInput
}

// WebhookRequest is a delivery to the Stripe webhook: the raw body exactly as
// received (the signature covers those bytes) and the Stripe-Signature header.
type WebhookRequest struct {
	Payload   []byte
	Signature string
}

// WebhookResult says what a verified delivery did. Stripe only needs a 2xx; the
// fields are for people reading logs and tests.
type WebhookResult struct {
	Received  bool   `json:"received"`
	EventID   string `json:"event_id,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	// Ignored says why an authentic event changed nothing: an unhandled type, an
	// event older than what is known, an event about no order of this tenant.
	Ignored string `json:"ignored,omitempty"`
}

// PaymentService takes payments for the orders of the tenant in ctx and applies
// Stripe's webhook events. No method holds a database transaction open across a
// call to Stripe: each records what it is about to do, calls Stripe, then records
// the answer, so a crash in between is repaired by a retry.
type PaymentService interface {
	// PayOrder creates the order's PaymentIntent or returns the existing one, with
	// its client secret; created says which. The caller must see the order (its
	// customer, staff, or a guest with the cart token).
	// Errors: ErrNotFound, ErrUnauthenticated, ErrOrderNotPayable,
	// ErrPaymentsNotConfigured, ErrPaymentRejected, ErrUnavailable.
	PayOrder(ctx context.Context, orderID, cartToken string) (s *PaymentSession, created bool, err error)
	// PaymentRecords returns the order's intents, charges, refunds and disputes.
	// Errors: ErrNotFound, ErrUnauthenticated.
	PaymentRecords(ctx context.Context, orderID, cartToken string) (*PaymentRecords, error)
	// RefundOrder refunds part or all of what the order's payment received (staff);
	// a full refund moves the order to refunded. replayed is true when the answer is
	// the refund first made with the key.
	// Errors: ErrInvalid, ErrNotFound, ErrRefundExceedsPayment,
	// ErrIdempotencyKeyReused, ErrPaymentsNotConfigured, ErrPaymentRejected,
	// ErrUnavailable.
	RefundOrder(ctx context.Context, req RefundRequest) (r *Refund, replayed bool, err error)
	// StripeWebhook verifies and applies one webhook delivery. The tenant in ctx, if
	// any, is the one the delivery was addressed to; otherwise the event names it.
	// Errors: ErrInvalidSignature, ErrStaleSignature, ErrMalformedJSON,
	// ErrPaymentsNotConfigured.
	StripeWebhook(ctx context.Context, req WebhookRequest) (*WebhookResult, error)
}

// StripeKeys are a tenant's Stripe credentials: the secret API key for calls and the
// signing secret of its webhook endpoint. Either may be empty (not configured).
type StripeKeys struct {
	SecretKey     string
	WebhookSecret string
}

// ErrNoPaymentKeys is returned by a PaymentKeySource that has no keys for a tenant.
var ErrNoPaymentKeys = errors.New("no payment keys for this tenant")

// PaymentKeySource finds a tenant's Stripe keys: a mounted Secret in a cluster, the
// database, or the process's configuration.
type PaymentKeySource interface {
	// StripeKeys returns the tenant's keys or ErrNoPaymentKeys.
	StripeKeys(ctx context.Context, tenantID string) (StripeKeys, error)
}

// IntentRequest asks the gateway for a PaymentIntent. IdempotencyKey makes every
// retry of the call return the same intent.
type IntentRequest struct {
	Amount         int64
	Currency       string
	IdempotencyKey string
	Description    string
	Metadata       map[string]string
}

// Intent is the gateway's view of a PaymentIntent.
type Intent struct {
	ID           string
	Status       string
	ClientSecret string
}

// RefundCall asks the gateway to refund part of an intent.
type RefundCall struct {
	IntentID       string
	Amount         int64
	Reason         string
	IdempotencyKey string
	Metadata       map[string]string
}

// RefundResult is the gateway's answer to a refund.
type RefundResult struct {
	ID            string
	Status        string
	FailureReason string
}

// PaymentGateway is the payment provider's API (Stripe; stripe-mock in tests).
// Errors are *Error: ErrPaymentsNotConfigured (the key is refused),
// ErrPaymentRejected (the provider refused the request), ErrUnavailable (it could
// not be reached or failed; retry).
type PaymentGateway interface {
	CreateIntent(ctx context.Context, secretKey string, req IntentRequest) (*Intent, error)
	GetIntent(ctx context.Context, secretKey, id string) (*Intent, error)
	CreateRefund(ctx context.Context, secretKey string, req RefundCall) (*RefundResult, error)
}

// Metadata keys the API puts on every PaymentIntent, so a webhook event names its
// tenant and order before it is verified (the secret that must verify it is chosen
// from them) and a lost answer can be matched to its order.
const (
	MetaTenantID  = "kommerce_tenant_id"
	MetaOrderID   = "kommerce_order_id"
	MetaPaymentID = "kommerce_payment_id"
)

// PaymentEvent is a webhook event as the payment service needs it, read from a
// verified payload.
type PaymentEvent struct {
	ID      string
	Type    string
	Created time.Time
	// TenantID and OrderID come from the object's metadata (or are empty).
	TenantID string
	OrderID  string
	IntentID string
	// Intent events; for refund events Status and FailureCode are the refund's status
	// and failure_reason.
	Status         string
	Amount         int64
	AmountReceived int64
	Currency       string // upper case
	ChargeID       string
	FailureCode    string
	// charge.refunded: the charge's totals.
	AmountCaptured int64
	AmountRefunded int64
	FullyRefunded  bool
	// charge.dispute.created.
	DisputeID     string
	DisputeReason string
	DisputeStatus string
	// Refund events: Stripe's refund, and the refund id this API put in its metadata
	// when it made the refund.
	RefundID      string
	LocalRefundID string
}

// Stripe event types the webhook applies; every other type is acknowledged and
// ignored.
const (
	EventIntentSucceeded = "payment_intent.succeeded"
	EventIntentFailed    = "payment_intent.payment_failed"
	EventChargeRefunded  = "charge.refunded"
	EventDisputeCreated  = "charge.dispute.created"
	// A refund's status changed after Stripe accepted it — it failed or was
	// canceled — so the money did not go back. API versions before 2024 send
	// charge.refund.updated; later ones also refund.updated and refund.failed.
	EventChargeRefundUpdated = "charge.refund.updated"
	EventRefundUpdated       = "refund.updated"
	EventRefundFailed        = "refund.failed"
)

// MetaRefundID is the refund metadata key naming this API's refund.
const MetaRefundID = "kommerce_refund_id"

// HandledEvent reports whether the webhook applies events of type t.
func HandledEvent(t string) bool {
	switch t {
	case EventIntentSucceeded, EventIntentFailed, EventChargeRefunded, EventDisputeCreated,
		EventChargeRefundUpdated, EventRefundUpdated, EventRefundFailed:
		return true
	}
	return false
}

// WebhookVerifier checks a delivery's signature with a tenant's signing secret and
// reads the event. Errors: ErrInvalidSignature, ErrStaleSignature, ErrMalformedJSON.
type WebhookVerifier interface {
	// Peek reads, without trusting them, the tenant and intent an event names, to
	// choose whose secret must verify it. Errors: ErrMalformedJSON.
	Peek(payload []byte) (tenantID, intentID string, err error)
	Verify(payload []byte, signature, secret string) (*PaymentEvent, error)
}
