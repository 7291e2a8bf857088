package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kommerce/kommerce/ingest/ingesttest"
	"github.com/kommerce/kommerce/ingest/pipeline"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/elasticsearch"
	"github.com/kommerce/kommerce/internal/testenv"
)

// start runs the pipeline until the test ends.
func start(t *testing.T, cfg pipeline.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pipeline.Run(ctx, cfg, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pipeline: %v", err)
		}
	})
}

// waitLatest waits until every product p00..p(n-1) is searchable exactly once with
// version want.
func waitLatest(t *testing.T, b search.Backend, sf search.Storefront, n int, want int64) {
	t.Helper()
	s := search.NewSearcher(b)
	testenv.Eventually(t, 120*time.Second, "every product searchable at its latest version", func() (bool, string) {
		_ = b.Refresh(context.Background(), sf.Index)
		seen := map[string]int64{}
		q := search.Query{Sort: search.SortName, Limit: 100}
		for {
			res, err := s.Search(context.Background(), sf, q)
			if err != nil {
				return false, err.Error()
			}
			for _, h := range res.Hits {
				if _, dup := seen[h.ID]; dup {
					return false, "duplicate hit " + h.ID
				}
				seen[h.ID] = h.Version
			}
			if res.NextCursor == "" {
				break
			}
			q.Cursor = res.NextCursor
		}
		if len(seen) != n {
			return false, fmt.Sprintf("%d of %d products searchable", len(seen), n)
		}
		for id, v := range seen {
			if v != want {
				return false, fmt.Sprintf("%s at version %d, want %d", id, v, want)
			}
		}
		return true, ""
	})
}

func writeVersions(t *testing.T, cfg pipeline.Config, tenantID string, n int, versions int64) {
	t.Helper()
	for v := int64(1); v <= versions; v++ {
		typ := events.ProductUpdated
		if v == 1 {
			typ = events.ProductCreated
		}
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("p%02d", i)
			ingesttest.Outbox(t, cfg.Pool, tenantID, typ, id, ingesttest.Product(id, v, fmt.Sprintf("Oak Chair %s v%d", id, v)))
		}
	}
}

// TestEmbeddedDefaults is what `kommerce dev` runs: the in-process Kafka (kfake) and
// Bleve on disk, with the real database.
func TestEmbeddedDefaults(t *testing.T) {
	db := testenv.NewDatabase(t)
	emb, err := pipeline.OpenEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emb.Close() })
	b := emb.Search
	tenant := ingesttest.NewTenant(t, db.Pool, nil, "dev")
	cfg := pipeline.Config{Pool: db.Pool, Brokers: emb.Kafka.Brokers(), Search: b, Partitions: 3, TopicRefresh: time.Second}
	writeVersions(t, cfg, tenant.ID, 30, 3)
	start(t, cfg)
	sf := search.Storefront{TenantID: tenant.ID, Index: search.IndexName(tenant.IndexPrefix, "default")}
	waitLatest(t, b, sf, 30, 3)

	// Stock arrives on the inventory topic and flips availability.
	ingesttest.Outbox(t, db.Pool, tenant.ID, events.StockChanged, "SKU-p07", events.Stock{SKU: "SKU-p07", ProductID: "p07", Available: 4, Version: 1})
	in := true
	testenv.Eventually(t, 120*time.Second, "only p07 in stock", func() (bool, string) {
		res, err := search.NewSearcher(b).Search(context.Background(), sf, search.Query{InStock: &in})
		if err != nil {
			return false, err.Error()
		}
		return res.Total == 1 && res.Hits[0].ID == "p07", fmt.Sprintf("in stock: %d", res.Total)
	})
}

// TestRealServicesWhileWriting writes while the pipeline runs and checks the end
// state: every product exactly once at its latest version.
func TestRealServicesWhileWriting(t *testing.T) {
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	es := testenv.NewElasticsearchIndex(t)
	b, err := elasticsearch.New(es.URL)
	if err != nil {
		t.Fatal(err)
	}
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, es.Index)
	cfg := pipeline.Config{Pool: db.Pool, Brokers: brokers, Search: b, Partitions: 3, BatchSize: 50,
		GroupID: testenv.Name(t, "g", "-"), TopicRefresh: time.Second}
	writeVersions(t, cfg, tenant.ID, 40, 1)
	start(t, cfg)
	for v := int64(2); v <= 4; v++ {
		for i := 0; i < 40; i++ {
			id := fmt.Sprintf("p%02d", i)
			ingesttest.Outbox(t, db.Pool, tenant.ID, events.ProductUpdated, id, ingesttest.Product(id, v, fmt.Sprintf("Oak Chair %s v%d", id, v)))
		}
	}
	waitLatest(t, b, search.Storefront{TenantID: tenant.ID, Index: search.IndexName(tenant.IndexPrefix, "default")}, 40, 4)
	// The relay commits its transaction after the broker acknowledged the batch, so
	// the indexer may show the last versions a moment before the rows are marked.
	testenv.Eventually(t, 60*time.Second, "every outbox row marked published", func() (bool, string) {
		n := ingesttest.Unpublished(t, db.Pool)
		return n == 0, fmt.Sprintf("%d outbox rows unpublished", n)
	})
}
