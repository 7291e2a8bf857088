// Package testenv gives each test its own slice of the real services started by
// hack/services.sh: a migrated PostgreSQL database, a Redis key prefix, a Kafka topic,
// an Elasticsearch index name and the stripe-mock URL, all removed in t.Cleanup.
//
// Addresses come from the KOMMERCE_TEST_* variables printed by `hack/services.sh env`,
// defaulting to the ports that script uses. When a service does not answer, the test
// is skipped with the command that starts it, except under CI=true or
// KOMMERCE_TEST_REQUIRE_SERVICES=1 (set by `make test`), where it fails: a missing
// service must never turn into a silent pass.
//
// Eventually is how every test waits for an outcome: polling with a generous
// deadline and reporting the last state it saw.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// Default addresses, matching hack/services.sh.
const (
	DefaultDatabaseURL      = "postgres://kommerce:kommerce@127.0.0.1:55432/kommerce?sslmode=disable" //nolint:gosec // local test server
	DefaultRedisURL         = "redis://127.0.0.1:56379/0"
	DefaultKafkaBrokers     = "127.0.0.1:59092"
	DefaultElasticsearchURL = "http://127.0.0.1:59200"
	DefaultStripeURL        = "http://127.0.0.1:12111"
)

// Required reports whether a missing service fails the test instead of skipping it.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("KOMMERCE_TEST_REQUIRE_SERVICES") != ""
}

// Unavailable skips or fails t because service cannot be reached, naming the command
// that starts it.
func Unavailable(t testing.TB, service, addr string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s is not reachable at %s: %v\n\tstart it with: hack/services.sh up %s", service, addr, err, service)
	if Required() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// reachability caches one probe per service per test binary, so a stopped service
// costs one connect timeout, not one per test.
type reachability struct {
	once sync.Once
	err  error
}

func (r *reachability) check(probe func() error) error {
	r.once.Do(func() { r.err = probe() })
	return r.err
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// Name returns a short unique lower-case name derived from the test's name, usable
// as a database, topic, index or key prefix: "<prefix>_<test>_<random>".
func Name(t testing.TB, prefix, sep string) string {
	base := nonName.ReplaceAllString(strings.ToLower(t.Name()), sep)
	base = strings.Trim(base, sep)
	if len(base) > 30 {
		base = base[len(base)-30:]
		base = strings.TrimLeft(base, sep)
	}
	return prefix + sep + base + sep + randomHex(4)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
