// Command shoppers is the shop and its customers for hack/e2e/models.sh: it seeds a
// catalog through the API, trains two recommendation models over that catalog's real
// product ids, and simulates shoppers whose clicks follow a planted taste, so that the
// model that learnt the tastes really gets more clicks than the one that did not.
//
//	shoppers seed  -url http://10.96.1.2 -tenant acme -token <staff> -products 60 -clusters 6 -out catalog.json
//	shoppers train -catalog catalog.json -out dir -name recs-mf -version v1 -namespace shop \
//	               -artifact-base http://artifacts.shop.svc.cluster.local:8000 [-shuffle]
//	shoppers shop  -url http://10.96.1.2 -tenant acme -catalog catalog.json -sessions 400 -rate 16 -seed 7
//	shoppers probe -url http://10.96.1.2 -tenant acme -catalog catalog.json -n 30
//
// seed creates published products named after their taste cluster (the cluster of a
// product is the shop's truth; the models never see it directly). train runs
// inference/training's recommendation job on Synthetic{Catalog: ...}, whose shoppers
// browse and buy mostly within one cluster, and prints the artifact of the written
// ModelVersion manifest as JSON; with -shuffle the products are dealt into clusters at
// random first, so the model learns tastes no real shopper has: a valid model, worse
// on this shop.
//
// shop runs sessions: each has a taste (a cluster), views a product of it and asks
// GET /api/v1/recommendations?context=product:<id>&session_id=<session>; it then looks
// at the answer in order and clicks an item with probability -p-in if the item is of
// its taste, -p-out otherwise, stopping at the first click, which it reports with
// POST /api/v1/events (click, context.request_id) and an add_to_cart of the same
// product; with -p-buy a click ends in a guest checkout of that product (a cart, the
// line, the order) and a purchase event naming the order, which credits the session
// with the order in the experiment analysis. Requests start on a fixed schedule at -rate a second (the API limits an
// address to 20); a 429 is retried after Retry-After. The last line on stdout is a JSON
// summary per answering model version: sessions, clicks, CTR, fallbacks.
//
// probe asks the recommendations of -n fixed (session, product) pairs and prints each
// answer's ids, source and version: two probes around a change prove whether it
// changed any answer.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/inference/training"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "shoppers:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: shoppers seed|train|shop|probe [flags]")
	}
	switch args[0] {
	case "seed":
		return seed(ctx, args[1:], stdout)
	case "train":
		return train(ctx, args[1:], stdout)
	case "shop":
		return shop(ctx, args[1:], stdout)
	case "probe":
		return probe(ctx, args[1:], stdout)
	}
	return fmt.Errorf("unknown command %q: use seed, train, shop or probe", args[0])
}

// Product is one seeded product and its taste cluster.
type Product struct {
	ID      string `json:"id"`
	SKU     string `json:"sku"`
	Cluster string `json:"cluster"`
}

// api is a client of one tenant's API with a request schedule shared by every caller.
type api struct {
	base, tenant, token string
	http                *http.Client
	tick                <-chan time.Time
}

func newAPI(base, tenant, token string, rate float64) *api {
	a := &api{base: base, tenant: tenant, token: token, http: &http.Client{Timeout: 10 * time.Second}}
	if rate > 0 {
		a.tick = time.NewTicker(time.Duration(float64(time.Second) / rate)).C
	}
	return a
}

// do sends one request on the schedule and decodes a 2xx JSON answer into out; a 429
// is sent again after its Retry-After (at most five times).
func (a *api) do(ctx context.Context, method, path string, body, out any) error {
	return a.doH(ctx, method, path, nil, body, out)
}

// doH is do with extra request headers.
func (a *api) doH(ctx context.Context, method, path string, hdr map[string]string, body, out any) error {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return err
		}
	}
	for try := 0; ; try++ {
		if a.tick != nil {
			select {
			case <-a.tick:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("X-Kommerce-Tenant", a.tenant)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if a.token != "" {
			req.Header.Set("Authorization", "Bearer "+a.token)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := a.http.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		_ = res.Body.Close()
		if err != nil {
			return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
		}
		if res.StatusCode == http.StatusTooManyRequests && try < 5 {
			wait, _ := strconv.Atoi(res.Header.Get("Retry-After"))
			select {
			case <-time.After(time.Duration(max(wait, 1)) * time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		if res.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: %s: %s", method, path, res.Status, bytes.TrimSpace(data))
		}
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
		}
		return nil
	}
}

func seed(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	base := fs.String("url", "", "the API's base URL")
	tenant := fs.String("tenant", "", "tenant slug (X-Kommerce-Tenant)")
	token := fs.String("token", "", "a staff user's access token")
	products := fs.Int("products", 60, "products to create")
	clusters := fs.Int("clusters", 6, "taste clusters they are dealt into")
	rate := fs.Float64("rate", 15, "requests a second")
	out := fs.String("out", "catalog.json", "where the catalog (id, sku, cluster) is written")
	storefront := fs.String("storefront", "", "storefront whose checkout gets no hoarding caps (every simulated guest shares one address); empty: leave them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *base == "" || *tenant == "" || *token == "" || *clusters < 1 || *products < *clusters {
		return errors.New("seed needs -url, -tenant, -token and at least as many -products as -clusters")
	}
	a := newAPI(*base, *tenant, *token, *rate)
	suffix := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	var catalog []Product
	for i := range *products {
		c := fmt.Sprintf("taste-%d", i%*clusters)
		sku := fmt.Sprintf("MV-%s-%03d", suffix, i)
		body := map[string]any{
			"name": fmt.Sprintf("%s item %d", c, i), "status": "published",
			"variants": []map[string]any{{"sku": sku, "prices": []map[string]any{{"currency": "EUR", "amount": 1000 + 100*(i%*clusters)}}}},
		}
		var p struct {
			ID string `json:"id"`
		}
		if err := a.do(ctx, http.MethodPost, "/api/v1/products", body, &p); err != nil {
			return fmt.Errorf("create product %d: %w", i, err)
		}
		catalog = append(catalog, Product{ID: p.ID, SKU: sku, Cluster: c})
		if err := a.do(ctx, http.MethodPut, "/api/v1/stock/"+sku, map[string]any{"warehouse": "main", "on_hand": 1_000_000}, nil); err != nil {
			return fmt.Errorf("stock %s: %w", sku, err)
		}
	}
	if *storefront != "" {
		// All simulated guests come from one address: without this, the per-address cap
		// of unpaid orders would refuse their checkouts after the first fifty.
		settings := map[string]any{"currency": "EUR", "reservation_ttl_seconds": 900, "tax_rate_bps": 0, "tax_label": "VAT", "shipping_amount": 0,
			"hoarding": map[string]any{"max_units_guest": 20, "max_units_customer": 100, "max_unpaid_orders": 10000, "max_unpaid_orders_per_address": 10000}}
		if err := a.do(ctx, http.MethodPut, "/api/v1/storefronts/"+*storefront+"/checkout-settings", settings, nil); err != nil {
			// Not fatal: refused checkouts are counted apart by shop.
			fmt.Fprintf(os.Stderr, "shoppers: the hoarding caps of %s stay: %v\n", *storefront, err)
		}
	}
	if err := writeJSON(*out, catalog); err != nil {
		return err
	}
	_, err := fmt.Fprintf(stdout, "%d products in %d clusters written to %s\n", len(catalog), *clusters, *out)
	return err
}

func readCatalog(path string) ([]Product, error) {
	b, err := os.ReadFile(path) //nolint:gosec // a path the caller names
	if err != nil {
		return nil, err
	}
	var c []Product
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(c) == 0 {
		return nil, fmt.Errorf("%s: no products", path)
	}
	return c, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644) //nolint:gosec // test artefacts, served over HTTP
}

// shuffled deals the catalog's clusters to its products at random (same sizes).
func shuffled(c []Product, seed uint64) []training.CatalogItem {
	clusters := make([]string, len(c))
	for i, p := range c {
		clusters[i] = p.Cluster
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995)) //nolint:gosec // seeded on purpose
	rng.Shuffle(len(clusters), func(i, j int) { clusters[i], clusters[j] = clusters[j], clusters[i] })
	out := make([]training.CatalogItem, len(c))
	for i, p := range c {
		out[i] = training.CatalogItem{ID: p.ID, Cluster: clusters[i]}
	}
	return out
}

func train(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	catalogPath := fs.String("catalog", "catalog.json", "the catalog seed wrote")
	out := fs.String("out", "models", "folder of the ONNX file, model card and manifest")
	name := fs.String("name", "recs-mf", "model name (spec.model)")
	ver := fs.String("version", "v1", "model version")
	ns := fs.String("namespace", "default", "namespace of the manifest")
	base := fs.String("artifact-base", "", "URI prefix the ONNX file is published under")
	shuffle := fs.Bool("shuffle", false, "train on tastes dealt at random (a model worse on this shop)")
	seedN := fs.Uint64("seed", 1, "seed of the synthetic shoppers and of ALS")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := readCatalog(*catalogPath)
	if err != nil {
		return err
	}
	items := make([]training.CatalogItem, len(c))
	for i, p := range c {
		items[i] = training.CatalogItem{ID: p.ID, Cluster: p.Cluster}
	}
	if *shuffle {
		items = shuffled(c, *seedN)
	}
	job := training.Job{
		Purpose: training.PurposeRecommendations, OutDir: *out, Name: *name, Version: *ver, Namespace: *ns,
		ArtifactBase: *base, Producer: "hack/shoppers",
		Source: training.Synthetic{Seed: *seedN, Users: 600, Days: 30, Taste: 0.9, Catalog: items},
		Recs:   training.RecsParams{Factors: 16, Iterations: 8, Seed: *seedN},
	}
	res, err := job.Run(ctx)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(res.Manifest)
	if err != nil {
		return err
	}
	var mv kv1.ModelVersion
	if err := yaml.Unmarshal(b, &mv); err != nil {
		return fmt.Errorf("read the manifest %s: %w", res.Manifest, err)
	}
	return json.NewEncoder(stdout).Encode(map[string]any{
		"name": mv.Name, "onnx": res.ONNX, "sha256": res.SHA256, "artifact": mv.Spec.Artifact, "metrics": res.Metrics,
	})
}

// recsAnswer is the part of GET /api/v1/recommendations the shoppers read.
type recsAnswer struct {
	Items []struct {
		ID string `json:"id"`
	} `json:"items"`
	Source    string `json:"source"`
	Fallback  string `json:"fallback_reason"`
	Model     string `json:"model"`
	Version   string `json:"version"`
	RequestID string `json:"request_id"`
}

func (r recsAnswer) ids() []string {
	out := make([]string, len(r.Items))
	for i, it := range r.Items {
		out[i] = it.ID
	}
	return out
}

func recsPath(product, session string, limit int) string {
	q := url.Values{"context": {"product:" + product}, "session_id": {session}, "limit": {strconv.Itoa(limit)}}
	return "/api/v1/recommendations?" + q.Encode()
}

// choose is a shopper of taste looking at items in order: each is clicked with
// probability pIn when of the taste, pOut otherwise; the first click ends the look.
// It returns the index clicked, or -1.
func choose(rng *rand.Rand, items []string, clusterOf map[string]string, taste string, pIn, pOut float64) int {
	for i, id := range items {
		p := pOut
		if clusterOf[id] == taste {
			p = pIn
		}
		if rng.Float64() < p {
			return i
		}
	}
	return -1
}

// Tally is what the sessions answered by one model version did.
type Tally struct {
	Sessions  int `json:"sessions"`
	Clicks    int `json:"clicks"`
	InTaste   int `json:"in_taste_items"`
	Items     int `json:"items"`
	Fallbacks int `json:"fallbacks"`
	Orders    int `json:"orders"`
	// CheckoutErrors are checkouts the API refused.
	CheckoutErrors int     `json:"checkout_errors"`
	Revenue        int64   `json:"revenue"`
	CTR            float64 `json:"ctr"`
}

// buy is a guest's checkout of one unit of sku: a cart, the line, the order, and the
// purchase event naming the order, which credits the session with it. It returns the
// order's total in minor units. With staff, the order is then marked paid.
func buy(ctx context.Context, a, staff *api, session, sku string) (int64, error) {
	var cart struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	if err := a.do(ctx, http.MethodPost, "/api/v1/carts", map[string]any{}, &cart); err != nil {
		return 0, err
	}
	h := map[string]string{"X-Cart-Token": cart.Token}
	if err := a.doH(ctx, http.MethodPost, "/api/v1/carts/"+cart.ID+"/items", h, map[string]any{"sku": sku, "quantity": 1}, nil); err != nil {
		return 0, err
	}
	h["Idempotency-Key"] = "checkout-" + session
	var order struct {
		ID    string `json:"id"`
		Total int64  `json:"total"`
	}
	if err := a.doH(ctx, http.MethodPost, "/api/v1/carts/"+cart.ID+"/checkout", h,
		map[string]any{"email": session + "@shoppers.example", "shipping_address": map[string]any{"name": "Guest", "country": "DE"}}, &order); err != nil {
		return 0, err
	}
	if order.ID == "" {
		return 0, errors.New("checkout answered no order id")
	}
	value := max(order.Total, 1)
	if err := a.do(ctx, http.MethodPost, "/api/v1/events", map[string]any{
		"type": "purchase", "session_id": session, "order_id": order.ID, "value": value, "currency": "EUR",
	}, nil); err != nil {
		return 0, err
	}
	if staff != nil {
		if err := staff.do(ctx, http.MethodPost, "/api/v1/orders/"+order.ID+"/transitions", map[string]any{"to": "paid", "reason": "paid by a simulated shopper (hack/shoppers)"}, nil); err != nil {
			return value, fmt.Errorf("mark order %s paid: %w", order.ID, err)
		}
	}
	return value, nil
}

func shop(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	base := fs.String("url", "", "the API's base URL")
	tenant := fs.String("tenant", "", "tenant slug")
	catalogPath := fs.String("catalog", "catalog.json", "the catalog seed wrote")
	sessions := fs.Int("sessions", 300, "sessions to run")
	rate := fs.Float64("rate", 16, "requests a second, all sessions together")
	workers := fs.Int("workers", 8, "sessions in flight")
	limit := fs.Int("limit", 5, "recommendations asked per request")
	pIn := fs.Float64("p-in", 0.3, "click probability of an item of the shopper's taste")
	pOut := fs.Float64("p-out", 0.03, "click probability of any other item")
	seedN := fs.Uint64("seed", 1, "seed of the sessions")
	prefix := fs.String("session-prefix", "s", "session id prefix (a new one per run keeps units apart)")
	pBuy := fs.Float64("p-buy", 0, "probability a click ends in a guest checkout of the clicked product, reported as a purchase event")
	staffToken := fs.String("staff-token", "", "a staff user's token: each order is then marked paid, so unpaid orders do not reach the per-address hoarding cap")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := readCatalog(*catalogPath)
	if err != nil {
		return err
	}
	clusterOf, byCluster, tastes := index(c)
	skuOf := map[string]string{}
	for _, p := range c {
		skuOf[p.ID] = p.SKU
	}
	a := newAPI(*base, *tenant, "", *rate)
	var staff *api
	if *staffToken != "" {
		staff = &api{base: a.base, tenant: a.tenant, token: *staffToken, http: a.http, tick: a.tick}
	}
	var (
		mu       sync.Mutex
		tally    = map[string]*Tally{}
		failed   int
		first    error
		firstBuy error
	)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range max(*workers, 1) {
		wg.Go(func() {
			for n := range jobs {
				rng := rand.New(rand.NewPCG(*seedN, uint64(n))) //nolint:gosec // seeded on purpose
				taste := tastes[rng.IntN(len(tastes))]
				viewed := byCluster[taste][rng.IntN(len(byCluster[taste]))]
				session := fmt.Sprintf("%s-%d", *prefix, n)
				var ans recsAnswer
				err := a.do(ctx, http.MethodGet, recsPath(viewed, session, *limit), nil, &ans)
				var clicked string
				var bought int64
				var buyErr error
				if err == nil {
					if i := choose(rng, ans.ids(), clusterOf, taste, *pIn, *pOut); i >= 0 {
						clicked = ans.Items[i].ID
						ctxt := map[string]string{"source": "recommendations", "request_id": ans.RequestID, "position": strconv.Itoa(i + 1)}
						err = a.do(ctx, http.MethodPost, "/api/v1/events", map[string]any{"events": []map[string]any{
							{"type": "click", "session_id": session, "product_id": clicked, "context": ctxt},
							{"type": "add_to_cart", "session_id": session, "product_id": clicked, "quantity": 1, "context": ctxt},
						}}, nil)
						if err == nil && rng.Float64() < *pBuy {
							bought, buyErr = buy(ctx, a, staff, session, skuOf[clicked])
						}
					}
				}
				mu.Lock()
				if err != nil {
					failed++
					if first == nil {
						first = err
					}
				} else {
					key := ans.Version
					if ans.Source != "model" {
						key = ans.Source
					}
					t := tally[key]
					if t == nil {
						t = &Tally{}
						tally[key] = t
					}
					t.Sessions++
					t.Items += len(ans.Items)
					for _, id := range ans.ids() {
						if clusterOf[id] == taste {
							t.InTaste++
						}
					}
					if ans.Fallback != "" {
						t.Fallbacks++
					}
					if clicked != "" {
						t.Clicks++
					}
					if bought > 0 {
						t.Orders++
						t.Revenue += bought
					}
					if buyErr != nil {
						// A refused checkout is a shopper who did not buy, not a failed session.
						t.CheckoutErrors++
						if firstBuy == nil {
							firstBuy = buyErr
						}
					}
				}
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	for n := range *sessions {
		select {
		case jobs <- n:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	for _, t := range tally {
		t.CTR = float64(t.Clicks) / float64(max(t.Sessions, 1))
	}
	summary := map[string]any{"sessions": *sessions, "failed": failed, "seconds": time.Since(start).Seconds(), "by_version": tally}
	if first != nil {
		summary["first_error"] = first.Error()
	}
	if firstBuy != nil {
		summary["first_checkout_error"] = firstBuy.Error()
	}
	return json.NewEncoder(stdout).Encode(summary)
}

func index(c []Product) (clusterOf map[string]string, byCluster map[string][]string, tastes []string) {
	clusterOf, byCluster = map[string]string{}, map[string][]string{}
	for _, p := range c {
		clusterOf[p.ID] = p.Cluster
		byCluster[p.Cluster] = append(byCluster[p.Cluster], p.ID)
	}
	for k := range byCluster {
		tastes = append(tastes, k)
	}
	sort.Strings(tastes)
	return clusterOf, byCluster, tastes
}

func probe(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	base := fs.String("url", "", "the API's base URL")
	tenant := fs.String("tenant", "", "tenant slug")
	catalogPath := fs.String("catalog", "catalog.json", "the catalog seed wrote")
	n := fs.Int("n", 30, "requests")
	rate := fs.Float64("rate", 15, "requests a second")
	prefix := fs.String("session-prefix", "probe", "session id prefix")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := readCatalog(*catalogPath)
	if err != nil {
		return err
	}
	a := newAPI(*base, *tenant, "", *rate)
	enc := json.NewEncoder(stdout)
	for i := range *n {
		var ans recsAnswer
		session := fmt.Sprintf("%s-%d", *prefix, i)
		if err := a.do(ctx, http.MethodGet, recsPath(c[i%len(c)].ID, session, 5), nil, &ans); err != nil {
			return err
		}
		if err := enc.Encode(map[string]any{"session": session, "items": ans.ids(), "source": ans.Source, "version": ans.Version}); err != nil {
			return err
		}
	}
	return nil
}
