package tracing

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Limits on incoming trace headers. A traceparent is exactly 55 characters in the
// version this code speaks (longer ones are allowed by later versions, never beyond a
// few hundred); a tracestate above 512 bytes may be truncated by any participant (W3C
// Trace Context §3.3.1.5), so a bigger one is dropped before it is parsed.
const (
	maxTraceparent = 256
	maxTracestate  = 512
)

// boundedCarrier hands the propagator only trace headers of a sane size: a hostile
// or broken one is ignored as if absent, never an error.
type boundedCarrier struct{ propagation.TextMapCarrier }

func (b boundedCarrier) Get(key string) string {
	v := b.TextMapCarrier.Get(key)
	switch key {
	case "traceparent":
		if len(v) > maxTraceparent {
			return ""
		}
	case "tracestate":
		if len(v) > maxTracestate {
			return ""
		}
	}
	return v
}

// Extract returns ctx with the remote span context carried by carrier, if it has a
// valid one.
func Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	return propagator.Extract(ctx, boundedCarrier{carrier})
}

// Inject writes the span context of ctx into carrier (nothing when there is none).
func Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	propagator.Inject(ctx, carrier)
}

// ExtractHTTP returns ctx with the trace context of the request headers h.
func ExtractHTTP(ctx context.Context, h http.Header) context.Context {
	return Extract(ctx, propagation.HeaderCarrier(h))
}

// Traceparent returns the W3C traceparent of the span in ctx, or "" when ctx has no
// sampled span: what the outbox row and the Kafka headers carry. Unsampled traces
// are not carried on, so a consumer starts none for them either.
func Traceparent(ctx context.Context) string {
	if !Enabled() {
		return ""
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsSampled() {
		return ""
	}
	m := propagation.MapCarrier{}
	propagator.Inject(ctx, m)
	return m["traceparent"]
}

// FromTraceparent returns ctx with the remote parent tp (from an outbox row or a
// header); a malformed or empty tp leaves ctx as it is.
func FromTraceparent(ctx context.Context, tp string) context.Context {
	if tp == "" || !Enabled() {
		return ctx
	}
	return Extract(ctx, propagation.MapCarrier{"traceparent": tp})
}
