// Package tenancy holds the rules that name a tenant's share of the platform: which
// slugs a new tenant may have and which Kafka topic, search index and Redis key
// prefixes it gets when its creator chose none.
//
// Two paths create tenants rows — `kommerce admin create-tenant` (through the API's
// TenantService) and the operator (through internal/tenantstore, for a Tenant
// resource). Both ask this package, so a tenant is named the same way whichever
// created it. The tenant id follows one rule on both paths without code here: the
// database draws a random UUID (gen_random_uuid()) unless the Tenant resource's
// spec.isolation.tenantID names one.
package tenancy

// MaxSlugLength is the longest slug a new tenant may have. The slug is the Tenant
// resource's name, whose CRD validation allows at most 40 characters because it
// becomes part of topic, index and key prefixes; the CLI applies the same limit so
// that every tenant it makes could also be managed as a Tenant resource.
const MaxSlugLength = 40

// Prefixes are the names that keep one tenant's data apart from another's: every Kafka
// topic of the tenant starts with Topic (`<Topic>.<stream>`), every search index with
// Index and every Redis key with Redis. They are fixed when the tenant is created.
type Prefixes struct {
	Topic string
	Index string
	Redis string
}

// DefaultPrefixes returns the prefixes of a tenant whose creator chose none:
// topics `kommerce.<slug>`, indices `kommerce-<slug>`, Redis keys `k:<slug>:`.
// The Redis prefix is short because it is repeated in every key the API writes.
func DefaultPrefixes(slug string) Prefixes {
	return Prefixes{Topic: "kommerce." + slug, Index: "kommerce-" + slug, Redis: "k:" + slug + ":"}
}

// Resolve returns the prefixes a new tenant gets: each one chosen keeps its value,
// each empty one gets its default for slug.
func Resolve(slug string, chosen Prefixes) Prefixes {
	d := DefaultPrefixes(slug)
	return Prefixes{Topic: or(chosen.Topic, d.Topic), Index: or(chosen.Index, d.Index), Redis: or(chosen.Redis, d.Redis)}
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// ValidSlug reports whether s can name a new tenant: a DNS label (lower-case letters,
// digits and inner dashes) of at most MaxSlugLength characters — the rule the Tenant
// CRD enforces on resource names.
func ValidSlug(s string) bool {
	if len(s) == 0 || len(s) > MaxSlugLength || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}
