package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Metrics count what happens to finished spans.
type Metrics struct {
	Exported prometheus.Counter
	Dropped  *prometheus.CounterVec
}

// NewMetrics returns the span counters, registered with reg when it is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Exported: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kommerce_tracing_spans_exported_total", Help: "Spans the trace backend accepted.",
		}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommerce_tracing_spans_dropped_total", Help: "Spans lost: the export queue was full (queue_full) or the backend refused or did not answer (export_failed).",
		}, []string{"reason"}),
	}
	m.Dropped.WithLabelValues("queue_full")
	m.Dropped.WithLabelValues("export_failed")
	if reg != nil {
		reg.MustRegister(m.Exported, m.Dropped)
	}
	return m
}

// Start sets tracing up from the OTEL_* variables read through getenv: nothing when
// no OTLP endpoint is set (the returned Provider is nil, and its methods are no-ops).
// Export errors are logged to log at most once a minute; Register adds the span
// metrics to a server's registry.
//
// A process has one tracer provider: a second Start while one is running (servers
// started in one test process, `kommerce dev`) shares the first, and only the last
// Shutdown stops it.
func Start(getenv func(string) string, defaultService string, log *slog.Logger) (*Provider, error) {
	c, err := FromEnv(getenv, defaultService)
	if err != nil || c.Endpoint == "" {
		return nil, err
	}
	startMu.Lock()
	defer startMu.Unlock()
	if started != nil {
		started.refs++
		return started, nil
	}
	exp, err := otlptracehttp.New(context.Background(),
		otlptracehttp.WithEndpointURL(c.Endpoint),
		otlptracehttp.WithTimeout(5*time.Second),
		// A backend that is down must not hold the export loop for long: the queue
		// behind it fills and drops (counted) instead.
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 200 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: 5 * time.Second}),
	)
	if err != nil {
		return nil, err
	}
	if log != nil {
		otel.SetErrorHandler(rateLimitedErrors(log))
	}
	p := Install(c, exp, nil)
	p.refs = 1
	started = p
	if log != nil {
		log.Info("tracing on", "endpoint", c.Endpoint, "service", c.ServiceName, "sampler", c.Sampler, "ratio", c.Ratio)
	}
	return p, nil
}

var (
	startMu sync.Mutex
	started *Provider // the provider Start installed, shared by later Starts
)

// rateLimitedErrors logs the SDK's errors (an unreachable backend reports one per
// batch) at most once a minute.
func rateLimitedErrors(log *slog.Logger) otel.ErrorHandlerFunc {
	var mu sync.Mutex
	var last time.Time
	return func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < time.Minute {
			return
		}
		last = time.Now()
		log.Warn("tracing export", "err", err)
	}
}

// queueProcessor is a span processor with a bounded queue: OnEnd never blocks, and a
// span that does not fit is dropped and counted. One goroutine exports batches of up
// to maxBatch spans, at least every second while spans wait.
type queueProcessor struct {
	exp      sdktrace.SpanExporter
	queue    chan sdktrace.ReadOnlySpan
	maxBatch int
	m        *Metrics
	flush    chan chan struct{}
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

func newQueueProcessor(exp sdktrace.SpanExporter, maxQueue, maxBatch int, m *Metrics) *queueProcessor {
	if m == nil {
		m = NewMetrics(nil)
	}
	p := &queueProcessor{
		exp: exp, queue: make(chan sdktrace.ReadOnlySpan, maxQueue), maxBatch: maxBatch, m: m,
		flush: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go p.loop()
	return p
}

func (p *queueProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (p *queueProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	select {
	case p.queue <- s:
	default:
		p.m.Dropped.WithLabelValues("queue_full").Inc()
	}
}

func (p *queueProcessor) loop() {
	defer close(p.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	batch := make([]sdktrace.ReadOnlySpan, 0, p.maxBatch)
	send := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := p.exp.ExportSpans(ctx, batch); err != nil {
			p.m.Dropped.WithLabelValues("export_failed").Add(float64(len(batch)))
			otel.Handle(err)
		} else {
			p.m.Exported.Add(float64(len(batch)))
		}
		cancel()
		clear(batch)
		batch = batch[:0]
	}
	drain := func() {
		for {
			select {
			case s := <-p.queue:
				batch = append(batch, s)
				if len(batch) >= p.maxBatch {
					send()
				}
			default:
				send()
				return
			}
		}
	}
	for {
		select {
		case s := <-p.queue:
			batch = append(batch, s)
			if len(batch) >= p.maxBatch {
				send()
			}
		case <-t.C:
			send()
		case ack := <-p.flush:
			drain()
			close(ack)
		case <-p.stop:
			drain()
			return
		}
	}
}

// ForceFlush exports every queued span before returning (or when ctx ends).
func (p *queueProcessor) ForceFlush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case p.flush <- ack:
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown exports what is queued and stops the exporter.
func (p *queueProcessor) Shutdown(ctx context.Context) error {
	p.once.Do(func() { close(p.stop) })
	select {
	case <-p.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return p.exp.Shutdown(ctx)
}

// Register adds the span metrics to reg.
func (p *Provider) Register(reg prometheus.Registerer) error {
	if p == nil || reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{p.proc.m.Exported, p.proc.m.Dropped} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register tracing metrics: %w", err)
		}
	}
	return nil
}

// Metrics returns the span counters (nil for a nil Provider).
func (p *Provider) Metrics() *Metrics {
	if p == nil {
		return nil
	}
	return p.proc.m
}

// ForceFlush exports every queued span; tests call it before reading a backend.
func (p *Provider) ForceFlush(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.sdk.ForceFlush(ctx)
}
