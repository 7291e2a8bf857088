package cache

import (
	"context"
	"sync"
	"time"

	"github.com/kommerce/kommerce/apiserver"
)

// Tenants caches tenant resolution in process memory: it runs on every request, and
// tenants change rarely (a suspension takes effect within TTL). Unknown slugs and
// hosts are remembered for MissTTL so random names cannot reach the database at
// request rate.
type Tenants struct {
	apiserver.TenantService
	TTL     time.Duration
	MissTTL time.Duration

	mu sync.Mutex
	m  map[string]tenantEntry
}

type tenantEntry struct {
	r   *apiserver.Resolved
	err error
	ok  bool // for OriginAllowed
	at  time.Time
}

func (c *Tenants) cached(ctx context.Context, key string, load func() tenantEntry) tenantEntry {
	c.mu.Lock()
	e, hit := c.m[key]
	c.mu.Unlock()
	ttl := c.TTL
	if e.err != nil {
		ttl = c.MissTTL
	}
	if hit && time.Since(e.at) < ttl {
		return e
	}
	e = load()
	e.at = time.Now()
	// Only definite answers are remembered, never outages.
	if e.err == nil || apiserver.ErrorCode(e.err) == apiserver.ErrUnknownTenant {
		c.mu.Lock()
		if c.m == nil || len(c.m) > 10000 {
			c.m = map[string]tenantEntry{}
		}
		c.m[key] = e
		c.mu.Unlock()
	}
	return e
}

// TenantBySlug implements apiserver.TenantService.
func (c *Tenants) TenantBySlug(ctx context.Context, slug string) (*apiserver.Resolved, error) {
	e := c.cached(ctx, "s:"+slug, func() tenantEntry {
		r, err := c.TenantService.TenantBySlug(ctx, slug)
		return tenantEntry{r: r, err: err}
	})
	return e.r, e.err
}

// TenantByHost implements apiserver.TenantService.
func (c *Tenants) TenantByHost(ctx context.Context, host string) (*apiserver.Resolved, error) {
	e := c.cached(ctx, "h:"+host, func() tenantEntry {
		r, err := c.TenantService.TenantByHost(ctx, host)
		return tenantEntry{r: r, err: err}
	})
	return e.r, e.err
}

// OriginAllowed implements apiserver.TenantService.
func (c *Tenants) OriginAllowed(ctx context.Context, origin string) (bool, error) {
	e := c.cached(ctx, "o:"+origin, func() tenantEntry {
		ok, err := c.TenantService.OriginAllowed(ctx, origin)
		return tenantEntry{ok: ok, err: err}
	})
	return e.ok, e.err
}
