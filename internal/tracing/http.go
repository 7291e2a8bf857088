package tracing

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// StartServer starts the server span of an inbound request, continuing the caller's
// trace when its headers carry a valid one. The span is named after the method until
// EndServer names it after the route. Off, it returns ctx and a no-op span.
func StartServer(ctx context.Context, r *http.Request, server string) (context.Context, trace.Span) {
	if !Enabled() {
		return ctx, trace.SpanFromContext(context.Background())
	}
	ctx = ExtractHTTP(ctx, r.Header)
	return Tracer().Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			AttrServer.String(server),
		))
}

// EndServer names the span after the route pattern (never the raw path: ids in it
// would make every span name unique), records the status and ends it.
func EndServer(span trace.Span, method, route string, status int) {
	if !span.IsRecording() {
		return
	}
	span.SetName(method + " " + strings.TrimPrefix(route, method+" "))
	span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// SetTenant records the tenant of the request or message in ctx on its span.
func SetTenant(ctx context.Context, tenantID string) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() && tenantID != "" {
		span.SetAttributes(AttrTenant.String(tenantID))
	}
}

// Transport wraps an HTTP client transport: a request made within a traced context
// gets a client span and carries its traceparent, so the server it calls (the
// inference server, Stripe's API) joins the trace. A request without a span in its
// context passes through untouched, so the exporter's own requests are never traced.
func Transport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if _, ok := rt.(transport); ok {
		return rt
	}
	return transport{rt}
}

type transport struct{ next http.RoundTripper }

func (t transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !Enabled() || !trace.SpanFromContext(r.Context()).SpanContext().IsValid() {
		return t.next.RoundTrip(r)
	}
	ctx, span := Tracer().Start(r.Context(), "HTTP "+r.Method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("server.address", r.URL.Hostname()),
			// The path, not the URL: a query string may carry anything.
			attribute.String("url.path", r.URL.Path),
		))
	defer span.End()
	r = r.Clone(ctx)
	propagator.Inject(ctx, propagation.HeaderCarrier(r.Header))
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		span.SetStatus(codes.Error, "transport error")
		return resp, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
	}
	return resp, nil
}

// SetTenantOn records tenantID on span.
func SetTenantOn(span trace.Span, tenantID string) {
	if span.IsRecording() && tenantID != "" {
		span.SetAttributes(AttrTenant.String(tenantID))
	}
}
