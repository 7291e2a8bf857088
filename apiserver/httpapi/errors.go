package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/metrics"
)

// statusOf is the one mapping from error codes to HTTP statuses.
var statusOf = map[string]int{
	apiserver.ErrInvalid:              http.StatusBadRequest,
	apiserver.ErrMalformedJSON:        http.StatusBadRequest,
	apiserver.ErrUnknownField:         http.StatusBadRequest,
	apiserver.ErrTenantRequired:       http.StatusBadRequest,
	apiserver.ErrUnauthenticated:      http.StatusUnauthorized,
	apiserver.ErrInvalidCredentials:   http.StatusUnauthorized,
	apiserver.ErrInvalidToken:         http.StatusUnauthorized,
	apiserver.ErrRefreshTokenReused:   http.StatusUnauthorized,
	apiserver.ErrForbidden:            http.StatusForbidden,
	apiserver.ErrTenantSuspended:      http.StatusForbidden,
	apiserver.ErrNotFound:             http.StatusNotFound,
	apiserver.ErrUnknownTenant:        http.StatusNotFound,
	apiserver.ErrMethodNotAllowed:     http.StatusMethodNotAllowed,
	apiserver.ErrConflict:             http.StatusConflict,
	apiserver.ErrPreconditionFailed:   http.StatusPreconditionFailed,
	apiserver.ErrPayloadTooLarge:      http.StatusRequestEntityTooLarge,
	apiserver.ErrUnsupportedMediaType: http.StatusUnsupportedMediaType,
	apiserver.ErrRateLimited:          http.StatusTooManyRequests,
	apiserver.ErrInternal:             http.StatusInternalServerError,
	apiserver.ErrUnavailable:          http.StatusServiceUnavailable,

	apiserver.ErrInsufficientStock:    http.StatusConflict,
	apiserver.ErrUnknownSKU:           http.StatusUnprocessableEntity,
	apiserver.ErrPriceUnavailable:     http.StatusUnprocessableEntity,
	apiserver.ErrCartEmpty:            http.StatusUnprocessableEntity,
	apiserver.ErrCartClosed:           http.StatusConflict,
	apiserver.ErrIdempotencyKeyReused: http.StatusUnprocessableEntity,
	apiserver.ErrInvalidTransition:    http.StatusConflict,
	apiserver.ErrFraudBlocked:         http.StatusForbidden,
	apiserver.ErrQuantityLimit:        http.StatusUnprocessableEntity,
	apiserver.ErrTooManyUnpaid:        http.StatusTooManyRequests,
	apiserver.ErrStockReserved:        http.StatusConflict,

	apiserver.ErrOrderNotPayable:       http.StatusConflict,
	apiserver.ErrPaymentsNotConfigured: http.StatusServiceUnavailable,
	apiserver.ErrPaymentRejected:       http.StatusUnprocessableEntity,
	apiserver.ErrRefundExceedsPayment:  http.StatusUnprocessableEntity,
	apiserver.ErrRefundRequired:        http.StatusConflict,
	apiserver.ErrInvalidSignature:      http.StatusBadRequest,
	apiserver.ErrStaleSignature:        http.StatusBadRequest,

	apiserver.ErrManagedByStorefront: http.StatusConflict,
}

// StatusOf returns the HTTP status of an error code (500 for unknown codes).
func StatusOf(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

// StatusClientClosedRequest is the status of a request whose client went away
// before it was answered (nginx's 499): nobody reads it, but the access log and the
// request metrics keep it apart from the server's own failures.
const StatusClientClosedRequest = 499

// codeClientClosed is the log budget's key for client-closed lines.
const codeClientClosed = "client_closed"

// writeError is the one writer of error responses. Server errors are logged here,
// once, with the request id, within the code's log budget (errorlog.go), and counted;
// their details never reach the client.
//
// A server error of a request whose client has gone (its context canceled, as
// net/http does when the connection closes) is the client's doing, not a failure of
// the server: whatever the service made of the cancellation (a canceled query is
// "internal" to it), it is answered 499 and logged at info, not counted as a 5xx.
func (h *handler) writeError(c *gin.Context, err error) {
	code := apiserver.ErrorCode(err)
	status := StatusOf(code)
	if status >= 500 && errors.Is(c.Request.Context().Err(), context.Canceled) {
		h.logClientClosed(c, err)
		c.AbortWithStatus(StatusClientClosedRequest)
		return
	}
	if status >= 500 {
		h.logServerError(c, code, err)
	}
	switch code {
	case apiserver.ErrUnauthenticated, apiserver.ErrInvalidToken:
		c.Header("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, errorBody{Error: errorDetail{Code: code, Message: apiserver.ErrorMessage(err), Field: apiserver.ErrorField(err)}})
}

// routeOf is the route pattern of a request, as the metrics label it.
func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

// logClientClosed writes the line of a request its client gave up on, within a log
// budget of its own: a stalled database makes many clients give up at once.
func (h *handler) logClientClosed(c *gin.Context, err error) {
	ok, suppressed := h.errorLogs.take(codeClientClosed)
	if !ok {
		return
	}
	attrs := []any{"method", c.Request.Method, "route", routeOf(c), "path", c.Request.URL.Path, "status", StatusClientClosedRequest, "error", err.Error()}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	h.log.InfoContext(c.Request.Context(), "client closed request", attrs...)
}

// logServerError writes the line of a 5xx answer. A shop without payment keys is its
// merchant's setup, not a failure of the server: a warning, not an error.
func (h *handler) logServerError(c *gin.Context, code string, err error) {
	ok, suppressed := h.errorLogs.take(code)
	if !ok {
		h.Metrics.ServerError(code, metrics.Suppressed)
		return
	}
	h.Metrics.ServerError(code, metrics.Logged)
	level := slog.LevelError
	if code == apiserver.ErrPaymentsNotConfigured {
		level = slog.LevelWarn
	}
	// request_id, trace_id and span_id come from the context (LogHandler, logging).
	attrs := []any{"method", c.Request.Method, "route", routeOf(c), "path", c.Request.URL.Path, "code", code, "error", err.Error()}
	if t := apiserver.TenantFromContext(c.Request.Context()); t != nil {
		attrs = append(attrs, "tenant_id", t.ID)
	}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	h.log.Log(c.Request.Context(), level, "request failed", attrs...)
}
