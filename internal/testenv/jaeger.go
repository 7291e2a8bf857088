package testenv

import (
	"testing"
)

// Default addresses of hack/services.sh's Jaeger.
const (
	DefaultJaegerOTLPURL  = "http://127.0.0.1:54318"
	DefaultJaegerQueryURL = "http://127.0.0.1:56686"
)

var jaegerReach reachability

// Jaeger returns the OTLP/HTTP base URL (for OTEL_EXPORTER_OTLP_ENDPOINT) and the
// query API base URL of the test Jaeger, failing or skipping t when it does not
// answer (hack/services.sh up jaeger).
func Jaeger(t testing.TB) (otlpURL, queryURL string) {
	t.Helper()
	otlpURL = env("KOMMERCE_TEST_JAEGER_OTLP_URL", DefaultJaegerOTLPURL)
	queryURL = env("KOMMERCE_TEST_JAEGER_QUERY_URL", DefaultJaegerQueryURL)
	if err := jaegerReach.check(func() error { return httpOK(queryURL + "/api/services") }); err != nil {
		Unavailable(t, "jaeger", queryURL, err)
	}
	return otlpURL, queryURL
}
