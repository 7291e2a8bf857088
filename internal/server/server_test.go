package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func start(t *testing.T, opts Options) (base string, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- New(opts).Serve(ctx, ln) }()
	t.Cleanup(cancel)
	return "http://" + ln.Addr().String(), cancel, errc
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestReadinessFollowsChecks(t *testing.T) {
	var dbUp atomic.Bool
	base, _, _ := start(t, Options{Name: "test", Checks: []Check{{
		Name: "postgres",
		Fn: func(context.Context) error {
			if !dbUp.Load() {
				return errors.New("connection refused")
			}
			return nil
		},
	}}})

	tests := []struct {
		name       string
		up         bool
		wantStatus int
		wantBody   string
	}{
		{name: "dependency down", up: false, wantStatus: 503, wantBody: "connection refused"},
		{name: "dependency up", up: true, wantStatus: 200, wantBody: `"postgres":"ok"`},
		{name: "dependency down again", up: false, wantStatus: 503, wantBody: `"status":"not ready"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbUp.Store(tt.up)
			code, body := get(t, base+"/readyz")
			if code != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("GET /readyz = %d %s, want %d containing %s", code, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("healthz = %d while a dependency is down; liveness must not follow dependencies", code)
	}
}

func TestMetricsCountRequests(t *testing.T) {
	base, _, _ := start(t, Options{Name: "test"})
	for range 3 {
		get(t, base+"/healthz")
	}
	if code, _ := get(t, base+"/no/such/path"); code != 404 {
		t.Fatalf("unknown path = %d, want 404", code)
	}
	_, body := get(t, base+"/metrics")
	for _, want := range []string{
		`kommerce_http_requests_total{code="200",method="GET",route="GET /healthz",server="test"} 3`,
		`kommerce_http_requests_total{code="404",method="GET",route="unmatched",server="test"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	})
	base, cancel, done := start(t, Options{Name: "test", Handler: app, DrainDelay: 3 * time.Second, ShutdownTimeout: 10 * time.Second})

	result := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			result <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(b)
	}()
	<-started
	cancel()

	// During the drain delay the listener still answers, and readiness is false. The
	// server sees the cancellation on a goroutine of its own, so the first probe may
	// still find it ready: probe until it drains, within the drain delay (while the
	// listener is certainly open).
	var code int
	var body string
	var r readiness
	// Generous: the server notices the cancellation on its own goroutine, which a
	// busy machine may not run for a while; the loop ends as soon as it does.
	for deadline := time.Now().Add(15 * time.Second); ; {
		code, body = get(t, base+"/readyz")
		_ = json.Unmarshal([]byte(body), &r)
		if code == 503 && r.Status == "draining" {
			break
		}
		if code != 200 || time.Now().After(deadline) {
			t.Fatalf("readyz while draining = %d %s, want 503 draining", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	if got := <-result; got != "finished" {
		t.Fatalf("in-flight request = %q, want it to finish", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v after a clean drain", err)
	}
}

func TestShutdownTimeoutIsAnError(t *testing.T) {
	started := make(chan struct{})
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-block
	})
	base, cancel, done := start(t, Options{Name: "test", Handler: app, ShutdownTimeout: 50 * time.Millisecond})
	go func() { _, _ = http.Get(base + "/stuck") }()
	<-started
	cancel()
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "shutdown after") {
		t.Fatalf("Serve = %v, want a shutdown deadline error", err)
	}
}
