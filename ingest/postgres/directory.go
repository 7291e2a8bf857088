// Package postgres is ingest's PostgreSQL adapter: the outbox relay and the tenant
// directory, on pgx with sqlc-generated queries (ingestdb). Both work across tenants
// in platform scope.
package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/postgres/ingestdb"
)

// Directory is an ingest.Directory on the tenants registry, cached for TTL.
type Directory struct {
	pool *pgxpool.Pool
	ttl  time.Duration

	mu       sync.Mutex
	list     []ingest.Tenant
	byID     map[string]ingest.Tenant
	loadedAt time.Time
}

// NewDirectory returns a directory reloading at most every ttl (and on a miss).
func NewDirectory(pool *pgxpool.Pool, ttl time.Duration) *Directory {
	return &Directory{pool: pool, ttl: ttl}
}

// Tenants implements ingest.Directory.
func (d *Directory) Tenants(ctx context.Context) ([]ingest.Tenant, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byID == nil || time.Since(d.loadedAt) > d.ttl {
		if err := d.load(ctx); err != nil {
			return nil, err
		}
	}
	return slices.Clone(d.list), nil
}

// Tenant implements ingest.Directory; a miss reloads once (at most every second), so
// events of a tenant created a moment ago are not refused.
func (d *Directory) Tenant(ctx context.Context, id string) (ingest.Tenant, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byID == nil || time.Since(d.loadedAt) > d.ttl {
		if err := d.load(ctx); err != nil {
			return ingest.Tenant{}, false, err
		}
	}
	if t, ok := d.byID[id]; ok {
		return t, true, nil
	}
	if time.Since(d.loadedAt) > time.Second {
		if err := d.load(ctx); err != nil {
			return ingest.Tenant{}, false, err
		}
	}
	t, ok := d.byID[id]
	return t, ok, nil
}

func (d *Directory) load(ctx context.Context) error {
	var rows []ingestdb.ListTenantsRow
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		q := ingestdb.New(tx)
		if err := q.PlatformScope(ctx); err != nil {
			return err
		}
		var err error
		rows, err = q.ListTenants(ctx)
		return err
	})
	if err != nil {
		return ingest.Unavailable(fmt.Errorf("list tenants: %w", err))
	}
	d.list = make([]ingest.Tenant, 0, len(rows))
	d.byID = make(map[string]ingest.Tenant, len(rows))
	for _, r := range rows {
		sf := []string{ingest.DefaultStorefront}
		for _, s := range r.Storefronts {
			if !slices.Contains(sf, s) {
				sf = append(sf, s)
			}
		}
		slices.Sort(sf)
		t := ingest.Tenant{ID: r.ID, Slug: r.Slug, TopicPrefix: r.TopicPrefix, IndexPrefix: r.IndexPrefix, Storefronts: sf}
		d.list = append(d.list, t)
		d.byID[t.ID] = t
	}
	d.loadedAt = time.Now()
	return nil
}
