// Package metrics holds the commerce API's own Prometheus series: the outcomes an SRE
// on call needs and the HTTP request metrics cannot show — a limiter letting requests
// through because Redis failed, a cache that stopped hitting or failed to invalidate,
// checkouts refused for stock, webhooks with bad signatures, recommendations falling
// back to popularity.
//
// Labels are bounded sets (results, error codes, reasons), never tenants, users or
// ids: one API process may serve many tenants, and their names are in the logs.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metrics is safe to use as a nil pointer, which records nothing; the API's packages
// take one so tests and tools that do not scrape need not build it.
type Metrics struct {
	rateLimit    *prometheus.CounterVec
	cache        *prometheus.CounterVec
	cacheWrites  *prometheus.CounterVec
	checkouts    *prometheus.CounterVec
	webhooks     *prometheus.CounterVec
	recs         *prometheus.CounterVec
	expired      prometheus.Counter
	cartsDeleted prometheus.Counter
	serverErrors *prometheus.CounterVec
	loginWaits   prometheus.Counter
}

// Rate limit results.
const (
	Allowed    = "allowed"
	Limited    = "limited"
	FailedOpen = "failed_open"
)

// Cache lookup results.
const (
	Hit   = "hit"
	Miss  = "miss"
	Error = "error"
)

// Cached kinds.
const (
	Product     = "product"
	ProductList = "product_list"
)

// Cache write operations.
const (
	Store      = "store"
	Invalidate = "invalidate"
)

// Checkout results besides error codes.
const (
	Created  = "created"
	Replayed = "replayed"
)

// Webhook results besides error codes.
const (
	Applied   = "applied"
	Duplicate = "duplicate"
	Ignored   = "ignored"
)

// How a server error answered was logged.
const (
	Logged     = "logged"     // a log line was written
	Suppressed = "suppressed" // over the per-code log budget: counted only
)

// New registers the series on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		rateLimit: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommerce_api_rate_limit_checks_total",
			Help: "Rate limit checks by result: allowed, limited (answered 429), or failed_open (the limiter failed and the request was let through).",
		}, []string{"result"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommerce_api_cache_lookups_total",
			Help: "Catalog cache lookups by kind (product, product_list) and result (hit, miss, error; an error reads PostgreSQL instead).",
		}, []string{"kind", "result"}),
		cacheWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommerce_api_cache_write_failures_total",
			Help: "Catalog cache writes that failed, by operation: store (an entry filled after a miss or refreshed after a change) or invalidate (a change's list invalidation, whose failure can serve stale lists until the cache TTL).",
		}, []string{"operation"}),
		checkouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommerce_api_checkouts_total",
			Help: "Checkouts by result: created, replayed (a retry of an Idempotency-Key that placed an order), or the error code answered (e.g. insufficient_stock; a retry of a refused checkout counts under the refusal's code).",
		}, []string{"result"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommerce_api_stripe_webhooks_total",
			Help: "Stripe webhook deliveries by result: applied, duplicate, ignored, or the error code answered (e.g. invalid_signature).",
		}, []string{"result"}),
		recs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommerce_api_recommendations_total",
			Help: "Recommendation answers by source (model, popularity) and fallback reason (empty when a model answered).",
		}, []string{"source", "reason"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kommerce_api_reservations_expired_total",
			Help: "Unpaid orders the background sweep cancelled because their stock reservation expired (those a read released first are not counted).",
		}),
		cartsDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kommerce_api_carts_deleted_total",
			Help: "Abandoned carts the background sweep deleted after their retention.",
		}),
		serverErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommerce_api_server_errors_total",
			Help: "Requests answered with a 5xx, by error code (internal, unavailable, payments_not_configured) and log (logged, or suppressed once the code's log budget was spent: anyone can repeat a request that fails this way, and the logs must not fill with it).",
		}, []string{"code", "log"}),
		loginWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kommerce_api_login_throttled_total",
			Help: "Sign-in attempts refused (429) because their account, known or not, was waiting out a delay after repeated attempts: a rise is password guessing, or someone holding accounts at the delay.",
		}),
	}
	reg.MustRegister(m.rateLimit, m.cache, m.cacheWrites, m.checkouts, m.webhooks, m.recs, m.expired, m.cartsDeleted, m.serverErrors, m.loginWaits)
	return m
}

// RateLimit counts one limiter decision.
func (m *Metrics) RateLimit(result string) {
	if m != nil {
		m.rateLimit.WithLabelValues(result).Inc()
	}
}

// CacheLookup counts one catalog cache lookup of kind.
func (m *Metrics) CacheLookup(kind, result string) {
	if m != nil {
		m.cache.WithLabelValues(kind, result).Inc()
	}
}

// CacheWriteFailed counts a cache store or invalidation that failed.
func (m *Metrics) CacheWriteFailed(operation string) {
	if m != nil {
		m.cacheWrites.WithLabelValues(operation).Inc()
	}
}

// Checkout counts one checkout answer.
func (m *Metrics) Checkout(result string) {
	if m != nil {
		m.checkouts.WithLabelValues(result).Inc()
	}
}

// Webhook counts one Stripe webhook delivery.
func (m *Metrics) Webhook(result string) {
	if m != nil {
		m.webhooks.WithLabelValues(result).Inc()
	}
}

// Recommendation counts one recommendation answer.
func (m *Metrics) Recommendation(source, reason string) {
	if m != nil {
		m.recs.WithLabelValues(source, reason).Inc()
	}
}

// ReservationsExpired counts orders the sweep cancelled.
func (m *Metrics) ReservationsExpired(n int) {
	if m != nil {
		m.expired.Add(float64(n))
	}
}

// CartsDeleted counts carts the sweep deleted.
func (m *Metrics) CartsDeleted(n int64) {
	if m != nil {
		m.cartsDeleted.Add(float64(n))
	}
}

// ServerError counts one 5xx answer and whether its log line was written.
func (m *Metrics) ServerError(code, log string) {
	if m != nil {
		m.serverErrors.WithLabelValues(code, log).Inc()
	}
}

// LoginThrottled counts one sign-in attempt refused for its account's delay.
func (m *Metrics) LoginThrottled() {
	if m != nil {
		m.loginWaits.Inc()
	}
}
