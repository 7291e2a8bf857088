package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics are the request metrics every server exports. Labels use the route
// pattern, never the raw path, so that ids in URLs cannot explode the series count.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
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
	reg.MustRegister(m.requests, m.duration, m.inflight)
	return m
}

type routeKey struct{}

// SetRoute records the route pattern that served a request, for handlers (such as a
// Gin engine mounted under "/") whose routing the standard mux cannot see.
func SetRoute(ctx context.Context, route string) {
	if p, ok := ctx.Value(routeKey{}).(*string); ok && route != "" {
		*p = route
	}
}

func (m *httpMetrics) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inflight.Inc()
		defer m.inflight.Dec()
		route := new(string)
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, route))
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		label := *route
		if label == "" {
			label = r.Pattern
		}
		if label == "" || label == "/" {
			label = "unmatched"
		}
		m.requests.WithLabelValues(r.Method, label, strconv.Itoa(rec.status)).Inc()
		m.duration.WithLabelValues(r.Method, label).Observe(time.Since(start).Seconds())
	})
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
