package apiserver

import (
	"context"
	"time"
)

// Tenant statuses.
const (
	TenantActive    = "active"
	TenantSuspended = "suspended"
	TenantDeleting  = "deleting"
)

// Tenant is one customer of the platform: every row, key, topic and index of theirs
// carries its id or one of its prefixes.
type Tenant struct {
	ID     string `json:"id"`
	Slug   string `json:"slug"`
	Name   string `json:"name"`
	Status string `json:"status"`
	// TopicPrefix, IndexPrefix and RedisPrefix isolate the tenant's Kafka topics,
	// search indices and Redis keys; fixed at creation.
	TopicPrefix string    `json:"topic_prefix"`
	IndexPrefix string    `json:"index_prefix"`
	RedisPrefix string    `json:"redis_prefix"`
	CreatedAt   time.Time `json:"created_at"`
}

// TenantCreate is the input of CreateTenant. Empty prefixes get the defaults of
// internal/tenancy, the same the operator gives a Tenant resource: "kommerce.<slug>"
// (topics), "kommerce-<slug>" (indices) and "k:<slug>:" (Redis).
type TenantCreate struct {
	Slug        string
	Name        string
	TopicPrefix string
	IndexPrefix string
	RedisPrefix string
}

// StorefrontHost maps a hostname to a tenant's storefront, with the browser origins
// allowed to call the API for it (CORS).
type StorefrontHost struct {
	TenantID    string   `json:"tenant_id"`
	Hostname    string   `json:"hostname"`
	Storefront  string   `json:"storefront"`
	CORSOrigins []string `json:"cors_origins"`
}

// Resolved is the tenant serving a request, with the CORS origins its storefronts allow.
type Resolved struct {
	Tenant      *Tenant
	CORSOrigins []string
}

// TenantService manages the tenant registry. Lookups work across tenants (they run
// before a request's tenant is known), so implementations use the platform role.
type TenantService interface {
	// CreateTenant registers a tenant. Errors: ErrInvalid, ErrConflict (slug taken).
	CreateTenant(ctx context.Context, in TenantCreate) (*Tenant, error)
	// TenantBySlug resolves a slug. Errors: ErrUnknownTenant.
	TenantBySlug(ctx context.Context, slug string) (*Resolved, error)
	// TenantByHost resolves a storefront hostname (lower case, port allowed).
	// Errors: ErrUnknownTenant.
	TenantByHost(ctx context.Context, host string) (*Resolved, error)
	// AddStorefrontHost maps a hostname to a tenant, replacing its origins when it is
	// already mapped to the same tenant. Errors: ErrInvalid, ErrConflict (host taken
	// by another tenant), ErrUnknownTenant.
	AddStorefrontHost(ctx context.Context, h StorefrontHost) error
	// OriginAllowed reports whether any storefront of any tenant allows origin; used
	// for CORS preflights, which carry no tenant header.
	OriginAllowed(ctx context.Context, origin string) (bool, error)
}

// ValidSlug reports whether s can name a tenant: a DNS label of lower-case letters,
// digits and inner dashes. It runs on every request, hence no regular expression.
func ValidSlug(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}
