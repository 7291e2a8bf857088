package stack_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/testenv"
)

// till is a store that takes payments: Stripe keys of its own in the database (the
// API calls stripe-mock) and the signing secret its webhook events are signed with.
type till struct {
	*store
	secret string // whsec_...
}

// startPayAPI starts the API with payments against stripe-mock (through proxy when
// given, to watch or break the calls).
func startPayAPI(t *testing.T, proxy *stripeProxy, mod func(*stack.Options)) *apiEnv {
	t.Helper()
	stripeURL := testenv.StripeURL(t)
	if proxy != nil {
		stripeURL = proxy.start(t, stripeURL)
	}
	return startAPI(t, func(o *stack.Options) {
		o.Commerce.Payments = stack.PaymentOptions{StripeURL: stripeURL, KeysTTL: time.Millisecond}
		if mod != nil {
			mod(o)
		}
	})
}

// till creates a store whose Stripe keys are in the database.
func (e *apiEnv) till(slug string) *till {
	e.t.Helper()
	s := &till{store: e.store(slug), secret: "whsec_" + slug + "_" + fmt.Sprint(rand.Uint64())}
	err := postgres.SetStripeKeys(context.Background(), e.st.DB, nil, s.t.ID, apiserver.StripeKeys{SecretKey: "sk_test_" + slug, WebhookSecret: s.secret})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// order places a guest order of one unit of sku and returns its id and cart token.
func (s *till) order(sku string) (string, string) {
	s.e.t.Helper()
	cart, token := s.guestCart()
	s.add(cart, token, "", sku, 1).want(201, "")
	id := s.checkout(cart, token, "", "key-"+cart, map[string]any{"email": "guest@example.test"}).want(201, "").str("id")
	return id, token
}

func (s *till) pay(orderID, token, auth string) *resp {
	s.e.t.Helper()
	return s.e.do("POST", "/api/v1/orders/"+orderID+"/payments", s.slug, auth, nil, cartHeader(token)...)
}

func (s *till) payments(orderID, token, auth string) apiserver.PaymentRecords {
	s.e.t.Helper()
	var r apiserver.PaymentRecords
	s.e.do("GET", "/api/v1/orders/"+orderID+"/payments", s.slug, auth, nil, cartHeader(token)...).want(200, "").decode(&r)
	return r
}

func (s *till) refund(orderID, key string, body any) *resp {
	s.e.t.Helper()
	var h []string
	if key != "" {
		h = []string{"Idempotency-Key", key}
	}
	return s.e.do("POST", "/api/v1/orders/"+orderID+"/refunds", s.slug, s.admin, body, h...)
}

// paid pays an order and returns its intent id.
func (s *till) paid(orderID, token string) string {
	s.e.t.Helper()
	r := s.pay(orderID, token, "").want(201, "")
	id := r.str("intent_id")
	if !strings.HasPrefix(id, "pi_") || !strings.Contains(r.str("client_secret"), "_secret_") {
		s.e.t.Fatalf("pay: no intent or client secret: %s", r.raw)
	}
	return id
}

// paidOrder places a guest order of one unit of sku, pays it and delivers Stripe's
// signed success for its total; it returns the order, its cart token and the intent.
func (s *till) paidOrder(sku string) (string, string, string) {
	s.e.t.Helper()
	id, token := s.order(sku)
	pi := s.paid(id, token)
	total := s.orderAs(id, s.admin).Total
	s.deliver(event(apiserver.EventIntentSucceeded, time.Now(), intent(pi, "succeeded", total, total, s.meta(id), nil))).want(200, "")
	return id, token, pi
}

// stripeSignature signs a payload the way Stripe does: hex HMAC-SHA256 of
// "<unix time>.<payload>" with the endpoint's secret. Written here from Stripe's
// documentation rather than taken from stripe-go, so the test does not check the
// library against itself.
func stripeSignature(secret string, at time.Time, payload []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", at.Unix())
	mac.Write(payload)
	return hex.EncodeToString(mac.Sum(nil))
}

func sigHeader(secret string, at time.Time, payload []byte) string {
	return fmt.Sprintf("t=%d,v1=%s", at.Unix(), stripeSignature(secret, at, payload))
}

// hook delivers a payload to the webhook with the given Stripe-Signature; extra
// are header pairs (X-Kommerce-Tenant, Host, Content-Type).
func (e *apiEnv) hook(payload []byte, signature string, extra ...string) *resp {
	e.t.Helper()
	h := append([]string{"Stripe-Signature", signature}, extra...)
	return e.do("POST", "/api/v1/payments/stripe/webhook", "", "", payload, h...)
}

// deliver signs a payload with the shop's secret now and delivers it, as Stripe does
// (no tenant header: the event's metadata names the tenant).
func (s *till) deliver(payload []byte) *resp {
	s.e.t.Helper()
	return s.e.hook(payload, sigHeader(s.secret, time.Now(), payload))
}

var evtSeq atomic.Int64

// event is a Stripe event around an object; created is its Stripe creation time.
func event(typ string, created time.Time, object map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"id": fmt.Sprintf("evt_test%d_%d", time.Now().UnixNano(), evtSeq.Add(1)), "object": "event", "api_version": "2023-10-16",
		"created": created.Unix(), "livemode": false, "type": typ, "pending_webhooks": 1,
		"data": map[string]any{"object": object},
	})
	if err != nil {
		panic(err)
	}
	return b
}

func (s *till) meta(orderID string) map[string]string {
	return map[string]string{apiserver.MetaTenantID: s.t.ID, apiserver.MetaOrderID: orderID}
}

// intent is a PaymentIntent object.
func intent(id, status string, amount, received int64, meta map[string]string, extra map[string]any) map[string]any {
	o := map[string]any{"id": id, "object": "payment_intent", "status": status, "amount": amount, "amount_received": received,
		"currency": "eur", "metadata": meta, "latest_charge": "ch_" + strings.TrimPrefix(id, "pi_"), "client_secret": id + "_secret_x"}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// charge is a Charge object of an intent, refunded by refunded.
func charge(intentID string, amount, refunded int64, meta map[string]string) map[string]any {
	return map[string]any{"id": "ch_" + strings.TrimPrefix(intentID, "pi_"), "object": "charge", "amount": amount, "amount_captured": amount,
		"amount_refunded": refunded, "refunded": refunded == amount, "captured": true, "paid": true, "currency": "eur",
		"payment_intent": intentID, "metadata": meta, "status": "succeeded"}
}

func dispute(id, intentID string, amount int64, reason string) map[string]any {
	return map[string]any{"id": id, "object": "dispute", "amount": amount, "currency": "eur", "reason": reason, "status": "needs_response",
		"charge": "ch_" + strings.TrimPrefix(intentID, "pi_"), "payment_intent": intentID, "metadata": map[string]string{}}
}

// snapshot counts what a webhook or payment call could change.
func (e *apiEnv) snapshot() map[string]int {
	e.t.Helper()
	out := map[string]int{}
	for _, tb := range []string{"payments", "payment_refunds", "payment_disputes", "payment_events", "outbox", "order_transitions", "reservations"} {
		out[tb] = e.count(tb)
	}
	var v int
	e.scalar(&v, "SELECT coalesce(sum(version), 0)::int FROM payments")
	out["payment versions"] = v
	e.scalar(&v, "SELECT coalesce(sum(version), 0)::int FROM orders")
	out["order versions"] = v
	return out
}

func (e *apiEnv) unchanged(what string, before map[string]int) {
	e.t.Helper()
	after := e.snapshot()
	for k, v := range before {
		if after[k] != v {
			e.t.Errorf("%s changed %s: %d -> %d", what, k, v, after[k])
		}
	}
}

// paymentUpdates returns the payment.updated events of a tenant, decoded.
func (e *apiEnv) paymentUpdates(tenantID string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for _, b := range e.outboxEvents(tenantID, "payment.updated") {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// countWhere counts a tenant's outbox events of a type whose payload has key = value.
func (e *apiEnv) countWhere(tenantID, typ, key, value string) int {
	e.t.Helper()
	var n int
	e.scalar(&n, "SELECT count(*)::int FROM outbox WHERE tenant_id = $1 AND event_type = $2 AND payload->>$3 = $4", tenantID, typ, key, value)
	return n
}

// stripeProxy stands between the API and stripe-mock: it records the
// Idempotency-Key of every POST and can lose Stripe's answers (the call reaches
// stripe-mock, the API gets a 502), the failure that crash-safe recording is for.
type stripeProxy struct {
	mu     sync.Mutex
	keys   map[string][]string // path -> Idempotency-Keys sent
	lose   atomic.Bool         // lose the answers of POSTs
	refuse atomic.Bool         // answer POSTs as Stripe refuses a request, without passing them on
}

func (p *stripeProxy) start(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p.keys = map[string][]string{}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			p.mu.Lock()
			p.keys[r.URL.Path] = append(p.keys[r.URL.Path], r.Header.Get("Idempotency-Key"))
			p.mu.Unlock()
		}
		if r.Method == http.MethodPost && p.refuse.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","code":"charge_already_refunded","message":"Charge has already been refunded."}}`))
			return
		}
		if r.Method == http.MethodPost && p.lose.Load() {
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r) // Stripe did the work ...
			w.WriteHeader(http.StatusBadGateway)
			return // ... and its answer is lost
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (p *stripeProxy) sent(path string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.keys[path]...)
}
