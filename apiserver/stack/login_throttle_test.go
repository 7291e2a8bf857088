package stack_test

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/testenv"
)

const throttledSeries = "kommerce_api_login_throttled_total{}"

// login tries a password for an account of shop.
func (e *apiEnv) login(email, pw string) *resp {
	e.t.Helper()
	return e.do("POST", "/api/v1/auth/login", "shop", "", map[string]string{"email": email, "password": pw})
}

// TestLoginThrottleRedis guesses one account's password over the real stack with the
// default policy (5 free failures, then a delay from 1 s doubling per failure), the
// delays kept in Redis: the account is refused with 429 and Retry-After, an unknown
// e-mail is refused the same way, another account is untouched, and once the delay
// has passed the right password signs in and clears the count.
func TestLoginThrottleRedis(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := startAPI(t, func(o *stack.Options) { o.Registry = reg })
	shop := e.tenant("shop")
	e.user(shop, "victim@shop.test", apiserver.RoleCustomer)
	e.user(shop, "bystander@shop.test", apiserver.RoleCustomer)

	for i := range 5 {
		e.login("victim@shop.test", "guess-"+strconv.Itoa(i)).want(401, apiserver.ErrInvalidCredentials)
		e.login("nobody@shop.test", "guess-"+strconv.Itoa(i)).want(401, apiserver.ErrInvalidCredentials)
	}
	known := e.login("victim@shop.test", "guess-5").want(429, apiserver.ErrRateLimited)
	// The address's case and spaces do not make another account.
	unknown := e.login(" NOBODY@shop.test", "guess-5").want(429, apiserver.ErrRateLimited)
	if known.header.Get("Retry-After") == "" || known.header.Get("Retry-After") != unknown.header.Get("Retry-After") {
		t.Fatalf("Retry-After %q for an account, %q for an unknown e-mail; want the same, set", known.header.Get("Retry-After"), unknown.header.Get("Retry-After"))
	}
	if !bytes.Equal(known.raw, unknown.raw) {
		t.Fatalf("throttled answers differ:\naccount %s\nunknown %s", known.raw, unknown.raw)
	}
	// Another account of the same shop, from the same address, is not affected.
	e.login("bystander@shop.test", "password-bystander@shop.test").want(200, "")

	// After the delay the right password works; attempts refused meanwhile did not
	// lengthen it (the poll sends the right password throughout).
	testenv.Eventually(t, 30*time.Second, "login after the delay", func() (bool, string) {
		r := e.login("victim@shop.test", "password-victim@shop.test")
		return r.status == 200, strconv.Itoa(r.status) + " " + string(r.raw)
	})
	// The success cleared the count: five more failures are answered 401.
	for i := range 5 {
		e.login("victim@shop.test", "again-"+strconv.Itoa(i)).want(401, apiserver.ErrInvalidCredentials)
	}
	if got := series(t, reg)[throttledSeries]; got < 2 {
		t.Fatalf("%s = %v, want at least the 2 refusals above", throttledSeries, got)
	}
}

// TestLoginThrottleInProcess runs the policy without Redis on the test's clock: the
// delay doubles with each failure past the free ones up to the 15-minute cap, a right
// password during a delay is refused too, and after the delay it signs in and the
// count starts again.
func TestLoginThrottleInProcess(t *testing.T) {
	reg := prometheus.NewRegistry()
	clock := &testClock{at: time.Now()}
	e := startAPI(t, func(o *stack.Options) { o.Redis, o.Now, o.Registry = nil, clock.now, reg })
	shop := e.tenant("shop")
	e.user(shop, "victim@shop.test", apiserver.RoleCustomer)

	for i := range 5 {
		e.login("victim@shop.test", "guess-"+strconv.Itoa(i)).want(401, apiserver.ErrInvalidCredentials)
	}
	refusals := 0
	for want := 1; ; want *= 2 {
		wantSec := min(want, 900)
		r := e.login("victim@shop.test", "password-victim@shop.test").want(429, apiserver.ErrRateLimited)
		refusals++
		if got := r.header.Get("Retry-After"); got != strconv.Itoa(wantSec) {
			t.Fatalf("Retry-After %q, want %d", got, wantSec)
		}
		clock.advance(time.Duration(wantSec) * time.Second)
		if wantSec == 900 {
			break
		}
		e.login("victim@shop.test", "wrong").want(401, apiserver.ErrInvalidCredentials)
	}
	// At the cap: one more failure keeps the delay at 15 minutes.
	e.login("victim@shop.test", "wrong").want(401, apiserver.ErrInvalidCredentials)
	if got := e.login("victim@shop.test", "wrong").want(429, apiserver.ErrRateLimited).header.Get("Retry-After"); got != "900" {
		t.Fatalf("Retry-After %q at the cap, want 900", got)
	}
	refusals++
	clock.advance(15 * time.Minute)
	e.login("victim@shop.test", "password-victim@shop.test").want(200, "")
	for i := range 5 {
		e.login("victim@shop.test", "again-"+strconv.Itoa(i)).want(401, apiserver.ErrInvalidCredentials)
	}
	e.login("victim@shop.test", "again").want(429, apiserver.ErrRateLimited)
	refusals++
	wantSeries(t, series(t, reg), map[string]float64{throttledSeries: float64(refusals)})
}
