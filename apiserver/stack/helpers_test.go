package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/password"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/server"
	"github.com/kommerce/kommerce/internal/testenv"
)

// apiEnv is a running API on a real listener over a test database and Redis prefix.
type apiEnv struct {
	t     *testing.T
	base  string
	db    *testenv.Database
	redis *testenv.Redis
	st    *stack.Stack
}

// fast argon2id costs: the tests exercise the flows, not the hash strength.
var fastPasswords = password.Params{Memory: 1024, Time: 1, Threads: 1}

func startAPI(t *testing.T, mod func(*stack.Options)) *apiEnv {
	t.Helper()
	e := &apiEnv{t: t, db: testenv.NewDatabase(t), redis: testenv.NewRedis(t)}
	e.start(mod)
	return e
}

// start builds the stack on e's database and Redis prefix and serves it.
func (e *apiEnv) start(mod func(*stack.Options)) {
	t := e.t
	t.Helper()
	// Registered first, so it runs last: after the server stopped, before the
	// database is dropped.
	t.Cleanup(e.checkOutbox)
	opts := stack.Options{Pool: e.db.Pool, Redis: e.redis.Client, Password: fastPasswords,
		UserLimit: apiserver.RateLimit{Rate: 10000, Burst: 10000}, TenantLimit: apiserver.RateLimit{Rate: 10000, Burst: 10000},
		WebhookLimit: apiserver.RateLimit{Rate: 10000, Burst: 10000}}
	// Tests share one client address and a few e-mail addresses: the hoarding caps
	// are off for them, so their races race for stock and not for one shopper's lock;
	// checkout_hoarding_test.go tests the caps.
	opts.Commerce.Defaults.Hoarding = apiserver.HoardPolicy{MaxUnitsGuest: -1, MaxUnitsCustomer: -1, MaxUnpaid: -1, MaxUnpaidPerAddress: -1}
	if mod != nil {
		mod(&opts)
	}
	st, err := stack.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{Name: "api", Handler: st.Handler, Registry: prometheus.NewRegistry()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	e.st, e.base = st, "http://"+ln.Addr().String()
}

// tenant creates a tenant whose Redis keys live under this test's prefix, with a key.
func (e *apiEnv) tenant(slug string) *apiserver.Tenant {
	e.t.Helper()
	ctx := context.Background()
	t, err := e.st.Tenants.CreateTenant(ctx, apiserver.TenantCreate{Slug: slug, RedisPrefix: e.redis.Prefix + slug + ":",
		TopicPrefix: "test." + slug, IndexPrefix: "test-" + slug})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.Keys.Rotate(ctx, t.ID, time.Hour); err != nil {
		e.t.Fatal(err)
	}
	return t
}

// userPassword is every test user's password: strong enough for the password rules.
const userPassword = "violet harbour lantern"

// user creates a user directly (staff and admins cannot register) and logs in.

func (e *apiEnv) user(t *apiserver.Tenant, email string, role apiserver.Role) string {
	e.t.Helper()
	ctx := apiserver.NewContextWithTenant(context.Background(), t)
	if _, err := e.st.Users.CreateUser(ctx, apiserver.UserCreate{Email: email, Password: userPassword, Role: role}); err != nil {
		e.t.Fatal(err)
	}
	r := e.do("POST", "/api/v1/auth/login", t.Slug, "", map[string]string{"email": email, "password": userPassword})
	r.want(200, "")
	return r.str("access_token")
}

type resp struct {
	t      *testing.T
	status int
	header http.Header
	raw    []byte
	json   map[string]any
	req    string
}

// do sends a request; body is sent as is when it is a string or []byte, as JSON
// otherwise. extra is header name/value pairs.
func (e *apiEnv) do(method, path, tenant, token string, body any, extra ...string) *resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tenant != "" {
		req.Header.Set("X-Kommerce-Tenant", tenant)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i] == "Host" {
			req.Host = extra[i+1]
			continue
		}
		req.Header.Set(extra[i], extra[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := &resp{t: e.t, status: res.StatusCode, header: res.Header, raw: raw, req: method + " " + path}
	_ = json.Unmarshal(raw, &r.json)
	return r
}

// want checks the status and, when code is set, the error code.
func (r *resp) want(status int, code string) *resp {
	r.t.Helper()
	if r.status != status {
		r.t.Fatalf("%s: status %d, want %d; body %s", r.req, r.status, status, r.raw)
	}
	if code != "" && r.code() != code {
		r.t.Fatalf("%s: error code %q, want %q; body %s", r.req, r.code(), code, r.raw)
	}
	return r
}

func (r *resp) code() string {
	e, _ := r.json["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r *resp) field() string {
	e, _ := r.json["error"].(map[string]any)
	f, _ := e["field"].(string)
	return f
}

func (r *resp) str(key string) string {
	s, _ := r.json[key].(string)
	return s
}

// product is a valid create body with one variant.
func product(name, sku string, status apiserver.ProductStatus, extra map[string]any) map[string]any {
	p := map[string]any{"name": name, "status": status, "variants": []any{map[string]any{"sku": sku, "prices": []any{map[string]any{"currency": "EUR", "amount": 1999}}}}}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

// count returns the number of rows of a table across all tenants (platform mode).
func (e *apiEnv) count(table string) int {
	e.t.Helper()
	var n int
	ctx := context.Background()
	tx, err := e.db.Pool.Begin(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
		e.t.Fatal(err)
	}
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}
