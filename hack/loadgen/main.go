// Command loadgen sends a steady rate of HTTP GETs to one URL and counts how many
// failed, so a script can prove that a rollout drops no request. It is the load of
// hack/e2e/storefront.sh and hack/bench/storefront.sh.
//
//	loadgen -url http://10.96.1.2/api/v1/products?limit=5 -rate 25 -H 'X-Kommerce-Tenant: acme' \
//	        [-rotate 'Authorization: Bearer <token>' ...] [-duration 30s] [-stop-file /tmp/stop] \
//	        [-timeout 5s] [-show 5]
//
// -rotate headers are set one per request, in turn: with one token per user the load
// spreads over several users, as real shoppers' does, rather than tripping the API's
// per-user (or per-address) rate limit that one client at this rate would.
//
// It runs until -duration has passed, the stop file exists, or SIGTERM/SIGINT. A
// request fails when it gets no answer (transport error, timeout) or a status outside
// 2xx; the first -show failures are printed on stderr as they happen. The last line
// on stdout is one JSON summary: {"sent":N,"ok":N,"failed":N,...}. The exit status
// is 0 whatever the count, so the caller decides what is acceptable.
//
// Requests are started on a fixed schedule (not one after the other), so a slow
// answer does not lower the rate: the load looks like independent shoppers.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
}

// headers collects repeated -H "Name: value" flags.
type headers http.Header

func (h headers) String() string { return fmt.Sprint(http.Header(h)) }

func (h headers) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q is not Name: value", s)
	}
	http.Header(h).Add(strings.TrimSpace(name), strings.TrimSpace(value))
	return nil
}

type config struct {
	url      string
	rate     float64
	duration time.Duration
	stopFile string
	timeout  time.Duration
	show     int
	header   http.Header
	// rotate holds one header set per entry of -rotate, used in turn.
	rotate []http.Header
}

// rotation collects repeated -rotate "Name: value" flags, one header set each.
type rotation struct{ sets *[]http.Header }

func (r rotation) String() string { return "" }

func (r rotation) Set(s string) error {
	h := http.Header{}
	if err := headers(h).Set(s); err != nil {
		return err
	}
	*r.sets = append(*r.sets, h)
	return nil
}

func parse(args []string, stderr io.Writer) (config, error) {
	c := config{header: http.Header{}}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "", "URL to GET (required)")
	fs.Float64Var(&c.rate, "rate", 20, "requests per second")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0: until the stop file or a signal)")
	fs.StringVar(&c.stopFile, "stop-file", "", "stop as soon as this file exists")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "time one request may take, answer included")
	fs.IntVar(&c.show, "show", 5, "how many failures to print")
	fs.Var(headers(c.header), "H", "request header `Name: value` (repeatable)")
	fs.Var(rotation{&c.rotate}, "rotate", "header `Name: value` for one request in turn (repeatable; e.g. one bearer token per user)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.url == "":
		return c, errors.New("-url is required")
	case c.rate <= 0 || c.rate > 10000:
		return c, fmt.Errorf("-rate %v: want 0 < rate <= 10000", c.rate)
	case c.duration == 0 && c.stopFile == "":
		// A signal alone would do, but a forgotten loadgen would run for ever.
		return c, errors.New("give -duration or -stop-file")
	}
	return c, nil
}

// summary is the JSON line printed at the end.
type summary struct {
	URL      string         `json:"url"`
	Rate     float64        `json:"rate"`
	Seconds  float64        `json:"seconds"`
	Sent     int64          `json:"sent"`
	OK       int64          `json:"ok"`
	Failed   int64          `json:"failed"`
	Statuses map[string]int `json:"statuses"`
	// Failures are the first few failures, as printed on stderr.
	Failures []string `json:"failures,omitempty"`
	// MaxLatencyMS is the slowest answer, a hint at a rollout's hiccup.
	MaxLatencyMS int64 `json:"maxLatencyMs"`
}

type counter struct {
	show   int
	stderr io.Writer

	sent, ok, failed atomic.Int64
	maxLatency       atomic.Int64

	mu       sync.Mutex
	statuses map[string]int
	failures []string
}

// result is one request's outcome: the status ("error" without an answer), why it
// failed (nil: it did not) and how long it took.
type result struct {
	status  string
	err     error
	latency time.Duration
}

func (c *counter) record(r result) {
	status, err, latency := r.status, r.err, r.latency
	for {
		old := c.maxLatency.Load()
		if int64(latency) <= old || c.maxLatency.CompareAndSwap(old, int64(latency)) {
			break
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.statuses[status]++
	if err == nil {
		c.ok.Add(1)
		return
	}
	c.failed.Add(1)
	if len(c.failures) < c.show {
		msg := fmt.Sprintf("%s %s", time.Now().UTC().Format("15:04:05.000"), err)
		c.failures = append(c.failures, msg)
		fmt.Fprintln(c.stderr, "loadgen: failed:", msg)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if cfg.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	// Fresh connections are not forced: a real client keeps its connections, and a
	// rollout must not fail requests on kept-alive connections either.
	client := &http.Client{Timeout: cfg.timeout, Transport: &http.Transport{
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}}
	c := &counter{show: cfg.show, stderr: stderr, statuses: map[string]int{}}
	start := time.Now()
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.rate))
	defer tick.Stop()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-poll.C:
			if cfg.stopFile != "" {
				if _, err := os.Stat(cfg.stopFile); err == nil {
					break loop
				}
			}
		case <-tick.C:
			n := c.sent.Add(1)
			header := cfg.header.Clone()
			if len(cfg.rotate) > 0 {
				for k, v := range cfg.rotate[int(n-1)%len(cfg.rotate)] {
					header[k] = v
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.record(get(client, cfg.url, header))
			}()
		}
	}
	// Requests in flight finish (or time out): each one sent is counted once.
	wg.Wait()
	s := summary{
		URL: cfg.url, Rate: cfg.rate, Seconds: time.Since(start).Round(time.Millisecond).Seconds(),
		Sent: c.sent.Load(), OK: c.ok.Load(), Failed: c.failed.Load(),
		Statuses: c.statuses, Failures: c.failures,
		MaxLatencyMS: time.Duration(c.maxLatency.Load()).Milliseconds(),
	}
	line, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	_, err = fmt.Fprintln(stdout, string(line))
	return err
}

// get sends one request, not bound to the run's context: a request already sent
// when the run stops still counts, with its own timeout.
func get(client *http.Client, url string, header http.Header) result {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return result{status: "error", err: err}
	}
	req.Header = header
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return result{status: "error", err: fmt.Errorf("transport: %w", err), latency: time.Since(start)}
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r := result{status: fmt.Sprint(resp.StatusCode), latency: time.Since(start)}
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		r.err = fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
	case readErr != nil:
		r.err = fmt.Errorf("reading the body: %w", readErr)
	}
	return r
}
