package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/metrics"
	"github.com/kommerce/kommerce/internal/server"
	"github.com/kommerce/kommerce/internal/tracing"
)

type requestIDKey struct{}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// RequestIDFromContext returns the request id of ctx, for services that log.
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestContext takes the caller's X-Request-Id when it is sane (or makes one),
// echoes it, labels the metrics with the route pattern and logs the request.
func (h *handler) requestContext(c *gin.Context) {
	start := now()
	id := c.GetHeader("X-Request-Id")
	if !requestIDRE.MatchString(id) {
		// Request ids need to be unique, not secret: no system call per request.
		id = strconv.FormatUint(rand.Uint64(), 36) + strconv.FormatUint(uint64(rand.Uint32()), 36) //nolint:gosec // unique, not secret
	}
	c.Writer.Header()["X-Request-Id"] = []string{id}
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), requestIDKey{}, id))
	server.SetRoute(c.Request.Context(), c.FullPath())
	c.Next()
	if h.log.Enabled(c.Request.Context(), -4) { // debug: one line per request is costly at high rates
		h.log.DebugContext(c.Request.Context(), "request", "method", c.Request.Method, "route", c.FullPath(),
			"status", c.Writer.Status(), "duration", now().Sub(start).String())
	}
}

// recovery turns a panic into a logged 500 instead of a dropped connection.
func (h *handler) recovery(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if err, ok := r.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(r)
			}
			server.RecordPanic(c.Request.Context())
			h.writeError(c, errors.New("panic: "+strings.TrimSpace(strings.ReplaceAll(fmtAny(r), "\n", " "))))
		}
	}()
	c.Next()
}

func fmtAny(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return "unexpected value"
}

const (
	apiCSP  = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	docsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

var (
	hvNosniff    = []string{"nosniff"}
	hvNoReferrer = []string{"no-referrer"}
	hvDeny       = []string{"DENY"}
	hvAPICSP     = []string{apiCSP}
	hvDocsCSP    = []string{docsCSP}
	hvHSTS       = []string{"max-age=63072000; includeSubDomains"}
)

// securityHeaders sets the headers every response carries. HSTS only when the
// request came over TLS (directly or as reported by the TLS-terminating proxy):
// browsers ignore it over plain HTTP and local development must stay on HTTP.
func (h *handler) securityHeaders(c *gin.Context) {
	// Canonical keys and shared read-only values: no allocation per request.
	hd := c.Writer.Header()
	hd["X-Content-Type-Options"] = hvNosniff
	hd["Referrer-Policy"] = hvNoReferrer
	hd["X-Frame-Options"] = hvDeny
	if strings.HasPrefix(c.Request.URL.Path, "/docs") {
		hd["Content-Security-Policy"] = hvDocsCSP
	} else {
		hd["Content-Security-Policy"] = hvAPICSP
	}
	if c.Request.TLS != nil || strings.EqualFold(c.GetHeader("X-Forwarded-Proto"), "https") {
		hd["Strict-Transport-Security"] = hvHSTS
	}
	c.Next()
}

// limitBody refuses bodies above MaxBodyBytes: at once when Content-Length says so,
// and while reading otherwise (the validator turns the read error into a 413).
func (h *handler) limitBody(c *gin.Context) {
	if h.validator.streamedBody(c) {
		c.Next() // the upload's handler applies its own limit
		return
	}
	if c.Request.ContentLength > h.MaxBodyBytes {
		h.writeError(c, apiserver.Errorf(apiserver.ErrPayloadTooLarge, "The body is larger than %d bytes.", h.MaxBodyBytes))
		return
	}
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, h.MaxBodyBytes)
	}
	c.Next()
}

var corsAllowHeaders = "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Cart-Token, X-Kommerce-Tenant, X-Request-Id"
var corsExposeHeaders = "ETag, Idempotent-Replayed, Location, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Cart-Id, X-Request-Id"

// preflight answers CORS preflights. A preflight carries no tenant header, so the
// origin is checked against every storefront's origins here (the managed
// storefront's only, when the pod serves one); the real request is then checked
// against its own tenant's in resolveTenant. An origin not allowed gets no CORS
// headers, so the browser refuses the call.
func (h *handler) preflight(c *gin.Context) {
	origin := c.GetHeader("Origin")
	if c.Request.Method != http.MethodOptions || origin == "" || c.GetHeader("Access-Control-Request-Method") == "" {
		c.Next()
		return
	}
	var ok bool
	var err error
	if m := h.managed(); m != nil {
		ok = m.OriginAllowed(origin)
	} else if ok, err = h.Tenants.OriginAllowed(c.Request.Context(), origin); err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Vary", "Origin")
	if ok {
		hd := c.Writer.Header()
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
		hd.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		hd.Set("Access-Control-Max-Age", "600")
	}
	c.AbortWithStatus(http.StatusNoContent)
}

// lookupTenant finds the tenant a request is addressed to: X-Kommerce-Tenant (which
// must name the pod's tenant when the pod serves one), else the pod's tenant, else the
// storefront Host. The API middleware and Stripe's webhook both resolve tenants here.
func (h *handler) lookupTenant(ctx context.Context, c *gin.Context) (*apiserver.Resolved, error) {
	slug := c.GetHeader("X-Kommerce-Tenant")
	switch {
	case slug != "":
		if !apiserver.ValidSlug(slug) {
			return nil, &apiserver.Error{Code: apiserver.ErrInvalid, Field: "X-Kommerce-Tenant", Message: "X-Kommerce-Tenant must be a tenant slug."}
		}
		if h.Tenant != "" && slug != h.Tenant {
			return nil, apiserver.Errorf(apiserver.ErrUnknownTenant, "No tenant is served here under that name.")
		}
		return h.Tenants.TenantBySlug(ctx, slug)
	case h.Tenant != "":
		return h.Tenants.TenantBySlug(ctx, h.Tenant)
	default:
		return h.byHost(ctx, c.Request.Host)
	}
}

// resolveTenant finds the request's tenant from X-Kommerce-Tenant or the Host, and
// applies that tenant's CORS origins.
func (h *handler) resolveTenant(c *gin.Context) {
	ctx := c.Request.Context()
	r, err := h.lookupTenant(ctx, c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	if r.Tenant.Status != apiserver.TenantActive {
		h.writeError(c, apiserver.Errorf(apiserver.ErrTenantSuspended, "This shop is not available right now."))
		return
	}
	if origin := c.GetHeader("Origin"); origin != "" {
		c.Header("Vary", "Origin")
		allowed := r.CORSOrigins
		if m := h.managed(); m != nil && m.Tenant == r.Tenant.Slug {
			allowed = m.CORSOrigins
		}
		if slices.Contains(allowed, origin) {
			c.Header("Access-Control-Allow-Origin", origin)
			c.Header("Access-Control-Expose-Headers", corsExposeHeaders)
		}
	}
	tracing.SetTenant(ctx, r.Tenant.ID)
	c.Request = c.Request.WithContext(apiserver.NewContextWithTenant(ctx, r.Tenant))
	c.Next()
}

// managed is the storefront the pod serves from its settings document, or nil.
func (h *handler) managed() *apiserver.ManagedStorefront {
	if h.Storefront == nil {
		return nil
	}
	return h.Storefront.ManagedStorefront()
}

func (h *handler) byHost(ctx context.Context, host string) (*apiserver.Resolved, error) {
	host = strings.ToLower(host)
	required := apiserver.Errorf(apiserver.ErrTenantRequired, "Name the tenant with the X-Kommerce-Tenant header.")
	if host == "" {
		return nil, required
	}
	r, err := h.Tenants.TenantByHost(ctx, host)
	if apiserver.ErrorCode(err) == apiserver.ErrUnknownTenant {
		if name, _, splitErr := net.SplitHostPort(host); splitErr == nil {
			r, err = h.Tenants.TenantByHost(ctx, name)
		}
	}
	if apiserver.ErrorCode(err) == apiserver.ErrUnknownTenant {
		return nil, &apiserver.Error{Code: apiserver.ErrTenantRequired, Field: "X-Kommerce-Tenant", Message: required.Message}
	}
	return r, err
}

// authenticate verifies a bearer token when one is sent. Whether an operation needs
// one, and which role, is the validator's decision, taken from the spec.
func (h *handler) authenticate(c *gin.Context) {
	authz := c.GetHeader("Authorization")
	if authz == "" {
		c.Next()
		return
	}
	scheme, tok, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		h.writeError(c, apiserver.Errorf(apiserver.ErrUnauthenticated, "Send the access token as Authorization: Bearer <token>."))
		return
	}
	p, err := h.Tokens.Verify(c.Request.Context(), strings.TrimSpace(tok))
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Request = c.Request.WithContext(apiserver.NewContextWithPrincipal(c.Request.Context(), p))
	c.Next()
}

// rateLimit applies the per-user (or per-address) and per-tenant limits together. A
// failing limiter lets requests through and logs: an outage of Redis must not take
// the shop down with it.
func (h *handler) rateLimit(c *gin.Context) {
	ctx := c.Request.Context()
	t := apiserver.TenantFromContext(ctx)
	subject := "ip:" + c.ClientIP()
	if p := apiserver.PrincipalFromContext(ctx); p != nil {
		subject = "user:" + p.UserID
	}
	keys := []apiserver.RateLimitKey{
		{Key: t.RedisPrefix + "rl:" + subject, Limit: h.UserLimit},
		{Key: t.RedisPrefix + "rl:tenant", Limit: h.TenantLimit},
	}
	res, err := h.Limiter.Allow(ctx, keys)
	if err != nil {
		h.Metrics.RateLimit(metrics.FailedOpen)
		h.warnLimiterFailed(ctx, "rate limiter failed; request let through", err)
		c.Next()
		return
	}
	hd := c.Writer.Header()
	hd["Ratelimit-Limit"] = []string{strconv.Itoa(res.Limit)}
	hd["Ratelimit-Remaining"] = []string{strconv.Itoa(max(res.Remaining, 0))}
	hd["Ratelimit-Reset"] = []string{strconv.Itoa(ceilSeconds(res.ResetAfter))}
	if !res.Allowed {
		h.Metrics.RateLimit(metrics.Limited)
		setRetryAfter(c, res.RetryAfter)
		h.writeError(c, apiserver.Errorf(apiserver.ErrRateLimited, "Too many requests; retry after the time in Retry-After."))
		return
	}
	h.Metrics.RateLimit(metrics.Allowed)
	c.Next()
}

func ceilSeconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

// setRetryAfter tells a refused client when to come back: whole seconds, at least 1.
func setRetryAfter(c *gin.Context, d time.Duration) {
	c.Header("Retry-After", strconv.Itoa(max(ceilSeconds(d), 1)))
}

func (h *handler) noRoute(c *gin.Context) {
	h.writeError(c, apiserver.Errorf(apiserver.ErrNotFound, "No route matches this path."))
}

func (h *handler) noMethod(c *gin.Context) {
	h.writeError(c, apiserver.Errorf(apiserver.ErrMethodNotAllowed, "This path does not accept %s.", c.Request.Method))
}

// LogHandler wraps h so that every record logged with a request's context carries
// its request_id, whichever package logs it.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(requestIDHandler); ok {
		return h
	}
	return requestIDHandler{h}
}

type requestIDHandler struct{ slog.Handler }

func (r requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id := RequestIDFromContext(ctx); id != "" {
		rec.AddAttrs(slog.String("request_id", id))
	}
	return r.Handler.Handle(ctx, rec)
}

func (r requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{r.Handler.WithAttrs(as)}
}

func (r requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{r.Handler.WithGroup(name)}
}
