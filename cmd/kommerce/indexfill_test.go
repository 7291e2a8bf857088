package main

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/ingest/ingesttest"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/bleve"
	"github.com/kommerce/kommerce/internal/tenantstore"
	"github.com/kommerce/kommerce/internal/testenv"
)

// A storefront registered after its tenant's products exist (a Storefront resource
// applied to a running shop) gets them in its own index, from the catalog.
func TestFillNewIndexes(t *testing.T) {
	db := testenv.NewDatabase(t)
	tenant := ingesttest.NewTenant(t, db.Pool, testenv.KafkaBrokers(t), "fill")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tctx := apiserver.NewContextWithTenant(ctx, &apiserver.Tenant{ID: tenant.ID, Slug: tenant.Slug, IndexPrefix: tenant.IndexPrefix, TopicPrefix: tenant.TopicPrefix})
	cat := &postgres.CatalogService{DB: postgres.NewDB(db.Pool)}
	name, status := "Zeppelin Sneaker", apiserver.StatusPublished
	variants := []apiserver.Variant{{SKU: "ZEP-1", Prices: []apiserver.Price{{Currency: "EUR", Amount: 4999}}}}
	p, err := cat.CreateProduct(tctx, apiserver.ProductInput{Name: &name, Status: &status, Variants: &variants})
	if err != nil {
		t.Fatal(err)
	}
	backend, err := bleve.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fillNewIndexes(ctx, db.Pool, backend, 50*time.Millisecond, 100*time.Millisecond, slog.New(slog.DiscardHandler))
	}()
	if err := tenantstore.NewPostgres(db.Pool).SetStorefrontHosts(ctx, tenant.ID, "outlet", []string{"outlet.fill.example"}); err != nil {
		t.Fatal(err)
	}
	sf := search.Storefront{TenantID: tenant.ID, Index: search.IndexName(tenant.IndexPrefix, "outlet")}
	testenv.Eventually(t, 30*time.Second, "the product in the new storefront's index", func() (bool, string) {
		_ = backend.Refresh(ctx, sf.Index)
		res, err := search.NewSearcher(backend).Search(ctx, sf, search.Query{Text: "zeppelin", Limit: 5})
		if err != nil {
			return false, err.Error()
		}
		return res.Total == 1 && res.Hits[0].ID == p.ID, fmt.Sprintf("%d hits", res.Total)
	})
	cancel()
	<-done
}
