package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// sample is one request's outcome.
type sample struct {
	at   time.Time
	lat  time.Duration
	act  action
	ok   bool
	code uint16
	err  string
}

// driver runs vegeta attacks over the shop; the HTTP transport (and so its
// keep-alive connections) is shared by every attack of the run.
type driver struct {
	shop    *shop
	timeout time.Duration
	client  *http.Client
}

func (d *driver) httpClient() *http.Client {
	if d.client == nil {
		d.client = &http.Client{Timeout: d.timeout, Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 2048,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	return d.client
}

// attack sends requests at rate for du and returns every result. at is called with
// the offset into the attack so a caller can inject faults on schedule.
func (d *driver) attack(ctx context.Context, rate int, du time.Duration, name string, at ...timedEvent) []sample {
	atk := vegeta.NewAttacker(vegeta.Client(d.httpClient()), vegeta.Timeout(d.timeout), vegeta.MaxBody(1<<20))
	pacer := vegeta.ConstantPacer{Freq: rate, Per: time.Second}
	start := time.Now()
	for _, e := range at {
		go func() {
			select {
			case <-time.After(time.Until(start.Add(e.at))):
				e.fn()
			case <-ctx.Done():
			}
		}()
	}
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	var out []sample
	for res := range atk.Attack(d.shop.Targeter, pacer, du, name) {
		a, ok := d.shop.record(res)
		if !ok {
			continue
		}
		out = append(out, sample{at: res.Timestamp, lat: res.Latency, act: a, code: res.Code, err: res.Error,
			ok: res.Error == "" && res.Code >= 200 && res.Code < 300})
	}
	return out
}

type timedEvent struct {
	at time.Duration
	fn func()
}

// latencies of samples, as milliseconds, sorted.
func sortedMS(ss []sample) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = float64(s.lat) / float64(time.Millisecond)
	}
	slices.Sort(out)
	return out
}

// quantile of sorted values (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

type classStat struct {
	N      int     `json:"n"`
	Errors int     `json:"errors"`
	P50    float64 `json:"p50_ms"`
	P95    float64 `json:"p95_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
}

func stat(ss []sample) classStat {
	l := sortedMS(ss)
	c := classStat{N: len(ss), P50: quantile(l, .5), P95: quantile(l, .95), P99: quantile(l, .99)}
	if len(l) > 0 {
		c.Max = l[len(l)-1]
	}
	for _, s := range ss {
		if !s.ok {
			c.Errors++
		}
	}
	return c
}

type stepResult struct {
	Rate     int                  `json:"rate"`
	Achieved float64              `json:"achieved_rps"`
	All      classStat            `json:"all"`
	Class    map[string]classStat `json:"class"`
	Mix      map[string]float64   `json:"mix"`
	CPU      map[string]float64   `json:"cpu_cores"`
	Errors   []string             `json:"first_errors,omitempty"`
	Limited  int                  `json:"answered_429"` // refused by the API's rate limiter (also counted in errors)
}

// passed: no error, p95 under 200 ms, and the rate really sent (a starved load
// generator that fell behind has not shown the rate).
func (s stepResult) passed() bool {
	return s.All.Errors == 0 && s.All.P95 < 200 && s.Achieved >= 0.95*float64(s.Rate)
}

// overloaded: the step is well past what the stack serves (p95 over a second, over
// 1 % errors, or the load generator could not keep the rate).
func (s stepResult) overloaded() bool {
	return s.All.P95 > 1000 || float64(s.All.Errors) > 0.01*float64(s.All.N) || s.Achieved < 0.9*float64(s.Rate)
}

func summarize(rate int, du time.Duration, ss []sample) stepResult {
	r := stepResult{Rate: rate, Achieved: float64(len(ss)) / du.Seconds(), All: stat(ss), Class: map[string]classStat{}, Mix: map[string]float64{}}
	by := map[string][]sample{}
	for _, s := range ss {
		by[s.act.class()] = append(by[s.act.class()], s)
		r.Mix[mixClass(s.act)] += 1 / float64(len(ss))
		if s.code == http.StatusTooManyRequests {
			r.Limited++
		}
		if !s.ok && len(r.Errors) < 5 {
			r.Errors = append(r.Errors, fmt.Sprintf("%s: %d %s", s.act, s.code, s.err))
		}
	}
	for k, v := range by {
		r.Class[k] = stat(v)
	}
	return r
}

func printStep(s stepResult) {
	verdict := "pass"
	if !s.passed() {
		verdict = "FAIL"
	}
	fmt.Printf("step %5d req/s: sent %7.1f/s, %6d requests, %4d errors, p50 %6.1f ms, p95 %6.1f ms, p99 %6.1f ms, max %7.1f ms  %s\n",
		s.Rate, s.Achieved, s.All.N, s.All.Errors, s.All.P50, s.All.P95, s.All.P99, s.All.Max, verdict)
	for _, e := range s.Errors {
		fmt.Printf("    error: %s\n", e)
	}
}

func printSteps(steps []stepResult, sc *Scenario) {
	fmt.Printf("\n| rate (req/s) | sent (req/s) | errors | p50 ms | p95 ms | p99 ms | max ms | browse p95 | search p95 | cart p95 | checkout p95 | mix browse/cart/checkout | CPU cores: api / ingest / postgres / redis / kafka / elasticsearch / stripe-mock / load (machine busy) |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range steps {
		if s.Rate == 0 {
			fmt.Printf("| idle | 0 | | | | | | | | | | | %s |\n", cpuLine(s.CPU))
			continue
		}
		fmt.Printf("| %d | %.0f | %d | %.1f | %.1f | %.1f | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f / %.1f / %.1f %% | %s |\n",
			s.Rate, s.Achieved, s.All.Errors, s.All.P50, s.All.P95, s.All.P99, s.All.Max,
			s.Class[classBrowse].P95, s.Class[classSearch].P95, s.Class[classCart].P95, s.Class[classCheckout].P95,
			100*s.Mix[classBrowse], 100*s.Mix[classCart], 100*s.Mix[classCheckout], cpuLine(s.CPU))
	}
	fmt.Printf("(scenario target mix %.0f / %.0f / %.0f %%)\n", 100*sc.TargetMix[classBrowse], 100*sc.TargetMix[classCart], 100*sc.TargetMix[classCheckout])
	idle := steps[0].CPU
	for _, s := range steps[1:] {
		// Only for this run's own processes: the shared services' floor moves
		// with other work (and ingest's with its indexing backlog).
		fmt.Printf("CPU per request at %d req/s above the idle floor: api %.2f ms, load generator %.2f ms\n", s.Rate,
			1000*(s.CPU["api"]-idle["api"])/s.Achieved, 1000*(s.CPU["load"]-idle["load"])/s.Achieved)
	}
	for _, s := range steps[1:] {
		fmt.Printf("per class at %d req/s:", s.Rate)
		for _, c := range classes {
			cs := s.Class[c]
			fmt.Printf("  %s n=%d p50 %.1f p95 %.1f p99 %.1f ms;", c, cs.N, cs.P50, cs.P95, cs.P99)
		}
		fmt.Println()
	}
}

func cpuLine(c map[string]float64) string {
	var parts []string
	for _, k := range procNames {
		parts = append(parts, fmt.Sprintf("%.2f", c[k]))
	}
	return strings.Join(parts, " / ") + fmt.Sprintf(" (%.2f of %d)", c["machine"], numCPU())
}

// stallResult is one injected stall and what the shoppers saw around it.
type stallResult struct {
	Target     string    `json:"target"`
	Rate       int       `json:"rate"`
	StallMS    float64   `json:"stall_ms"`
	Requests   int       `json:"requests"`
	Errors     int       `json:"errors"`
	MaxMS      float64   `json:"max_latency_ms"`
	RecoveryS  float64   `json:"recovery_s"`
	OverTimout int       `json:"over_client_deadline"`
	P95Before  float64   `json:"p95_before_ms"`
	Windows    []float64 `json:"p95_per_second_ms"`
	FirstError []string  `json:"first_errors,omitempty"`
}

// stallRun keeps a steady load at rate and stalls PostgreSQL at gap/2, Redis at
// 1.5 gap (each for stall), for 2.5 gap in all; each stall is judged on the requests
// started from it to the next event, against the 4 s before it.
func (d *driver) stallRun(ctx context.Context, tox *proxies, rate int, stall, gap, timeout time.Duration) []stallResult {
	events := []struct {
		name string
		at   time.Duration
	}{{"postgres", gap / 2}, {"redis", gap + gap/2}}
	total := 2*gap + gap/2
	var timed []timedEvent
	for _, e := range events {
		timed = append(timed, timedEvent{at: e.at, fn: func() { tox.stall(ctx, e.name, stall) }})
	}
	fmt.Printf("\nstall run: %d req/s for %s, PostgreSQL stalled %s at %s, Redis %s at %s (toxiproxy latency toxic: every byte from the API held for the stall)\n",
		rate, total, stall, events[0].at, stall, events[1].at)
	ss := d.attack(ctx, rate, total, "stall", timed...)
	if len(ss) == 0 {
		return nil
	}
	start := ss[0].at
	for _, s := range ss {
		if s.at.Before(start) {
			start = s.at
		}
	}
	var out []stallResult
	for i, e := range events {
		end := total
		if i+1 < len(events) {
			end = events[i+1].at
		}
		r := stallResult{Target: e.name, Rate: rate, StallMS: float64(stall) / float64(time.Millisecond)}
		var before, during []sample
		for _, s := range ss {
			off := s.at.Sub(start)
			switch {
			case off >= e.at-4*time.Second && off < e.at:
				before = append(before, s)
			case off >= e.at && off < end:
				during = append(during, s)
			}
		}
		r.P95Before = stat(before).P95
		st := stat(during)
		r.Requests, r.Errors, r.MaxMS = st.N, st.Errors, st.Max
		for _, s := range during {
			if s.lat >= timeout {
				r.OverTimout++
			}
			if !s.ok && len(r.FirstError) < 5 {
				r.FirstError = append(r.FirstError, fmt.Sprintf("%s: %d %s", s.act, s.code, s.err))
			}
		}
		// 1-s windows from the stall on (by request start); recovered at the start of
		// the first window whose p95 is back under 200 ms.
		n := int((end - e.at) / time.Second)
		win := make([][]sample, n)
		for _, s := range during {
			if k := int((s.at.Sub(start) - e.at) / time.Second); k >= 0 && k < n {
				win[k] = append(win[k], s)
			}
		}
		r.RecoveryS = -1 // not recovered before the next event
		for k := range win {
			p := stat(win[k]).P95
			r.Windows = append(r.Windows, math.Round(p*10)/10)
			if p < 200 && r.RecoveryS < 0 {
				r.RecoveryS = float64(k)
			}
		}
		out = append(out, r)
	}
	return out
}

func printStalls(rs []stallResult, c *config) {
	fmt.Printf("\n| stalled | rate | p95 before (ms) | requests after | errors | max latency (ms) | over the %s client deadline | recovered after (s) | p95 per 1-s window after the stall (ms) |\n", c.timeout)
	fmt.Printf("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		w := make([]string, len(r.Windows))
		for i, v := range r.Windows {
			w[i] = fmt.Sprintf("%.0f", v)
		}
		fmt.Printf("| %s %.0f ms | %d | %.1f | %d | %d | %.0f | %d | %.0f | %s |\n", r.Target, r.StallMS, r.Rate, r.P95Before, r.Requests, r.Errors, r.MaxMS, r.OverTimout, r.RecoveryS, strings.Join(w, " "))
		for _, e := range r.FirstError {
			fmt.Printf("    error: %s\n", e)
		}
	}
}

// printSummaries prints the BENCHSUMMARY lines hack/bench/all.sh collects.
func printSummaries(steps []stepResult, best int, stalls []stallResult, loss lossReport, c *config) {
	met := func(b bool) string {
		if b {
			return "met"
		}
		return "not met"
	}
	top := c.rates[len(c.rates)-1]
	fig := fmt.Sprintf("%d req/s (seed asks 1,000; steps %v, %s each)", best, c.rates, c.step)
	if best == 0 {
		fig = fmt.Sprintf("none of %v req/s (first step: p95 %.0f ms, %d errors)", c.rates, steps[0].All.P95, steps[0].All.Errors)
	} else if best == top {
		fig = fmt.Sprintf(">= %d req/s (highest step tried; seed asks 1,000; %s steps)", best, c.step)
	}
	fmt.Printf("BENCHSUMMARY\tmixed load: highest rate with p95 < 200 ms and 0 errors\t>= 1000 req/s\t%s\t%s\n", fig, met(best >= 1000))
	for _, s := range stalls {
		ok := s.OverTimout == 0 && loss.ok() && s.RecoveryS >= 0 && s.RecoveryS <= 5
		fmt.Printf("BENCHSUMMARY\tmixed load: %s %s stall at %d req/s\tno request past its deadline, nothing lost, p95 < 200 ms again within 5 s\t%d errors, max %.0f ms, recovered in %.0f s, %d over the %s deadline, %d of %d answered orders missing\t%s\n",
			time.Duration(s.StallMS*float64(time.Millisecond)), s.Target, s.Rate, s.Errors, s.MaxMS, s.RecoveryS, s.OverTimout, c.timeout, loss.Missing+loss.NoEvent, loss.Answered, met(ok))
	}
}
