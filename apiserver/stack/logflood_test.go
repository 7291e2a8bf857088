package stack_test

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
)

// TestServerErrorLogsBounded: an anonymous caller repeating a request that fails on
// the server's side — paying an order of a shop without Stripe keys, searching on a
// server without search — cannot fill the logs: each code writes a bounded number of
// lines per minute, the merchant's missing keys only as a warning, and the metric
// counts every answer.
func TestServerErrorLogsBounded(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	reg := prometheus.NewRegistry()
	clock := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	e := startPayAPI(t, nil, func(o *stack.Options) {
		o.Registry = reg
		o.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))
		o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	})
	s := e.store("nokeys") // no Stripe keys
	s.product("FL-1", 1000, 0, 5)
	cart, token := s.guestCart()
	s.add(cart, token, "", "FL-1", 1).want(201, "")
	order := s.checkout(cart, token, "", "key-"+cart, map[string]any{"email": "guest@example.test"}).want(201, "").str("id")
	const calls = 30
	for range calls {
		e.do("POST", "/api/v1/orders/"+order+"/payments", "nokeys", "", nil, cartHeader(token)...).want(503, apiserver.ErrPaymentsNotConfigured)
		e.do("GET", "/api/v1/search?q=x", "nokeys", "", nil).want(503, apiserver.ErrUnavailable)
	}
	lines := func(code string) (errors, warnings int, text string) {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range strings.Split(logs.String(), "\n") {
			if !strings.Contains(l, `"code":"`+code+`"`) {
				continue
			}
			if strings.Contains(l, `"level":"ERROR"`) {
				errors++
			}
			if strings.Contains(l, `"level":"WARN"`) {
				warnings++
			}
		}
		return errors, warnings, logs.String()
	}
	if errs, warns, text := lines(apiserver.ErrPaymentsNotConfigured); errs != 0 || warns != 10 {
		t.Fatalf("payments_not_configured: %d ERROR and %d WARN lines, want 0 and 10:\n%s", errs, warns, text)
	}
	if errs, _, text := lines(apiserver.ErrUnavailable); errs != 10 {
		t.Fatalf("unavailable: %d ERROR lines, want 10:\n%s", errs, text)
	}
	wantSeries(t, series(t, reg), map[string]float64{
		"kommerce_api_server_errors_total{code=payments_not_configured,log=logged}":     10,
		"kommerce_api_server_errors_total{code=payments_not_configured,log=suppressed}": calls - 10,
		"kommerce_api_server_errors_total{code=unavailable,log=logged}":                 10,
		"kommerce_api_server_errors_total{code=unavailable,log=suppressed}":             calls - 10,
	})

	// A minute later the budget is back, and the line says how many were left out.
	mu.Lock()
	clock = clock.Add(time.Minute)
	mu.Unlock()
	e.do("POST", "/api/v1/orders/"+order+"/payments", "nokeys", "", nil, cartHeader(token)...).want(503, apiserver.ErrPaymentsNotConfigured)
	if _, warns, text := lines(apiserver.ErrPaymentsNotConfigured); warns != 11 || !strings.Contains(text, `"suppressed":20`) {
		t.Fatalf("after a minute: %d WARN lines, want 11 with suppressed=20:\n%s", warns, text)
	}
}
