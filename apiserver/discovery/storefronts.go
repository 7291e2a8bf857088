// Package discovery implements the shopper-facing discovery services of the API —
// product search and suggestions (internal/search), behaviour events (validated
// here, published through a BehaviourPublisher) and recommendations
// (inference/recs) — on top of the tenant in the request context. The HTTP layer only decodes and encodes; everything that needs a
// decision (which storefront, which settings, which products may be shown, what an
// engine failure means to a client) is here.
package discovery

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/kommerce/kommerce/apiserver"
)

// DefaultStorefront is the storefront every tenant has; requests whose host is not
// mapped to another one are served by it.
const DefaultStorefront = "default"

// StorefrontStore finds the storefront a hostname of the tenant in ctx is mapped to
// (postgres.DiscoveryStore).
type StorefrontStore interface {
	StorefrontOfHost(ctx context.Context, host string) (string, bool, error)
}

// Storefronts resolves a request's storefront from its Host, caching the answers
// (positive and negative) for a short while: the lookup would otherwise be one more
// database round trip per search.
type Storefronts struct {
	Store StorefrontStore // nil: every request is served by the default storefront
	// Managed, when it manages a storefront of the request's tenant, serves every
	// request of that tenant as that storefront, whatever its host: the pod serves
	// one storefront.
	Managed apiserver.StorefrontSource
	TTL     time.Duration // default 30s
	Log     *slog.Logger

	mu    sync.Mutex
	cache map[string]storefrontEntry
}

type storefrontEntry struct {
	name    string
	expires time.Time
}

// maxCachedHosts bounds the cache: Host is chosen by the client, so a flood of
// made-up hosts must not grow memory without limit.
const maxCachedHosts = 10000

// Name returns the storefront of host for the tenant in ctx. A failing lookup is
// logged and answered with the default storefront: every storefront indexes the
// same catalog, so the shopper still gets results, only without their storefront's
// settings.
func (s *Storefronts) Name(ctx context.Context, host string) string {
	if m := apiserver.ManagedFor(ctx, s.managed()); m != nil {
		return m.Storefront
	}
	t := apiserver.TenantFromContext(ctx)
	host = strings.ToLower(host)
	if s == nil || s.Store == nil || t == nil || host == "" || len(host) > 260 {
		return DefaultStorefront
	}
	key := t.ID + "\x00" + host
	now := time.Now()
	s.mu.Lock()
	e, ok := s.cache[key]
	s.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.name
	}
	name, found, err := s.Store.StorefrontOfHost(ctx, host)
	if err == nil && !found {
		if h, _, splitErr := net.SplitHostPort(host); splitErr == nil {
			name, found, err = s.Store.StorefrontOfHost(ctx, h)
		}
	}
	if err != nil {
		if s.Log != nil {
			s.Log.WarnContext(ctx, "storefront lookup failed; serving the default storefront", "host", host, "error", err)
		}
		return DefaultStorefront
	}
	if !found {
		name = DefaultStorefront
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	s.mu.Lock()
	if s.cache == nil || len(s.cache) >= maxCachedHosts {
		s.cache = map[string]storefrontEntry{}
	}
	s.cache[key] = storefrontEntry{name: name, expires: now.Add(ttl)}
	s.mu.Unlock()
	return name
}

func (s *Storefronts) managed() apiserver.StorefrontSource {
	if s == nil {
		return nil
	}
	return s.Managed
}
