package main

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/config"
)

func TestLimitsConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		user    apiserver.RateLimit
		tenant  apiserver.RateLimit
		proxies []string
	}{
		{name: "defaults", user: apiserver.DefaultUserLimit, tenant: apiserver.DefaultTenantLimit},
		{name: "flags", args: []string{"--user-rate", "500", "--user-burst", "900", "--tenant-rate", "100000", "--tenant-burst", "200000", "--trusted-proxies", " 127.0.0.1 ,10.0.0.0/8,"},
			user: apiserver.RateLimit{Rate: 500, Burst: 900}, tenant: apiserver.RateLimit{Rate: 100000, Burst: 200000}, proxies: []string{"127.0.0.1", "10.0.0.0/8"}},
		{name: "environment", env: map[string]string{"KOMMERCE_USER_RATE": "50", "KOMMERCE_TRUSTED_PROXIES": "127.0.0.1"},
			user: apiserver.RateLimit{Rate: 50, Burst: apiserver.DefaultUserLimit.Burst}, tenant: apiserver.DefaultTenantLimit, proxies: []string{"127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := config.NewSet("test", "", func(k string) string { return tt.env[k] })
			var c limitsConfig
			c.register(set)
			if _, err := set.Parse(tt.args, io.Discard); err != nil {
				t.Fatal(err)
			}
			so := stack.Options{TrustedProxies: []string{"stale"}}
			c.apply(&so)
			if so.UserLimit != tt.user || so.TenantLimit != tt.tenant || !slices.Equal(so.TrustedProxies, tt.proxies) {
				t.Errorf("got user %+v tenant %+v proxies %q; want %+v %+v %q", so.UserLimit, so.TenantLimit, so.TrustedProxies, tt.user, tt.tenant, tt.proxies)
			}
		})
	}
}

// api and dev take the same limits, and refuse a limit below 1.
func TestLimitsFlags(t *testing.T) {
	for _, cmd := range []string{"api", "dev"} {
		_, stdout, _ := invoke(t, nil, cmd, "--help")
		for _, f := range []string{"--user-rate", "--user-burst", "--tenant-rate", "--tenant-burst", "--trusted-proxies"} {
			if !strings.Contains(stdout, f+" ") {
				t.Errorf("%s --help has no %s", cmd, f)
			}
		}
		code, _, stderr := invoke(t, nil, cmd, "--tenant-rate", "0")
		if code != 2 || !strings.Contains(stderr, "tenant-rate") {
			t.Errorf("%s --tenant-rate 0: exit %d, %s; want a usage error", cmd, code, stderr)
		}
	}
}
