package stack_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/testenv"
)

// startHoardAPI starts the API with the hoarding policy p (zero: the defaults) and
// with 127.0.0.1 trusted as a proxy, so each request names its client address in
// X-Forwarded-For.
func startHoardAPI(t *testing.T, p apiserver.HoardPolicy) (*apiEnv, *store) {
	t.Helper()
	e := startShopAPI(t, 32, func(o *stack.Options) {
		o.Commerce.Defaults.Hoarding = p
		o.TrustedProxies = []string{"127.0.0.1"}
	})
	return e, e.store("shop")
}

// guestCheckout is a guest checkout request of a new cart holding quantity units of
// sku, by e-mail address email from client address addr.
func (s *store) guestCheckout(sku string, quantity int64, email, addr string) *http.Request {
	s.e.t.Helper()
	cart, token := s.guestCart()
	s.add(cart, token, "", sku, quantity).want(201, "")
	b, _ := json.Marshal(map[string]any{"email": email})
	req, err := http.NewRequest("POST", s.e.base+"/api/v1/carts/"+cart+"/checkout", bytes.NewReader(b))
	if err != nil {
		s.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Kommerce-Tenant", s.slug)
	req.Header.Set("X-Cart-Token", token)
	req.Header.Set("Idempotency-Key", "key-"+cart)
	req.Header.Set("X-Forwarded-For", addr)
	return req
}

// count tallies the outcomes: orders placed and refusals by code; anything else fails.
func count(t *testing.T, outs []outcome) (orders int, refused map[string]int) {
	t.Helper()
	refused = map[string]int{}
	for _, o := range outs {
		switch {
		case o.err != nil:
			t.Errorf("request failed: %v", o.err)
		case o.status == 201 && o.orderID != "":
			orders++
		case o.status == 409 && o.code == apiserver.ErrInsufficientStock,
			o.status == 422 && o.code == apiserver.ErrQuantityLimit,
			o.status == 429 && o.code == apiserver.ErrTooManyUnpaid:
			refused[o.code]++
		default:
			t.Errorf("unexpected answer %d %s", o.status, o.code)
		}
	}
	return orders, refused
}

// strictPolicy is a storefront that turns every cap on: 10 units per order for a
// guest, 50 for a customer, 3 unpaid orders per e-mail or customer, 10 per address.
var strictPolicy = apiserver.HoardPolicy{MaxUnitsGuest: 10, MaxUnitsCustomer: 50, MaxUnpaid: 3, MaxUnpaidPerAddress: 10}

// TestCheckoutHoardingDefaults: by default a guest's order is held to 20 units of a
// SKU, a customer's to 100, one e-mail address places many unpaid orders, and one
// client address at most 50 at once, however many checkouts race.
func TestCheckoutHoardingDefaults(t *testing.T) {
	e, s := startHoardAPI(t, apiserver.HoardPolicy{})
	s.product("RARE", 1000, 0, 500)
	one := func(q int64, email, addr string) outcome {
		return e.race([]*http.Request{s.guestCheckout("RARE", q, email, addr)})[0]
	}
	if o := one(21, "buyer@example.test", "198.51.100.1"); o.status != 422 || o.code != apiserver.ErrQuantityLimit {
		t.Errorf("21 units as a guest: %d %s, want 422 quantity_limit", o.status, o.code)
	}
	for i := range 6 {
		if o := one(20, "buyer@example.test", "198.51.100.1"); o.status != 201 {
			t.Fatalf("unpaid order %d of one e-mail and address: %d %s, want 201", i+1, o.status, o.code)
		}
	}
	s.customerUnitCap(100)

	// 60 guests, each with an e-mail address of their own, race from one address
	// (a NAT, or one hoarder rotating e-mail addresses): 50 unpaid orders, then 429;
	// another address still buys.
	reqs := make([]*http.Request, 60)
	for i := range reqs {
		reqs[i] = s.guestCheckout("RARE", 1, fmt.Sprintf("nat%d@example.test", i), "203.0.113.9")
	}
	if orders, refused := count(t, e.race(reqs)); orders != 50 || refused[apiserver.ErrTooManyUnpaid] != 10 {
		t.Errorf("60 checkouts from one address: %d orders, refused %v; want 50 and 10 too_many_unpaid_orders", orders, refused)
	}
	if o := one(1, "other@example.test", "203.0.113.10"); o.status != 201 {
		t.Errorf("a checkout from another address: %d %s, want 201", o.status, o.code)
	}
	if st := s.stock("RARE"); st.Reserved != 6*20+100+50+1 {
		t.Errorf("RARE reserved %d units, want %d", st.Reserved, 6*20+100+50+1)
	}
	e.checkStockInvariants(s.t.ID)
}

// reservationTTL is how long an order's reservation was granted, from its answer.
func reservationTTL(t *testing.T, o apiserver.Order) time.Duration {
	t.Helper()
	if o.ReservationExpiresAt == nil {
		t.Fatalf("order %s has no reservation expiry", o.ID)
	}
	return o.ReservationExpiresAt.Sub(o.CreatedAt)
}

// TestCheckoutGuestReservationTTL: a guest's checkout holds stock for the API's
// guest TTL when that is shorter than the storefront's, a signed-in customer's for
// the storefront's; when the guest's runs out, its stock comes back while the
// customer's is still held. A storefront TTL below the guest TTL applies to both.
func TestCheckoutGuestReservationTTL(t *testing.T) {
	// A guest TTL of 2 s against the storefront's hour: the test waits for the
	// guest's reservation to run out, not for the clock.
	e, s := startHoardAPI(t, apiserver.HoardPolicy{GuestReservationTTLSeconds: 2})
	const path = "/api/v1/storefronts/default/checkout-settings"
	e.do("PUT", path, s.slug, s.admin, map[string]any{"currency": "EUR", "reservation_ttl_seconds": 3600}).want(200, "")
	var got struct {
		ReservationTTLSeconds int                   `json:"reservation_ttl_seconds"`
		Hoarding              apiserver.HoardPolicy `json:"hoarding"`
	}
	_ = json.Unmarshal(e.do("GET", path, s.slug, s.admin, nil).want(200, "").raw, &got)
	if got.ReservationTTLSeconds != 3600 || got.Hoarding.GuestReservationTTLSeconds != 2 {
		t.Errorf("settings show %d s and guests' %d s, want 3600 and 2", got.ReservationTTLSeconds, got.Hoarding.GuestReservationTTLSeconds)
	}
	s.product("TTL", 1000, 0, 10)

	cart, token := s.guestCart()
	s.add(cart, token, "", "TTL", 4).want(201, "")
	guest := s.checkout(cart, token, "", "guest", map[string]any{"email": "guest@example.test"}).want(201, "").order()
	if d := reservationTTL(t, guest); d != 2*time.Second {
		t.Errorf("a guest's reservation lasts %v, want the guest TTL 2s", d)
	}
	cust := e.user(s.t, "customer@example.test", apiserver.RoleCustomer)
	ccart := e.do("POST", "/api/v1/carts", s.slug, cust, nil).want(201, "").str("id")
	s.add(ccart, "", cust, "TTL", 3).want(201, "")
	customer := s.checkout(ccart, "", cust, "customer", map[string]any{}).want(201, "").order()
	if d := reservationTTL(t, customer); d != time.Hour {
		t.Errorf("a customer's reservation lasts %v, want the storefront's hour", d)
	}
	testenv.Eventually(t, 30*time.Second, "the guest's reservation to run out and its 4 units to come back", func() (bool, string) {
		st := s.stock("TTL")
		return st.Reserved == 3 && st.Available == 7, fmt.Sprintf("reserved %d, available %d", st.Reserved, st.Available)
	})
	if st := e.orderStatus(guest.ID); st != string(apiserver.OrderCancelled) {
		t.Errorf("the guest's expired order is %s, want cancelled", st)
	}
	if st := e.orderStatus(customer.ID); st != string(apiserver.OrderPendingPayment) {
		t.Errorf("the customer's order is %s, want pending_payment", st)
	}

	// A storefront whose TTL is shorter than the guests' uses its own for everyone.
	e.do("PUT", path, s.slug, s.admin, map[string]any{"currency": "EUR", "reservation_ttl_seconds": 1}).want(200, "")
	cart, token = s.guestCart()
	s.add(cart, token, "", "TTL", 1).want(201, "")
	if d := reservationTTL(t, s.checkout(cart, token, "", "short", map[string]any{"email": "guest@example.test"}).want(201, "").order()); d != time.Second {
		t.Errorf("a guest's reservation with a 1 s storefront TTL lasts %v, want 1s", d)
	}
	e.checkStockInvariants(s.t.ID)
}

// TestCheckoutHoardingStrict runs a storefront with every cap on (strictPolicy).
func TestCheckoutHoardingStrict(t *testing.T) {
	e, s := startHoardAPI(t, strictPolicy)
	s.product("RARE", 1000, 0, 500)
	one := func(sku string, q int64, email, addr string) outcome {
		return e.race([]*http.Request{s.guestCheckout(sku, q, email, addr)})[0]
	}

	// A guest cannot take the whole stock in one order, and is told which line.
	r := s.guestCheckout("RARE", 500, "hoarder@example.test", "198.51.100.1")
	res := e.do("POST", r.URL.Path, s.slug, "", map[string]any{"email": "hoarder@example.test"},
		"X-Cart-Token", r.Header.Get("X-Cart-Token"), "Idempotency-Key", "big", "X-Forwarded-For", "198.51.100.1").want(422, apiserver.ErrQuantityLimit)
	if f := res.field(); f != "lines[0].quantity" {
		t.Errorf("quantity_limit names %q, want lines[0].quantity", f)
	}
	if o := one("RARE", 11, "hoarder@example.test", "198.51.100.1"); o.status != 422 {
		t.Errorf("11 units as a guest: %d %s", o.status, o.code)
	}

	// Three unpaid orders of 10 per e-mail address, then 429, from any address.
	for i := range 3 {
		if o := one("RARE", 10, "hoarder@example.test", fmt.Sprintf("198.51.100.%d", i+1)); o.status != 201 {
			t.Fatalf("order %d of 10 units: %d %s", i+1, o.status, o.code)
		}
	}
	if o := one("RARE", 1, "HOARDER@example.test", "198.51.100.9"); o.status != 429 || o.code != apiserver.ErrTooManyUnpaid {
		t.Errorf("a fourth unpaid order of the e-mail address: %d %s", o.status, o.code)
	}

	// Ten unpaid orders per client address whatever the e-mail addresses.
	for i := range 10 {
		if o := one("RARE", 10, fmt.Sprintf("alias%d@example.test", i), "203.0.113.7"); o.status != 201 {
			t.Fatalf("order %d from one address: %d %s", i+1, o.status, o.code)
		}
	}
	if o := one("RARE", 1, "alias-new@example.test", "203.0.113.7"); o.status != 429 || o.code != apiserver.ErrTooManyUnpaid {
		t.Errorf("an 11th unpaid order of the address: %d %s", o.status, o.code)
	}
	if st := s.stock("RARE"); st.Reserved != 130 || st.Available != 370 {
		t.Errorf("stock after the hoarder: %+v; want 130 reserved of 500", st)
	}

	// A cancelled order no longer counts.
	var id string
	e.scalar(&id, `SELECT id::text FROM orders WHERE tenant_id = $1 AND email = 'hoarder@example.test' LIMIT 1`, s.t.ID)
	e.do("POST", "/api/v1/orders/"+id+"/transitions", s.slug, s.admin, map[string]any{"to": apiserver.OrderCancelled, "reason": "test"}).want(200, "")
	if o := one("RARE", 10, "hoarder@example.test", "198.51.100.4"); o.status != 201 {
		t.Errorf("after a cancel: %d %s", o.status, o.code)
	}

	// A signed-in customer may take up to 50 units of a SKU.
	s.customerUnitCap(50)
	e.checkStockInvariants(s.t.ID)
}

// TestCheckoutHoardingConcurrent races checkouts of one shopper: the advisory locks
// make them count one after the other, so they take at most the cap.
func TestCheckoutHoardingConcurrent(t *testing.T) {
	e, s := startHoardAPI(t, strictPolicy)
	s.product("RARE", 1000, 0, 500)

	reqs := make([]*http.Request, 16)
	for i := range reqs {
		reqs[i] = s.guestCheckout("RARE", 10, "one@example.test", fmt.Sprintf("198.51.100.%d", i+1))
	}
	if orders, refused := count(t, e.race(reqs)); orders != 3 || refused[apiserver.ErrTooManyUnpaid] != 13 {
		t.Errorf("16 concurrent checkouts of one e-mail address: %d orders, refused %v; want 3 and 13 too_many_unpaid_orders", orders, refused)
	}
	for i := range reqs {
		reqs[i] = s.guestCheckout("RARE", 10, fmt.Sprintf("alias%d@example.test", i), "203.0.113.7")
	}
	if orders, refused := count(t, e.race(reqs)); orders != 10 || refused[apiserver.ErrTooManyUnpaid] != 6 {
		t.Errorf("16 concurrent checkouts of one address: %d orders, refused %v; want 10 and 6 too_many_unpaid_orders", orders, refused)
	}
	if st := s.stock("RARE"); st.Reserved != 130 {
		t.Errorf("one shopper's races reserved %d units, want 130", st.Reserved)
	}

	// 64 honest buyers, each their own e-mail and address, race for the last 10
	// units: the policy lets each one buy, and stock still never oversells.
	s.product("LAST", 1000, 0, 10)
	reqs = make([]*http.Request, 64)
	for i := range reqs {
		reqs[i] = s.guestCheckout("LAST", 1, fmt.Sprintf("buyer%d@example.test", i), fmt.Sprintf("192.0.2.%d", i+1))
	}
	if orders, refused := count(t, e.race(reqs)); orders != 10 || refused[apiserver.ErrInsufficientStock] != 54 {
		t.Errorf("64 buyers for 10 units: %d orders, refused %v", orders, refused)
	}
	if st := s.stock("LAST"); st.Reserved != 10 || st.Available != 0 {
		t.Errorf("stock after the race: %+v", st)
	}
	e.checkStockInvariants(s.t.ID)
}

// TestCheckoutHoardingTunable runs with a merchant's own caps.
func TestCheckoutHoardingTunable(t *testing.T) {
	e, s := startHoardAPI(t, apiserver.HoardPolicy{MaxUnitsGuest: 2, MaxUnitsCustomer: 100, MaxUnpaid: 1, MaxUnpaidPerAddress: 2})
	s.product("RARE", 1000, 0, 500)
	one := func(q int64, email, addr string) outcome {
		return e.race([]*http.Request{s.guestCheckout("RARE", q, email, addr)})[0]
	}
	for _, c := range []struct {
		q           int64
		email, addr string
		status      int
	}{
		{3, "a@example.test", "198.51.100.1", 422},
		{2, "a@example.test", "198.51.100.1", 201},
		{1, "a@example.test", "198.51.100.2", 429}, // one unpaid order per e-mail
		{1, "b@example.test", "198.51.100.1", 201},
		{1, "c@example.test", "198.51.100.1", 429}, // two per address
		{1, "c@example.test", "198.51.100.3", 201},
	} {
		if o := one(c.q, c.email, c.addr); o.status != c.status {
			t.Errorf("%d units by %s from %s: %d %s, want %d", c.q, c.email, c.addr, o.status, o.code, c.status)
		}
	}
	cust := e.user(s.t, "customer@example.test", apiserver.RoleCustomer)
	cart := e.do("POST", "/api/v1/carts", s.slug, cust, nil).want(201, "").str("id")
	s.add(cart, "", cust, "RARE", 100).want(201, "")
	s.checkout(cart, "", cust, "cust", map[string]any{}).want(201, "")
}

// TestCheckoutHoardingPerStorefront stores a merchant's caps for the storefront: they
// replace the API's, GET shows the caps in force, and bad caps are 400.
func TestCheckoutHoardingPerStorefront(t *testing.T) {
	e, s := startHoardAPI(t, apiserver.HoardPolicy{})
	s.product("RARE", 1000, 0, 500)
	const path = "/api/v1/storefronts/default/checkout-settings"
	var got struct {
		Hoarding apiserver.HoardPolicy `json:"hoarding"`
	}
	_ = json.Unmarshal(e.do("GET", path, s.slug, s.admin, nil).want(200, "").raw, &got)
	if got.Hoarding != apiserver.DefaultHoardPolicy {
		t.Errorf("settings without caps show %+v, want the defaults %+v", got.Hoarding, apiserver.DefaultHoardPolicy)
	}
	e.do("PUT", path, s.slug, s.admin, map[string]any{"currency": "EUR", "reservation_ttl_seconds": 900,
		"hoarding": map[string]any{"max_units_guest": 0, "max_units_customer": 5, "max_unpaid_orders": 1, "max_unpaid_orders_per_address": 1}}).
		want(400, apiserver.ErrInvalid)
	// The guests' reservation TTL is the API's: a storefront cannot store one.
	e.do("PUT", path, s.slug, s.admin, map[string]any{"currency": "EUR", "reservation_ttl_seconds": 900,
		"hoarding": map[string]any{"max_units_guest": 1, "max_units_customer": 5, "max_unpaid_orders": 1, "max_unpaid_orders_per_address": 1,
			"guest_reservation_ttl_seconds": 60}}).want(400, apiserver.ErrUnknownField)
	caps := map[string]any{"max_units_guest": 200, "max_units_customer": 500, "max_unpaid_orders": 1, "max_unpaid_orders_per_address": 5}
	mine := apiserver.HoardPolicy{MaxUnitsGuest: 200, MaxUnitsCustomer: 500, MaxUnpaid: 1, MaxUnpaidPerAddress: 5,
		GuestReservationTTLSeconds: apiserver.DefaultHoardPolicy.GuestReservationTTLSeconds}
	_ = json.Unmarshal(e.do("PUT", path, s.slug, s.admin, map[string]any{"currency": "EUR", "reservation_ttl_seconds": 900, "hoarding": caps}).want(200, "").raw, &got)
	if got.Hoarding != mine {
		t.Errorf("PUT answered caps %+v, want %+v", got.Hoarding, mine)
	}
	one := func(q int64, email, addr string) outcome {
		return e.race([]*http.Request{s.guestCheckout("RARE", q, email, addr)})[0]
	}
	if o := one(200, "a@example.test", "198.51.100.1"); o.status != 201 {
		t.Errorf("200 units with the storefront's cap of 200: %d %s", o.status, o.code)
	}
	if o := one(1, "a@example.test", "198.51.100.2"); o.status != 429 {
		t.Errorf("a second unpaid order with the storefront's cap of 1: %d %s", o.status, o.code)
	}
	// Settings put back without caps: the API's defaults again.
	e.do("PUT", path, s.slug, s.admin, map[string]any{"currency": "EUR", "reservation_ttl_seconds": 900}).want(200, "")
	if o := one(21, "b@example.test", "198.51.100.3"); o.status != 422 || o.code != apiserver.ErrQuantityLimit {
		t.Errorf("21 units after the caps were removed: %d %s", o.status, o.code)
	}
}

// customerUnitCap checks that a signed-in customer's order may take max units of
// RARE and not one more (each try by a new customer, whose cart is their own).
func (s *store) customerUnitCap(max int64) {
	s.e.t.Helper()
	for _, c := range []struct {
		q    int64
		want int
	}{{max + 1, 422}, {max, 201}} {
		cust := s.e.user(s.t, fmt.Sprintf("customer%d@example.test", c.q), apiserver.RoleCustomer)
		cart := s.e.do("POST", "/api/v1/carts", s.slug, cust, nil).want(201, "").str("id")
		s.add(cart, "", cust, "RARE", c.q).want(201, "")
		s.checkout(cart, "", cust, fmt.Sprintf("cust-%d", c.q), map[string]any{}).want(c.want, "")
	}
}
