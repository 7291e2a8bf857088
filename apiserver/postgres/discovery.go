package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/events"
)

// DiscoveryStore holds the catalog reads of search, recommendations and the search
// backfill of `kommerce dev`. Every method runs in the tenant of ctx.
type DiscoveryStore struct{ DB *DB }

// StorefrontOfHost returns the storefront the tenant serves on host, and false when
// host is not one of its storefront hosts.
func (s *DiscoveryStore) StorefrontOfHost(ctx context.Context, host string) (string, bool, error) {
	var name string
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		var err error
		name, err = q.StorefrontOfHost(ctx, dbq.StorefrontOfHostParams{TenantID: tid, Hostname: host})
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("storefront of host: %w", err)
	}
	return name, true, nil
}

// RecentProducts returns up to limit published product ids, newest first.
func (s *DiscoveryStore) RecentProducts(ctx context.Context, limit int) ([]string, error) {
	var ids []string
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		var err error
		ids, err = q.RecentProducts(ctx, dbq.RecentProductsParams{TenantID: tid, Lim: int32(min(limit, 10000))}) //nolint:gosec // bounded
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("recent products: %w", err)
	}
	return ids, nil
}

// ProductSummaries returns the published, non-deleted products among ids in the
// order of ids; ids that are not valid product ids, unknown, drafts, deleted or of
// another tenant are left out.
func (s *DiscoveryStore) ProductSummaries(ctx context.Context, ids []string) ([]apiserver.RecommendedProduct, error) {
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if apiserver.ValidID(id) {
			valid = append(valid, id)
		}
	}
	if len(valid) == 0 {
		return []apiserver.RecommendedProduct{}, nil
	}
	var out []apiserver.RecommendedProduct
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		rows, err := q.ProductSummaries(ctx, dbq.ProductSummariesParams{TenantID: tid, Ids: valid})
		if err != nil {
			return err
		}
		out = make([]apiserver.RecommendedProduct, 0, len(rows))
		for _, r := range rows {
			p := apiserver.RecommendedProduct{ID: r.ID, Name: r.Name, Images: nonNilSlice(r.Images), Prices: []apiserver.Price{}}
			if err := json.Unmarshal(r.Prices, &p.Prices); err != nil {
				return fmt.Errorf("decode prices of %s: %w", r.ID, err)
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("product summaries: %w", err)
	}
	return out, nil
}

// firstID sorts before every uuid: the start of ProductSnapshots paging.
const firstID = "00000000-0000-0000-0000-000000000000"

// ProductSnapshots calls fn with pages of up to pageSize snapshots of every product
// of the tenant, deleted ones included (Deleted set), in id order: what the outbox
// would carry for each product's latest version. Each page is its own read-only
// transaction, so a large catalog never holds one long transaction open.
func (s *DiscoveryStore) ProductSnapshots(ctx context.Context, pageSize int, fn func([]events.Product) error) error {
	after := firstID
	for {
		var page []events.Product
		err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
			rows, err := q.ProductSnapshots(ctx, dbq.ProductSnapshotsParams{TenantID: tid, AfterID: after, Lim: int32(max(1, min(pageSize, 5000)))}) //nolint:gosec // bounded
			if err != nil {
				return err
			}
			page = make([]events.Product, 0, len(rows))
			for _, r := range rows {
				p, err := snapshotOf(r)
				if err != nil {
					return err
				}
				page = append(page, p)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("product snapshots: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		if err := fn(page); err != nil {
			return err
		}
		after = page[len(page)-1].ID
	}
}

func snapshotOf(r dbq.ProductSnapshotsRow) (events.Product, error) {
	p := events.Product{ID: r.ID, Version: r.Version, Name: r.Name, Description: r.Description, Status: r.Status,
		Deleted: r.Deleted, Images: nonNilSlice(r.Images), UpdatedAt: r.UpdatedAt}
	for _, part := range []struct {
		raw []byte
		v   any
	}{{r.Attributes, &p.Attributes}, {r.CategoryIds, &p.CategoryIDs}, {r.Variants, &p.Variants}} {
		if err := json.Unmarshal(part.raw, part.v); err != nil {
			return p, fmt.Errorf("decode product %s: %w", r.ID, err)
		}
	}
	p.Attributes = nonNil(p.Attributes)
	return p, nil
}
