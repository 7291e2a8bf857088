package stack_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/sfsettings"
	"github.com/kommerce/kommerce/internal/sfsettings/sfsettingstest"
	"github.com/kommerce/kommerce/internal/testenv"
)

// managedEnv is an API serving one storefront from a settings document in a
// directory laid out like a ConfigMap volume, watched as `kommerce api` does.
type managedEnv struct {
	*apiEnv
	vol   *sfsettingstest.Volume
	store *sfsettings.Store
	reg   *prometheus.Registry
	shop  *shop
	eng   engine
	admin string
}

// startManaged serves doc (tenant "acme", the shop of search_test.go indexed for
// doc's storefront) with the Bleve engine.
func startManaged(t *testing.T, doc *sfsettings.Document) *managedEnv {
	t.Helper()
	vol := sfsettingstest.NewVolume(t.TempDir())
	if err := vol.WriteDocument(doc); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	store, err := sfsettings.Open(vol.Path(), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	eng := engines(t)[1](t)
	e := startAPI(t, func(o *stack.Options) {
		o.Storefront = store
		o.Discovery = stack.DiscoveryOptions{Search: eng.backend}
	})
	go store.Watch(t.Context(), 10*time.Millisecond)
	s := newShop(e, eng, doc.Tenant)
	e.index(eng.backend, s.tenant, doc.Storefront)
	return &managedEnv{apiEnv: e, vol: vol, store: store, reg: reg, shop: s, eng: eng,
		admin: e.user(s.tenant, "admin@"+doc.Tenant+".test", apiserver.RoleAdmin)}
}

// write replaces the document the kubelet's way.
func (m *managedEnv) write(d *sfsettings.Document) {
	m.t.Helper()
	if err := m.vol.WriteDocument(d); err != nil {
		m.t.Fatal(err)
	}
}

func (m *managedEnv) reloads(result string) float64 {
	m.t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		m.t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, x := range mf.GetMetric() {
			if mf.GetName() == "kommerce_storefront_settings_reloads_total" && x.GetLabel()[0].GetValue() == result {
				return x.GetCounter().GetValue()
			}
		}
	}
	m.t.Fatalf("no reloads_total{result=%q}", result)
	return 0
}

// searchNames searches as a shopper on any host of the tenant: no tenant header,
// the pod serves one storefront.
func (m *managedEnv) searchNames(q string) []string {
	m.t.Helper()
	var p searchPage
	m.do("GET", query("/api/v1/search", "q", q), "", "", nil, "Host", "anything.example.org").want(200, "").decodeRaw(&p)
	return names(p.Hits)
}

// preflight sends a CORS preflight from origin and returns the allowed origin.
func (m *managedEnv) preflight(origin string) (string, *resp) {
	m.t.Helper()
	r := m.do("OPTIONS", "/api/v1/products", "", "", nil, "Origin", origin, "Access-Control-Request-Method", "GET")
	r.want(204, "")
	return r.header.Get("Access-Control-Allow-Origin"), r
}

// TestStorefrontSettingsReloadUnderLoad: while shoppers search, preflight and read
// the checkout settings without pause, the document is replaced the way the kubelet
// replaces a ConfigMap's files; no request fails, and the new synonyms, tax and CORS
// origins are served. A broken document then changes nothing and is counted.
func TestStorefrontSettingsReloadUnderLoad(t *testing.T) {
	doc := sfsettingstest.Document("acme", "web")
	doc.Search.Synonyms = nil
	m := startManaged(t, doc)
	if got := m.searchNames("jumper"); len(got) != 0 {
		t.Fatalf("jumper before synonyms: %v", got)
	}
	if o, r := m.preflight("https://shop.example.com"); o != "https://shop.example.com" || r.header.Get("Vary") != "Origin" {
		t.Fatalf("allowed origin %q, Vary %q", o, r.header.Get("Vary"))
	}

	ctx, stop := context.WithCancel(context.Background())
	var sent, failed atomic.Int64
	var firstFailure sync.Once
	var failure string
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			for ctx.Err() == nil {
				req := loadRequest(m.base, m.admin, i)
				res, err := http.DefaultClient.Do(req)
				sent.Add(1)
				switch {
				case err != nil:
					failed.Add(1)
					firstFailure.Do(func() { failure = err.Error() })
				default:
					res.Body.Close()
					if res.StatusCode >= 300 {
						failed.Add(1)
						firstFailure.Do(func() { failure = fmt.Sprintf("%s %s: %d", req.Method, req.URL, res.StatusCode) })
					}
				}
			}
		})
	}
	testenv.Eventually(t, 10*time.Second, "load is flowing", func() (bool, string) {
		return sent.Load() > 50, fmt.Sprint(sent.Load(), " sent")
	})

	for gen := int64(2); gen <= 4; gen++ { // three swaps under load
		doc.Generation = gen
		doc.Search.Synonyms = []sfsettings.Synonyms{{Terms: []string{"jumper", "sweater"}}}
		doc.Checkout.TaxRateBasisPoints = int32(700 + gen)
		doc.CORS.AllowedOrigins = []string{"https://new.example.com"}
		m.write(doc)
		testenv.Eventually(t, 10*time.Second, "the API serves the new document", func() (bool, string) {
			var s apiserver.CheckoutSettings
			m.do("GET", "/api/v1/storefronts/web/checkout-settings", "", m.admin, nil).want(200, "").decode(&s)
			return s.TaxRateBPS == int(700+gen), fmt.Sprint("tax ", s.TaxRateBPS)
		})
	}
	before := sent.Load()
	testenv.Eventually(t, 10*time.Second, "load goes on after the swaps", func() (bool, string) {
		return sent.Load() > before+50, fmt.Sprint(sent.Load(), " sent")
	})
	stop()
	wg.Wait()
	t.Logf("%d requests during 3 reloads, %d failed", sent.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during reloads; first: %s", failed.Load(), sent.Load(), failure)
	}

	if got := m.searchNames("jumper"); !slices.Equal(got, []string{"Navy Merino Sweater"}) {
		t.Fatalf("jumper after the synonyms arrived: %v", got)
	}
	if o, _ := m.preflight("https://new.example.com"); o != "https://new.example.com" {
		t.Fatalf("the new origin is not allowed: %q", o)
	}
	if o, r := m.preflight("https://shop.example.com"); o != "" || r.header.Get("Access-Control-Allow-Methods") != "" {
		t.Fatalf("the removed origin is still allowed: %v", r.header)
	}
	r := m.do("GET", "/api/v1/products", "", "", nil, "Origin", "https://new.example.com")
	if r.header.Get("Access-Control-Allow-Origin") != "https://new.example.com" || r.header.Get("Vary") == "" {
		t.Fatalf("a simple request from the new origin: %v", r.header)
	}
	if m.reloads("ok") != 3 || m.reloads("invalid") != 0 {
		t.Fatalf("reloads ok %v invalid %v", m.reloads("ok"), m.reloads("invalid"))
	}

	// A broken document (a negative tax) is refused: the previous one stays.
	bad := *doc
	bad.Generation, bad.Checkout.TaxRateBasisPoints = 5, -1
	m.write(&bad)
	testenv.Eventually(t, 10*time.Second, "the broken document is counted", func() (bool, string) {
		return m.reloads("invalid") == 1, fmt.Sprint("invalid ", m.reloads("invalid"))
	})
	var s apiserver.CheckoutSettings
	m.do("GET", "/api/v1/storefronts/web/checkout-settings", "", m.admin, nil).want(200, "").decode(&s)
	if s.TaxRateBPS != 704 || m.store.Current().Generation != 4 {
		t.Fatalf("after a broken document: tax %d, generation %d", s.TaxRateBPS, m.store.Current().Generation)
	}
}

// loadRequest is the i-th loader's request: a search, a CORS preflight or a read of
// the checkout settings, each answered from the document.
func loadRequest(base, admin string, i int) *http.Request {
	var req *http.Request
	switch i % 3 {
	case 0:
		req, _ = http.NewRequest("GET", base+query("/api/v1/search", "q", "merino"), nil)
		req.Host = "shop.example.com"
	case 1:
		req, _ = http.NewRequest("OPTIONS", base+"/api/v1/carts", nil)
		req.Header.Set("Origin", "https://shop.example.com")
		req.Header.Set("Access-Control-Request-Method", "POST")
	default:
		req, _ = http.NewRequest("GET", base+"/api/v1/storefronts/web/checkout-settings", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
	}
	return req
}

// TestManagedCheckoutSettings: the document's tax, shipping, currency and
// reservation TTL win over what the database holds; PUT of the managed storefront
// answers 409 managed_by_storefront, other storefronts still take it; an order
// through the real stack is charged from the document.
func TestManagedCheckoutSettings(t *testing.T) {
	doc := sfsettingstest.Document("acme", "web") // 19 % VAT, 4.95 shipping free from 50.00, 900 s
	m := startManaged(t, doc)
	ctx := apiserver.NewContextWithTenant(context.Background(), m.shop.tenant)
	settings := &postgres.SettingsService{Commerce: &postgres.Commerce{DB: m.st.DB}}
	// What PUT stored before the storefront was managed: other tax, currency and
	// TTL (the document wins), a fraud policy and hoarding caps (not in the document:
	// they stay).
	if _, err := settings.PutCheckoutSettings(ctx, "web", apiserver.CheckoutSettingsInput{Currency: "USD", ReservationTTLSeconds: 60,
		TaxRateBPS: 2500, TaxLabel: "Sales tax", ShippingAmount: 999,
		Hoarding: &apiserver.HoardPolicy{MaxUnitsGuest: 7, MaxUnitsCustomer: 8, MaxUnpaid: 9, MaxUnpaidPerAddress: 10}}); err != nil {
		t.Fatal(err)
	}

	var s apiserver.CheckoutSettings
	m.do("GET", "/api/v1/storefronts/web/checkout-settings", "", m.admin, nil).want(200, "").decode(&s)
	if !s.Managed || !s.Stored || s.Currency != "EUR" || s.TaxRateBPS != 1900 || s.TaxLabel != "VAT" || s.ShippingAmount != 495 ||
		s.FreeShippingOver == nil || *s.FreeShippingOver != 5000 || s.ReservationTTLSeconds != 900 || s.Hoarding.MaxUnitsGuest != 7 {
		t.Fatalf("effective settings %+v", s)
	}
	body := map[string]any{"currency": "EUR", "reservation_ttl_seconds": 60, "tax_rate_bps": 0}
	r := m.do("PUT", "/api/v1/storefronts/web/checkout-settings", "", m.admin, body).want(409, apiserver.ErrManagedByStorefront)
	if msg, _ := r.json["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "kubectl edit storefront web") {
		t.Fatalf("409 message %q", msg)
	}
	m.do("PUT", "/api/v1/storefronts/other/checkout-settings", "", m.admin, body).want(200, "")
	m.do("GET", "/api/v1/storefronts/other/checkout-settings", "", m.admin, nil).want(200, "").decode(&s)
	if s.Managed || s.TaxRateBPS != 0 {
		t.Fatalf("an unmanaged storefront: %+v", s)
	}

	// Orders through the real stack, on any host: below free shipping and above it.
	st := &store{e: m.apiEnv, t: m.shop.tenant, slug: "", admin: m.admin}
	m.do("PUT", "/api/v1/stock/acme-TE-0", "", m.admin, map[string]any{"warehouse": "main", "on_hand": 10}).want(200, "")
	m.do("PUT", "/api/v1/stock/acme-SW-0", "", m.admin, map[string]any{"warehouse": "main", "on_hand": 10}).want(200, "")
	for _, tc := range []struct {
		sku                          string
		subtotal, shipping, tax, ttl int64
	}{
		{"acme-TE-0", 1900, 495, 455, 900}, // 19 % of 23.95 = 4.5505
		{"acme-SW-0", 5900, 0, 1121, 900},  // free shipping from 50.00; 19 % of 59.00
	} {
		cart, token := st.guestCart()
		st.add(cart, token, "", tc.sku, 1).want(201, "")
		o := st.checkout(cart, token, "", "key-"+tc.sku, map[string]any{"email": "guest@example.test"}).want(201, "").order()
		if o.Currency != "EUR" || o.Subtotal != tc.subtotal || o.Shipping != tc.shipping || o.Tax != tc.tax || o.Total != tc.subtotal+tc.shipping+tc.tax {
			t.Fatalf("%s: order %s subtotal %d shipping %d tax %d total %d", tc.sku, o.Currency, o.Subtotal, o.Shipping, o.Tax, o.Total)
		}
		if o.ReservationExpiresAt == nil || o.ReservationExpiresAt.Sub(o.CreatedAt).Round(time.Second) != time.Duration(tc.ttl)*time.Second {
			t.Fatalf("%s: reservation until %v, created %v", tc.sku, o.ReservationExpiresAt, o.CreatedAt)
		}
	}

	// A live change of the document is charged on the next order.
	doc.Generation, doc.Checkout.TaxRateBasisPoints, doc.Checkout.ShippingAmount, doc.Checkout.FreeShippingOver = 2, 1000, 300, nil
	m.write(doc)
	testenv.Eventually(t, 10*time.Second, "generation 2 is served", func() (bool, string) {
		return m.store.Current().Generation == 2, fmt.Sprint(m.store.Current().Generation)
	})
	cart, token := st.guestCart()
	st.add(cart, token, "", "acme-SW-0", 1).want(201, "")
	o := st.checkout(cart, token, "", "key-after", map[string]any{"email": "guest@example.test"}).want(201, "").order()
	if o.Shipping != 300 || o.Tax != 620 {
		t.Fatalf("after the change: shipping %d tax %d", o.Shipping, o.Tax)
	}
}
