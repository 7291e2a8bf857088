package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/config"
	"github.com/kommerce/kommerce/internal/server"
	"github.com/kommerce/kommerce/internal/sfsettings"
	"github.com/kommerce/kommerce/internal/tracing"
	"github.com/kommerce/kommerce/internal/webhook"
)

// apiConfig is the settings of `kommerce api`.
type apiConfig struct {
	serverConfig
	limits        limitsConfig
	databaseURL   string
	redisURL      string
	issuer        string
	audience      string
	accessTTL     time.Duration
	refreshTTL    time.Duration
	keysDir       string
	tenant        string
	maxBody       int
	webhookRate   int
	webhookBurst  int
	registerRate  int
	registerEmail int
	loginFree     int
	loginDelay    time.Duration
	loginMaxDelay time.Duration
	loginForget   time.Duration
	cacheTTL      time.Duration
	secretsKey    string
	storefront    string
}

func positive(v string) error {
	var n int
	if _, err := fmt.Sscan(v, &n); err != nil || n < 1 {
		return fmt.Errorf("want a whole number of at least 1")
	}
	return nil
}

func runAPI(ctx context.Context, e *env) error {
	set := config.NewSet("api", `Serve the commerce REST API under /api/v1, its OpenAPI document at /openapi.yaml and
Swagger UI at /docs, with /healthz, /readyz and /metrics.
/readyz answers 200 only while PostgreSQL, the search engine (and Redis and Kafka, when
configured) answer, and, with --storefront-settings, once a valid settings document is loaded.`, e.getenv)
	var c apiConfig
	c.register(set, defaultAPIAddr)
	databaseURLFlag(set, &c.databaseURL)
	set.String(&c.redisURL, "redis-url", "KOMMERCE_REDIS_URL", "", "Redis URL; unset means in-process cache and limiter (single replica only)",
		config.Secret(), config.Check(config.URL(true, "redis", "rediss")))
	set.String(&c.issuer, "jwt-issuer", "KOMMERCE_JWT_ISSUER", apiserver.DefaultIssuer, "iss of the access tokens this API issues and accepts")
	set.String(&c.audience, "jwt-audience", "KOMMERCE_JWT_AUDIENCE", apiserver.DefaultAudience, "aud of the access tokens this API issues and accepts")
	set.Duration(&c.accessTTL, "access-token-ttl", "KOMMERCE_ACCESS_TOKEN_TTL", apiserver.DefaultAccessTokenTTL, "lifetime of access tokens")
	set.Duration(&c.refreshTTL, "refresh-token-ttl", "KOMMERCE_REFRESH_TOKEN_TTL", apiserver.DefaultRefreshTokenTTL, "lifetime of refresh tokens")
	set.String(&c.keysDir, "tenant-keys-dir", "KOMMERCE_TENANT_KEYS_DIR", "", "directory with one folder per tenant holding its kommerce-identity Secret (tenant-id, jwt-key-id, jwt-signing-key); keys not found there come from the database")
	set.String(&c.tenant, "tenant", "KOMMERCE_TENANT", "", "serve only this tenant slug (a pod of one storefront); unset serves every tenant")
	set.Int(&c.maxBody, "max-body-bytes", "KOMMERCE_MAX_BODY_BYTES", apiserver.DefaultMaxBodyBytes, "largest request body accepted (413 above)", config.Check(positive))
	c.limits.register(set)
	set.Int(&c.webhookRate, "webhook-rate", "KOMMERCE_WEBHOOK_RATE", apiserver.DefaultWebhookLimit.Rate, "Stripe webhook deliveries per second allowed per client address when they are addressed to no tenant (no storefront host, no X-Kommerce-Tenant), in each process (429 above; Stripe retries later)", config.Check(positive))
	set.Int(&c.webhookBurst, "webhook-burst", "KOMMERCE_WEBHOOK_BURST", apiserver.DefaultWebhookLimit.Burst, "burst of unaddressed Stripe webhook deliveries allowed per client address", config.Check(positive))
	set.Int(&c.registerRate, "register-rate", "KOMMERCE_REGISTER_RATE", apiserver.DefaultRegisterAddressLimit.Rate, "registrations per hour allowed per client address (also the burst; 429 above)", config.Check(positive))
	set.Int(&c.registerEmail, "register-email-rate", "KOMMERCE_REGISTER_EMAIL_RATE", apiserver.DefaultRegisterEmailLimit.Rate, "registrations per hour allowed per e-mail address (also the burst; 429 above)", config.Check(positive))
	set.Int(&c.loginFree, "login-free-attempts", "KOMMERCE_LOGIN_FREE_ATTEMPTS", apiserver.DefaultLoginPolicy.Free, "sign-in attempts per e-mail address (account or not) answered at once; from this one on, each makes the next wait (429 with Retry-After meanwhile, even for the right password)", config.Check(positive))
	set.Duration(&c.loginDelay, "login-delay", "KOMMERCE_LOGIN_DELAY", apiserver.DefaultLoginPolicy.Delay, "first wait after --login-free-attempts attempts; doubled by each further attempt (0 turns the per-account throttle off)")
	set.Duration(&c.loginMaxDelay, "login-max-delay", "KOMMERCE_LOGIN_MAX_DELAY", apiserver.DefaultLoginPolicy.Max, "longest wait between sign-in attempts for one e-mail address")
	set.Duration(&c.loginForget, "login-forget", "KOMMERCE_LOGIN_FORGET", apiserver.DefaultLoginPolicy.Forget, "an e-mail address's attempts are forgotten this long after its last wait ends (a successful sign-in forgets them at once)")
	set.Duration(&c.cacheTTL, "cache-ttl", "KOMMERCE_CACHE_TTL", apiserver.DefaultCacheTTL, "how long product reads stay cached (writes refresh them at once)")
	secretsKeyFlag(set, &c.secretsKey, "unset stores them in plaintext, and the API refuses to start if the database holds sealed ones")
	var whLoopback, whPrivate bool // the webhook registration's SSRF guard (backoffice.go)
	webhookGuardFlags(set, &whLoopback, &whPrivate)
	set.String(&c.storefront, "storefront-settings", "KOMMERCE_STOREFRONT_SETTINGS", "",
		"settings document of the one storefront this API serves (the storefront.json of the ConfigMap the operator renders from a Storefront; docs/storefront-settings.md): every request is served as its tenant's storefront, with its search, checkout, reservation and CORS settings winning over the database's, re-read within about a second of a change; unset serves every storefront from the database")
	var dc discoveryConfig // search, behaviour events, recommendations (discovery.go)
	dc.register(set, "comma-separated Kafka brokers for behaviour events and recommendation exposures; unset means POST /api/v1/events answers 503")
	var cc commerceConfig // inventory, checkout, fraud (commerce.go)
	cc.register(set)
	var pc paymentConfig // Stripe payments (payments.go)
	pc.register(set)
	var jc jobsMediaConfig // imports, exports, product media (backoffice_jobs.go)
	jc.register(set, "unset uses <data-dir>/media, which serves one replica only (several replicas need --s3-endpoint)")
	if _, err := set.Parse(e.args, e.stdout); err != nil {
		return err
	}
	if c.tenant != "" && !apiserver.ValidSlug(c.tenant) {
		return config.Usagef("invalid --tenant / KOMMERCE_TENANT %q: want a tenant slug", c.tenant)
	}
	if c.storefront != "" && dc.searchSettings != "" {
		return config.Usagef("--storefront-settings / KOMMERCE_STOREFRONT_SETTINGS and --search-settings / KOMMERCE_SEARCH_SETTINGS both give search settings: give one (a pod of one storefront takes them from its storefront settings)")
	}
	commerce, err := cc.options(ctx)
	if err != nil {
		return err
	}
	log := c.logger(e.stderr)
	opts := c.options("api", log)
	stopProfiling, err := c.startProfiling(log)
	if err != nil {
		return err
	}
	defer stopProfiling()
	sf, err := c.openStorefront(log, opts.Registry)
	if err != nil {
		return err
	}

	tp, stopTracing, err := startTracing(e, "api", log)
	if err != nil {
		return err
	}
	defer stopTracing()
	if err := tp.Register(opts.Registry); err != nil {
		return err
	}
	pool, err := tracing.NewPool(ctx, c.databaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	box, err := loadSecretsKey(c.secretsKey, "")
	if err != nil {
		return err
	}
	if err := sealStoredSecrets(ctx, pool, box, "", log); err != nil {
		return err
	}
	opts.Checks = append(opts.Checks, pingCheck("postgres", pool.Ping))
	var rdb *redis.Client
	if c.redisURL != "" {
		ro, err := redis.ParseURL(c.redisURL)
		if err != nil {
			return config.Usagef("invalid --redis-url / KOMMERCE_REDIS_URL: %v", err)
		}
		// Redis is a cache and a limiter: when it stalls, requests should fall back
		// quickly rather than wait out go-redis's multi-second defaults.
		if !strings.Contains(c.redisURL, "dial_timeout") {
			ro.DialTimeout = time.Second
			ro.DialerRetries = 1
		}
		if !strings.Contains(c.redisURL, "read_timeout") {
			ro.ReadTimeout = 500 * time.Millisecond
		}
		if !strings.Contains(c.redisURL, "write_timeout") {
			ro.WriteTimeout = 500 * time.Millisecond
		}
		rdb = redis.NewClient(ro)
		defer rdb.Close()
		if tracing.Enabled() {
			rdb.AddHook(tracing.RedisHook{})
		}
		opts.Checks = append(opts.Checks, pingCheck("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() }))
	}
	so := stack.Options{
		Pool: pool, Logger: log, Registry: opts.Registry, Issuer: c.issuer, Audience: c.audience, AccessTTL: c.accessTTL, RefreshTTL: c.refreshTTL,
		KeysDir: c.keysDir, Secrets: box, Tenant: c.tenant, MaxBodyBytes: int64(c.maxBody),
		WebhookLimit:         apiserver.RateLimit{Rate: c.webhookRate, Burst: c.webhookBurst},
		RegisterAddressLimit: apiserver.RateLimit{Rate: c.registerRate, Burst: c.registerRate, Period: time.Hour},
		RegisterEmailLimit:   apiserver.RateLimit{Rate: c.registerEmail, Burst: c.registerEmail, Period: time.Hour},
		CacheTTL:             c.cacheTTL,
		LoginPolicy:          apiserver.LoginPolicy{Free: c.loginFree, Delay: c.loginDelay, Max: c.loginMaxDelay, Forget: c.loginForget},
		WebhookGuard:         webhook.Guard{AllowLoopback: whLoopback, AllowPrivate: whPrivate},
	}
	if rdb != nil {
		so.Redis = rdb
	}
	if sf != nil {
		so.Storefront = sf
		opts.Checks = append(opts.Checks, server.Check{Name: "storefront-settings", Fn: sf.Check})
		go sf.Watch(ctx, sfsettings.PollInterval)
	}
	c.limits.apply(&so)
	parts := discoveryParts{brokers: splitBrokers(dc.brokers)}
	if parts.backend, err = dc.search.open(); err != nil {
		return err
	}
	defer parts.backend.Close()
	disc, checks, closeDisc, err := dc.options(ctx, log, parts, nil)
	if err != nil {
		return err
	}
	defer closeDisc()
	so.Discovery = disc
	so.Commerce = commerce
	so.Commerce.Payments = pc.options()
	opts.Checks = append(opts.Checks, checks...)
	jm, where, err := jc.options(ctx, filepath.Join(dc.search.dataDir, "media"))
	if err != nil {
		return err
	}
	so.JobsMedia = jm
	logObjectStore(log, where)
	st, err := stack.New(so)
	if err != nil {
		return err
	}
	opts.Handler = st.Handler
	go st.Sweep(ctx, cc.sweepInterval, log)
	go st.RunBackOffice(ctx, log)
	return server.New(opts).Run(ctx)
}

// openStorefront loads --storefront-settings (nil when unset). An invalid document,
// or one of another tenant than --tenant, stops the start: the pod would serve the
// wrong settings or the wrong shop.
func (c *apiConfig) openStorefront(log *slog.Logger, reg prometheus.Registerer) (*sfsettings.Store, error) {
	if c.storefront == "" {
		return nil, nil
	}
	sf, err := sfsettings.Open(c.storefront, log, reg)
	if err != nil {
		return nil, config.Usagef("invalid --storefront-settings / KOMMERCE_STOREFRONT_SETTINGS: %v", err)
	}
	if c.tenant != "" && c.tenant != sf.Tenant() {
		return nil, config.Usagef("--tenant / KOMMERCE_TENANT is %q but --storefront-settings / KOMMERCE_STOREFRONT_SETTINGS is for tenant %q (storefront %q): they must name the same tenant",
			c.tenant, sf.Tenant(), sf.Storefront())
	}
	return sf, nil
}
