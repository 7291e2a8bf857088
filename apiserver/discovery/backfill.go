package discovery

import (
	"context"
	"fmt"

	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/search"
)

// SnapshotStore pages through the current snapshot of every product of the tenant
// in ctx (postgres.DiscoveryStore).
type SnapshotStore interface {
	ProductSnapshots(ctx context.Context, pageSize int, fn func([]events.Product) error) error
}

// Backfill merges the current snapshot of every product of the tenant in ctx into
// each of the given indexes, exactly as the indexer would merge the product's latest
// event: documents already at that version are left alone, so it is cheap and
// harmless to run on every start. `kommerce dev` runs it because its search index
// lives in a local directory that can be wiped while PostgreSQL keeps the outbox
// rows marked as published; without it, such a catalog would never be searchable.
// Stock levels are not backfilled (they come with the inventory events). It returns
// how many products it looked at.
func Backfill(ctx context.Context, backend search.Backend, store SnapshotStore, tenantID string, indexes []string) (int, error) {
	n := 0
	err := store.ProductSnapshots(ctx, 500, func(page []events.Product) error {
		docs := make([]search.Document, len(page))
		for i := range page {
			docs[i] = search.Document{TenantID: tenantID, ProductID: page[i].ID, Product: &page[i]}
		}
		for _, index := range indexes {
			res, err := search.Upsert(ctx, backend, index, docs, search.UpsertOptions{})
			if err != nil {
				return fmt.Errorf("backfill %s: %w", index, err)
			}
			for _, r := range res {
				if r.Status != search.Written {
					return fmt.Errorf("backfill %s: product %s: %v: %w", index, r.ID, r.Status, r.Err)
				}
			}
		}
		n += len(page)
		return nil
	})
	return n, err
}
