package main

import (
	"container/heap"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// catalog is what shoppers pick from: published products with their SKUs, the
// categories, and words of product names to search for.
type catalog struct {
	Products   []catalogProduct
	Categories []string
	Terms      []string
}

type catalogProduct struct {
	ID   string
	SKUs []string
}

// shopper is one session walking its plan. Fields after plan are filled from answers.
type shopper struct {
	id      int
	addr    string // its client address (X-Forwarded-For through a trusted proxy)
	plan    []action
	step    int
	nextAt  time.Time
	cartID  string
	token   string
	lineID  string
	orderID string
	intent  string
	amount  int64
	index   int // in the ready heap
}

// shop is the vegeta Targeter over many shoppers: each target is the next request of
// the shopper who has waited longest past its think time, or of a new session when
// every shopper is thinking or waiting for an answer. So the rate stays the pacer's
// (an open model, like independent shoppers arriving), while each shopper's requests
// stay in order with think times between them. Results come back through record,
// which reads the ids the next steps need (cart, token, line, order, intent).
type shop struct {
	sc      *Scenario
	cat     *catalog
	base    string
	tenant  string
	whsec   string
	mu      sync.Mutex
	r       *rand.Rand
	z       *zipf
	ready   readyHeap
	flying  map[int]*shopper
	nextID  int
	now     func() time.Time
	orders  map[string]bool // order ids answered 2xx to a checkout
	began   int             // sessions started
	stripeN int
}

func newShop(sc *Scenario, cat *catalog, base, tenant, whsec string, seed uint64) *shop {
	r := rand.New(rand.NewPCG(seed, 0x6c6f6164))
	return &shop{sc: sc, cat: cat, base: base, tenant: tenant, whsec: whsec, r: r,
		z: newZipf(r, sc.ZipfS, sc.ZipfV, len(cat.Products)), flying: map[int]*shopper{},
		now: time.Now, orders: map[string]bool{}}
}

// shopperAddr gives session i an address of its own in 10.0.0.0/8, as a real crowd
// behind a load balancer has: the per-address rate limit then applies per shopper.
func shopperAddr(i int) string {
	i = i%(1<<24-2) + 1
	return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
}

// next takes the shopper whose turn it is, starting a session when none is ready.
func (s *shop) next() *shopper {
	now := s.now()
	if len(s.ready) > 0 && !s.ready[0].nextAt.After(now) {
		return heap.Pop(&s.ready).(*shopper)
	}
	s.nextID++
	s.began++
	return &shopper{id: s.nextID, addr: shopperAddr(s.nextID), plan: s.sc.plan(s.r)}
}

// Targeter is the vegeta.Targeter.
func (s *shop) Targeter(t *vegeta.Target) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		sh := s.next()
		if s.target(sh, t) {
			s.flying[sh.id] = sh
			return nil
		}
		// The step needs an id an earlier answer did not give (it failed): the
		// session ends, and another shopper takes the slot.
	}
}

// target fills t with sh's current step; false when the step cannot be built.
func (s *shop) target(sh *shopper, t *vegeta.Target) bool {
	a := sh.plan[sh.step]
	h := http.Header{}
	h.Set("X-Kommerce-Tenant", s.tenant)
	h.Set("X-Forwarded-For", sh.addr)
	h.Set("X-Request-Id", fmt.Sprintf("load-%d-%d", sh.id, sh.step))
	api := s.base + "/api/v1"
	*t = vegeta.Target{Method: http.MethodGet, Header: h}
	switch a {
	case actProduct:
		t.URL = api + "/products/" + s.cat.Products[s.z.pick()].ID
	case actCategory:
		t.URL = api + "/products?limit=20&category=" + s.cat.Categories[s.r.IntN(len(s.cat.Categories))]
	case actSearch:
		t.URL = api + "/search?limit=20&q=" + url.QueryEscape(s.term())
	case actSuggest:
		term := s.term()
		t.URL = api + "/search/suggest?q=" + url.QueryEscape(term[:min(len(term), 2+s.r.IntN(3))])
	case actCartCreate:
		t.Method, t.URL = http.MethodPost, api+"/carts"
	case actCartAdd:
		if sh.cartID == "" {
			return false
		}
		p := s.cat.Products[s.z.pick()]
		t.Method, t.URL = http.MethodPost, api+"/carts/"+sh.cartID+"/items"
		t.Body = fmt.Appendf(nil, `{"sku":%q,"quantity":%d}`, p.SKUs[s.r.IntN(len(p.SKUs))], 1+s.r.IntN(2))
		h.Set("X-Cart-Token", sh.token)
	case actCartUpdate:
		if sh.lineID == "" {
			return false
		}
		t.Method, t.URL = http.MethodPatch, api+"/carts/"+sh.cartID+"/items/"+sh.lineID
		t.Body = fmt.Appendf(nil, `{"quantity":%d}`, 1+s.r.IntN(3))
		h.Set("X-Cart-Token", sh.token)
	case actCheckout:
		if sh.lineID == "" {
			return false
		}
		t.Method, t.URL = http.MethodPost, api+"/carts/"+sh.cartID+"/checkout"
		t.Body = fmt.Appendf(nil, `{"email":"shopper-%d@load.test","shipping_address":{"country":"DE"}}`, sh.id)
		h.Set("X-Cart-Token", sh.token)
		h.Set("Idempotency-Key", "checkout-"+sh.cartID)
	case actPay:
		if sh.orderID == "" {
			return false
		}
		t.Method, t.URL = http.MethodPost, api+"/orders/"+sh.orderID+"/payments"
		h.Set("X-Cart-Token", sh.token)
	case actWebhook:
		if sh.intent == "" {
			return false
		}
		t.Method, t.URL = http.MethodPost, api+"/payments/stripe/webhook"
		t.Body = stripeEvent(sh.intent, sh.amount, s.now())
		h.Set("Stripe-Signature", stripeSignature(t.Body, s.whsec, s.now()))
		// Stripe delivers from a handful of addresses of its own.
		s.stripeN++
		h.Set("X-Forwarded-For", fmt.Sprintf("192.0.2.%d", 1+s.stripeN%12))
	}
	if t.Body != nil {
		h.Set("Content-Type", "application/json")
	}
	// The fragment routes the result back to the shopper; the client never sends it.
	t.URL += "#" + strconv.Itoa(sh.id)
	return true
}

func (s *shop) term() string { return s.cat.Terms[s.z.pick()%len(s.cat.Terms)] }

// record takes a result back to its shopper: on success the shopper reads the ids
// it needs, waits its think time and queues for its next step; on failure, or after
// its last step, the session ends.
func (s *shop) record(res *vegeta.Result) (action, bool) {
	_, frag, _ := strings.Cut(res.URL, "#")
	id, _ := strconv.Atoi(frag)
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.flying[id]
	if sh == nil {
		return 0, false
	}
	delete(s.flying, id)
	a := sh.plan[sh.step]
	ok := res.Error == "" && res.Code >= 200 && res.Code < 300
	if ok {
		ok = sh.read(a, res.Body)
		if a == actCheckout && sh.orderID != "" {
			s.orders[sh.orderID] = true
		}
	}
	sh.step++
	if ok && sh.step < len(sh.plan) {
		sh.nextAt = s.now().Add(s.sc.thinkTime(s.r))
		heap.Push(&s.ready, sh)
	}
	return a, true
}

// read takes what later steps need from a successful answer.
func (sh *shopper) read(a action, body []byte) bool {
	switch a {
	case actCartCreate, actCartAdd:
		var c struct {
			ID    string `json:"id"`
			Token string `json:"token"`
			Lines []struct {
				ID string `json:"id"`
			} `json:"lines"`
		}
		if json.Unmarshal(body, &c) != nil {
			return false
		}
		if a == actCartCreate {
			sh.cartID, sh.token = c.ID, c.Token
			return c.ID != "" && c.Token != ""
		}
		if len(c.Lines) > 0 {
			sh.lineID = c.Lines[len(c.Lines)-1].ID
		}
	case actCheckout:
		var o struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(body, &o) != nil || o.ID == "" {
			return false
		}
		sh.orderID = o.ID
	case actPay:
		var p struct {
			IntentID string `json:"intent_id"`
			Amount   int64  `json:"amount"`
		}
		if json.Unmarshal(body, &p) != nil || p.IntentID == "" {
			return false
		}
		sh.intent, sh.amount = p.IntentID, p.Amount
	}
	return true
}

// stripeEvent is the payment_intent.succeeded event Stripe would deliver for intent.
func stripeEvent(intent string, amount int64, now time.Time) []byte {
	return fmt.Appendf(nil, `{"id":"evt_load_%s","object":"event","type":"payment_intent.succeeded","created":%d,"data":{"object":{"id":%q,"object":"payment_intent","status":"succeeded","amount":%d,"amount_received":%d,"currency":"eur"}}}`,
		intent, now.Unix(), intent, amount, amount)
}

// stripeSignature is Stripe's Stripe-Signature header: t=<unix>,v1=HMAC-SHA256(secret, "<t>.<body>").
func stripeSignature(body []byte, secret string, now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// readyHeap orders thinking shoppers by when they act next.
type readyHeap []*shopper

func (h readyHeap) Len() int           { return len(h) }
func (h readyHeap) Less(i, j int) bool { return h[i].nextAt.Before(h[j].nextAt) }
func (h readyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *readyHeap) Push(x any)        { sh := x.(*shopper); sh.index = len(*h); *h = append(*h, sh) }
func (h *readyHeap) Pop() any {
	old := *h
	sh := old[len(old)-1]
	*h = old[:len(old)-1]
	return sh
}

// answeredOrders are the orders checkouts were answered 2xx for.
func (s *shop) answeredOrders() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]bool, len(s.orders))
	for k := range s.orders {
		out[k] = true
	}
	return out
}
