package stack_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/apiserver/stripe"
	"github.com/kommerce/kommerce/apiserver/token"
	"github.com/kommerce/kommerce/internal/testenv"
)

// TestPaymentBadInput: paying and refunding what cannot be, as whoever may not,
// gets the exact status and code and changes nothing.
func TestPaymentBadInput(t *testing.T) {
	e := startPayAPI(t, nil, nil)
	s := e.till("pbad")
	other := e.till("pbad-other")
	s.product("PB-1", 1000, 0, 20)
	other.product("PO-1", 1000, 0, 5)

	unpaid, unpaidToken := s.order("PB-1")
	cancelled, cancelledToken := s.order("PB-1")
	s.move(cancelled, s.admin, apiserver.OrderCancelled).want(200, "")
	paid, paidToken, _ := s.paidOrder("PB-1")
	s.refund(paid, "part", map[string]any{"amount": 400}).want(201, "")
	byHand, byHandToken := s.order("PB-1")
	s.e.do("POST", "/api/v1/orders/"+byHand+"/transitions", s.slug, s.admin, map[string]any{"to": "paid", "reason": "bank transfer"}).want(200, "")
	theirs, theirToken := other.order("PO-1")
	_, strangerToken := s.guestCart()
	customerOrder := func() string {
		cart := e.do("POST", "/api/v1/carts", s.slug, s.customer, nil).want(201, "").str("id")
		s.add(cart, "", s.customer, "PB-1", 1).want(201, "")
		return s.checkout(cart, "", s.customer, "c-"+cart, nil).want(201, "").str("id")
	}()
	noKeys := e.store("pbad-nokeys")
	noKeys.product("NK-1", 1000, 0, 5)
	nkCart, nkToken := noKeys.guestCart()
	noKeys.add(nkCart, nkToken, "", "NK-1", 1).want(201, "")
	nkOrder := noKeys.checkout(nkCart, nkToken, "", "nk", map[string]any{"email": "g@x.test"}).want(201, "").str("id")
	_ = unpaidToken

	pay := func(id string) string { return "/api/v1/orders/" + id + "/payments" }
	refunds := func(id string) string { return "/api/v1/orders/" + id + "/refunds" }
	key := []string{"Idempotency-Key", "bad-1"}
	tests := []struct {
		name, method, path, tenant, token string
		body                              any
		headers                           []string
		status                            int
		code, field                       string
	}{
		{"pay a cancelled order", "POST", pay(cancelled), s.slug, "", nil, []string{"X-Cart-Token", cancelledToken}, 409, apiserver.ErrOrderNotPayable, ""},
		{"pay an order marked paid by hand", "POST", pay(byHand), s.slug, "", nil, []string{"X-Cart-Token", byHandToken}, 409, apiserver.ErrOrderNotPayable, ""},
		{"pay another tenant's order", "POST", pay(theirs), s.slug, s.admin, nil, nil, 404, apiserver.ErrNotFound, ""},
		{"pay another tenant's order with its token", "POST", pay(theirs), s.slug, "", nil, []string{"X-Cart-Token", theirToken}, 404, apiserver.ErrNotFound, ""},
		{"pay with another cart's token", "POST", pay(unpaid), s.slug, "", nil, []string{"X-Cart-Token", strangerToken}, 404, apiserver.ErrNotFound, ""},
		{"pay as nobody", "POST", pay(unpaid), s.slug, "", nil, nil, 401, apiserver.ErrUnauthenticated, ""},
		{"pay another customer's order", "POST", pay(unpaid), s.slug, s.customer, nil, nil, 404, apiserver.ErrNotFound, ""},
		{"pay an order that does not exist", "POST", pay("00000000-0000-4000-8000-000000000000"), s.slug, s.admin, nil, nil, 404, apiserver.ErrNotFound, ""},
		{"pay a malformed id", "POST", pay("nope"), s.slug, s.admin, nil, nil, 400, apiserver.ErrInvalid, "id"},
		{"pay without Stripe keys", "POST", pay(nkOrder), noKeys.slug, "", nil, []string{"X-Cart-Token", nkToken}, 503, apiserver.ErrPaymentsNotConfigured, ""},
		{"records of another customer's order", "GET", pay(customerOrder), s.slug, "", nil, []string{"X-Cart-Token", strangerToken}, 404, apiserver.ErrNotFound, ""},
		{"records as nobody", "GET", pay(paid), s.slug, "", nil, nil, 401, apiserver.ErrUnauthenticated, ""},
		{"refund more than is left", "POST", refunds(paid), s.slug, s.admin, map[string]any{"amount": 601}, key, 422, apiserver.ErrRefundExceedsPayment, "amount"},
		{"refund an unpaid order", "POST", refunds(unpaid), s.slug, s.admin, nil, key, 422, apiserver.ErrRefundExceedsPayment, "amount"},
		{"refund an order paid by hand", "POST", refunds(byHand), s.slug, s.admin, nil, key, 422, apiserver.ErrRefundExceedsPayment, "amount"},
		{"refund as a customer", "POST", refunds(customerOrder), s.slug, s.customer, nil, key, 403, apiserver.ErrForbidden, ""},
		{"refund as a guest", "POST", refunds(paid), s.slug, "", nil, append([]string{"X-Cart-Token", paidToken}, key...), 401, apiserver.ErrUnauthenticated, ""},
		{"refund without Idempotency-Key", "POST", refunds(paid), s.slug, s.admin, nil, nil, 400, apiserver.ErrInvalid, "Idempotency-Key"},
		{"refund with the key of another refund", "POST", refunds(paid), s.slug, s.admin, map[string]any{"amount": 1}, []string{"Idempotency-Key", "part"}, 422, apiserver.ErrIdempotencyKeyReused, "Idempotency-Key"},
		{"refund zero", "POST", refunds(paid), s.slug, s.admin, map[string]any{"amount": 0}, key, 400, apiserver.ErrInvalid, "amount"},
		{"refund a negative amount", "POST", refunds(paid), s.slug, s.admin, map[string]any{"amount": -5}, key, 400, apiserver.ErrInvalid, "amount"},
		{"refund for an unknown reason", "POST", refunds(paid), s.slug, s.admin, map[string]any{"reason": "because"}, key, 400, apiserver.ErrInvalid, "reason"},
		{"refund with a field too many", "POST", refunds(paid), s.slug, s.admin, map[string]any{"amount": 1, "status": "succeeded"}, key, 400, apiserver.ErrUnknownField, "status"},
		{"refund with a body that is not JSON", "POST", refunds(paid), s.slug, s.admin, `{"amount":`, key, 400, apiserver.ErrMalformedJSON, ""},
		{"refund another tenant's order", "POST", refunds(theirs), s.slug, s.admin, nil, key, 404, apiserver.ErrNotFound, ""},
		{"cancel a paid order by hand", "POST", "/api/v1/orders/" + paid + "/transitions", s.slug, s.admin, map[string]any{"to": "cancelled"}, nil, 409, apiserver.ErrRefundRequired, "to"},
		{"mark refunded by hand", "POST", "/api/v1/orders/" + paid + "/transitions", s.slug, s.admin, map[string]any{"to": "refunded", "reason": "x"}, nil, 409, apiserver.ErrRefundRequired, "to"},
		{"mark paid by hand without a reason", "POST", "/api/v1/orders/" + unpaid + "/transitions", s.slug, s.admin, map[string]any{"to": "paid"}, nil, 400, apiserver.ErrInvalid, "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot()
			r := e.do(tt.method, tt.path, tt.tenant, tt.token, tt.body, tt.headers...).want(tt.status, tt.code)
			if tt.field != "" && r.field() != tt.field {
				t.Fatalf("field %q, want %q: %s", r.field(), tt.field, r.raw)
			}
			e.unchanged(tt.name, before)
		})
	}
	if n := e.count("payments"); n != 1 {
		t.Fatalf("%d payments after the bad input, want the paid order's only", n)
	}

	// A shop whose key Stripe refuses: 503 payments_not_configured, and the
	// "creating" row waits for a retry with a working key.
	bad := e.till("pbad-badkey")
	bad.product("BK-1", 1000, 0, 5)
	if err := setKeys(e, bad, "bad-key"); err != nil {
		t.Fatal(err)
	}
	bkOrder, bkToken := bad.order("BK-1")
	bad.pay(bkOrder, bkToken, "").want(503, apiserver.ErrPaymentsNotConfigured)
	if err := setKeys(e, bad, "sk_test_fixed"); err != nil {
		t.Fatal(err)
	}
	bad.pay(bkOrder, bkToken, "").want(201, "")
}

// TestPaymentsWithoutStripe: a server without payments, or without any keys, answers
// the payment routes with 503 payments_not_configured, never 500.
func TestPaymentsWithoutStripe(t *testing.T) {
	e := startAPI(t, func(o *stack.Options) { o.Commerce.Payments = stack.PaymentOptions{StripeURL: "http://127.0.0.1:1"} })
	s := e.store("nostripe")
	s.product("NS-1", 1000, 0, 5)
	id := s.buyAsGuest(map[string]int64{"NS-1": 1})
	e.do("POST", "/api/v1/orders/"+id+"/payments", s.slug, s.admin, nil).want(503, apiserver.ErrPaymentsNotConfigured)
	e.do("POST", "/api/v1/orders/"+id+"/refunds", s.slug, s.admin, nil, "Idempotency-Key", "k").want(422, apiserver.ErrRefundExceedsPayment)
	e.do("GET", "/api/v1/orders/"+id+"/payments", s.slug, s.admin, nil).want(200, "")
	e.hook([]byte(`{"id":"evt_1"}`), "t=1,v1=00", "X-Kommerce-Tenant", s.slug).want(503, apiserver.ErrPaymentsNotConfigured)
	if n := e.count("payments"); n != 0 {
		t.Fatalf("%d payments without keys", n)
	}
}

func setKeys(e *apiEnv, s *till, secretKey string) error {
	return postgres.SetStripeKeys(context.Background(), e.st.DB, nil, s.t.ID, apiserver.StripeKeys{SecretKey: secretKey, WebhookSecret: s.secret})
}

// TestPaymentTablesIsolated: every payment table has row-level security enabled and
// forced, and a transaction bound to one tenant sees none of another's rows, even
// without a tenant filter.
func TestPaymentTablesIsolated(t *testing.T) {
	e := startPayAPI(t, nil, nil)
	shops := []*till{e.till("iso-a"), e.till("iso-b")}
	for i, s := range shops {
		s.product("ISO-1", 1000, 0, 3)
		id, _, pi := s.paidOrder("ISO-1")
		s.deliver(event(apiserver.EventDisputeCreated, time.Now(), dispute(fmt.Sprintf("dp_iso%d", i), pi, 1000, "general"))).want(200, "")
		s.refund(id, "iso", map[string]any{"amount": 100}).want(201, "")
	}
	ctx := context.Background()
	for _, table := range []string{"payment_keys", "payments", "payment_refunds", "payment_disputes", "payment_events"} {
		var enabled, forced bool
		e.scalar(&enabled, "SELECT relrowsecurity FROM pg_class WHERE relname = $1", table)
		e.scalar(&forced, "SELECT relforcerowsecurity FROM pg_class WHERE relname = $1", table)
		if !enabled || !forced {
			t.Errorf("%s: row-level security enabled %v, forced %v", table, enabled, forced)
		}
		var all, own, theirs int
		e.scalar(&all, "SELECT count(*)::int FROM "+table)
		err := pgx.BeginFunc(ctx, e.db.Pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.tenant_id', $1, true)", shops[0].t.ID); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, "SELECT count(*)::int FROM "+table).Scan(&own); err != nil {
				return err
			}
			return tx.QueryRow(ctx, "SELECT count(*)::int FROM "+table+" WHERE tenant_id = $1", shops[1].t.ID).Scan(&theirs)
		})
		if err != nil {
			t.Fatal(err)
		}
		if all < 2 || own != all/2 || theirs != 0 {
			t.Errorf("%s: %d rows in all, tenant A sees %d and %d of B's", table, all, own, theirs)
		}
	}
}

// TestStripeKeysFromTenantSecret: in a cluster a tenant's Stripe keys are files in its
// folder of --tenant-keys-dir (beside its kommerce-identity entries); they win over the
// process's keys, which serve tenants without keys of their own.
func TestStripeKeysFromTenantSecret(t *testing.T) {
	stripeURL := testenv.StripeURL(t)
	e := startAPI(t, nil)
	mounted := e.store("mounted")
	plain := e.store("plain")
	k, err := token.NewKey(mounted.t.ID)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, _ := k.MarshalPEM()
	dir := t.TempDir()
	td := filepath.Join(dir, "mounted")
	if err := os.MkdirAll(td, 0o700); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{token.SecretTenantID: mounted.t.ID, token.SecretKeyID: "k-" + k.KID, token.SecretSigningKey: string(pemKey),
		stripe.FileSecretKey: "sk_test_mounted", stripe.FileWebhookSecret: "whsec_mounted"}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(td, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.start(func(o *stack.Options) {
		o.KeysDir = dir
		o.Commerce.Payments = stack.PaymentOptions{StripeURL: stripeURL, SecretKey: "sk_test_process", WebhookSecret: "whsec_process"}
	})
	for _, tc := range []struct {
		s      *store
		secret string
		wrong  string
	}{{mounted, "whsec_mounted", "whsec_process"}, {plain, "whsec_process", "whsec_mounted"}} {
		t.Run(tc.s.slug, func(t *testing.T) {
			tc.s.product("KD-1", 1000, 0, 3)
			id := tc.s.buyAsGuest(map[string]int64{"KD-1": 1})
			pi := e.do("POST", "/api/v1/orders/"+id+"/payments", tc.s.slug, tc.s.admin, nil).want(201, "").str("intent_id")
			ev := event(apiserver.EventIntentSucceeded, time.Now(), intent(pi, "succeeded", 1000, 1000, map[string]string{apiserver.MetaOrderID: id}, nil))
			e.hook(ev, sigHeader(tc.wrong, time.Now(), ev)).want(400, apiserver.ErrInvalidSignature)
			e.hook(ev, sigHeader(tc.secret, time.Now(), ev)).want(200, "")
			if st := e.orderStatus(id); st != "paid" {
				t.Fatalf("order %s", st)
			}
		})
	}
}
