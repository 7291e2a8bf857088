// Package oip serves the model registry over the Open Inference Protocol v2 REST API
// (KServe v2): server and model health, model metadata and inference with its JSON
// tensor format. Errors are {"error": "<message>"} as the protocol defines them.
package oip

import (
	"log/slog"
	"net/http"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/internal/server"
)

// Handler is the OIP REST API over a registry.
type Handler struct {
	Registry *inference.Registry
	// Draining reports whether the process is shutting down; readiness is false
	// then. May be nil.
	Draining func() bool
	// MaxBodyBytes bounds an inference request body (default 16 MiB).
	MaxBodyBytes int64
	// Version is reported by GET /v2.
	Version string
	Logger  *slog.Logger
}

// Routes returns the OIP routes; everything else answers a JSON 404.
func (h *Handler) Routes() http.Handler {
	if h.MaxBodyBytes <= 0 {
		h.MaxBodyBytes = 16 << 20
	}
	if h.Logger == nil {
		h.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	handle := func(pattern string, fn http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			server.SetRoute(r.Context(), pattern)
			fn(w, r)
		})
	}
	handle("GET /v2", h.serverMetadata)
	handle("GET /v2/health/live", h.live)
	handle("GET /v2/health/ready", h.ready)
	handle("GET /v2/models/{name}", h.modelMetadata)
	handle("GET /v2/models/{name}/versions/{version}", h.modelMetadata)
	handle("GET /v2/models/{name}/ready", h.modelReady)
	handle("GET /v2/models/{name}/versions/{version}/ready", h.modelReady)
	handle("POST /v2/models/{name}/infer", h.infer)
	handle("POST /v2/models/{name}/versions/{version}/infer", h.infer)
	handle("/", func(w http.ResponseWriter, r *http.Request) {
		// The catch-all also wins over a route registered for another method, so
		// look for one before answering 404.
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, p := mux.Handler(probe); p != "/" && m != r.Method {
				w.Header().Set("Allow", m)
				writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+"; use "+m)
				return
			}
		}
		writeError(w, http.StatusNotFound, "no OIP route matches "+r.Method+" "+r.URL.Path)
	})
	return mux
}
