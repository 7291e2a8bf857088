package stack_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
	// Redis holds the counts under the shop's prefix, by hash: no addresses.
	keys, err := e.redis.Client.Keys(t.Context(), e.redis.Prefix+"shop:login:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("login keys %v, want one for the account and one for the unknown address", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, "@") || strings.Contains(strings.ToLower(k), "victim") || strings.Contains(strings.ToLower(k), "nobody") {
			t.Fatalf("key %q names an address", k)
		}
	}
	// Another account of the same shop, from the same address, is not affected.
	e.login("bystander@shop.test", userPassword).want(200, "")

	// After the delay the right password works; attempts refused meanwhile did not
	// lengthen it (the poll sends the right password throughout).
	testenv.Eventually(t, 30*time.Second, "login after the delay", func() (bool, string) {
		r := e.login("victim@shop.test", userPassword)
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
		r := e.login("victim@shop.test", userPassword).want(429, apiserver.ErrRateLimited)
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
	e.login("victim@shop.test", userPassword).want(200, "")
	for i := range 5 {
		e.login("victim@shop.test", "again-"+strconv.Itoa(i)).want(401, apiserver.ErrInvalidCredentials)
	}
	e.login("victim@shop.test", "again").want(429, apiserver.ErrRateLimited)
	refusals++
	wantSeries(t, series(t, reg), map[string]float64{throttledSeries: float64(refusals)})
}

// TestLoginThrottleConcurrent sends many wrong attempts for one account at once: the
// count is decided in one step in Redis, so exactly the free attempts are checked and
// every other one is refused, however they interleave. The same address in another
// shop is counted apart.
func TestLoginThrottleConcurrent(t *testing.T) {
	e := startAPI(t, func(o *stack.Options) {
		o.LoginPolicy = apiserver.LoginPolicy{Free: 3, Delay: time.Hour, Max: time.Hour, Forget: time.Hour}
	})
	shop := e.tenant("shop")
	other := e.tenant("other")
	e.user(shop, "victim@shop.test", apiserver.RoleCustomer)
	e.user(other, "victim@shop.test", apiserver.RoleCustomer)

	const n = 20
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body, _ := json.Marshal(map[string]string{"email": "victim@shop.test", "password": "guess-" + strconv.Itoa(i)})
			req, _ := http.NewRequest("POST", e.base+"/api/v1/auth/login", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Kommerce-Tenant", "shop")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[401] != 3 || count[429] != n-3 {
		t.Fatalf("answers %v, want 3 × 401 and %d × 429", count, n-3)
	}
	e.do("POST", "/api/v1/auth/login", "other", "", map[string]string{"email": "victim@shop.test", "password": userPassword}).want(200, "")
	e.login("victim@shop.test", userPassword).want(429, apiserver.ErrRateLimited)
}
