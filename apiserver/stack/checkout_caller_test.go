package stack_test

import (
	"testing"

	"github.com/kommerce/kommerce/apiserver"
)

// TestCheckoutReplayNeedsTheCart: a retry of a checkout is answered only to a caller
// who may use the cart. Without the cart's token (or with another one) the cart is
// not found — the stored order is never shown, and a different body does not tell
// the caller whether a guess of the e-mail or address was right — and such a refused
// attempt is not stored, so the cart's owner can still check out with that key.
func TestCheckoutReplayNeedsTheCart(t *testing.T) {
	e := startAPI(t, nil)
	s := e.store("shop")
	s.product("REPLAY-1", 1000, 0, 10)
	body := map[string]any{"email": "victim@example.test", "shipping_address": map[string]any{"name": "V", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}}

	cart, token := s.guestCart()
	s.add(cart, token, "", "REPLAY-1", 1).want(201, "")
	o := s.checkout(cart, token, "", "victim-key", body).want(201, "")

	_, other := s.guestCart()
	for name, tok := range map[string]string{"no token": "", "another cart's token": other, "a made-up token": "ct_guess"} {
		r := s.checkout(cart, tok, "", "victim-key", body)
		if r.status != 404 || r.code() != apiserver.ErrNotFound || r.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("replay with %s: %d %s, replayed %q", name, r.status, r.raw, r.header.Get("Idempotent-Replayed"))
		}
		guess := map[string]any{"email": "guess@example.test"}
		if r := s.checkout(cart, tok, "", "victim-key", guess); r.status != 404 {
			t.Fatalf("a guessed body with %s: %d %s", name, r.status, r.raw)
		}
	}
	// A signed-in customer who does not own the guest cart is refused the same way.
	if r := s.checkout(cart, "", s.customer, "victim-key", body); r.status != 404 {
		t.Fatalf("replay by another customer: %d %s", r.status, r.raw)
	}
	if again := s.checkout(cart, token, "", "victim-key", body).want(201, ""); again.str("id") != o.str("id") || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the owner's retry: %s", again.raw)
	}

	// An attempt without the token is refused and forgotten: the owner's first
	// checkout with that key places the order.
	cart2, token2 := s.guestCart()
	s.add(cart2, token2, "", "REPLAY-1", 1).want(201, "")
	s.checkout(cart2, "", "", "owner-key", body).want(404, apiserver.ErrNotFound)
	s.checkout(cart2, other, "", "owner-key", body).want(404, apiserver.ErrNotFound)
	if r := s.checkout(cart2, token2, "", "owner-key", body).want(201, ""); r.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("the owner's first checkout is a replay: %s", r.raw)
	}
	var rows int
	e.scalar(&rows, "SELECT count(*) FROM idempotency_keys WHERE tenant_id = $1 AND error_code = 'not_found'", s.t.ID)
	if rows != 0 {
		t.Fatalf("%d refused attempts stored", rows)
	}
}

// TestCheckoutKeyReusedOnAnotherCart: an Idempotency-Key belongs to its caller — a
// signed-in customer, or the shop's guests — and names one checkout: the same key
// and body on another cart is 422 idempotency_key_reused, never a second order.
func TestCheckoutKeyReusedOnAnotherCart(t *testing.T) {
	e := startAPI(t, nil)
	s := e.store("shop")
	s.product("REUSE-1", 1000, 0, 10)
	body := map[string]any{"email": "guest@example.test"}

	cart, token := s.guestCart()
	s.add(cart, token, "", "REUSE-1", 1).want(201, "")
	s.checkout(cart, token, "", "shared-key", body).want(201, "")
	cart2, token2 := s.guestCart()
	s.add(cart2, token2, "", "REUSE-1", 1).want(201, "")
	s.checkout(cart2, token2, "", "shared-key", body).want(422, apiserver.ErrIdempotencyKeyReused)
	// The refusal is no outcome of cart2: a new key checks it out.
	s.checkout(cart2, token2, "", "another-key", body).want(201, "")

	mine := e.do("POST", "/api/v1/carts", "shop", s.customer, nil).want(201, "").str("id")
	s.add(mine, "", s.customer, "REUSE-1", 1).want(201, "")
	s.checkout(mine, "", s.customer, "customer-key", body).want(201, "")
	next := e.do("POST", "/api/v1/carts", "shop", s.customer, nil).want(201, "").str("id")
	s.add(next, "", s.customer, "REUSE-1", 1).want(201, "")
	s.checkout(next, "", s.customer, "customer-key", body).want(422, apiserver.ErrIdempotencyKeyReused)

	var orders int
	e.scalar(&orders, "SELECT count(*) FROM orders WHERE tenant_id = $1", s.t.ID)
	if orders != 3 {
		t.Fatalf("%d orders, want 3", orders)
	}
}
