// Command securitycheck replays the attacks of the second security round (issue 16)
// against a running `kommerce api`, black box, over HTTP only: each attack is sent as
// an attacker would send it and the answer is compared with what docs/security.md
// promises. It prints one PASS or FAIL line per attack with what it saw, then
// "N passed, N failed", and exits 1 if any attack failed. hack/e2e/security.sh starts
// the server and its two tenants and runs it.
//
// The server must trust the checker as a proxy (--trusted-proxies 127.0.0.1): the
// hoarding attack names its clients' addresses in X-Forwarded-For, so that the
// attacker and an honest shopper are different clients, as behind a real proxy.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	var c checker
	flag.StringVar(&c.base, "base", "", "base URL of the running API, e.g. http://127.0.0.1:8080")
	flag.StringVar(&c.tenantA, "tenant-a", "", "slug of the attacked tenant (seeded, no Stripe keys)")
	flag.StringVar(&c.tenantB, "tenant-b", "", "slug of a second tenant, for cross-tenant attacks")
	flag.StringVar(&c.adminPassword, "admin-password", "", "password of admin@<slug>.test in both tenants")
	flag.StringVar(&c.logPath, "server-log", "", "the server's log file, to count ERROR lines")
	flag.StringVar(&c.dbURL, "database-url", "", "if set, the database is checked for sealed signing keys (psql)")
	flag.Parse()
	if c.base == "" || c.tenantA == "" || c.tenantB == "" || c.adminPassword == "" || c.logPath == "" {
		fmt.Fprintln(os.Stderr, "securitycheck: -base, -tenant-a, -tenant-b, -admin-password and -server-log are required")
		os.Exit(2)
	}
	os.Exit(c.run(context.Background()))
}

// attack is one replayed attack: it returns nil when the server defended, or an
// error describing what it saw instead.
type attack struct {
	name string
	run  func(ctx context.Context, c *checker) (saw string, err error)
}

var attacks = []attack{
	{"cross-tenant: a token of tenant A is refused by tenant B", crossTenantToken},
	{"cross-tenant: a cart and an order of tenant A are 404 from tenant B", crossTenantObjects},
	{"finding 1: checkout replay without, with a wrong cart token, or as another customer is 404", checkoutReplayForeign},
	{"finding 2: the same Idempotency-Key on another cart is 422 idempotency_key_reused", idempotencyKeyOtherCart},
	{"finding 3: one client cannot hold more stock than the hoarding policy allows; an honest buyer still buys, nothing oversells", inventoryHoarding},
	{"finding 4: per-account login throttle, unknown e-mails alike", loginThrottle},
	{"finding 5: weak passwords are refused at registration", weakPasswords},
	{"finding 6: registration answers a free and a taken e-mail alike", registrationEnumeration},
	{"finding 7: concurrent opposite category moves never 500", categoryMoveRace},
	{"finding 8: invalid UTF-8 and lone surrogates are 400 naming the field, nothing stored", badUnicode},
	{"finding 9: a 1 MiB event body is 413", eventsBodyCap},
	{"finding 10: signing keys are sealed at rest", sealedSigningKeys},
	{"finding 11: anonymous payment calls on a shop without Stripe keys write no ERROR lines", paymentLogFlood},
}

type checker struct {
	base, tenantA, tenantB string
	adminPassword, logPath string
	dbURL                  string
	client                 *http.Client
	pace                   chan struct{}
	adminA, adminB         string // access tokens
	sku                    string // a SKU of tenant A with stock
	hoardSKU               string // another SKU of tenant A, for the hoarding attack alone
	seq                    int
}

func (c *checker) run(ctx context.Context) int {
	c.client = &http.Client{Timeout: 60 * time.Second}
	// The API allows 20 requests a second per client address (burst 40) and every
	// attack comes from one address: pace to stay under it, so that a 429 seen by an
	// attack is the defence under test and not the address limit.
	c.pace = make(chan struct{}, 20)
	for range cap(c.pace) {
		c.pace <- struct{}{}
	}
	go func() {
		for range time.Tick(70 * time.Millisecond) {
			select {
			case c.pace <- struct{}{}:
			default:
			}
		}
	}()
	if err := c.setup(ctx); err != nil {
		fmt.Printf("FAIL setup: %v\n", err)
		fmt.Println("0 passed, 1 failed")
		return 1
	}
	passed, failed := 0, 0
	for _, a := range attacks {
		saw, err := a.run(ctx, c)
		if err != nil {
			failed++
			fmt.Printf("FAIL %s: %v\n", a.name, err)
			continue
		}
		passed++
		fmt.Printf("PASS %s: %s\n", a.name, saw)
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// setup signs in as both tenants' admins and finds a SKU of tenant A that can be bought.
func (c *checker) setup(ctx context.Context) error {
	var err error
	if c.adminA, err = c.login(ctx, c.tenantA, "admin@"+c.tenantA+".test", c.adminPassword); err != nil {
		return err
	}
	if c.adminB, err = c.login(ctx, c.tenantB, "admin@"+c.tenantB+".test", c.adminPassword); err != nil {
		return err
	}
	r := c.do(ctx, req{method: "GET", path: "/api/v1/products?limit=50", tenant: c.tenantA})
	var page struct {
		Items []struct {
			Variants []struct {
				SKU string `json:"sku"`
			} `json:"variants"`
		} `json:"items"`
	}
	if err := r.decode(200, &page); err != nil {
		return fmt.Errorf("listing products: %w", err)
	}
	if len(page.Items) == 0 || len(page.Items[0].Variants) == 0 {
		return fmt.Errorf("tenant %s lists no product with a variant: %s", c.tenantA, r)
	}
	// Plenty of stock, so that the orders the attacks place never run out of it.
	c.sku = page.Items[0].Variants[0].SKU
	for _, p := range page.Items[1:] {
		if len(p.Variants) > 0 && c.hoardSKU == "" {
			c.hoardSKU = p.Variants[0].SKU
		}
	}
	if c.hoardSKU == "" {
		return fmt.Errorf("tenant %s lists no second product with a variant: %s", c.tenantA, r)
	}
	r = c.do(ctx, req{method: "PUT", path: "/api/v1/stock/" + c.sku, tenant: c.tenantA, bearer: c.adminA,
		body: map[string]any{"warehouse": "main", "on_hand": 1000000}})
	if err := r.want(200, ""); err != nil {
		return fmt.Errorf("stocking %s: %w", c.sku, err)
	}
	cart, token, err := c.guestCart(ctx)
	if err != nil {
		return err
	}
	if err := c.addItem(ctx, cart, token, c.sku, 1).want(201, ""); err != nil {
		return fmt.Errorf("adding %s to a cart: %w", c.sku, err)
	}
	return nil
}

// req is one HTTP request; body is marshalled as JSON unless it is []byte.
type req struct {
	method, path, tenant string
	bearer, cartToken    string
	idempotencyKey       string
	forwardedFor         string // the client address a proxy would name
	body                 any
	noRetry              bool // a 429 is the answer under test
}

type resp struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (r resp) String() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	b := string(r.body)
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Sprintf("%d %s", r.status, strings.TrimSpace(b))
}

// code is the error code of an error body.
func (r resp) code() string {
	var e struct {
		Error struct {
			Code  string `json:"code"`
			Field string `json:"field"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (r resp) field() string {
	var e struct {
		Error struct {
			Field string `json:"field"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Field
}

func (r resp) decode(status int, v any) error {
	if r.status != status {
		return fmt.Errorf("want %d, got %s", status, r)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("decoding %s: %w", r, err)
	}
	return nil
}

func (r resp) want(status int, code string) error {
	if r.status != status || (code != "" && r.code() != code) {
		return fmt.Errorf("want %d %s, got %s", status, code, r)
	}
	return nil
}

func (c *checker) do(ctx context.Context, q req) resp {
	var body []byte
	switch b := q.body.(type) {
	case nil:
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			return resp{err: err}
		}
	}
	// A 429 from the per-address limit is waited out (Retry-After, at most 10 times):
	// it is not what these attacks test, except where noRetry says so.
	for attempt := 0; ; attempt++ {
		<-c.pace
		hr, err := http.NewRequestWithContext(ctx, q.method, c.base+q.path, bytes.NewReader(body))
		if err != nil {
			return resp{err: err}
		}
		if body != nil {
			hr.Header.Set("Content-Type", "application/json")
		}
		hr.Header.Set("X-Kommerce-Tenant", q.tenant)
		if q.bearer != "" {
			hr.Header.Set("Authorization", "Bearer "+q.bearer)
		}
		if q.cartToken != "" {
			hr.Header.Set("X-Cart-Token", q.cartToken)
		}
		if q.idempotencyKey != "" {
			hr.Header.Set("Idempotency-Key", q.idempotencyKey)
		}
		if q.forwardedFor != "" {
			hr.Header.Set("X-Forwarded-For", q.forwardedFor)
		}
		res, err := c.client.Do(hr)
		if err != nil {
			return resp{err: err}
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		r := resp{status: res.StatusCode, header: res.Header, body: b, err: err}
		if r.status != http.StatusTooManyRequests || q.noRetry || attempt >= 10 {
			return r
		}
		wait, _ := strconv.Atoi(res.Header.Get("Retry-After"))
		select {
		case <-ctx.Done():
			return r
		case <-time.After(time.Duration(max(wait, 1)) * time.Second):
		}
	}
}

// unique returns a name no other call of this run returns.
func (c *checker) unique(prefix string) string {
	c.seq++
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", prefix, c.seq, hex.EncodeToString(b))
}

func (c *checker) login(ctx context.Context, tenant, email, password string) (string, error) {
	r := c.do(ctx, req{method: "POST", path: "/api/v1/auth/login", tenant: tenant, body: map[string]string{"email": email, "password": password}})
	var tp struct {
		AccessToken string `json:"access_token"`
	}
	if err := r.decode(200, &tp); err != nil {
		return "", fmt.Errorf("login of %s in %s: %w", email, tenant, err)
	}
	return tp.AccessToken, nil
}

// customer registers a new customer of tenant A and returns its access token.
func (c *checker) customer(ctx context.Context) (string, error) {
	email := c.unique("customer") + "@shopper.test"
	const password = "violet tractor under seven lamps"
	r := c.do(ctx, req{method: "POST", path: "/api/v1/auth/register", tenant: c.tenantA, body: map[string]string{"email": email, "password": password}})
	if err := r.want(202, ""); err != nil {
		return "", fmt.Errorf("registering %s: %w", email, err)
	}
	return c.login(ctx, c.tenantA, email, password)
}

func (c *checker) guestCart(ctx context.Context) (id, token string, err error) {
	r := c.do(ctx, req{method: "POST", path: "/api/v1/carts", tenant: c.tenantA})
	var cart struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	if err := r.decode(201, &cart); err != nil {
		return "", "", fmt.Errorf("creating a guest cart: %w", err)
	}
	return cart.ID, cart.Token, nil
}

func (c *checker) addItem(ctx context.Context, cart, token, sku string, qty int) resp {
	return c.do(ctx, req{method: "POST", path: "/api/v1/carts/" + cart + "/items", tenant: c.tenantA, cartToken: token,
		body: map[string]any{"sku": sku, "quantity": qty}})
}

// guestOrder fills a new guest cart with one unit and checks it out with key.
func (c *checker) guestOrder(ctx context.Context, key string, body any) (cart, token, order string, err error) {
	if cart, token, err = c.guestCart(ctx); err != nil {
		return "", "", "", err
	}
	if err := c.addItem(ctx, cart, token, c.sku, 1).want(201, ""); err != nil {
		return "", "", "", fmt.Errorf("adding %s: %w", c.sku, err)
	}
	r := c.checkout(ctx, cart, token, "", key, body)
	var o struct {
		ID string `json:"id"`
	}
	if err := r.decode(201, &o); err != nil {
		return "", "", "", fmt.Errorf("checkout: %w", err)
	}
	return cart, token, o.ID, nil
}

func (c *checker) checkout(ctx context.Context, cart, token, bearer, key string, body any) resp {
	return c.do(ctx, req{method: "POST", path: "/api/v1/carts/" + cart + "/checkout", tenant: c.tenantA,
		cartToken: token, bearer: bearer, idempotencyKey: key, body: body})
}

func crossTenantToken(ctx context.Context, c *checker) (string, error) {
	r := c.do(ctx, req{method: "GET", path: "/api/v1/me", tenant: c.tenantB, bearer: c.adminA})
	if err := r.want(401, "invalid_token"); err != nil {
		return "", fmt.Errorf("GET /api/v1/me in %s with %s's admin token: %w", c.tenantB, c.tenantA, err)
	}
	r = c.do(ctx, req{method: "POST", path: "/api/v1/categories", tenant: c.tenantB, bearer: c.adminA,
		body: map[string]string{"slug": c.unique("x"), "name": "cross"}})
	if err := r.want(401, "invalid_token"); err != nil {
		return "", fmt.Errorf("POST /api/v1/categories in %s with %s's admin token: %w", c.tenantB, c.tenantA, err)
	}
	return "401 invalid_token for GET /me and POST /categories", nil
}

func crossTenantObjects(ctx context.Context, c *checker) (string, error) {
	cart, token, order, err := c.guestOrder(ctx, c.unique("key"), map[string]string{"email": "guest@shopper.test"})
	if err != nil {
		return "", err
	}
	checks := []struct {
		what string
		q    req
	}{
		{"the cart with its token", req{method: "GET", path: "/api/v1/carts/" + cart, tenant: c.tenantB, cartToken: token}},
		{"the order as tenant B's admin", req{method: "GET", path: "/api/v1/orders/" + order, tenant: c.tenantB, bearer: c.adminB}},
		{"the order with the cart token", req{method: "GET", path: "/api/v1/orders/" + order, tenant: c.tenantB, cartToken: token}},
	}
	for _, ch := range checks {
		if err := c.do(ctx, ch.q).want(404, "not_found"); err != nil {
			return "", fmt.Errorf("%s from %s: %w", ch.what, c.tenantB, err)
		}
	}
	// The control: tenant A does answer, so the 404s above are isolation.
	if err := c.do(ctx, req{method: "GET", path: "/api/v1/orders/" + order, tenant: c.tenantA, bearer: c.adminA}).want(200, ""); err != nil {
		return "", fmt.Errorf("the order from its own tenant: %w", err)
	}
	return "404 not_found for the cart (with its token) and the order (as B's admin, with the cart token); 200 from A", nil
}

func checkoutReplayForeign(ctx context.Context, c *checker) (string, error) {
	key := c.unique("key")
	body := map[string]any{"email": "victim@shopper.test", "shipping_address": map[string]string{"name": "Victim", "line1": "1 Secret Lane", "country": "DE"}}
	cart, token, order, err := c.guestOrder(ctx, key, body)
	if err != nil {
		return "", err
	}
	other, err := c.customer(ctx)
	if err != nil {
		return "", err
	}
	_, wrongToken, err := c.guestCart(ctx)
	if err != nil {
		return "", err
	}
	for _, a := range []struct{ who, token, bearer string }{
		{"no cart token", "", ""},
		{"another cart's token", wrongToken, ""},
		{"another customer", "", other},
	} {
		r := c.checkout(ctx, cart, a.token, a.bearer, key, body)
		if err := r.want(404, "not_found"); err != nil {
			return "", fmt.Errorf("replay with %s: %w", a.who, err)
		}
		if strings.Contains(string(r.body), order) || strings.Contains(string(r.body), "Secret Lane") {
			return "", fmt.Errorf("replay with %s shows the order: %s", a.who, r)
		}
	}
	// The owner still gets their own order back: nothing the attacker sent was stored.
	r := c.checkout(ctx, cart, token, "", key, body)
	if !strings.Contains(string(r.body), order) || r.header.Get("Idempotent-Replayed") != "true" {
		return "", fmt.Errorf("the owner's replay: want order %s with Idempotent-Replayed: true, got %s (Idempotent-Replayed %q)", order, r, r.header.Get("Idempotent-Replayed"))
	}
	return "404 not_found without the order for no token, a wrong token and another customer; the owner's replay is the order with Idempotent-Replayed: true", nil
}

func idempotencyKeyOtherCart(ctx context.Context, c *checker) (string, error) {
	key := c.unique("key")
	body := map[string]string{"email": "guest@shopper.test"}
	if _, _, _, err := c.guestOrder(ctx, key, body); err != nil {
		return "", err
	}
	cart2, token2, err := c.guestCart(ctx)
	if err != nil {
		return "", err
	}
	if err := c.addItem(ctx, cart2, token2, c.sku, 1).want(201, ""); err != nil {
		return "", fmt.Errorf("filling the second cart: %w", err)
	}
	if err := c.checkout(ctx, cart2, token2, "", key, body).want(422, "idempotency_key_reused"); err != nil {
		return "", fmt.Errorf("the same key on another cart: %w", err)
	}
	return "422 idempotency_key_reused", nil
}

func loginThrottle(ctx context.Context, c *checker) (string, error) {
	known := c.unique("victim") + "@shopper.test"
	if err := c.do(ctx, req{method: "POST", path: "/api/v1/auth/register", tenant: c.tenantA,
		body: map[string]string{"email": known, "password": "marble canyon whistles at noon"}}).want(202, ""); err != nil {
		return "", fmt.Errorf("registering the victim: %w", err)
	}
	unknown := c.unique("nobody") + "@shopper.test"
	attempt := func(email string, i int) resp {
		return c.do(ctx, req{method: "POST", path: "/api/v1/auth/login", tenant: c.tenantA, noRetry: true,
			body: map[string]string{"email": email, "password": "guess-" + strconv.Itoa(i)}})
	}
	for i := range 5 {
		for _, email := range []string{known, unknown} {
			if err := attempt(email, i).want(401, "invalid_credentials"); err != nil {
				return "", fmt.Errorf("failed sign-in %d of %s: %w", i+1, email, err)
			}
		}
	}
	k, u := attempt(known, 5), attempt(unknown, 5)
	for _, x := range []struct {
		who string
		r   resp
	}{{"the account", k}, {"the unknown e-mail", u}} {
		if err := x.r.want(429, "rate_limited"); err != nil {
			return "", fmt.Errorf("6th sign-in of %s: %w", x.who, err)
		}
		if x.r.header.Get("Retry-After") == "" {
			return "", fmt.Errorf("6th sign-in of %s: 429 without Retry-After", x.who)
		}
	}
	if !bytes.Equal(k.body, u.body) || k.header.Get("Retry-After") != u.header.Get("Retry-After") {
		return "", fmt.Errorf("the throttled answers differ: account %s (Retry-After %s), unknown %s (Retry-After %s)",
			k, k.header.Get("Retry-After"), u, u.header.Get("Retry-After"))
	}
	return fmt.Sprintf("5 x 401 invalid_credentials each, then 429 rate_limited with Retry-After %s and identical bodies for the account and an unknown e-mail", k.header.Get("Retry-After")), nil
}

func weakPasswords(ctx context.Context, c *checker) (string, error) {
	email := c.unique("weak") + "@shopper.test"
	for _, p := range []string{"aaaaaaaaaa", "password12", email, "          "} {
		r := c.do(ctx, req{method: "POST", path: "/api/v1/auth/register", tenant: c.tenantA, body: map[string]string{"email": email, "password": p}})
		if err := r.want(400, "invalid_request"); err != nil || r.field() != "password" {
			return "", fmt.Errorf("password %q: want 400 invalid_request on field password, got %s", p, r)
		}
	}
	return "400 invalid_request on field password for aaaaaaaaaa, password12, the e-mail and ten spaces", nil
}

func registrationEnumeration(ctx context.Context, c *checker) (string, error) {
	email := c.unique("enum") + "@shopper.test"
	register := func(password string) resp {
		return c.do(ctx, req{method: "POST", path: "/api/v1/auth/register", tenant: c.tenantA, body: map[string]string{"email": email, "password": password}})
	}
	free := register("copper lantern drifting east")
	taken := register("seven quiet owls in moss")
	if err := free.want(202, ""); err != nil {
		return "", fmt.Errorf("a free e-mail: %w", err)
	}
	if err := taken.want(202, ""); err != nil {
		return "", fmt.Errorf("a taken e-mail: %w", err)
	}
	if !bytes.Equal(free.body, taken.body) {
		return "", fmt.Errorf("the answers differ: free %s, taken %s", free, taken)
	}
	return fmt.Sprintf("202 twice, identical bodies (%d bytes)", len(free.body)), nil
}

func categoryMoveRace(ctx context.Context, c *checker) (string, error) {
	create := func() (string, error) {
		r := c.do(ctx, req{method: "POST", path: "/api/v1/categories", tenant: c.tenantA, bearer: c.adminA,
			body: map[string]string{"slug": c.unique("race"), "name": "race"}})
		var cat struct {
			ID string `json:"id"`
		}
		if err := r.decode(201, &cat); err != nil {
			return "", fmt.Errorf("creating a category: %w", err)
		}
		return cat.ID, nil
	}
	x, err := create()
	if err != nil {
		return "", err
	}
	y, err := create()
	if err != nil {
		return "", err
	}
	move := func(id string, parent any) resp {
		return c.do(ctx, req{method: "PATCH", path: "/api/v1/categories/" + id, tenant: c.tenantA, bearer: c.adminA,
			body: map[string]any{"parent_id": parent}})
	}
	const trials = 30
	seen := map[int]int{}
	for trial := range trials {
		var wg sync.WaitGroup
		var rx, ry resp
		start := make(chan struct{})
		wg.Go(func() { <-start; rx = move(x, y) })
		wg.Go(func() { <-start; ry = move(y, x) })
		close(start)
		wg.Wait()
		for _, r := range []resp{rx, ry} {
			seen[r.status]++
			if r.status != 200 && r.status != 400 && r.status != 409 {
				return "", fmt.Errorf("trial %d: X under Y and Y under X at once: %s (X: %s; Y: %s)", trial+1, r, rx, ry)
			}
		}
		for _, id := range []string{x, y} {
			if err := move(id, nil).want(200, ""); err != nil {
				return "", fmt.Errorf("trial %d: moving back to the root: %w", trial+1, err)
			}
		}
	}
	if seen[200] == 0 {
		return "", fmt.Errorf("no move of %d trials succeeded (statuses %v): the race was not exercised", trials, seen)
	}
	return fmt.Sprintf("%d trials, statuses %v", trials, seen), nil
}

func badUnicode(ctx context.Context, c *checker) (string, error) {
	for _, v := range []struct{ what, raw string }{
		{"an invalid UTF-8 byte", "caf\xff"},
		{"a lone surrogate", `caf\ud800`},
	} {
		slug := c.unique("bad")
		body := []byte(`{"slug":"` + slug + `","name":"` + v.raw + `"}`)
		r := c.do(ctx, req{method: "POST", path: "/api/v1/categories", tenant: c.tenantA, bearer: c.adminA, body: body})
		if r.status != 400 || r.field() != "name" {
			return "", fmt.Errorf("a category name with %s: want 400 naming the field name, got %s", v.what, r)
		}
		list := c.do(ctx, req{method: "GET", path: "/api/v1/categories", tenant: c.tenantA})
		if list.status != 200 {
			return "", fmt.Errorf("listing categories: %s", list)
		}
		if strings.Contains(string(list.body), slug) {
			return "", fmt.Errorf("a category name with %s: refused but stored (%s is listed)", v.what, slug)
		}
	}
	return "400 on field name for \\xff and \\ud800, neither stored", nil
}

func eventsBodyCap(ctx context.Context, c *checker) (string, error) {
	body := make([]byte, 0, 1<<20)
	body = append(body, `{"type":"search","session_id":"s","query":"`...)
	body = append(body, bytes.Repeat([]byte("a"), 1<<20-len(body)-2)...)
	body = append(body, `"}`...)
	r := c.do(ctx, req{method: "POST", path: "/api/v1/events", tenant: c.tenantA, body: body})
	if err := r.want(413, "payload_too_large"); err != nil {
		return "", fmt.Errorf("POST /api/v1/events with %d bytes: %w", len(body), err)
	}
	return "413 payload_too_large", nil
}

func sealedSigningKeys(ctx context.Context, c *checker) (string, error) {
	if c.dbURL == "" {
		return "", errors.New("no -database-url: the database cannot be checked")
	}
	// This is the one check that reads the database instead of HTTP: what someone with
	// database read access sees. Row-level security hides every row unless the session
	// says it is the platform (as the operator's tools do).
	for _, tenant := range []string{c.tenantA, c.tenantB} {
		out, err := exec.CommandContext(ctx, "psql", "-Atq", c.dbURL, "-c", "SET kommerce.platform = 'on'", "-c",
			"SELECT count(*) FILTER (WHERE substring(k.private_key from 1 for 6) = 'ksec1:'::bytea) || ' ' || count(*)"+
				" FROM signing_keys k JOIN tenants t ON t.id = k.tenant_id WHERE t.slug = '"+tenant+"'").CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("psql: %w: %s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		var sealed, all int
		if _, err := fmt.Sscanf(lines[len(lines)-1], "%d %d", &sealed, &all); err != nil || all == 0 || sealed != all {
			return "", fmt.Errorf("tenant %s: psql said %q (sealed, all signing keys); want all sealed (ksec1:) and at least one", tenant, out)
		}
	}
	return "every signing key of both tenants starts with ksec1: (API run with a key file)", nil
}

var errorLine = regexp.MustCompile(`"level":"ERROR"|level=ERROR`)

func (c *checker) errorLines() (int, error) {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return 0, err
	}
	return len(errorLine.FindAll(b, -1)), nil
}

func paymentLogFlood(ctx context.Context, c *checker) (string, error) {
	_, token, order, err := c.guestOrder(ctx, c.unique("key"), map[string]string{"email": "guest@shopper.test"})
	if err != nil {
		return "", err
	}
	before, err := c.errorLines()
	if err != nil {
		return "", err
	}
	const calls = 50
	for i := range calls {
		r := c.do(ctx, req{method: "POST", path: "/api/v1/orders/" + order + "/payments", tenant: c.tenantA, cartToken: token})
		if err := r.want(503, "payments_not_configured"); err != nil {
			return "", fmt.Errorf("call %d: %w", i+1, err)
		}
	}
	after, err := c.errorLines()
	if err != nil {
		return "", err
	}
	if after != before {
		return "", fmt.Errorf("%d calls wrote %d new ERROR lines to the server log, want 0", calls, after-before)
	}
	m := c.do(ctx, req{method: "GET", path: "/metrics", tenant: c.tenantA})
	if m.status != 200 {
		return "", fmt.Errorf("GET /metrics: %s", m)
	}
	var counted float64
	for _, l := range strings.Split(string(m.body), "\n") {
		if strings.HasPrefix(l, "kommerce_api_server_errors_total{") && strings.Contains(l, `code="payments_not_configured"`) {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			counted += v
		}
	}
	if counted < calls {
		return "", fmt.Errorf("kommerce_api_server_errors_total counts %v payments_not_configured answers, want at least %d", counted, calls)
	}
	return fmt.Sprintf("%d x 503 payments_not_configured, 0 new ERROR lines, kommerce_api_server_errors_total counts %v", calls, counted), nil
}
