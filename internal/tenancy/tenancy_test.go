package tenancy_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/internal/tenancy"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		name   string
		slug   string
		chosen tenancy.Prefixes
		want   tenancy.Prefixes
	}{
		{name: "none chosen", slug: "acme",
			want: tenancy.Prefixes{Topic: "kommerce.acme", Index: "kommerce-acme", Redis: "k:acme:"}},
		{name: "dashed slug", slug: "big-shop-2",
			want: tenancy.Prefixes{Topic: "kommerce.big-shop-2", Index: "kommerce-big-shop-2", Redis: "k:big-shop-2:"}},
		{name: "all chosen", slug: "acme", chosen: tenancy.Prefixes{Topic: "t", Index: "i", Redis: "r:"},
			want: tenancy.Prefixes{Topic: "t", Index: "i", Redis: "r:"}},
		{name: "only redis chosen", slug: "acme", chosen: tenancy.Prefixes{Redis: "kommerce:acme:"},
			want: tenancy.Prefixes{Topic: "kommerce.acme", Index: "kommerce-acme", Redis: "kommerce:acme:"}},
		{name: "only topic chosen", slug: "acme", chosen: tenancy.Prefixes{Topic: "shop.acme"},
			want: tenancy.Prefixes{Topic: "shop.acme", Index: "kommerce-acme", Redis: "k:acme:"}},
		{name: "only index chosen", slug: "acme", chosen: tenancy.Prefixes{Index: "acme-search"},
			want: tenancy.Prefixes{Topic: "kommerce.acme", Index: "acme-search", Redis: "k:acme:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tenancy.Resolve(tt.slug, tt.chosen); got != tt.want {
				t.Errorf("Resolve(%q, %+v) = %+v, want %+v", tt.slug, tt.chosen, got, tt.want)
			}
		})
	}
	if got, want := tenancy.Resolve("acme", tenancy.Prefixes{}), tenancy.DefaultPrefixes("acme"); got != want {
		t.Errorf("Resolve with nothing chosen = %+v, DefaultPrefixes = %+v", got, want)
	}
}

// Database CHECK constraints on the tenants table (migration 00001): a default prefix
// that broke them would make every tenant creation fail.
var (
	topicCheck = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)
	indexCheck = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,99}$`)
	redisCheck = regexp.MustCompile(`^[A-Za-z0-9:._-]{1,100}$`)
)

func TestDefaultPrefixesPassTheDatabaseChecks(t *testing.T) {
	for _, slug := range []string{"a", "acme", "big-shop-2", strings.Repeat("x", tenancy.MaxSlugLength)} {
		p := tenancy.DefaultPrefixes(slug)
		if !topicCheck.MatchString(p.Topic) || !indexCheck.MatchString(p.Index) || !redisCheck.MatchString(p.Redis) {
			t.Errorf("DefaultPrefixes(%q) = %+v breaks a CHECK of the tenants table", slug, p)
		}
	}
}

func TestValidSlug(t *testing.T) {
	tests := []struct {
		slug string
		want bool
	}{
		{"acme", true},
		{"a", true},
		{"0", true},
		{"big-shop-2", true},
		{strings.Repeat("x", 40), true},
		{strings.Repeat("x", 41), false},
		{strings.Repeat("x", 63), false},
		{"", false},
		{"-acme", false},
		{"acme-", false},
		{"Acme", false},
		{"ac_me", false},
		{"ac.me", false},
		{"acme:", false},
		{"ac me", false},
		{"é", false},
	}
	for _, tt := range tests {
		t.Run(tt.slug, func(t *testing.T) {
			if got := tenancy.ValidSlug(tt.slug); got != tt.want {
				t.Errorf("ValidSlug(%q) = %v, want %v", tt.slug, got, tt.want)
			}
		})
	}
}

// TestValidSlugIsTheTenantNameRule checks ValidSlug against the name rule the Tenant
// CRD's validation states, so the CLI and the operator cannot drift apart on which
// slugs exist.
func TestValidSlugIsTheTenantNameRule(t *testing.T) {
	crd, err := os.ReadFile("../../config/crd/bases/kommerce.io_tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`self\.metadata\.name\.matches\('([^']+)'\)`).FindSubmatch(crd)
	if m == nil {
		t.Fatal("the Tenant CRD has no metadata.name rule")
	}
	rule := regexp.MustCompile(string(m[1]))
	for _, s := range []string{"a", "acme", "a-b", "9", "-a", "a-", "A", "a_b", "a.b",
		strings.Repeat("x", 39), strings.Repeat("x", 40), strings.Repeat("x", 41), "x" + strings.Repeat("-", 38) + "x", ""} {
		if got, want := tenancy.ValidSlug(s), rule.MatchString(s); got != want {
			t.Errorf("ValidSlug(%q) = %v, the Tenant CRD's rule %s says %v", s, got, rule, want)
		}
	}
}
