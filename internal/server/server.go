// Package server is the HTTP skeleton every kommerce server shares: liveness and
// readiness probes, Prometheus metrics, request instrumentation and graceful shutdown.
//
// Readiness is computed from the dependencies on every probe, so a pod is taken out of
// its Service while PostgreSQL (or a model, or Kafka) does not answer and put back when
// it does, and it is false from the moment a SIGTERM arrives so that traffic drains
// before the listener closes.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one dependency a server needs before it takes traffic.
type Check struct {
	// Name appears in the /readyz body, e.g. "postgres".
	Name string
	// Fn returns nil when the dependency answers. It gets a context bounded by
	// CheckTimeout.
	Fn func(ctx context.Context) error
}

// Options configures a Server. Zero values are replaced by the documented defaults.
type Options struct {
	// Name labels logs and metrics, e.g. "api".
	Name string
	// Addr is the listen address (default ":8080").
	Addr string
	// Handler serves everything but the probe and metrics paths.
	Handler http.Handler
	// Logger receives start, drain and stop lines.
	Logger *slog.Logger
	// Registry collects metrics; a new one with Go and process collectors when nil.
	Registry *prometheus.Registry
	// Checks must all pass for /readyz to answer 200.
	Checks []Check
	// CheckTimeout bounds each check (default 2s).
	CheckTimeout time.Duration
	// DrainDelay is how long /readyz reports draining before the listener stops
	// accepting, so load balancers notice first (default 0; set it in clusters).
	DrainDelay time.Duration
	// ShutdownTimeout bounds how long in-flight requests may take to finish after
	// the drain delay (default 15s).
	ShutdownTimeout time.Duration
}

// Server is a running HTTP server with probes. Create it with New.
type Server struct {
	opts     Options
	draining atomic.Bool
	mux      *http.ServeMux
	metrics  *httpMetrics
}

// New builds a server; call Run to serve.
func New(opts Options) *Server {
	if opts.Addr == "" {
		opts.Addr = ":8080"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = NewRegistry()
	}
	if opts.CheckTimeout == 0 {
		opts.CheckTimeout = 2 * time.Second
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 15 * time.Second
	}
	if opts.Handler == nil {
		opts.Handler = http.HandlerFunc(notFound)
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), metrics: newHTTPMetrics(opts.Registry, opts.Name)}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{Registry: opts.Registry}))
	s.mux.Handle("/", opts.Handler)
	return s
}

// NewRegistry returns a registry with the Go runtime and process collectors, which
// every kommerce server exports.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler returns the full handler (probes, metrics and the application).
func (s *Server) Handler() http.Handler { return s.metrics.wrap(s.opts.Name, s.mux) }

// Draining reports whether shutdown has begun.
func (s *Server) Draining() bool { return s.draining.Load() }

// Run listens on Options.Addr and serves until ctx is cancelled, then drains.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.opts.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is cancelled. On cancellation /readyz turns to 503
// at once, new connections are still accepted for DrainDelay, then the server stops
// accepting and waits up to ShutdownTimeout for in-flight requests.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	log := s.opts.Logger.With("server", s.opts.Name)
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	log.Info("draining", "drain_delay", s.opts.DrainDelay.String(), "shutdown_timeout", s.opts.ShutdownTimeout.String())
	if s.opts.DrainDelay > 0 {
		time.Sleep(s.opts.DrainDelay)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown after %s: %w", s.opts.ShutdownTimeout, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, readiness{Status: "draining"})
		return
	}
	res := readiness{Status: "ready", Checks: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range s.opts.Checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), s.opts.CheckTimeout)
			defer cancel()
			msg := "ok"
			if err := c.Fn(ctx); err != nil {
				msg = err.Error()
			}
			mu.Lock()
			res.Checks[c.Name] = msg
			mu.Unlock()
		})
	}
	wg.Wait()
	status := http.StatusOK
	for _, msg := range res.Checks {
		if msg != "ok" {
			res.Status, status = "not ready", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, status, res)
}

// FailingChecks returns the names of the checks that fail now, sorted; used by
// callers that wait for readiness at start-up.
func (s *Server) FailingChecks(ctx context.Context) []string {
	var failing []string
	for _, c := range s.opts.Checks {
		cctx, cancel := context.WithTimeout(ctx, s.opts.CheckTimeout)
		if err := c.Fn(cctx); err != nil {
			failing = append(failing, c.Name)
		}
		cancel()
	}
	sort.Strings(failing)
	return failing
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]any{
		"error": map[string]string{"code": "not_found", "message": "No route matches this path."},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
