package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/server"
	"github.com/kommerce/kommerce/internal/testenv"
	"github.com/kommerce/kommerce/internal/tracing"
)

// discard is a span exporter that drops what it gets: the benchmark measures what
// tracing costs the request, not a backend.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkProductReadTracing measures GET /api/v1/products/{id} through the whole
// server (probe mux, metrics, tracing middleware, Gin, the catalog cache and
// PostgreSQL on a miss) with tracing off, on at 10 % and on at 100 % sampling, in one
// run so the ratios compare like with like:
//
//	go test -run '^$' -bench ProductReadTracing -benchtime 5000x ./apiserver/stack/
func BenchmarkProductReadTracing(b *testing.B) {
	db := testenv.NewDatabase(b)
	for _, bc := range []struct {
		name  string
		ratio float64 // <0: tracing off
	}{{"off", -1}, {"sampled-10pct", 0.1}, {"sampled-100pct", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.ratio >= 0 {
				p := tracing.Install(tracing.Config{ServiceName: "bench", Sampler: "parentbased_traceidratio", Ratio: bc.ratio, MaxQueue: 2048, MaxBatch: 512}, discard{}, nil)
				b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
			}
			pool, err := tracing.NewPool(context.Background(), db.URL)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(pool.Close)
			st, err := stack.New(stack.Options{Pool: pool, Password: fastPasswords, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
				UserLimit: apiserver.RateLimit{Rate: 100000, Burst: 100000}, TenantLimit: apiserver.RateLimit{Rate: 100000, Burst: 100000}, WebhookLimit: apiserver.RateLimit{Rate: 1000, Burst: 1000}})
			if err != nil {
				b.Fatal(err)
			}
			h := server.New(server.Options{Name: "api", Handler: st.Handler, Registry: prometheus.NewRegistry()}).Handler()
			benchRuns++
			slug := fmt.Sprintf("bench-%s-%d", bc.name, benchRuns)
			id := benchProduct(b, st, h, slug)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/api/v1/products/"+id, nil)
				req.Header.Set("X-Kommerce-Tenant", slug)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// benchRuns makes each run's tenant slug unique (-count runs a benchmark again on the
// same database).
var benchRuns int

// benchProduct makes a tenant with an admin and one published product, and returns
// the product's id.
func benchProduct(b *testing.B, st *stack.Stack, h http.Handler, slug string) string {
	b.Helper()
	ctx := context.Background()
	t, err := st.Tenants.CreateTenant(ctx, apiserver.TenantCreate{Slug: slug, RedisPrefix: slug + ":", TopicPrefix: "bench." + slug, IndexPrefix: "bench-" + slug})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Keys.Rotate(ctx, t.ID, 3600e9); err != nil {
		b.Fatal(err)
	}
	tctx := apiserver.NewContextWithTenant(ctx, t)
	if _, err := st.Users.CreateUser(tctx, apiserver.UserCreate{Email: "admin@" + slug + ".test", Password: userPassword, Role: apiserver.RoleAdmin}); err != nil {
		b.Fatal(err)
	}
	send := func(method, path, token string, body any) map[string]any {
		raw, _ := json.Marshal(body)
		req := httptest.NewRequest(method, path, bytes.NewReader(raw))
		req.Header.Set("X-Kommerce-Tenant", slug)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var m map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &m)
		if rec.Code >= 300 {
			b.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
		return m
	}
	login := send("POST", "/api/v1/auth/login", "", map[string]string{"email": "admin@" + slug + ".test", "password": userPassword})
	p := send("POST", "/api/v1/products", login["access_token"].(string), map[string]any{"name": "Bench Mug", "status": "published",
		"variants": []any{map[string]any{"sku": "BM-1", "prices": []any{map[string]any{"currency": "EUR", "amount": 900}}}}})
	return p["id"].(string)
}
