package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/discovery"
	"github.com/kommerce/kommerce/apiserver/postgres"
	ingestpg "github.com/kommerce/kommerce/ingest/postgres"
	"github.com/kommerce/kommerce/internal/search"
)

// fillNewIndexes fills each storefront's search index from the catalog in
// PostgreSQL the first time this process sees the storefront — at start, and when
// a Storefront resource registers a new one (its channels' hostnames). The indexer
// only writes the events it consumes: without this, a storefront created after its
// tenant's products, or whose registration the indexer learnt of after a product
// event, would search an index that lacks them. The writes carry each product's
// version, so racing the indexer (or another ingest replica doing the same) is
// harmless. Each index is filled twice: when first seen and again once the indexer
// (whose own view of the storefronts lags by up to blind) must know it too, which
// covers the products written only to the other indexes in between. It looks every
// interval until ctx ends.
func fillNewIndexes(ctx context.Context, pool *pgxpool.Pool, backend search.Backend, every, blind time.Duration, log *slog.Logger) {
	dir := ingestpg.NewDirectory(pool, every/2)
	store := &postgres.DiscoveryStore{DB: postgres.NewDB(pool)}
	firstFilled := map[string]time.Time{}
	done := map[string]bool{}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		tenants, err := dir.Tenants(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("storefront indexes not checked against the catalog", "error", err)
		}
		for _, tn := range tenants {
			var fresh []string
			for _, sf := range tn.Storefronts {
				index := search.IndexName(tn.IndexPrefix, sf)
				at, once := firstFilled[index]
				if !done[index] && (!once || time.Since(at) >= blind) {
					fresh = append(fresh, index)
				}
			}
			if len(fresh) == 0 {
				continue
			}
			tctx := apiserver.NewContextWithTenant(ctx, &apiserver.Tenant{ID: tn.ID, Slug: tn.Slug, IndexPrefix: tn.IndexPrefix, TopicPrefix: tn.TopicPrefix})
			n, err := discovery.Backfill(tctx, backend, store, tn.ID, fresh)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("storefront index not filled from the catalog; tried again later", "tenant", tn.Slug, "indexes", strings.Join(fresh, ","), "error", err)
				}
				continue
			}
			for _, index := range fresh {
				if _, once := firstFilled[index]; once {
					done[index] = true
				} else {
					firstFilled[index] = time.Now()
				}
			}
			log.Info("storefront index filled from the catalog", "tenant", tn.Slug, "indexes", strings.Join(fresh, ","), "products", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
