package stack_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
)

// TestRegistrationDoesNotEnumerate: registering a taken e-mail address answers exactly
// as registering a free one (status, body but for the address, headers a client could
// branch on), and changes nothing.
func TestRegistrationDoesNotEnumerate(t *testing.T) {
	e := startAPI(t, nil)
	shop := e.tenant("shop")
	e.user(shop, "taken@shop.test", apiserver.RoleCustomer)
	users := e.count("users")

	fresh := e.do("POST", "/api/v1/auth/register", "shop", "", map[string]string{"email": "fresh@shop.test", "password": "correct horse battery"})
	taken := e.do("POST", "/api/v1/auth/register", "shop", "", map[string]string{"email": "taken@shop.test", "password": "correct horse battery"})
	if fresh.status != taken.status || fresh.status != 202 {
		t.Fatalf("status %d for a free address, %d for a taken one; want 202 both", fresh.status, taken.status)
	}
	if !bytes.Equal(bytes.ReplaceAll(fresh.raw, []byte("fresh@"), []byte("taken@")), taken.raw) {
		t.Fatalf("answers differ:\nfree  %s\ntaken %s", fresh.raw, taken.raw)
	}
	for _, h := range []string{"Content-Type", "Cache-Control", "Location", "Content-Length"} {
		if f, k := fresh.header.Get(h), taken.header.Get(h); f != k && h != "Content-Length" {
			t.Fatalf("header %s: %q for a free address, %q for a taken one", h, f, k)
		}
	}
	if n := e.count("users"); n != users+1 {
		t.Fatalf("users went from %d to %d, want one more (the free address only)", users, n)
	}
	// The taken account keeps its password; the new one has the registered one.
	e.do("POST", "/api/v1/auth/login", "shop", "", map[string]string{"email": "taken@shop.test", "password": "correct horse battery"}).want(401, apiserver.ErrInvalidCredentials)
	e.do("POST", "/api/v1/auth/login", "shop", "", map[string]string{"email": "fresh@shop.test", "password": "correct horse battery"}).want(200, "")
}

// TestRegistrationLimits: registrations are limited per e-mail address and per client
// address (in Redis, per hour), whatever the outcome.
func TestRegistrationLimits(t *testing.T) {
	e := startAPI(t, func(o *stack.Options) {
		o.RegisterAddressLimit = apiserver.RateLimit{Rate: 5, Burst: 5, Period: time.Hour}
		o.RegisterEmailLimit = apiserver.RateLimit{Rate: 2, Burst: 2, Period: time.Hour}
	})
	e.tenant("shop")
	reg := func(email string) *resp {
		return e.do("POST", "/api/v1/auth/register", "shop", "", map[string]string{"email": email, "password": "correct horse battery"})
	}
	// Per e-mail address: 2 an hour, taken or not (the second one is taken).
	reg("a@shop.test").want(202, "")
	reg("A@shop.test").want(202, "")
	r := reg("a@shop.test").want(429, apiserver.ErrRateLimited)
	if r.header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After: %v", r.header)
	}
	// Per client address: 5 an hour; 3 used so far (the refused one consumed nothing).
	reg("b@shop.test").want(202, "")
	reg("c@shop.test").want(202, "")
	reg("d@shop.test").want(202, "")
	reg("e@shop.test").want(429, apiserver.ErrRateLimited)
	// Invalid input is refused before the limits and does not consume them.
	e.do("POST", "/api/v1/auth/register", "shop", "", map[string]string{"email": "not-an-email", "password": "correct horse battery"}).want(400, apiserver.ErrInvalid)
	// An hour's limit: the next allowance is minutes away, not a second.
	if ra := r.header.Get("Retry-After"); ra == "" || len(ra) < 3 {
		t.Fatalf("Retry-After %q, want the minutes until an e-mail's allowance is back", ra)
	}
}
