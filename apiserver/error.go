package apiserver

import (
	"errors"
	"fmt"
)

// Error codes. They are part of the API contract: clients branch on them, so a code
// never changes meaning. httpapi maps each one to exactly one HTTP status.
const (
	ErrInvalid              = "invalid_request"        // a value breaks the contract; Field names it
	ErrMalformedJSON        = "malformed_json"         // the body is not JSON
	ErrUnknownField         = "unknown_field"          // a property the contract does not allow
	ErrTenantRequired       = "tenant_required"        // neither X-Kommerce-Tenant nor a storefront host
	ErrUnauthenticated      = "unauthenticated"        // no (usable) credentials
	ErrInvalidCredentials   = "invalid_credentials"    //nolint:gosec // an error code, not a credential
	ErrInvalidToken         = "invalid_token"          // expired, forged, wrong tenant, revoked
	ErrRefreshTokenReused   = "refresh_token_reused"   // a rotated refresh token came back
	ErrForbidden            = "forbidden"              // authenticated, but the role may not do this
	ErrTenantSuspended      = "tenant_suspended"       // the tenant exists but does not serve
	ErrNotFound             = "not_found"              // no such object (or not visible to the caller)
	ErrUnknownTenant        = "unknown_tenant"         // no tenant with that slug or host
	ErrMethodNotAllowed     = "method_not_allowed"     // the path exists, the method does not
	ErrConflict             = "conflict"               // duplicate key: SKU, email, slug
	ErrPreconditionFailed   = "precondition_failed"    // If-Match did not match the current version
	ErrPayloadTooLarge      = "payload_too_large"      // body above the size limit
	ErrUnsupportedMediaType = "unsupported_media_type" // body not application/json
	ErrRateLimited          = "rate_limited"           // a per-user or per-tenant limit was hit
	ErrInternal             = "internal"               // a bug or an outage; details only in logs
	ErrUnavailable          = "unavailable"            // a dependency is down; retry later

	// Commerce: stock, carts, checkout, orders.
	ErrInsufficientStock    = "insufficient_stock"     // more units than are available
	ErrUnknownSKU           = "unknown_sku"            // no published product of this tenant sells the SKU
	ErrPriceUnavailable     = "price_unavailable"      // the SKU has no price in the cart's currency
	ErrCartEmpty            = "cart_empty"             // checkout of a cart without lines
	ErrCartClosed           = "cart_closed"            // the cart was already checked out or merged
	ErrIdempotencyKeyReused = "idempotency_key_reused" // the key came with a different request before
	ErrInvalidTransition    = "invalid_transition"     // the order state machine forbids the step
	ErrFraudBlocked         = "fraud_blocked"          // the storefront's fraud policy refused the order
	ErrQuantityLimit        = "quantity_limit"         // more units of a SKU than one order may take
	ErrTooManyUnpaid        = "too_many_unpaid_orders" // the shopper already holds the most unpaid orders allowed
	ErrStockReserved        = "stock_reserved"         // a warehouse would hold fewer units than orders reserved there

	// Payments: intents, refunds, the Stripe webhook.
	ErrOrderNotPayable       = "order_not_payable"       // cancelled, refunded, paid without an intent, or nothing to pay
	ErrPaymentsNotConfigured = "payments_not_configured" // the tenant has no usable Stripe key or webhook secret
	ErrPaymentRejected       = "payment_rejected"        // the payment provider refused the request
	ErrRefundExceedsPayment  = "refund_exceeds_payment"  // more than the payment received and has not refunded
	ErrRefundRequired        = "refund_required"         // money was received: refund it rather than cancel by hand
	ErrInvalidSignature      = "invalid_signature"       // a webhook not signed with the tenant's secret
	ErrStaleSignature        = "stale_signature"         // a webhook signed outside the 300 s tolerance

	// Storefronts managed by a Storefront resource (ManagedStorefront).
	ErrManagedByStorefront = "managed_by_storefront" // the settings come from the Storefront resource; edit it there
)

// Error is an error a client may see: a stable code, a sentence for people and, for
// bad input, the field at fault. Anything that is not an *Error reaches clients as
// ErrInternal with a generic message, so internals never leak.
type Error struct {
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (field %s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf builds an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf builds an ErrInvalid *Error about one field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: ErrInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err's *Error, ErrInternal for other errors and ""
// for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return ErrInternal
	}
}

// ErrorMessage returns the client-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrorField returns the field of err's *Error, if any.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
