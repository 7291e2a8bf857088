package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/metrics"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestClientClosedRequest serves a request over a real connection whose handler
// fails; when the client has gone by then, the failure is its doing: 499, an info
// line, no server error counted.
func TestClientClosedRequest(t *testing.T) {
	tests := []struct {
		name       string
		leave      bool // the client cancels while the handler waits
		err        error
		wantStatus int
		wantLevel  string // of the one log line; "" for none
		wantCount  float64
	}{
		{"client gone, canceled query", true, fmt.Errorf("list products: %w", context.Canceled), StatusClientClosedRequest, "INFO", 0},
		{"client gone, connection error", true, errors.New("conn closed"), StatusClientClosedRequest, "INFO", 0},
		{"client gone, unavailable", true, apiserver.Errorf(apiserver.ErrUnavailable, "Search is unavailable."), StatusClientClosedRequest, "INFO", 0},
		{"client gone, not found", true, apiserver.Errorf(apiserver.ErrNotFound, "No such product."), http.StatusNotFound, "", 0},
		{"client there, canceled query", false, fmt.Errorf("list products: %w", context.Canceled), http.StatusInternalServerError, "ERROR", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			reg := prometheus.NewRegistry()
			h := &handler{Config: Config{Metrics: metrics.New(reg)}, log: slog.New(slog.NewJSONHandler(&logs, nil)), errorLogs: newLogBudget(nil)}
			entered := make(chan struct{})
			status := make(chan int, 1)
			gin.SetMode(gin.TestMode)
			r := gin.New()
			r.Use(func(c *gin.Context) {
				c.Next()
				status <- c.Writer.Status()
			})
			r.GET("/products", func(c *gin.Context) {
				if tt.leave {
					close(entered)
					<-c.Request.Context().Done() // a stalled query that ends with its request
				}
				h.writeError(c, tt.err)
			})
			srv := httptest.NewServer(r)
			defer srv.Close()

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/products", nil)
			done := make(chan error, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			if tt.leave {
				<-entered
				cancel()
			}
			if got := <-status; got != tt.wantStatus {
				t.Errorf("status %d, want %d", got, tt.wantStatus)
			}
			if err := <-done; tt.leave != (err != nil) {
				t.Errorf("client error %v (left: %v)", err, tt.leave)
			}

			var lines []map[string]any
			for _, l := range bytes.Split(bytes.TrimSpace([]byte(logs.String())), []byte("\n")) {
				if len(l) == 0 {
					continue
				}
				var m map[string]any
				if err := json.Unmarshal(l, &m); err != nil {
					t.Fatal(err)
				}
				lines = append(lines, m)
			}
			switch {
			case tt.wantLevel == "" && len(lines) != 0:
				t.Errorf("logged %v, want nothing", lines)
			case tt.wantLevel != "" && (len(lines) != 1 || lines[0]["level"] != tt.wantLevel):
				t.Errorf("logged %v, want one %s line", lines, tt.wantLevel)
			}
			if got := serverErrors(t, reg); got != tt.wantCount {
				t.Errorf("kommerce_api_server_errors_total %v, want %v", got, tt.wantCount)
			}
		})
	}
}

func serverErrors(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "kommerce_api_server_errors_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}
