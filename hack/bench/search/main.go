// Command search benchmarks product search on a synthetic catalog (100,000 products
// by default): the latency of search.Searcher.Search as the API calls it (query
// compilation, the engine round trip, decoding, highlighting, cursors) next to the
// engine's own reported query time ("took"), for Elasticsearch and Bleve, one query
// at a time over a realistic mix (words, phrases, typos, filters, facets, sorts), and
// autocomplete. KOMMERCE_ELASTICSEARCH_URL names the cluster; hack/bench/search.sh
// sets it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kommerce/kommerce/hack/bench/benchsummary"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/bleve"
	"github.com/kommerce/kommerce/internal/search/elasticsearch"
	"github.com/kommerce/kommerce/internal/search/searchtest"
)

var (
	engines  = flag.String("engine", "elasticsearch,bleve", "engines to measure")
	products = flag.Int("products", 100000, "catalog size")
	queries  = flag.Int("queries", 2000, "measured searches per engine (after -warmup)")
	warmup   = flag.Int("warmup", 200, "unmeasured searches first")
	keep     = flag.Bool("keep", false, "keep the Elasticsearch index (named in the output) for another run")
)

const (
	seed   = 11
	tenant = "bench-tenant"
)

func main() {
	flag.Parse()
	var summary []benchsummary.Result
	ctx := context.Background()
	fmt.Printf("\n| engine | kind | queries | p50 | p99 | engine took p50 | engine took p99 | p99 budget (1.5× took p99 + 5 ms) | mean hits |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, engine := range strings.Split(*engines, ",") {
		b, index, cleanup := open(engine)
		load(ctx, b, index)
		s := search.NewSearcher(b)
		sf := search.Storefront{TenantID: tenant, Index: index, Settings: search.Settings{
			Synonyms: [][]string{{"sofa", "couch"}, {"mug", "cup"}, {"sneaker", "trainer"}},
			Boosts:   []search.Boost{{Attribute: "brand=brand-07", Weight: 2}},
		}}
		qs := searchtest.SyntheticQueries(seed, *warmup+*queries)
		for _, kind := range []string{"search", "suggest"} {
			var lat, took []time.Duration
			var hits int64
			for i, raw := range qs {
				v, _ := url.ParseQuery(raw)
				start := time.Now()
				var t time.Duration
				var n int64
				if kind == "search" {
					q, err := search.ParseQuery(v)
					must(err)
					res, err := s.Search(ctx, sf, q)
					must(err)
					t, n = res.Took, res.Total
				} else {
					text := v.Get("q")
					if text == "" {
						text = "classic"
					}
					text = text[:max(1, len(text)*2/3)] // what a shopper typed so far
					sug, err := s.Suggest(ctx, sf, search.SuggestQuery{Text: strings.ReplaceAll(text, "+", " ")})
					must(err)
					n = int64(len(sug))
				}
				if i < *warmup {
					continue
				}
				lat, took, hits = append(lat, time.Since(start)), append(took, t), hits+n
			}
			slices.Sort(lat)
			slices.Sort(took)
			p := func(d []time.Duration, q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
			budget := "—"
			if kind == "search" {
				b := time.Duration(1.5*float64(p(took, 0.99))) + 5*time.Millisecond
				verdict := "met"
				if p(lat, 0.99) > b {
					verdict = "missed"
				}
				budget = fmt.Sprintf("%s: %s", b.Round(10*time.Microsecond), verdict)
				summary = append(summary, benchsummary.Result{
					Target: fmt.Sprintf("search on %d products (%s): p99 latency as the API calls it", *products, engine),
					Goal:   "<= 1.5 x engine took p99 + 5 ms",
					Measured: fmt.Sprintf("p99 %s vs budget %s (took p99 %s), %d queries",
						p(lat, 0.99).Round(10*time.Microsecond), b.Round(10*time.Microsecond), p(took, 0.99).Round(10*time.Microsecond), len(lat)),
					Met: verdict == "met",
				})
			}
			tookP50, tookP99 := "—", "—"
			if kind == "search" {
				tookP50, tookP99 = p(took, 0.5).Round(10*time.Microsecond).String(), p(took, 0.99).Round(10*time.Microsecond).String()
			}
			fmt.Printf("| %s | %s | %d | %s | %s | %s | %s | %s | %.1f |\n", engine, kind, len(lat),
				p(lat, 0.5).Round(10*time.Microsecond), p(lat, 0.99).Round(10*time.Microsecond), tookP50, tookP99, budget, float64(hits)/float64(len(lat)))
		}
		cleanup()
	}
	for _, r := range summary {
		benchsummary.Print(os.Stdout, r)
	}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func open(engine string) (search.Backend, string, func()) {
	switch engine {
	case "elasticsearch":
		b, err := elasticsearch.New(os.Getenv("KOMMERCE_ELASTICSEARCH_URL"))
		must(err)
		index := fmt.Sprintf("bench-search-%d", *products)
		return b, index, func() {
			if *keep {
				fmt.Printf("(kept index %s)\n", index)
				return
			}
			_ = b.DeleteIndex(context.Background(), index)
		}
	case "bleve":
		dir, err := os.MkdirTemp("", "bench-search-")
		must(err)
		b, err := bleve.Open(dir)
		must(err)
		return b, "bench-search", func() { _ = b.Close(); _ = os.RemoveAll(dir) }
	}
	log.Fatalf("unknown engine %s", engine)
	return nil, "", nil
}

// load writes the synthetic catalog unless the index already holds it (-keep).
func load(ctx context.Context, b search.Backend, index string) {
	res, err := search.NewSearcher(b).Search(ctx, search.Storefront{TenantID: tenant, Index: index}, search.Query{Limit: 1})
	must(err)
	if res.Total == int64(*products) {
		return
	}
	must(b.EnsureIndex(ctx, index))
	start := time.Now()
	const batch = 2000
	for i := 0; i < *products; i += batch {
		docs := make([]search.Document, 0, batch)
		for j := i; j < min(i+batch, *products); j++ {
			docs = append(docs, searchtest.SyntheticDocument(seed, tenant, j))
		}
		out, err := search.Upsert(ctx, b, index, docs, search.UpsertOptions{CreateFirst: true})
		must(err)
		for _, r := range out {
			if r.Status != search.Written {
				log.Fatalf("load %s: %v %v", r.ID, r.Status, r.Err)
			}
		}
	}
	must(b.Refresh(ctx, index))
	log.Printf("%s: loaded %d products in %s", b.Name(), *products, time.Since(start).Round(time.Millisecond))
}
