// Package tracing is kommerce's OpenTelemetry tracing: the tracer provider every
// server process sets up from the standard OTEL_* variables, and the small pieces that
// carry one trace from an HTTP request through PostgreSQL, the outbox, Kafka and the
// consumers (HTTP middleware and transport, a pgx query tracer, a go-redis hook, the
// traceparent of an outbox row and of a Kafka message).
//
// Tracing is off unless OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set. Off, every helper here is a no-op that
// allocates nothing, so an untraced process pays nothing for the instrumentation.
//
// The backend being slow or down must never slow requests: finished spans go to a
// bounded queue that is exported in the background; a span that finds the queue full
// is dropped and counted (kommerce_tracing_spans_dropped_total{reason="queue_full"}),
// and so is every span of a batch the backend refused or did not answer in time
// (reason="export_failed").
package tracing

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of every kommerce span.
const ScopeName = "github.com/kommerce/kommerce"

// Attribute keys kommerce sets. Only identifiers and technical facts: never a
// credential, an e-mail address, a name, an address or card data (docs/observability.md).
const (
	AttrTenant = attribute.Key("kommerce.tenant.id")
	AttrServer = attribute.Key("kommerce.server")
)

var (
	enabled atomic.Bool
	tracer  atomic.Pointer[trace.Tracer]
)

func init() {
	t := noop.NewTracerProvider().Tracer(ScopeName)
	tracer.Store(&t)
}

// Enabled reports whether this process exports traces.
func Enabled() bool { return enabled.Load() }

// Tracer returns kommerce's tracer: a no-op one while tracing is off.
func Tracer() trace.Tracer { return *tracer.Load() }

// propagator is W3C Trace Context only: baggage is not propagated, since it could
// carry anything a client put in it into every span and log downstream.
var propagator = propagation.TraceContext{}

// Sampler names accepted in OTEL_TRACES_SAMPLER (the OpenTelemetry SDK's own set).
var Samplers = []string{"always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"}

// Config is the tracing part of a process's settings, read from the standard
// OpenTelemetry environment variables by FromEnv.
type Config struct {
	// Endpoint is the OTLP/HTTP traces URL (…/v1/traces); empty turns tracing off.
	Endpoint string
	// ServiceName is the service.name resource attribute.
	ServiceName string
	// Sampler is one of Samplers; Ratio is its argument for the ratio samplers.
	Sampler string
	Ratio   float64
	// MaxQueue bounds the finished spans waiting for export [2048]; MaxBatch is the
	// most sent in one request [512].
	MaxQueue int
	MaxBatch int
	// Attributes are extra resource attributes (OTEL_RESOURCE_ATTRIBUTES).
	Attributes []attribute.KeyValue
}

// FromEnv reads the OTEL_* variables through getenv. defaultService names the service
// when OTEL_SERVICE_NAME is unset (e.g. "kommerce-api"). An invalid sampler, ratio or
// queue size is an error: a typo must not silently trace everything or nothing.
func FromEnv(getenv func(string) string, defaultService string) (Config, error) {
	c := Config{ServiceName: defaultService, Sampler: "parentbased_always_on", Ratio: 1, MaxQueue: 2048, MaxBatch: 512}
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return c, nil
	}
	if e := strings.ToLower(getenv("OTEL_TRACES_EXPORTER")); e != "" && e != "otlp" {
		if e == "none" {
			return c, nil
		}
		return c, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: only otlp and none are supported", e)
	}
	if p := getenv("OTEL_EXPORTER_OTLP_PROTOCOL") + getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"); p != "" && !strings.HasPrefix(p, "http/protobuf") {
		return c, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: only http/protobuf is supported", p)
	}
	if e := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); e != "" {
		c.Endpoint = e
	} else if e := getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); e != "" {
		c.Endpoint = strings.TrimRight(e, "/") + "/v1/traces"
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "http://") && !strings.HasPrefix(c.Endpoint, "https://") {
		return c, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %q: want an http:// or https:// URL", c.Endpoint)
	}
	if s := getenv("OTEL_SERVICE_NAME"); s != "" {
		c.ServiceName = s
	}
	if s := strings.ToLower(getenv("OTEL_TRACES_SAMPLER")); s != "" {
		ok := false
		for _, k := range Samplers {
			ok = ok || k == s
		}
		if !ok {
			return c, fmt.Errorf("OTEL_TRACES_SAMPLER=%q: want one of %s", s, strings.Join(Samplers, ", "))
		}
		c.Sampler = s
	}
	if a := getenv("OTEL_TRACES_SAMPLER_ARG"); a != "" && strings.HasSuffix(c.Sampler, "traceidratio") {
		r, err := strconv.ParseFloat(a, 64)
		if err != nil || r < 0 || r > 1 {
			return c, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a ratio between 0 and 1", a)
		}
		c.Ratio = r
	}
	for _, v := range []struct {
		name string
		dst  *int
	}{{"OTEL_BSP_MAX_QUEUE_SIZE", &c.MaxQueue}, {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &c.MaxBatch}} {
		if s := getenv(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 1<<20 {
				return c, fmt.Errorf("%s=%q: want a whole number between 1 and 1048576", v.name, s)
			}
			*v.dst = n
		}
	}
	c.MaxBatch = min(c.MaxBatch, c.MaxQueue)
	for _, kv := range strings.Split(getenv("OTEL_RESOURCE_ATTRIBUTES"), ",") {
		k, v, ok := strings.Cut(kv, "=")
		if k = strings.TrimSpace(k); ok && k != "" {
			c.Attributes = append(c.Attributes, attribute.String(k, strings.TrimSpace(v)))
		}
	}
	return c, nil
}

// sampler builds the configured sampler.
func (c Config) sampler() sdktrace.Sampler {
	switch c.Sampler {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(c.Ratio)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.Ratio))
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}

// Provider is an installed tracer provider; Shutdown flushes what is queued.
type Provider struct {
	sdk  *sdktrace.TracerProvider
	proc *queueProcessor
	refs int // Starts sharing it (guarded by startMu)
}

// Shutdown stops tracing in this process, exporting what is queued within ctx; a
// provider shared by several Starts stops at the last Shutdown.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	startMu.Lock()
	if p == started {
		if p.refs--; p.refs > 0 {
			startMu.Unlock()
			return p.sdk.ForceFlush(ctx)
		}
		started = nil
	}
	startMu.Unlock()
	enabled.Store(false)
	t := noop.NewTracerProvider().Tracer(ScopeName)
	tracer.Store(&t)
	return p.sdk.Shutdown(ctx)
}

// Install makes exp (with the sampler and queue of c) the process's tracer provider
// and turns the helpers of this package on. Start calls it with the OTLP exporter;
// tests and benchmarks call it with an in-memory one.
func Install(c Config, exp sdktrace.SpanExporter, m *Metrics) *Provider {
	attrs := append([]attribute.KeyValue{attribute.String("service.name", c.ServiceName)}, c.Attributes...)
	proc := newQueueProcessor(exp, c.MaxQueue, c.MaxBatch, m)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(c.sampler()),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		sdktrace.WithSpanProcessor(proc),
		sdktrace.WithSpanLimits(spanLimits()),
	)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagator)
	t := tp.Tracer(ScopeName)
	tracer.Store(&t)
	enabled.Store(true)
	return &Provider{sdk: tp, proc: proc}
}

// spanLimits keep one span small whatever a caller attaches to it.
func spanLimits() sdktrace.SpanLimits {
	l := sdktrace.NewSpanLimits()
	l.AttributeValueLengthLimit = 256
	l.AttributeCountLimit = 32
	l.EventCountLimit = 16
	l.LinkCountLimit = 16
	return l
}
