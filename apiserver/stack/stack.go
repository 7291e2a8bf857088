// Package stack assembles the commerce API from its parts — PostgreSQL services, the
// cache and rate limiter on Redis or in memory, token keys, the HTTP layer — the one
// way `kommerce api`, `kommerce dev`, the black-box tests and the benchmark build it.
package stack

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/cache"
	"github.com/kommerce/kommerce/apiserver/httpapi"
	"github.com/kommerce/kommerce/apiserver/memory"
	"github.com/kommerce/kommerce/apiserver/metrics"
	"github.com/kommerce/kommerce/apiserver/password"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/apiserver/redis"
	"github.com/kommerce/kommerce/apiserver/token"
	"github.com/kommerce/kommerce/internal/secretbox"
	"github.com/kommerce/kommerce/internal/sfsettings"
)

// Options configures the API. Zero values get the defaults of `kommerce api`
// (apiserver.Default*).
type Options struct {
	Pool   *pgxpool.Pool
	Redis  goredis.UniversalClient // nil: in-process cache and limiter (one replica only)
	Logger *slog.Logger
	// Registry receives the API's own metrics (apiserver/metrics); nil records none.
	Registry prometheus.Registerer

	Issuer     string        // default apiserver.DefaultIssuer
	Audience   string        // default apiserver.DefaultAudience
	AccessTTL  time.Duration // default apiserver.DefaultAccessTokenTTL
	RefreshTTL time.Duration // default apiserver.DefaultRefreshTokenTTL
	// KeysDir holds tenants' kommerce-identity Secrets (see token.DirKeys); keys not
	// found there come from the database.
	KeysDir string
	// Secrets seals the signing keys and Stripe secrets stored in PostgreSQL; nil
	// stores them in plaintext (see secretbox).
	Secrets *secretbox.Keyring

	Tenant       string
	MaxBodyBytes int64
	UserLimit    apiserver.RateLimit
	TenantLimit  apiserver.RateLimit
	WebhookLimit apiserver.RateLimit // unaddressed webhook deliveries per client address, in process (httpapi.Config)
	// RegisterAddressLimit and RegisterEmailLimit bound registrations per client
	// address and per e-mail address (httpapi.Config).
	RegisterAddressLimit apiserver.RateLimit
	RegisterEmailLimit   apiserver.RateLimit
	Now                  func() time.Time // clock of the in-process rate limits; time.Now when nil (tests move it)
	CacheTTL             time.Duration    // default apiserver.DefaultCacheTTL
	NoCache              bool             // read every product from PostgreSQL (benchmarks)
	TrustedProxies       []string
	Password             password.Params

	// LoginPolicy throttles sign-in per account (default apiserver.DefaultLoginPolicy),
	// counted in Redis, or in process on Now without it.
	LoginPolicy apiserver.LoginPolicy

	// Storefront, when set, is the settings document of the one storefront this API
	// serves (storefront.go): every request is the document's tenant's (Tenant
	// defaults to it and must match it) and storefront's, and the document's search,
	// checkout and CORS settings are served, live, winning over the database's.
	Storefront *sfsettings.Store

	Commerce  CommerceOptions  // commerce.go: inventory, carts, orders, payments
	Discovery DiscoveryOptions // discovery.go: search, behaviour events, recommendations
}

// Stack is the assembled API.
type Stack struct {
	Handler http.Handler
	DB      *postgres.DB
	Tenants *postgres.TenantService
	Users   *postgres.UserService
	Catalog apiserver.CatalogService
	Keys    *postgres.KeyStore
	Tokens  *token.Service

	guestCartRetention, customerCartRetention time.Duration
	metrics                                   *metrics.Metrics
}

// New builds the API.
func New(o Options) (*Stack, error) {
	if o.Issuer == "" {
		o.Issuer = apiserver.DefaultIssuer
	}
	if o.Audience == "" {
		o.Audience = apiserver.DefaultAudience
	}
	if o.AccessTTL == 0 {
		o.AccessTTL = apiserver.DefaultAccessTokenTTL
	}
	if o.RefreshTTL == 0 {
		o.RefreshTTL = apiserver.DefaultRefreshTokenTTL
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = apiserver.DefaultCacheTTL
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	sf, err := storefrontSource(&o)
	if err != nil {
		return nil, err
	}
	// Services log with the request's context; this adds its request id to their lines.
	o.Logger = slog.New(httpapi.LogHandler(o.Logger.Handler()))
	db := postgres.NewDB(o.Pool)
	keys := &postgres.KeyStore{DB: db, Box: o.Secrets}
	var src token.KeySource = &token.Cached{Source: keys, TTL: time.Minute, MissTTL: 10 * time.Second}
	if o.KeysDir != "" {
		dir, err := token.LoadDir(o.KeysDir, 30*time.Second, o.AccessTTL+time.Minute)
		if err != nil {
			return nil, err
		}
		src = token.Chain{dir, src}
	}
	tokens := &token.Service{Keys: src, Issuer: o.Issuer, Audience: o.Audience, TTL: o.AccessTTL, Leeway: 30 * time.Second}

	var store cache.Store
	var limiter apiserver.RateLimiter
	var logins apiserver.LoginThrottle
	if o.Redis != nil {
		store, limiter, logins = &redis.Store{Client: o.Redis}, &redis.Limiter{Client: o.Redis}, &redis.LoginThrottle{Client: o.Redis}
	} else {
		store, limiter, logins = memory.NewStore(), memory.NewLimiterClock(o.Now), memory.NewLoginThrottle(o.Now)
	}
	if o.NoCache {
		store = nil
	}
	var m *metrics.Metrics
	if o.Registry != nil {
		m = metrics.New(o.Registry)
	}
	tenants := &postgres.TenantService{DB: db}
	users := &postgres.UserService{DB: db, Params: o.Password}
	catalog := &cache.Catalog{CatalogService: &postgres.CatalogService{DB: db}, Store: store, TTL: o.CacheTTL, Logger: o.Logger, Metrics: m}
	h, err := httpapi.New(httpapi.Config{
		Tenants:              &cache.Tenants{TenantService: tenants, TTL: 30 * time.Second, MissTTL: 5 * time.Second},
		Users:                users,
		Auth:                 &postgres.AuthService{DB: db, Signer: tokens, RefreshTTL: o.RefreshTTL},
		Tokens:               tokens,
		Catalog:              catalog,
		Reader:               catalog,
		Limiter:              limiter,
		Logger:               o.Logger,
		Metrics:              m,
		MaxBodyBytes:         o.MaxBodyBytes,
		UserLimit:            o.UserLimit,
		TenantLimit:          o.TenantLimit,
		WebhookLimit:         o.WebhookLimit,
		RegisterAddressLimit: o.RegisterAddressLimit,
		RegisterEmailLimit:   o.RegisterEmailLimit,
		LoginThrottle:        logins,
		LoginPolicy:          o.LoginPolicy,
		Now:                  o.Now,
		Tenant:               o.Tenant,
		TrustedProxies:       o.TrustedProxies,
		Storefront:           sourceOrNil(sf),
		CommerceConfig:       commerce(o, db, sf),
		DiscoveryConfig:      discovery(o, db, sf),
	})
	if err != nil {
		return nil, fmt.Errorf("http api: %w", err)
	}
	st := &Stack{Handler: h, DB: db, Tenants: tenants, Users: users, Catalog: catalog, Keys: keys, Tokens: tokens,
		guestCartRetention: o.Commerce.GuestCartRetention, customerCartRetention: o.Commerce.CustomerCartRetention, metrics: m}
	if st.guestCartRetention <= 0 {
		st.guestCartRetention = apiserver.DefaultGuestCartRetention
	}
	if st.customerCartRetention <= 0 {
		st.customerCartRetention = apiserver.DefaultCustomerCartRetention
	}
	return st, nil
}
