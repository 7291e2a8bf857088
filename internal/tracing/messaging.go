package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HeaderTraceparent is the Kafka header carrying the W3C traceparent of the span
// that published a message.
const HeaderTraceparent = "traceparent"

// StartPublish starts the producer span of one outbox row whose stored traceparent
// is tp (continuing the request's trace) and writes the span's own traceparent into
// headers, so the consumer's span becomes its child. A row without a traceparent
// (tracing off when it was written, or an unsampled request) starts no span: the
// returned span is a no-op.
func StartPublish(ctx context.Context, tp, topic, tenantID string, headers map[string]string) trace.Span {
	if tp == "" || !Enabled() {
		return trace.SpanFromContext(context.Background())
	}
	pctx := FromTraceparent(ctx, tp)
	if !trace.SpanContextFromContext(pctx).IsValid() {
		return trace.SpanFromContext(context.Background())
	}
	pctx, span := Tracer().Start(pctx, "publish "+topic, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.destination.name", topic),
			attribute.String("messaging.operation.type", "send"),
			AttrTenant.String(tenantID),
		))
	propagator.Inject(pctx, propagation.MapCarrier(headers))
	return span
}

// StartConsume starts the consumer span of one Kafka message, a child of the span
// that published it when its headers carry a valid traceparent; consumers (the search
// indexer, notifications, experiments) call it per message and End the span when the
// message is handled. A message without one starts no span (no trace is invented for
// untraced work): the returned span is a no-op and ctx is returned as it is.
func StartConsume(ctx context.Context, headers map[string]string, consumer, topic string) (context.Context, trace.Span) {
	if !Enabled() || headers[HeaderTraceparent] == "" {
		return ctx, trace.SpanFromContext(context.Background())
	}
	pctx := Extract(ctx, propagation.MapCarrier(headers))
	if !trace.SpanContextFromContext(pctx).IsValid() {
		return ctx, trace.SpanFromContext(context.Background())
	}
	return Tracer().Start(pctx, consumer+" "+topic, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.destination.name", topic),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.consumer.group.name", consumer),
		))
}

// EndWithError ends span, marking it failed when err is not nil. Only the fact is
// recorded: an error's text may quote customer data.
func EndWithError(span trace.Span, err error, what string) {
	if err != nil && span.IsRecording() {
		span.SetStatus(codes.Error, what)
	}
	span.End()
}
