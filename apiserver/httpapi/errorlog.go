package httpapi

import (
	"context"
	"sync"
	"time"
)

// Server errors are logged at most errorLogBurst times per errorLogWindow for each
// error code. Anyone can repeat a request that fails the same way (a payment route of
// a shop without Stripe keys, a route whose service is not configured, or a bug), and
// an anonymous caller must not be able to fill the logs with it; the metric
// kommerce_api_server_errors_total still counts every one, and the next line written
// says how many were left out.
const (
	errorLogBurst  = 10
	errorLogWindow = time.Minute
)

// logBudget is the per-code budget of server error lines. Codes are a fixed set, so
// the map stays small.
type logBudget struct {
	mu    sync.Mutex
	now   func() time.Time
	codes map[string]*logWindow
}

type logWindow struct {
	start      time.Time
	lines      int
	suppressed int
}

func newLogBudget(now func() time.Time) *logBudget {
	if now == nil {
		now = time.Now
	}
	return &logBudget{now: now, codes: map[string]*logWindow{}}
}

// take reports whether a line for code may be written now and, if so, how many lines
// of that code were left out since the last one written.
func (b *logBudget) take(code string) (ok bool, suppressed int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.now()
	w := b.codes[code]
	if w == nil {
		w = &logWindow{start: t}
		b.codes[code] = w
	}
	if t.Sub(w.start) >= errorLogWindow {
		w.start, w.lines = t, 0
	}
	if w.lines >= errorLogBurst {
		w.suppressed++
		return false, 0
	}
	w.lines++
	suppressed, w.suppressed = w.suppressed, 0
	return true, suppressed
}

// limiterFailed is the log budget key of a failing rate limiter: every request logs it
// while Redis is down, so it gets the same budget as a server error code.
const limiterFailed = "rate_limiter_failed"

// warnLimiterFailed logs a rate limiter failure within its budget; every one is
// counted in kommerce_api_rate_limit_checks_total{result="failed_open"} by the caller.
func (h *handler) warnLimiterFailed(ctx context.Context, msg string, err error) {
	ok, suppressed := h.errorLogs.take(limiterFailed)
	if !ok {
		return
	}
	attrs := []any{"error", err.Error()}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	h.log.WarnContext(ctx, msg, attrs...)
}
