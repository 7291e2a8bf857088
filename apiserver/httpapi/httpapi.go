// Package httpapi is the HTTP layer of the commerce API and the only package that
// imports gin. Routes are listed in routes.go; handlers decode, make one service call
// and encode. Everything that is the same for every request — request ids, security
// headers, body limits, tenant resolution, authentication, rate limits, CORS and
// validation against openapi.yaml (including the role each operation requires) — is
// middleware, so a new handler cannot forget it.
package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/memory"
	"github.com/kommerce/kommerce/apiserver/metrics"
)

// Config is what the HTTP layer needs: the services and the limits.
type Config struct {
	Tenants apiserver.TenantService
	Users   apiserver.UserService
	Auth    apiserver.AuthService
	Tokens  apiserver.TokenSigner
	Catalog apiserver.CatalogService
	Reader  apiserver.CatalogReader
	Limiter apiserver.RateLimiter
	Logger  *slog.Logger
	Metrics *metrics.Metrics // nil records nothing

	// MaxBodyBytes bounds request bodies (default apiserver.DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// UserLimit applies per user (per client address when anonymous), TenantLimit
	// to all requests of a tenant together (defaults apiserver.DefaultUserLimit and
	// DefaultTenantLimit).
	UserLimit   apiserver.RateLimit
	TenantLimit apiserver.RateLimit
	// WebhookLimit applies to Stripe webhook deliveries addressed to no tenant, per
	// client address, in this process (in memory): finding their tenant costs database
	// lookups, and a flood of forged ones must not cost one each; Stripe retries a 429
	// later. Default apiserver.DefaultWebhookLimit.
	WebhookLimit apiserver.RateLimit
	// RegisterAddressLimit and RegisterEmailLimit bound registrations per client
	// address and per e-mail address, on top of UserLimit (defaults
	// apiserver.DefaultRegisterAddressLimit and DefaultRegisterEmailLimit).
	RegisterAddressLimit apiserver.RateLimit
	RegisterEmailLimit   apiserver.RateLimit
	// LoginThrottle keeps the per-account delays of LoginPolicy (in memory on Now
	// when nil; default policy apiserver.DefaultLoginPolicy).
	LoginThrottle apiserver.LoginThrottle
	LoginPolicy   apiserver.LoginPolicy
	// Now is the clock of the WebhookLimit budgets (time.Now when nil), so a test
	// moves past a Retry-After instead of waiting for it.
	Now func() time.Time
	// Tenant, when set, is the only tenant slug this server answers for (a pod serving
	// one storefront); requests naming another tenant get unknown_tenant.
	Tenant string
	// Storefront, when it manages a storefront (a pod serving one from its settings
	// document), gives the CORS origins, in place of the database's storefront hosts.
	Storefront apiserver.StorefrontSource
	// TrustedProxies are the addresses whose X-Forwarded-For is believed when taking
	// the client address for anonymous rate limits; none by default.
	TrustedProxies []string

	CommerceConfig  // routes_commerce.go
	DiscoveryConfig // routes_discovery.go
}

type handler struct {
	Config
	log            *slog.Logger
	validator      *validator
	webhookLimiter *memory.Limiter // WebhookLimit's budgets
	errorLogs      *logBudget      // server error lines per code (errorlog.go)
}

// New returns the API as an http.Handler, to mount under "/" of internal/server.
func New(cfg Config) (http.Handler, error) {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = apiserver.DefaultMaxBodyBytes
	}
	if cfg.UserLimit.Rate == 0 {
		cfg.UserLimit = apiserver.DefaultUserLimit
	}
	if cfg.TenantLimit.Rate == 0 {
		cfg.TenantLimit = apiserver.DefaultTenantLimit
	}
	if cfg.WebhookLimit.Rate == 0 {
		cfg.WebhookLimit = apiserver.DefaultWebhookLimit
	}
	if cfg.RegisterAddressLimit.Rate == 0 {
		cfg.RegisterAddressLimit = apiserver.DefaultRegisterAddressLimit
	}
	if cfg.RegisterEmailLimit.Rate == 0 {
		cfg.RegisterEmailLimit = apiserver.DefaultRegisterEmailLimit
	}
	if cfg.LoginPolicy == (apiserver.LoginPolicy{}) {
		cfg.LoginPolicy = apiserver.DefaultLoginPolicy
	}
	if cfg.LoginThrottle == nil {
		cfg.LoginThrottle = memory.NewLoginThrottle(cfg.Now)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	v, err := newValidator(apiserver.OpenAPISpec)
	if err != nil {
		return nil, err
	}
	v.maxBody = cfg.MaxBodyBytes
	cfg.Logger = slog.New(LogHandler(cfg.Logger.Handler()))
	h := &handler{Config: cfg, log: cfg.Logger, validator: v, webhookLimiter: memory.NewLimiterClock(cfg.Now),
		errorLogs: newLogBudget(cfg.Now)}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.ContextWithFallback = true
	if err := e.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("trusted proxies: %w", err)
	}
	h.routes(e)
	return e, nil
}

// now is the clock of handlers; a variable for nothing but readability.
var now = time.Now
