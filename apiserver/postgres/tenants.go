package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/tenancy"
)

// TenantService implements apiserver.TenantService.
type TenantService struct{ DB *DB }

var _ apiserver.TenantService = (*TenantService)(nil)

func tenantOf(t dbq.Tenant) *apiserver.Tenant {
	return &apiserver.Tenant{ID: t.ID, Slug: t.Slug, Name: t.Name, Status: t.Status,
		TopicPrefix: t.TopicPrefix, IndexPrefix: t.IndexPrefix, RedisPrefix: t.RedisPrefix, CreatedAt: t.CreatedAt}
}

// CreateTenant implements apiserver.TenantService.
func (s *TenantService) CreateTenant(ctx context.Context, in apiserver.TenantCreate) (*apiserver.Tenant, error) {
	if !tenancy.ValidSlug(in.Slug) {
		return nil, apiserver.FieldErrorf("slug", "Tenant slugs are DNS labels: lower-case letters, digits and dashes, at most %d long.", tenancy.MaxSlugLength)
	}
	if in.Name == "" {
		in.Name = in.Slug
	}
	if err := apiserver.ValidText("name", in.Name, 200); err != nil {
		return nil, err
	}
	// The operator names the tenants it creates by the same rule (internal/tenancy).
	pre := tenancy.Resolve(in.Slug, tenancy.Prefixes{Topic: in.TopicPrefix, Index: in.IndexPrefix, Redis: in.RedisPrefix})
	in.TopicPrefix, in.IndexPrefix, in.RedisPrefix = pre.Topic, pre.Index, pre.Redis
	var out *apiserver.Tenant
	err := s.DB.AsPlatform(ctx, func(q *dbq.Queries) error {
		t, err := q.CreateTenant(ctx, dbq.CreateTenantParams{Slug: in.Slug, Name: in.Name,
			TopicPrefix: in.TopicPrefix, IndexPrefix: in.IndexPrefix, RedisPrefix: in.RedisPrefix})
		if err != nil {
			return err
		}
		out = tenantOf(t)
		return nil
	})
	switch code, _ := pgCode(err); code {
	case "":
	case pgUniqueViolation:
		return nil, apiserver.Errorf(apiserver.ErrConflict, "Tenant %s already exists.", in.Slug)
	case pgCheckViolation:
		return nil, apiserver.Errorf(apiserver.ErrInvalid, "A tenant prefix has characters that are not allowed.")
	default:
		return nil, fmt.Errorf("create tenant: %w", err)
	}
	return out, nil
}

func (s *TenantService) resolve(ctx context.Context, lookup func(q *dbq.Queries) (dbq.Tenant, error)) (*apiserver.Resolved, error) {
	var r apiserver.Resolved
	err := s.DB.AsPlatform(ctx, func(q *dbq.Queries) error {
		t, err := lookup(q)
		if err != nil {
			return err
		}
		r.Tenant = tenantOf(t)
		r.CORSOrigins, err = q.TenantCORSOrigins(ctx, t.ID)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apiserver.Errorf(apiserver.ErrUnknownTenant, "No tenant is served here under that name.")
	}
	if err != nil {
		return nil, fmt.Errorf("resolve tenant: %w", err)
	}
	return &r, nil
}

// TenantBySlug implements apiserver.TenantService.
func (s *TenantService) TenantBySlug(ctx context.Context, slug string) (*apiserver.Resolved, error) {
	if !apiserver.ValidSlug(slug) {
		return nil, apiserver.Errorf(apiserver.ErrUnknownTenant, "No tenant is served here under that name.")
	}
	return s.resolve(ctx, func(q *dbq.Queries) (dbq.Tenant, error) { return q.TenantBySlug(ctx, slug) })
}

// TenantByHost implements apiserver.TenantService.
func (s *TenantService) TenantByHost(ctx context.Context, host string) (*apiserver.Resolved, error) {
	host = strings.ToLower(host)
	if len(host) > 260 || strings.ContainsRune(host, 0) {
		return nil, apiserver.Errorf(apiserver.ErrUnknownTenant, "No tenant is served here under that name.")
	}
	return s.resolve(ctx, func(q *dbq.Queries) (dbq.Tenant, error) { return q.TenantByHost(ctx, host) })
}

// ValidOrigin reports whether s is a browser origin: scheme://host[:port], nothing else.
func ValidOrigin(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil && s == u.Scheme+"://"+u.Host
}

// AddStorefrontHost implements apiserver.TenantService.
func (s *TenantService) AddStorefrontHost(ctx context.Context, h apiserver.StorefrontHost) error {
	h.Hostname = strings.ToLower(h.Hostname)
	if h.Storefront == "" {
		h.Storefront = "default"
	}
	for _, o := range h.CORSOrigins {
		if !ValidOrigin(o) {
			return apiserver.FieldErrorf("origin", "Origin %q must be scheme://host[:port].", o)
		}
	}
	if h.CORSOrigins == nil {
		h.CORSOrigins = []string{}
	}
	var n int64
	err := s.DB.AsPlatform(ctx, func(q *dbq.Queries) error {
		var err error
		n, err = q.UpsertStorefrontHost(ctx, dbq.UpsertStorefrontHostParams{TenantID: h.TenantID, Hostname: h.Hostname, Storefront: h.Storefront, CorsOrigins: h.CORSOrigins})
		return err
	})
	switch code, _ := pgCode(err); {
	case err == nil && n == 0:
		return apiserver.Errorf(apiserver.ErrConflict, "Host %s already belongs to another tenant.", h.Hostname)
	case err == nil:
		return nil
	case code == pgCheckViolation:
		return apiserver.FieldErrorf("host", "Host %q is not a valid hostname.", h.Hostname)
	case code == pgForeignKeyViolation || code == pgInvalidText:
		return apiserver.Errorf(apiserver.ErrUnknownTenant, "No such tenant.")
	default:
		return fmt.Errorf("add storefront host: %w", err)
	}
}

// OriginAllowed implements apiserver.TenantService.
func (s *TenantService) OriginAllowed(ctx context.Context, origin string) (bool, error) {
	if !ValidOrigin(origin) {
		return false, nil
	}
	var ok bool
	err := s.DB.AsPlatform(ctx, func(q *dbq.Queries) error {
		var err error
		ok, err = q.OriginAllowed(ctx, origin)
		return err
	})
	return ok, err
}
