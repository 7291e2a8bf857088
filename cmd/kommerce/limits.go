package main

import (
	"strings"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/config"
)

// limitsConfig is the per-user and per-tenant rate limits and the trusted proxies,
// shared by `kommerce api` and `kommerce dev`: the same defaults in both, so what a
// developer sees locally is what production does, and settable in both, so a load
// test against `make run` can model many shoppers (docs/benchmarks.md).
type limitsConfig struct {
	userRate       int
	userBurst      int
	tenantRate     int
	tenantBurst    int
	trustedProxies string
}

func (c *limitsConfig) register(set *config.Set) {
	set.Int(&c.userRate, "user-rate", "KOMMERCE_USER_RATE", apiserver.DefaultUserLimit.Rate, "requests per second allowed per user (per client address when anonymous)", config.Check(positive))
	set.Int(&c.userBurst, "user-burst", "KOMMERCE_USER_BURST", apiserver.DefaultUserLimit.Burst, "burst allowed per user", config.Check(positive))
	set.Int(&c.tenantRate, "tenant-rate", "KOMMERCE_TENANT_RATE", apiserver.DefaultTenantLimit.Rate, "requests per second allowed per tenant", config.Check(positive))
	set.Int(&c.tenantBurst, "tenant-burst", "KOMMERCE_TENANT_BURST", apiserver.DefaultTenantLimit.Burst, "burst allowed per tenant", config.Check(positive))
	set.String(&c.trustedProxies, "trusted-proxies", "KOMMERCE_TRUSTED_PROXIES", "", "comma-separated addresses or CIDRs whose X-Forwarded-For is trusted for the client address")
}

// apply sets the limits and proxies of so.
func (c *limitsConfig) apply(so *stack.Options) {
	so.UserLimit = apiserver.RateLimit{Rate: c.userRate, Burst: c.userBurst}
	so.TenantLimit = apiserver.RateLimit{Rate: c.tenantRate, Burst: c.tenantBurst}
	so.TrustedProxies = nil
	for _, p := range strings.Split(c.trustedProxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			so.TrustedProxies = append(so.TrustedProxies, p)
		}
	}
}
