package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func testScenario(t *testing.T) *Scenario {
	t.Helper()
	sc, err := loadScenario("scenario.json")
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// The committed scenario gives the mix the issue asks for, within its tolerance.
func TestScenarioMix(t *testing.T) {
	sc := testScenario(t)
	r := rand.New(rand.NewPCG(1, 2))
	plans := make([][]action, 50000)
	for i := range plans {
		plans[i] = sc.plan(r)
	}
	got := mix(plans)
	t.Logf("mix of 50,000 sessions: %v", got)
	for class, want := range sc.TargetMix {
		if d := got[class] - want; d > sc.Tolerance || d < -sc.Tolerance {
			t.Errorf("%s share %.3f, want %.3f ± %.3f (all: %v)", class, got[class], want, sc.Tolerance, got)
		}
	}
}

// Every plan is a flow a shopper can walk: browsing first, a cart before its lines,
// an update only after a line, a checkout only with a line, then pay and webhook.
func TestPlanShape(t *testing.T) {
	sc := testScenario(t)
	r := rand.New(rand.NewPCG(3, 4))
	sawBuy := false
	for range 5000 {
		p := sc.plan(r)
		lead := 0
		for lead < len(p) && p[lead].class() != classCart {
			lead++
		}
		if lead < sc.BrowseMin || (lead > sc.BrowseMax && lead != len(p)) || (lead == len(p) && lead > sc.BrowseMax) {
			t.Fatalf("plan %v: %d browse steps before the cart, want %d..%d", p, lead, sc.BrowseMin, sc.BrowseMax)
		}
		created, lines := false, 0
		for i, a := range p {
			switch a {
			case actCartCreate:
				created = true
			case actCartAdd:
				if !created {
					t.Fatalf("plan %v: a line before the cart", p)
				}
				lines++
			case actCartUpdate, actCheckout:
				if lines == 0 {
					t.Fatalf("plan %v: %s before any line", p, a)
				}
			}
			if a == actCheckout {
				sawBuy = true
				if !slices.Equal(p[i:], []action{actCheckout, actPay, actWebhook}) {
					t.Fatalf("plan %v: checkout not followed by pay and webhook at the end", p)
				}
			}
		}
		if lines > sc.CartLinesMax {
			t.Fatalf("plan %v: %d lines, want at most %d", p, lines, sc.CartLinesMax)
		}
	}
	if !sawBuy {
		t.Fatal("no plan of 5000 checks out")
	}
}

func TestValidate(t *testing.T) {
	ok := func() Scenario {
		return Scenario{Products: 10, ZipfS: 1.1, ZipfV: 1, BrowseMin: 1, BrowseMax: 2, CartLinesMax: 1,
			BrowseMix: map[string]float64{"product": 1}, CartProbability: .5, BuyProbability: .5}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Scenario)
		error string
	}{
		{"valid", func(*Scenario) {}, ""},
		{"zipf s of 1", func(s *Scenario) { s.ZipfS = 1 }, "zipf_s"},
		{"browse range upside down", func(s *Scenario) { s.BrowseMin = 3 }, "browse_min"},
		{"probability above 1", func(s *Scenario) { s.BuyProbability = 1.5 }, "probabilities"},
		{"unknown browse kind", func(s *Scenario) { s.BrowseMix["wishlist"] = 1 }, "unknown kind"},
		{"no browse weight", func(s *Scenario) { s.BrowseMix = map[string]float64{"product": 0} }, "positive weight"},
		{"no lines", func(s *Scenario) { s.CartLinesMax = 0 }, "cart_lines_max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ok()
			tc.edit(&s)
			err := s.validate()
			switch {
			case tc.error == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.error != "" && (err == nil || !strings.Contains(err.Error(), tc.error)):
				t.Fatalf("error %v, want one about %q", err, tc.error)
			}
		})
	}
}

// A few products take most views, every product can be picked, and picks are spread
// by the shuffle rather than bunched at the start of the catalog.
func TestZipfHot(t *testing.T) {
	const n, draws = 2000, 200000
	z := newZipf(rand.New(rand.NewPCG(5, 6)), 1.2, 4, n)
	counts := make([]int, n)
	for range draws {
		k := z.pick()
		if k < 0 || k >= n {
			t.Fatalf("pick %d outside 0..%d", k, n-1)
		}
		counts[k]++
	}
	sorted := slices.Clone(counts)
	slices.Sort(sorted)
	slices.Reverse(sorted)
	top := 0
	for _, c := range sorted[:n/100] {
		top += c
	}
	if share := float64(top) / draws; share < 0.3 || share > 0.9 {
		t.Errorf("the hottest 1%% of products got %.2f of views, want a hot head (0.3..0.9)", share)
	}
	seen := 0
	for _, c := range counts {
		if c > 0 {
			seen++
		}
	}
	if seen < n/2 {
		t.Errorf("only %d of %d products ever picked: no long tail", seen, n)
	}
	if hot := slices.Index(counts, sorted[0]); hot == 0 {
		t.Errorf("the hottest product is the first of the catalog: not shuffled")
	}
}

func TestQuantile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		q    float64
		want float64
	}{{0.5, 5}, {0.95, 10}, {0.9, 9}, {0.1, 1}, {0, 1}, {1, 10}} {
		if got := quantile(v, tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if quantile(nil, .5) != 0 {
		t.Error("quantile of nothing is not 0")
	}
}

// fakeAnswer answers a target as the API would, enough for the flow to go on.
func fakeAnswer(tg *vegeta.Target, n int) *vegeta.Result {
	res := &vegeta.Result{URL: tg.URL, Method: tg.Method, Code: 200}
	path, _, _ := strings.Cut(strings.TrimPrefix(tg.URL, "http://api/api/v1"), "#")
	switch {
	case tg.Method == http.MethodPost && path == "/carts":
		res.Code, res.Body = 201, fmt.Appendf(nil, `{"id":"cart-%d","token":"tok-%d","lines":[]}`, n, n)
	case strings.HasSuffix(path, "/items"):
		res.Body = fmt.Appendf(nil, `{"id":"x","lines":[{"id":"line-%d"}]}`, n)
	case strings.HasSuffix(path, "/checkout"):
		res.Code, res.Body = 201, fmt.Appendf(nil, `{"id":"order-%d"}`, n)
	case strings.HasSuffix(path, "/payments"):
		res.Body = fmt.Appendf(nil, `{"intent_id":"pi_%d","amount":1234}`, n)
	default:
		res.Body = []byte(`{}`)
	}
	return res
}

// The targeter walks each shopper's plan in order, never sends a shopper's next
// request before its think time, carries the ids from answers into later requests,
// and signs the webhook so the API can verify it.
func TestShopperFlow(t *testing.T) {
	sc := testScenario(t)
	sc.CartProbability, sc.BuyProbability = 1, 1 // every session buys: the whole flow
	cat := &catalog{Categories: []string{"c1"}, Terms: []string{"mug", "skillet"}}
	for i := range 50 {
		cat.Products = append(cat.Products, catalogProduct{ID: fmt.Sprintf("p%d", i), SKUs: []string{fmt.Sprintf("SKU-%d", i)}})
	}
	s := newShop(sc, cat, "http://api", "acme", "whsec_test", 9)
	clock := time.Unix(1_700_000_000, 0)
	s.now = func() time.Time { return clock }

	type sent struct {
		shopper string
		act     action
		at      time.Time
		tg      vegeta.Target
	}
	var log []sent
	lastAnswer := map[string]time.Time{}
	for n := range 3000 {
		var tg vegeta.Target
		if err := s.Targeter(&tg); err != nil {
			t.Fatal(err)
		}
		_, frag, _ := strings.Cut(tg.URL, "#")
		if prev, ok := lastAnswer[frag]; ok && clock.Before(prev) {
			t.Fatalf("shopper %s sent before its last answer", frag)
		}
		res := fakeAnswer(&tg, n)
		a, ok := s.record(res)
		if !ok {
			t.Fatalf("result of %s not routed back", tg.URL)
		}
		log = append(log, sent{frag, a, clock, tg})
		lastAnswer[frag] = clock
		clock = clock.Add(10 * time.Millisecond) // 100 requests a second
	}

	checkouts := 0
	byShopper := map[string][]sent{}
	for _, l := range log {
		byShopper[l.shopper] = append(byShopper[l.shopper], l)
	}
	for id, ls := range byShopper {
		for i, l := range ls {
			if i > 0 && l.at.Sub(ls[i-1].at) < 0 {
				t.Fatalf("shopper %s: requests out of time order", id)
			}
			h := l.tg.Header
			if h.Get("X-Kommerce-Tenant") != "acme" || !strings.HasPrefix(h.Get("X-Forwarded-For"), "10.") && l.act != actWebhook {
				t.Fatalf("shopper %s %s: headers %v", id, l.act, h)
			}
			switch l.act {
			case actCartAdd, actCartUpdate, actCheckout, actPay:
				if !strings.HasPrefix(h.Get("X-Cart-Token"), "tok-") || !strings.Contains(l.tg.URL, "cart-") && l.act != actPay {
					t.Fatalf("shopper %s %s without its cart: %s %v", id, l.act, l.tg.URL, h)
				}
			}
			if l.act == actCheckout {
				checkouts++
				if !strings.HasPrefix(h.Get("Idempotency-Key"), "checkout-cart-") {
					t.Fatalf("checkout without an Idempotency-Key of its cart: %v", h)
				}
			}
			if l.act == actPay && !strings.Contains(l.tg.URL, "/orders/order-") {
				t.Fatalf("payment not for the shopper's order: %s", l.tg.URL)
			}
			if l.act == actWebhook {
				sig := h.Get("Stripe-Signature")
				ts, v1, _ := strings.Cut(strings.TrimPrefix(sig, "t="), ",v1=")
				m := hmac.New(sha256.New, []byte("whsec_test"))
				m.Write([]byte(ts + "."))
				m.Write(l.tg.Body)
				if hex.EncodeToString(m.Sum(nil)) != v1 || !strings.Contains(string(l.tg.Body), `"id":"pi_`) {
					t.Fatalf("webhook signature %q does not verify for %s", sig, l.tg.Body)
				}
			}
		}
		// The shopper's actions are a prefix of some plan: compare with its own.
		var acts []action
		for _, l := range ls {
			acts = append(acts, l.act)
		}
		if first := acts[0]; first.class() == classCart || first.class() == classCheckout {
			t.Fatalf("shopper %s starts with %s", id, first)
		}
	}
	if checkouts == 0 {
		t.Fatal("no shopper reached checkout in 3000 requests")
	}
	if len(s.answeredOrders()) != checkouts {
		t.Fatalf("%d checkouts answered, %d orders remembered", checkouts, len(s.answeredOrders()))
	}
	// Think times hold shoppers back, so at 100 requests a second new sessions keep
	// starting: more than one shopper is in flight at a time.
	if len(byShopper) < 10 {
		t.Fatalf("only %d shoppers: think times not holding shoppers back", len(byShopper))
	}
}

// A failed answer ends the session: the shopper's later steps are not sent.
func TestFailureEndsSession(t *testing.T) {
	sc := testScenario(t)
	sc.BrowseMin, sc.BrowseMax, sc.CartProbability, sc.BuyProbability = 0, 0, 1, 1
	cat := &catalog{Categories: []string{"c"}, Terms: []string{"mug"}, Products: []catalogProduct{{ID: "p", SKUs: []string{"S"}}, {ID: "q", SKUs: []string{"T"}}}}
	s := newShop(sc, cat, "http://api", "acme", "w", 1)
	clock := time.Unix(1_700_000_000, 0)
	s.now = func() time.Time { return clock }
	var tg vegeta.Target
	if err := s.Targeter(&tg); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.Split(tg.URL, "#")[0], "/carts") {
		t.Fatalf("first request %s, want the cart", tg.URL)
	}
	s.record(&vegeta.Result{URL: tg.URL, Code: 503, Error: "503 Service Unavailable"})
	if len(s.ready) != 0 || len(s.flying) != 0 {
		t.Fatalf("the failed session goes on: %d ready, %d flying", len(s.ready), len(s.flying))
	}
	clock = clock.Add(time.Hour)
	if err := s.Targeter(&tg); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(tg.URL, "#2") {
		t.Fatalf("next request %s, want a new session (#2)", tg.URL)
	}
}

func TestShopperAddr(t *testing.T) {
	seen := map[string]bool{}
	for i := 1; i <= 70000; i++ {
		a := shopperAddr(i)
		if seen[a] {
			t.Fatalf("address %s given twice (session %d)", a, i)
		}
		seen[a] = true
	}
}
