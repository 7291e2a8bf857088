// Package tenantstore keeps a tenant's row in the platform database (the tenants
// registry every tenant-scoped table references) in step with its Tenant resource.
// The operator upserts the row on every reconcile and deletes it in the Tenant's
// finalizer; deleting it cascades to every row of the tenant.
//
// The queries live in queries.sql; sqlc generates the tenantdb package from them and
// the migrations, so they are checked against the schema production runs.
package tenantstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/internal/tenancy"
	"github.com/kommerce/kommerce/internal/tenantstore/tenantdb"
)

// ErrConflict means the database holds isolation settings for the tenant (or for
// another tenant) that the requested ones contradict. Retrying cannot fix it; the
// Tenant's spec or the database has to change.
var ErrConflict = errors.New("tenant isolation conflict")

// ErrInvalid means the database refused a value (its CHECK constraints mirror the
// Tenant schema, so this points at a schema drift).
var ErrInvalid = errors.New("invalid tenant value")

// Desired is the row a Tenant resource asks for. Empty ID and prefixes mean "no
// preference": the stored value is kept, or a new row gets the defaults of
// internal/tenancy (the same ones `kommerce admin create-tenant` gives).
type Desired struct {
	Slug        string
	Name        string
	Suspended   bool
	ID          string
	TopicPrefix string
	IndexPrefix string
	RedisPrefix string
}

// Record is the tenant's row as stored.
type Record struct {
	ID          string
	Slug        string
	Name        string
	Status      string
	TopicPrefix string
	IndexPrefix string
	RedisPrefix string
	CreatedAt   time.Time
}

// Store is what the operator needs of the registry.
type Store interface {
	// Ensure creates the tenant's row or brings its name and status up to date, and
	// returns it. Immutable values (id, prefixes) are never changed. Errors:
	// ErrConflict when the stored row or another tenant's row contradicts d,
	// ErrInvalid when the slug breaks tenancy.ValidSlug or the database refuses a
	// value, otherwise a connection error.
	Ensure(ctx context.Context, d Desired) (Record, error)
	// Plan returns the row Ensure(d) would leave, and writes nothing: the stored
	// row when the slug has one, otherwise the row an insert would create now (its
	// id drawn, its prefixes checked against every other tenant's). Ensure given
	// that id and those prefixes then creates exactly that row, unless another
	// writer took the slug or a prefix in between (ErrConflict then). Errors as
	// Ensure's.
	Plan(ctx context.Context, d Desired) (Record, error)
	// Delete removes the tenant's row (and, by cascade, all its data). id may be
	// empty when it was never learnt; a row with another id is left alone. Deleting
	// a row that is already gone succeeds.
	Delete(ctx context.Context, slug, id string) error
	// Ping checks the database answers.
	Ping(ctx context.Context) error
}

// HostStore maps storefront hostnames to storefronts in the registry, which the
// ingest pipeline reads to know the search index of each storefront.
type HostStore interface {
	// SetStorefrontHosts makes hosts exactly the hostnames of storefront of the
	// tenant with database id tenantID. Errors: ErrConflict when a hostname belongs
	// to another tenant, ErrInvalid when the database refuses one.
	SetStorefrontHosts(ctx context.Context, tenantID, storefront string, hosts []string) error
}

var _ HostStore = (*Postgres)(nil)

// SetStorefrontHosts implements HostStore.
func (p *Postgres) SetStorefrontHosts(ctx context.Context, tenantID, storefront string, hosts []string) error {
	err := p.inPlatformScope(ctx, func(q *tenantdb.Queries) error {
		for _, h := range hosts {
			if err := q.UpsertStorefrontHost(ctx, tenantdb.UpsertStorefrontHostParams{TenantID: tenantID, Hostname: h, Storefront: storefront}); err != nil {
				return err
			}
		}
		return q.DeleteStaleStorefrontHosts(ctx, tenantdb.DeleteStaleStorefrontHostsParams{TenantID: tenantID, Storefront: storefront, Hostnames: hosts})
	})
	if err != nil {
		return fmt.Errorf("storefront %s hosts: %w", storefront, classify(err))
	}
	return nil
}

// Postgres is the Store on the platform database.
type Postgres struct {
	pool *pgxpool.Pool
}

var _ Store = (*Postgres)(nil)

// NewPostgres returns a Store using pool.
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{pool: pool} }

// Ping checks the database answers.
func (p *Postgres) Ping(ctx context.Context) error { return p.pool.Ping(ctx) }

// inPlatformScope runs fn in one transaction that sees every tenant's rows (the
// operator works across tenants; row-level security hides them otherwise).
func (p *Postgres) inPlatformScope(ctx context.Context, fn func(*tenantdb.Queries) error) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		q := tenantdb.New(tx)
		if err := q.PlatformScope(ctx); err != nil {
			return fmt.Errorf("set platform scope: %w", err)
		}
		return fn(q)
	})
}

// Ensure implements Store.
func (p *Postgres) Ensure(ctx context.Context, d Desired) (Record, error) {
	if !tenancy.ValidSlug(d.Slug) {
		return Record{}, invalidSlug(d.Slug)
	}
	var rec Record
	err := p.inPlatformScope(ctx, func(q *tenantdb.Queries) error {
		var err error
		rec, err = ensure(ctx, q, d)
		return err
	})
	return rec, err
}

// errPlanned ends Plan's transaction: returning an error rolls it back.
var errPlanned = errors.New("planned")

// Plan implements Store: Ensure's own transaction, rolled back. The insert it
// rolls back is what checks the prefixes against the unique indexes and the
// CHECK constraints, exactly as Ensure's will.
func (p *Postgres) Plan(ctx context.Context, d Desired) (Record, error) {
	if !tenancy.ValidSlug(d.Slug) {
		return Record{}, invalidSlug(d.Slug)
	}
	var rec Record
	err := p.inPlatformScope(ctx, func(q *tenantdb.Queries) error {
		var err error
		if rec, err = ensure(ctx, q, d); err != nil {
			return err
		}
		return errPlanned
	})
	if !errors.Is(err, errPlanned) {
		return Record{}, err
	}
	return rec, nil
}

func invalidSlug(slug string) error {
	return fmt.Errorf("%w: tenant slug %q is not a DNS label of at most %d characters", ErrInvalid, slug, tenancy.MaxSlugLength)
}

// ensure is Ensure inside a transaction in platform scope.
func ensure(ctx context.Context, q *tenantdb.Queries, d Desired) (Record, error) {
	if err := q.LockTenantSlug(ctx, d.Slug); err != nil {
		return Record{}, fmt.Errorf("lock tenant %s: %w", d.Slug, err)
	}
	row, err := q.GetTenantBySlug(ctx, d.Slug)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		row, err = q.InsertTenant(ctx, insertParams(d))
		if err != nil {
			return Record{}, classify(fmt.Errorf("insert tenant %s: %w", d.Slug, err))
		}
	case err != nil:
		return Record{}, fmt.Errorf("read tenant %s: %w", d.Slug, err)
	default:
		if movedByMigration(d, row) {
			row, err = q.SetTenantRedisPrefix(ctx, tenantdb.SetTenantRedisPrefixParams{ID: row.ID, RedisPrefix: d.RedisPrefix})
			if err != nil {
				return Record{}, classify(fmt.Errorf("restore redis prefix of tenant %s: %w", d.Slug, err))
			}
		}
		if err := contradiction(d, row); err != nil {
			return Record{}, err
		}
		if row.Name != d.Name || row.Status != status(d) {
			row, err = q.UpdateTenantProfile(ctx, tenantdb.UpdateTenantProfileParams{ID: row.ID, Name: d.Name, Status: status(d)})
			if err != nil {
				return Record{}, classify(fmt.Errorf("update tenant %s: %w", d.Slug, err))
			}
		}
	}
	return record(row), nil
}

// Delete implements Store.
func (p *Postgres) Delete(ctx context.Context, slug, id string) error {
	return p.inPlatformScope(ctx, func(q *tenantdb.Queries) error {
		params := tenantdb.DeleteTenantParams{Slug: slug}
		if id != "" {
			params.ID = &id
		}
		if _, err := q.DeleteTenant(ctx, params); err != nil {
			return fmt.Errorf("delete tenant %s: %w", slug, err)
		}
		return nil
	})
}

func status(d Desired) string {
	if d.Suspended {
		return "suspended"
	}
	return "active"
}

// insertParams is the row of a new tenant: the prefixes d names, the others decided
// by tenancy.Resolve like those of a tenant the CLI creates.
func insertParams(d Desired) tenantdb.InsertTenantParams {
	pre := tenancy.Resolve(d.Slug, tenancy.Prefixes{Topic: d.TopicPrefix, Index: d.IndexPrefix, Redis: d.RedisPrefix})
	p := tenantdb.InsertTenantParams{
		Slug: d.Slug, Name: d.Name, Status: status(d),
		TopicPrefix: pre.Topic, IndexPrefix: pre.Index, RedisPrefix: pre.Redis,
	}
	if d.ID != "" {
		p.ID = &d.ID
	}
	return p
}

// movedByMigration reports whether d is a Tenant resource that adopted a tenant made by
// `kommerce admin create-tenant` and recorded the Redis prefix the CLI gave by default
// until migration 00009 (`kommerce:<slug>:`), while the row has since been moved to the
// shared default. The resource cannot change its recorded prefix (it is immutable), so
// the row goes back to it: the tenant keeps one prefix, the one its resource names.
func movedByMigration(d Desired, row tenantdb.Tenant) bool {
	return d.RedisPrefix != "" && d.RedisPrefix == "kommerce:"+d.Slug+":" &&
		row.RedisPrefix == tenancy.DefaultPrefixes(d.Slug).Redis && d.RedisPrefix != row.RedisPrefix
}

// contradiction reports the first immutable value d asks for that differs from row.
func contradiction(d Desired, row tenantdb.Tenant) error {
	checks := []struct{ field, want, have string }{
		{"tenant id", d.ID, row.ID},
		{"topic prefix", d.TopicPrefix, row.TopicPrefix},
		{"index prefix", d.IndexPrefix, row.IndexPrefix},
		{"redis prefix", d.RedisPrefix, row.RedisPrefix},
	}
	for _, c := range checks {
		if c.want != "" && c.want != c.have {
			return fmt.Errorf("%w: the spec asks for %s %q but the database already has %q for tenant %s", ErrConflict, c.field, c.want, c.have, d.Slug)
		}
	}
	return nil
}

// uniqueOwners names what a unique index protects, for the conflict message.
var uniqueOwners = map[string]string{
	"tenants_pkey":                  "tenant id",
	"tenants_topic_prefix_key":      "topic prefix",
	"tenants_index_prefix_key":      "index prefix",
	"tenants_redis_prefix_key":      "redis prefix",
	"storefront_hosts_hostname_key": "hostname",
}

// classify turns constraint violations into ErrConflict and ErrInvalid.
func classify(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case "23505": // unique_violation
		what := uniqueOwners[pgErr.ConstraintName]
		if what == "" {
			what = pgErr.ConstraintName
		}
		return fmt.Errorf("%w: the %s already belongs to another tenant (%s)", ErrConflict, what, pgErr.Detail)
	case "23514", "22P02": // check_violation, invalid_text_representation
		return fmt.Errorf("%w: %s", ErrInvalid, pgErr.Message)
	}
	return err
}

func record(r tenantdb.Tenant) Record {
	return Record{
		ID: r.ID, Slug: r.Slug, Name: r.Name, Status: r.Status,
		TopicPrefix: r.TopicPrefix, IndexPrefix: r.IndexPrefix, RedisPrefix: r.RedisPrefix,
		CreatedAt: r.CreatedAt,
	}
}
