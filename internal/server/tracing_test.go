package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kommerce/kommerce/internal/tracing"
)

func TestTraceHeaders(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	p := tracing.Install(tracing.Config{ServiceName: "test", Sampler: "parentbased_always_on", MaxQueue: 64, MaxBatch: 16}, exp, nil)
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })

	app := http.NewServeMux()
	app.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	h := New(Options{Name: "api", Handler: app}).Handler()

	const caller = "4bf92f3577b34da6a3ce929d0e0e4736"
	valid := "00-" + caller + "-00f067aa0ba902b7-01"
	huge := "k=" + strings.Repeat("v", 100<<10)
	tests := []struct {
		name        string
		path        string
		traceparent string
		tracestate  string
		wantSpans   int
		wantTraceID string // "" means: a new trace, not the caller's
	}{
		{name: "valid traceparent continues the caller's trace", path: "/items/1", traceparent: valid, wantSpans: 1, wantTraceID: caller},
		{name: "no headers start a new trace", path: "/items/1", wantSpans: 1},
		{name: "malformed traceparent is ignored", path: "/items/1", traceparent: "00-zzzz-not-hex-01", wantSpans: 1},
		{name: "over-long traceparent is ignored", path: "/items/1", traceparent: valid + strings.Repeat("-ff", 200), wantSpans: 1},
		{name: "all-zero trace id is ignored", path: "/items/1", traceparent: "00-00000000000000000000000000000000-00f067aa0ba902b7-01", wantSpans: 1},
		{name: "100 KB tracestate is dropped, the trace kept", path: "/items/1", traceparent: valid, tracestate: huge, wantSpans: 1, wantTraceID: caller},
		{name: "probes are not traced", path: "/healthz", traceparent: valid, wantSpans: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp.Reset()
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.traceparent != "" {
				req.Header.Set("traceparent", tt.traceparent)
			}
			if tt.tracestate != "" {
				req.Header.Set("tracestate", tt.tracestate)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, want 200", rec.Code)
			}
			if err := p.ForceFlush(context.Background()); err != nil {
				t.Fatal(err)
			}
			spans := exp.GetSpans()
			if len(spans) != tt.wantSpans {
				t.Fatalf("%d spans, want %d", len(spans), tt.wantSpans)
			}
			if tt.wantSpans == 0 {
				return
			}
			s := spans[0]
			if s.Name != "GET /items/{id}" {
				t.Errorf("span name %q, want the route", s.Name)
			}
			got := s.SpanContext.TraceID().String()
			if tt.wantTraceID != "" && got != tt.wantTraceID {
				t.Errorf("trace id %s, want the caller's %s", got, tt.wantTraceID)
			}
			if tt.wantTraceID == "" && (got == caller || !s.SpanContext.IsValid()) {
				t.Errorf("trace id %s, want a new valid one", got)
			}
			if ts := s.SpanContext.TraceState().String(); len(ts) > 512 {
				t.Errorf("tracestate of %d bytes kept", len(ts))
			}
		})
	}
}

func TestPanicsCountedByRoute(t *testing.T) {
	app := http.NewServeMux()
	app.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) {
		// What a recovering handler does: count, answer 500.
		RecordPanic(r.Context())
		w.WriteHeader(http.StatusInternalServerError)
	})
	app.HandleFunc("GET /fine", func(w http.ResponseWriter, _ *http.Request) {})
	s := New(Options{Name: "api", Handler: app})
	for _, path := range []string{"/boom", "/fine", "/boom"} {
		s.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	if got := testutil.ToFloat64(s.metrics.panics.WithLabelValues("GET /boom")); got != 2 {
		t.Errorf("panics of GET /boom = %v, want 2", got)
	}
	if got := testutil.ToFloat64(s.metrics.panics.WithLabelValues("GET /fine")); got != 0 {
		t.Errorf("panics of GET /fine = %v, want 0", got)
	}
}
