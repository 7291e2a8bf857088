package stack_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
)

func TestRateLimitPerUserAndTenant(t *testing.T) {
	e := startAPI(t, func(o *stack.Options) {
		o.UserLimit = apiserver.RateLimit{Rate: 1, Burst: 3}
		o.TenantLimit = apiserver.RateLimit{Rate: 1, Burst: 5}
	})
	shop := e.tenant("shop")
	e.tenant("other")
	tok := e.user(shop, "jane@shop.test", apiserver.RoleCustomer) // the login is request 1 of this address and of the tenant
	for i := range 2 {
		r := e.do("GET", "/api/v1/categories", "shop", "", nil).want(200, "")
		if r.header.Get("RateLimit-Limit") != "3" || r.header.Get("RateLimit-Remaining") != strconv.Itoa(1-i) || r.header.Get("RateLimit-Reset") == "" {
			t.Fatalf("request %d: RateLimit headers %v", i, r.header)
		}
	}
	r := e.do("GET", "/api/v1/categories", "shop", "", nil).want(429, apiserver.ErrRateLimited)
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 1 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// Another tenant has its own budget.
	e.do("GET", "/api/v1/categories", "other", "", nil).want(200, "")
	// The signed-in user has a budget apart from the address, but the tenant's (5) is
	// shared: 3 requests so far (the denied one consumed nothing), 2 more fill it.
	e.do("GET", "/api/v1/me", "shop", tok, nil).want(200, "")
	e.do("GET", "/api/v1/me", "shop", tok, nil).want(200, "")
	e.do("GET", "/api/v1/me", "shop", tok, nil).want(429, apiserver.ErrRateLimited)
}

func TestHeadersCORSHostAndDocs(t *testing.T) {
	e := startAPI(t, nil)
	shop := e.tenant("shop")
	if err := e.st.Tenants.AddStorefrontHost(context.Background(), apiserver.StorefrontHost{TenantID: shop.ID, Hostname: "shop.example.test",
		CORSOrigins: []string{"https://shop.example.test"}}); err != nil {
		t.Fatal(err)
	}
	other := e.tenant("other")
	if err := e.st.Tenants.AddStorefrontHost(context.Background(), apiserver.StorefrontHost{TenantID: other.ID, Hostname: "shop.example.test"}); apiserver.ErrorCode(err) != apiserver.ErrConflict {
		t.Fatalf("a second tenant took the same host: %v", err)
	}

	r := e.do("GET", "/api/v1/categories", "shop", "", nil, "X-Request-Id", "trace-123").want(200, "")
	for h, want := range map[string]string{
		"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Request-Id": "trace-123",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if r.header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent over plain HTTP")
	}
	r = e.do("GET", "/api/v1/categories", "shop", "", nil, "X-Forwarded-Proto", "https", "X-Request-Id", "bad id with spaces")
	if !strings.HasPrefix(r.header.Get("Strict-Transport-Security"), "max-age=") {
		t.Error("no HSTS behind TLS")
	}
	if id := r.header.Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Errorf("unsafe request id echoed: %q", id)
	}

	// The Host of a storefront names the tenant; CORS follows that tenant's origins.
	r = e.do("GET", "/api/v1/categories", "", "", nil, "Host", "shop.example.test", "Origin", "https://shop.example.test").want(200, "")
	if r.header.Get("Access-Control-Allow-Origin") != "https://shop.example.test" {
		t.Errorf("allowed origin not echoed: %v", r.header)
	}
	r = e.do("GET", "/api/v1/categories", "", "", nil, "Host", "shop.example.test:8443", "Origin", "https://evil.test").want(200, "")
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("foreign origin allowed")
	}
	e.do("GET", "/api/v1/categories", "", "", nil, "Host", "unknown.example.test").want(400, apiserver.ErrTenantRequired)

	pre := func(origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", e.base+"/api/v1/products", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, x-kommerce-tenant")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := pre("https://shop.example.test"); res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "https://shop.example.test" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "X-Kommerce-Tenant") {
		t.Errorf("preflight of an allowed origin: %d %v", res.StatusCode, res.Header)
	}
	if res := pre("https://evil.test"); res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight of a foreign origin allowed: %v", res.Header)
	}

	// Spec and Swagger UI.
	res, err := http.Get(e.base + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(string(spec), "openapi: 3") {
		t.Fatalf("/openapi.yaml: %d", res.StatusCode)
	}
	for path, want := range map[string]string{"/docs": "swagger-ui-bundle.js", "/docs/swagger-ui-bundle.js": "SwaggerUIBundle", "/docs/init.js": "/openapi.yaml"} {
		res, err := http.Get(e.base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d, lacks %q", path, res.StatusCode, want)
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
	}
	if res, _ := http.Get(e.base + "/docs/../../etc/passwd"); res.StatusCode != 404 {
		t.Errorf("docs path traversal: %d", res.StatusCode)
	}
}

func TestMetricsUseRoutePatterns(t *testing.T) {
	e := startAPI(t, nil)
	e.tenant("shop")
	e.do("GET", "/api/v1/products/00000000-0000-4000-8000-000000000000", "shop", "", nil).want(404, apiserver.ErrNotFound)
	res, err := http.Get(e.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `route="/api/v1/products/:id"`) || strings.Contains(string(body), "00000000-0000") {
		t.Fatalf("metrics lack the route pattern or carry raw ids:\n%s", grep(string(body), "kommerce_http_requests_total"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestInProcessCacheAndLimiter runs without Redis (KOMMERCE_REDIS_URL unset): the
// in-memory cache must not serve stale reads and the in-memory limiter must limit.
func TestInProcessCacheAndLimiter(t *testing.T) {
	e := startAPI(t, func(o *stack.Options) {
		o.Redis = nil
		o.UserLimit = apiserver.RateLimit{Rate: 1, Burst: 6}
	})
	shop := e.tenant("shop")
	admin := e.user(shop, "admin@shop.test", apiserver.RoleAdmin)
	id := e.do("POST", "/api/v1/products", "shop", admin, product("Before", "S-1", "published", nil)).want(201, "").str("id")
	e.do("GET", "/api/v1/products/"+id, "shop", admin, nil).want(200, "")
	e.do("PATCH", "/api/v1/products/"+id, "shop", admin, map[string]string{"name": "After"}).want(200, "")
	if r := e.do("GET", "/api/v1/products/"+id, "shop", admin, nil).want(200, ""); r.json["name"] != "After" {
		t.Fatalf("stale read from the in-process cache: %s", r.raw)
	}
	e.do("GET", "/api/v1/products/"+id, "shop", admin, nil).want(200, "")
	e.do("GET", "/api/v1/products/"+id, "shop", admin, nil).want(200, "") // 6th request of this user: the burst
	e.do("GET", "/api/v1/products/"+id, "shop", admin, nil).want(429, apiserver.ErrRateLimited)
}

// TestRequestIDInLogsAndPinnedTenant: a server error is logged once with the request's
// id; a pod pinned to one tenant answers for it without a header and for no other.
func TestRequestIDInLogsAndPinnedTenant(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	e := startAPI(t, func(o *stack.Options) {
		o.Tenant = "shop"
		o.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))
	})
	e.tenant("shop")
	e.tenant("other")
	e.do("GET", "/api/v1/categories", "", "", nil).want(200, "")
	e.do("GET", "/api/v1/categories", "shop", "", nil).want(200, "")
	e.do("GET", "/api/v1/categories", "other", "", nil).want(404, apiserver.ErrUnknownTenant)
	// Break the database under the server: the next read is a 500, logged with its id.
	e.db.Pool.Close()
	r := e.do("GET", "/api/v1/categories", "", "", nil, "X-Request-Id", "req-broken-db").want(500, apiserver.ErrInternal)
	if strings.Contains(string(r.raw), "closed") || strings.Contains(string(r.raw), "pool") {
		t.Fatalf("internal details reached the client: %s", r.raw)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), `"request_id":"req-broken-db"`); n != 1 {
		t.Fatalf("want one log line with the request id, got %d:\n%s", n, logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestRedisOutageDegrades: with Redis unreachable the API keeps answering from
// PostgreSQL, unlimited, instead of failing.
func TestRedisOutageDegrades(t *testing.T) {
	dead := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, DialerRetries: 1, MaxRetries: -1})
	t.Cleanup(func() { _ = dead.Close() })
	e := startAPI(t, func(o *stack.Options) { o.Redis = dead })
	shop := e.tenant("shop")
	admin := e.user(shop, "admin@shop.test", apiserver.RoleAdmin)
	id := e.do("POST", "/api/v1/products", "shop", admin, product("Still works", "R-1", "published", nil)).want(201, "").str("id")
	e.do("PATCH", "/api/v1/products/"+id, "shop", admin, map[string]string{"name": "Changed"}).want(200, "")
	if r := e.do("GET", "/api/v1/products/"+id, "shop", "", nil).want(200, ""); r.json["name"] != "Changed" {
		t.Fatalf("read during the outage: %s", r.raw)
	}
	e.do("GET", "/api/v1/products?limit=5", "shop", "", nil).want(200, "")
}
