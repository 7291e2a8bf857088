package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/kommerce/kommerce/internal/tracing"
)

// httpMetrics are the request metrics every server exports. Labels use the route
// pattern, never the raw path, so that ids in URLs cannot explode the series count.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
	panics   *prometheus.CounterVec
}

func newHTTPMetrics(reg prometheus.Registerer, name string) *httpMetrics {
	constLabels := prometheus.Labels{"server": name}
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommerce_http_requests_total", Help: "HTTP requests served, by route and status code.", ConstLabels: constLabels,
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kommerce_http_request_duration_seconds", Help: "HTTP request latency, by route.", ConstLabels: constLabels,
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kommerce_http_requests_in_flight", Help: "HTTP requests being served now.", ConstLabels: constLabels,
		}),
	}
	m.panics = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kommerce_http_panics_total", Help: "Handler panics (answered 500 or dropped), by route.", ConstLabels: constLabels,
	}, []string{"route"})
	// One zero series from the start, so the metric is exported (and rate() and the
	// dashboard's panel work) before the first panic names a real route.
	m.panics.WithLabelValues("unmatched")
	reg.MustRegister(m.requests, m.duration, m.inflight, m.panics)
	return m
}

type routeKey struct{}

// requestInfo is what handlers tell the instrumentation about a request.
type requestInfo struct {
	route    string
	panicked bool
}

// SetRoute records the route pattern that served a request, for handlers (such as a
// Gin engine mounted under "/") whose routing the standard mux cannot see.
func SetRoute(ctx context.Context, route string) {
	if p, ok := ctx.Value(routeKey{}).(*requestInfo); ok && route != "" {
		p.route = route
	}
}

// RecordPanic counts a panic that a handler recovered from (and answered 500) in
// kommerce_http_panics_total under the request's route.
func RecordPanic(ctx context.Context) {
	if p, ok := ctx.Value(routeKey{}).(*requestInfo); ok {
		p.panicked = true
	}
}

// probePaths are not traced: a probe every few seconds per pod would bury the
// requests worth reading.
var probePaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

func (m *httpMetrics) wrap(name string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inflight.Inc()
		defer m.inflight.Dec()
		info := new(requestInfo)
		ctx := context.WithValue(r.Context(), routeKey{}, info)
		span := trace.SpanFromContext(ctx)
		if tracing.Enabled() && !probePaths[r.URL.Path] {
			ctx, span = tracing.StartServer(ctx, r, name)
		}
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			// A panic that reaches here is re-raised by net/http; the span still ends.
			if p := recover(); p != nil {
				label := routeLabel(info.route, r.Pattern)
				m.panics.WithLabelValues(label).Inc()
				tracing.EndServer(span, r.Method, label, http.StatusInternalServerError)
				panic(p)
			}
		}()
		next.ServeHTTP(rec, r)
		label := routeLabel(info.route, r.Pattern)
		if info.panicked {
			m.panics.WithLabelValues(label).Inc()
		}
		tracing.EndServer(span, r.Method, label, rec.status)
		m.requests.WithLabelValues(r.Method, label, strconv.Itoa(rec.status)).Inc()
		m.duration.WithLabelValues(r.Method, label).Observe(time.Since(start).Seconds())
	})
}

// routeLabel is the route a request is counted and traced under: the one a handler
// set, else the mux pattern, else "unmatched".
func routeLabel(route, pattern string) string {
	if route == "" {
		route = pattern
	}
	if route == "" || route == "/" {
		return "unmatched"
	}
	return route
}

// statusRecorder remembers the status code written by a handler.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (flush, deadlines).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
