package stack_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/apiserver/stack"
)

// outcome is one concurrent request's answer.
type outcome struct {
	status   int
	code     string
	orderID  string
	replayed bool
	err      error
}

// race sends all requests at once (after every goroutine is ready) and returns
// their outcomes in order.
func (e *apiEnv) race(reqs []*http.Request) []outcome {
	out := make([]outcome, len(reqs))
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i, req := range reqs {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			res, err := client.Do(req)
			if err != nil {
				out[i].err = err
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			var body struct {
				ID    string `json:"id"`
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			_ = json.Unmarshal(b, &body)
			out[i] = outcome{status: res.StatusCode, code: body.Error.Code, orderID: body.ID, replayed: res.Header.Get("Idempotent-Replayed") == "true"}
			if res.StatusCode >= 500 {
				out[i].err = fmt.Errorf("status %d: %s", res.StatusCode, b)
			}
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return out
}

func (s *store) checkoutRequest(cart, token, key string) *http.Request {
	s.e.t.Helper()
	req, err := http.NewRequest("POST", s.e.base+"/api/v1/carts/"+cart+"/checkout", bytes.NewReader([]byte(`{"email":"buyer@example.test"}`)))
	if err != nil {
		s.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Kommerce-Tenant", s.slug)
	req.Header.Set("X-Cart-Token", token)
	req.Header.Set("Idempotency-Key", key)
	return req
}

// buyers prepares one guest cart per buyer with the lines lines(i) and returns a
// checkout request for each.
func (s *store) buyers(n int, lines func(i int) map[string]int64) []*http.Request {
	s.e.t.Helper()
	reqs := make([]*http.Request, n)
	for i := range reqs {
		cart, token := s.guestCart()
		for sku, q := range lines(i) {
			s.add(cart, token, "", sku, q).want(201, "")
		}
		reqs[i] = s.checkoutRequest(cart, token, "buy-"+cart)
	}
	return reqs
}

// warehouses describes a stock's warehouses as "name on_hand/reserved ..." in name
// order, checking that each one's available is on_hand - reserved.
func warehouses(st apiserver.Stock) string {
	var parts []string
	for _, w := range st.Warehouses {
		if w.Available != w.OnHand-w.Reserved {
			return fmt.Sprintf("%s: available %d of %d on hand, %d reserved", w.Warehouse, w.Available, w.OnHand, w.Reserved)
		}
		parts = append(parts, fmt.Sprintf("%s %d/%d", w.Warehouse, w.OnHand, w.Reserved))
	}
	return strings.Join(parts, " ")
}

// tally counts orders and refusals, failing on anything but 201 and 409
// insufficient_stock.
func tally(t *testing.T, outs []outcome) (orders int) {
	t.Helper()
	for _, o := range outs {
		switch {
		case o.err != nil:
			t.Errorf("request failed: %v", o.err)
		case o.status == 201 && o.orderID != "":
			orders++
		case o.status == 409 && o.code == apiserver.ErrInsufficientStock:
		default:
			t.Errorf("unexpected answer %d %s", o.status, o.code)
		}
	}
	return orders
}

// TestCheckoutNeverOversells races 64+ buyers for the last units, with each safe
// reservation strategy, with stock split over warehouses: exactly the units there are
// get sold, stock ends at zero in every warehouse, and orders, reservations and the
// warehouses' reserved units match (checkStockInvariants). Cancellations racing new
// checkouts give units back to the warehouses they came from.
func TestCheckoutNeverOversells(t *testing.T) {
	for _, lock := range []postgres.LockStrategy{postgres.LockConditional, postgres.LockForUpdate} {
		t.Run(string(lock), func(t *testing.T) {
			e := startShopAPI(t, 32, func(o *stack.Options) { o.Commerce.Lock = lock })
			s := e.store("shop")
			soldUnits := func(skus ...string) int64 {
				var n int64
				e.scalar(&n, `SELECT coalesce(sum(l.quantity), 0) FROM order_lines l JOIN orders o ON o.tenant_id = l.tenant_id AND o.id = l.order_id
					WHERE l.tenant_id = $1 AND l.sku = ANY ($2) AND o.status <> 'cancelled'`, s.t.ID, skus)
				return n
			}

			t.Run("64 buyers, the last 10 units of one SKU in 3 warehouses", func(t *testing.T) {
				s.product("HOT", 1000, 0, 9) // main 9, east 8, west 8
				s.setStock("HOT", "east", 8)
				s.setStock("HOT", "west", 8)
				s.buyAsGuest(map[string]int64{"HOT": 15}) // earlier sales (main 9, east 6): 10 units are left
				if got := warehouses(s.stock("HOT")); got != "east 8/6 main 9/9 west 8/0" {
					t.Errorf("15 units placed as %s; want main's 9, then 6 of east (ties by name)", got)
				}
				// Carts can only take units that are available: those of the second race
				// are filled now.
				later := s.buyers(64, func(int) map[string]int64 { return map[string]int64{"HOT": 1} })
				outs := e.race(s.buyers(64, func(int) map[string]int64 { return map[string]int64{"HOT": 1} }))
				if got := tally(t, outs); got != 10 {
					t.Errorf("%d orders for the last 10 units", got)
				}
				st := s.stock("HOT")
				if st.OnHand != 25 || st.Reserved != 25 || st.Available != 0 || warehouses(st) != "east 8/8 main 9/9 west 8/8" {
					t.Errorf("stock after the race: %+v", st)
				}
				if n := soldUnits("HOT"); n != 25 {
					t.Errorf("%d units sold of 25", n)
				}
				e.checkStockInvariants(s.t.ID)

				// The 10 winners cancel while 64 more buyers race for what they give back.
				var reqs []*http.Request
				for _, o := range outs {
					if o.status == 201 {
						reqs = append(reqs, e.request("POST", "/api/v1/orders/"+o.orderID+"/transitions", s.slug, s.admin,
							map[string]any{"to": apiserver.OrderCancelled, "reason": "changed my mind"}))
					}
				}
				outs = e.race(append(reqs, later...))
				for _, o := range outs[:len(reqs)] {
					if o.status != 200 {
						t.Errorf("cancel answered %d %s: %v", o.status, o.code, o.err)
					}
				}
				got := tally(t, outs[len(reqs):])
				if got > 10 {
					t.Errorf("%d orders for the 10 units given back", got)
				}
				if st := s.stock("HOT"); st.OnHand != 25 || st.Reserved != int64(15+got) || soldUnits("HOT") != int64(15+got) {
					t.Errorf("%d new orders, stock %+v, %d sold", got, st, soldUnits("HOT"))
				}
				e.checkStockInvariants(s.t.ID)
			})

			t.Run("160 buyers over 20 SKUs of 4 units", func(t *testing.T) {
				skus := make([]string, 20)
				for i := range skus {
					skus[i] = sku("SPREAD", i)
					s.product(skus[i], 500, 0, 2)
					s.setStock(skus[i], "north", 2)
				}
				reqs := s.buyers(160, func(i int) map[string]int64 { return map[string]int64{skus[i%20]: 1} })
				if got := tally(t, e.race(reqs)); got != 80 {
					t.Errorf("%d orders for 80 units", got)
				}
				for _, k := range skus {
					if st := s.stock(k); st.Available != 0 || st.Reserved != 4 || warehouses(st) != "main 2/2 north 2/2" {
						t.Errorf("stock of %s after the race: %+v", k, st)
					}
				}
				if n := soldUnits(skus...); n != 80 {
					t.Errorf("%d units sold of 80", n)
				}
			})

			t.Run("96 buyers of two SKUs each", func(t *testing.T) {
				skus := make([]string, 10)
				for i := range skus {
					skus[i] = sku("PAIR", i)
					s.product(skus[i], 700, 0, 6)
				}
				reqs := s.buyers(96, func(i int) map[string]int64 { return map[string]int64{skus[i%10]: 1, skus[(i+3)%10]: 1} })
				got := tally(t, e.race(reqs))
				if got == 0 || got > 30 {
					t.Errorf("%d orders of 2 units from 60 units", got)
				}
				if n := soldUnits(skus...); n != int64(2*got) {
					t.Errorf("%d units sold by %d orders of 2", n, got)
				}
				for _, k := range skus {
					if st := s.stock(k); st.Reserved > 6 || st.Available < 0 {
						t.Errorf("stock of %s after the race: %+v", k, st)
					}
				}
			})

			t.Run("64 concurrent retries with one Idempotency-Key", func(t *testing.T) {
				s.product("ONCE", 1000, 0, 100)
				cart, token := s.guestCart()
				s.add(cart, token, "", "ONCE", 2).want(201, "")
				reqs := make([]*http.Request, 64)
				for i := range reqs {
					reqs[i] = s.checkoutRequest(cart, token, "the-one-key")
				}
				outs := e.race(reqs)
				first := 0
				for _, o := range outs {
					if o.err != nil || o.status != 201 || o.orderID != outs[0].orderID {
						t.Fatalf("retry answered %d %s order %q (first %q): %v", o.status, o.code, o.orderID, outs[0].orderID, o.err)
					}
					if !o.replayed {
						first++
					}
				}
				if first != 1 {
					t.Errorf("%d answers not marked as replays; want exactly 1", first)
				}
				var orders int
				e.scalar(&orders, "SELECT count(*) FROM orders WHERE tenant_id = $1 AND cart_id = $2", s.t.ID, cart)
				if orders != 1 || s.stock("ONCE").Reserved != 2 {
					t.Errorf("%d orders, %d reserved", orders, s.stock("ONCE").Reserved)
				}
			})
			e.checkStockInvariants(s.t.ID)
		})
	}
}

// request builds a JSON request as e.do sends it, to be sent later (by race).
func (e *apiEnv) request(method, path, tenant, token string, body any) *http.Request {
	e.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	req, err := http.NewRequest(method, e.base+path, bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Kommerce-Tenant", tenant)
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}
