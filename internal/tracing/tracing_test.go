package tracing

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name         string
		env          map[string]string
		wantEndpoint string
		wantSampler  string
		wantRatio    float64
		wantService  string
		wantErr      bool
	}{
		{name: "nothing set is off", env: nil, wantSampler: "parentbased_always_on", wantRatio: 1, wantService: "kommerce-api"},
		{name: "generic endpoint gets the traces path", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318/"},
			wantEndpoint: "http://127.0.0.1:4318/v1/traces", wantSampler: "parentbased_always_on", wantRatio: 1, wantService: "kommerce-api"},
		{name: "traces endpoint is used as is", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/x", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://ignored"},
			wantEndpoint: "http://c:4318/x", wantSampler: "parentbased_always_on", wantRatio: 1, wantService: "kommerce-api"},
		{name: "ratio sampler and service name", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1", "OTEL_SERVICE_NAME": "shop-api"},
			wantEndpoint: "http://c:4318/v1/traces", wantSampler: "parentbased_traceidratio", wantRatio: 0.1, wantService: "shop-api"},
		{name: "sdk disabled wins", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"},
			wantSampler: "parentbased_always_on", wantRatio: 1, wantService: "kommerce-api"},
		{name: "exporter none is off", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"},
			wantSampler: "parentbased_always_on", wantRatio: 1, wantService: "kommerce-api"},
		{name: "unknown sampler", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "sometimes"}, wantErr: true},
		{name: "ratio out of range", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, wantErr: true},
		{name: "grpc protocol is refused", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, wantErr: true},
		{name: "endpoint without scheme", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "c:4318"}, wantErr: true},
		{name: "queue size not a number", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_BSP_MAX_QUEUE_SIZE": "lots"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromEnv(env(tt.env), "kommerce-api")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if c.Endpoint != tt.wantEndpoint || c.Sampler != tt.wantSampler || c.Ratio != tt.wantRatio || c.ServiceName != tt.wantService {
				t.Errorf("got endpoint %q sampler %q ratio %v service %q, want %q %q %v %q",
					c.Endpoint, c.Sampler, c.Ratio, c.ServiceName, tt.wantEndpoint, tt.wantSampler, tt.wantRatio, tt.wantService)
			}
		})
	}
}

func TestQueryName(t *testing.T) {
	tests := []struct{ name, sql, want string }{
		{name: "sqlc name", sql: "-- name: GetProduct :one\nSELECT * FROM products WHERE id = $1", want: "GetProduct"},
		{name: "plain statement", sql: "  select set_config('kommerce.tenant_id', $1, true)", want: "SELECT"},
		{name: "comment then statement", sql: "-- why\nUPDATE x SET y = 1", want: "UPDATE"},
		{name: "odd first word", sql: "(SELECT 1)", want: "QUERY"},
		{name: "empty", sql: "", want: "QUERY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := QueryName(tt.sql); got != tt.want {
				t.Errorf("QueryName(%q) = %q, want %q", tt.sql, got, tt.want)
			}
		})
	}
}

// install turns tracing on with an in-memory exporter for one test.
func install(t *testing.T, c Config) (*tracetest.InMemoryExporter, *Provider) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	if c.MaxQueue == 0 {
		c.MaxQueue, c.MaxBatch = 64, 16
	}
	if c.Sampler == "" {
		c.Sampler = "parentbased_always_on"
	}
	c.ServiceName = "test"
	p := Install(c, exp, NewMetrics(nil))
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return exp, p
}

func TestPropagationThroughOutboxAndKafka(t *testing.T) {
	exp, p := install(t, Config{})
	ctx, req := Tracer().Start(context.Background(), "POST /api/v1/products")
	tp := Traceparent(ctx)
	if tp == "" {
		t.Fatal("no traceparent for a sampled span")
	}
	req.End()

	headers := map[string]string{"kommerce-event-type": "product.created"}
	pub := StartPublish(context.Background(), tp, "t.catalog", "tenant-1", headers)
	pub.End()
	_, con := StartConsume(context.Background(), headers, "search-indexer", "t.catalog")
	con.End()
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
		if s.SpanContext.TraceID() != req.SpanContext().TraceID() {
			t.Errorf("span %s is in trace %s, want %s", s.Name, s.SpanContext.TraceID(), req.SpanContext().TraceID())
		}
	}
	if got := byName["publish t.catalog"].Parent.SpanID(); got != req.SpanContext().SpanID() {
		t.Errorf("publish span's parent = %s, want the request span", got)
	}
	if got := byName["search-indexer t.catalog"].Parent.SpanID(); got != pub.SpanContext().SpanID() {
		t.Errorf("consume span's parent = %s, want the publish span", got)
	}
}

func TestUntracedRowsStartNoSpans(t *testing.T) {
	exp, p := install(t, Config{})
	tests := []struct {
		name string
		tp   string
	}{
		{name: "row without trace context", tp: ""},
		{name: "garbage trace context", tp: "not-a-traceparent"},
		{name: "all-zero trace id", tp: "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			sp := StartPublish(context.Background(), tt.tp, "t.catalog", "x", h)
			if sp.IsRecording() {
				t.Error("a span was started")
			}
			if h[HeaderTraceparent] != "" {
				t.Errorf("traceparent header %q set", h[HeaderTraceparent])
			}
			_, c := StartConsume(context.Background(), map[string]string{HeaderTraceparent: tt.tp}, "search-indexer", "t.catalog")
			if c.IsRecording() {
				t.Error("a consumer span was started")
			}
		})
	}
	_ = p.ForceFlush(context.Background())
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans exported, want 0", n)
	}
}

// blockingExporter never finishes an export until released: a backend that hangs.
type blockingExporter struct{ release chan struct{} }

func (b blockingExporter) ExportSpans(ctx context.Context, _ []sdktrace.ReadOnlySpan) error {
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return ctx.Err()
}
func (b blockingExporter) Shutdown(context.Context) error { return nil }

func TestFullQueueDropsAndCounts(t *testing.T) {
	exp := blockingExporter{release: make(chan struct{})}
	m := NewMetrics(nil)
	p := Install(Config{ServiceName: "test", Sampler: "always_on", MaxQueue: 4, MaxBatch: 1}, exp, m)
	t.Cleanup(func() {
		close(exp.release)
		_ = p.Shutdown(context.Background())
	})
	// The first span is taken by the export loop (which then hangs), four fill the
	// queue; every later one must be dropped at once, not wait.
	for range 20 {
		_, s := Tracer().Start(context.Background(), "work")
		s.End()
	}
	if got := testutil.ToFloat64(m.Dropped.WithLabelValues("queue_full")); got < 15 {
		t.Errorf("queue_full drops = %v, want at least 15", got)
	}
}

func TestUnreachableBackendCountsFailedExports(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	p, err := Start(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + addr}), "kommerce-test", nil)
	if err != nil || p == nil {
		t.Fatalf("Start = %v, %v", p, err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, span := StartServer(r.Context(), r, "test")
		EndServer(span, r.Method, "GET /x", http.StatusOK)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	for range 3 {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d with the trace backend down", resp.StatusCode)
		}
	}
	_ = p.ForceFlush(context.Background())
	if got := testutil.ToFloat64(p.Metrics().Dropped.WithLabelValues("export_failed")); got != 3 {
		t.Errorf("export_failed drops = %v, want 3", got)
	}
	if got := testutil.ToFloat64(p.Metrics().Exported); got != 0 {
		t.Errorf("exported = %v, want 0", got)
	}
}

func TestTransportPropagatesOnlyTracedRequests(t *testing.T) {
	exp, p := install(t, Config{})
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("traceparent"))
	}))
	defer srv.Close()
	client := &http.Client{Transport: Transport(http.DefaultTransport)}
	do := func(ctx context.Context) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v2/models/recs/infer?email=a@b.c", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	do(context.Background())
	ctx, parent := Tracer().Start(context.Background(), "parent")
	do(ctx)
	parent.End()
	_ = p.ForceFlush(context.Background())
	if got[0] != "" {
		t.Errorf("untraced request carried traceparent %q", got[0])
	}
	if got[1] == "" {
		t.Fatal("traced request carried no traceparent")
	}
	for _, s := range exp.GetSpans() {
		for _, a := range s.Attributes {
			if v := a.Value.Emit(); len(v) > 0 && (strings.Contains(v, "email") || strings.Contains(v, "a@b.c")) {
				t.Errorf("span %s attribute %s = %q leaks the query string", s.Name, a.Key, v)
			}
		}
	}
}
