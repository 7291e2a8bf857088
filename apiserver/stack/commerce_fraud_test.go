package stack_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/fraudscore"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/inference/training"
	"github.com/kommerce/kommerce/internal/events"
)

// trainFraud trains the real fraud job on a small synthetic shop and loads its ONNX
// file the way `kommerce api --fraud-model-uri` does.
func trainFraud(t *testing.T) *fraudscore.Scorer {
	t.Helper()
	res, err := training.Job{Purpose: training.PurposeFraud, OutDir: t.TempDir(), Version: "1",
		Source: training.Synthetic{Seed: 42, Users: 300, Items: 120, Clusters: 6, Days: 60}}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s, err := fraudscore.Load(context.Background(), res.Name, res.Version, res.ONNX, res.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *store) fraudPolicy(action string, threshold float64) {
	s.e.t.Helper()
	body := map[string]any{"currency": "EUR", "reservation_ttl_seconds": 600}
	if action != "" {
		body["fraud"] = map[string]any{"action": action, "threshold": threshold}
	}
	s.e.do("PUT", "/api/v1/storefronts/default/checkout-settings", s.slug, s.admin, body).want(200, "")
}

// TestFraudPolicy: with a model, a storefront's policy logs, marks for review or
// blocks risky orders (a block is 403 fraud_blocked and reserves nothing); without a
// model or without a policy, checkout is what it is without fraud checks.
func TestFraudPolicy(t *testing.T) {
	scorer := trainFraud(t)
	e := startAPI(t, func(o *stack.Options) { o.Commerce.Fraud = scorer })
	s := e.store("shop")
	s.product("FR-1", 5000, 0, 100)
	buy := func(key string) (*resp, string, string) {
		cart, token := s.guestCart()
		s.add(cart, token, "", "FR-1", 2).want(201, "")
		return s.checkout(cart, token, "", key, map[string]any{"email": "risky@example.test"}), cart, token
	}
	staffView := func(id string) apiserver.Order { return s.orderAs(id, s.admin) }

	t.Run("no policy: no score", func(t *testing.T) {
		r, _, _ := buy("none")
		if o := staffView(r.want(201, "").str("id")); o.Fraud != nil || o.Review {
			t.Fatalf("scored without a policy: %+v", o.Fraud)
		}
	})
	t.Run("block", func(t *testing.T) {
		s.fraudPolicy("block", 1e-9)
		reserved := s.stock("FR-1").Reserved
		r, cart, token := buy("blocked")
		r.want(403, apiserver.ErrFraudBlocked)
		s.checkout(cart, token, "", "blocked", map[string]any{"email": "risky@example.test"}).want(403, apiserver.ErrFraudBlocked)
		if st := s.stock("FR-1"); st.Reserved != reserved {
			t.Fatalf("a blocked checkout reserved stock: %+v", st)
		}
		var orders int
		e.scalar(&orders, "SELECT count(*) FROM orders WHERE cart_id = $1", cart)
		if orders != 0 {
			t.Fatal("a blocked checkout made an order")
		}
	})
	t.Run("review", func(t *testing.T) {
		s.fraudPolicy("review", 1e-9)
		r, _, _ := buy("review")
		r.want(201, "")
		if bytes.Contains(r.raw, []byte(`"review"`)) || bytes.Contains(r.raw, []byte(`"fraud"`)) {
			t.Fatalf("the shopper sees the fraud verdict: %s", r.raw)
		}
		o := staffView(r.str("id"))
		if !o.Review || o.Fraud == nil || o.Fraud.Action != apiserver.FraudReview || o.Fraud.Model != "fraud-logreg" || o.Fraud.Version != "1" {
			t.Fatalf("staff view: review %v, fraud %+v", o.Review, o.Fraud)
		}
		var page apiserver.OrderPage
		e.do("GET", "/api/v1/orders?limit=1", "shop", s.admin, nil).want(200, "").decode(&page)
		if !page.Items[0].Review {
			t.Fatal("staff lists do not show the review mark")
		}
	})
	t.Run("log", func(t *testing.T) {
		s.fraudPolicy("log", 1e-9)
		r, _, _ := buy("log")
		if o := staffView(r.want(201, "").str("id")); o.Review || o.Fraud == nil || o.Fraud.Action != apiserver.FraudLog {
			t.Fatalf("log policy: review %v, fraud %+v", o.Review, o.Fraud)
		}
	})
	t.Run("below the threshold", func(t *testing.T) {
		s.fraudPolicy("block", 0.999999)
		r, _, _ := buy("allow")
		o := staffView(r.want(201, "").str("id"))
		if o.Review || o.Fraud == nil || o.Fraud.Action != apiserver.FraudAllow || o.Fraud.Score <= 0 || o.Fraud.Score >= 0.999999 {
			t.Fatalf("allowed order: %+v", o.Fraud)
		}
	})
	e.checkStockInvariants(s.t.ID)

	t.Run("no model: the policy is inert", func(t *testing.T) {
		e := startAPI(t, nil)
		s := e.store("plain")
		s.product("FR-2", 5000, 0, 10)
		s.fraudPolicy("block", 1e-9)
		id := s.buyAsGuest(map[string]int64{"FR-2": 1})
		if o := s.orderAs(id, s.admin); o.Fraud != nil || o.Review {
			t.Fatalf("scored without a model: %+v", o.Fraud)
		}
	})
}

// recorder is a FraudScorer that keeps what checkout asked it, to check the features'
// inputs; it allows every order.
type recorder struct {
	mu  sync.Mutex
	got []apiserver.FraudOrder
}

func (r *recorder) Score(o apiserver.FraudOrder, p apiserver.FraudPolicy) apiserver.FraudDecision {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, o)
	return apiserver.FraudDecision{Score: 0.1, Action: apiserver.FraudAllow, Model: "recorder", Version: "1"}
}

// TestFraudFeatures: the scorer gets the order as it will be placed and the history
// questions answered from the order store.
func TestFraudFeatures(t *testing.T) {
	rec := &recorder{}
	e := startAPI(t, func(o *stack.Options) { o.Commerce.Fraud = rec })
	s := e.store("shop")
	s.product("FF-1", 1000, 0, 100)
	s.product("FF-2", 300, 0, 100)
	s.fraudPolicy("review", 0.5)
	addr := func(c string) map[string]any { return map[string]any{"country": c} }

	cart, token := s.guestCart()
	s.add(cart, token, "", "FF-1", 2).want(201, "")
	s.add(cart, token, "", "FF-2", 1).want(201, "")
	s.checkout(cart, token, "", "g1", map[string]any{"email": "Ann@Example.test", "shipping_address": addr("NL"), "billing_address": addr("US")}).want(201, "")
	s.buyAsGuest(map[string]int64{"FF-2": 1}) // another guest from the same address
	for i, key := range []string{"c1", "c2"} {
		c := e.do("POST", "/api/v1/carts", "shop", s.customer, nil).want(201, "").str("id")
		s.add(c, "", s.customer, "FF-1", int64(i+1)).want(201, "")
		s.checkout(c, "", s.customer, key, nil).want(201, "")
	}
	if len(rec.got) != 4 {
		t.Fatalf("%d orders scored", len(rec.got))
	}
	first, other, cust1, cust2 := rec.got[0], rec.got[1], rec.got[2], rec.got[3]
	if !first.Guest || first.Customer != "ann@example.test" || first.Amount != 2300 || first.Lines != 2 || first.Quantity != 3 ||
		first.ShippingCountry != "NL" || first.BillingCountry != "US" || first.ClientIP == "" || first.OtherCustomersOnIP != 0 || first.CustomerOrders != 0 {
		t.Fatalf("first guest: %+v", first)
	}
	if other.OtherCustomersOnIP != 1 || other.ClientIP != first.ClientIP {
		t.Fatalf("second guest on the same address: %+v", other)
	}
	if cust1.Guest || cust1.AccountAge <= 0 || cust1.OtherCustomersOnIP != 2 || cust1.CustomerOrders != 0 || cust2.CustomerOrders != 1 {
		t.Fatalf("customer: %+v then %+v", cust1, cust2)
	}
	created := e.outboxEvents(s.t.ID, string(events.OrderCreated))
	var ev events.Order
	if err := events.DecodeInto(events.OrderCreated, created[0], &ev); err != nil || ev.ClientIP == "" || ev.ShippingCountry != "NL" || ev.BillingCountry != "US" || !ev.Guest || ev.Total.Amount != 2300 {
		t.Fatalf("order.created as training reads it: %s (%v)", created[0], err)
	}
}
