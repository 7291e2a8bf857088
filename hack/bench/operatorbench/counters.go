package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kommerce/kommerce/internal/procstat"
)

// counters are Prometheus counter values keyed by a label summary, read twice to
// count what happened in between.
type counters map[string]float64

// sub is c - before, without the keys that did not move.
func (c counters) sub(before counters) counters {
	out := counters{}
	for k, v := range c {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// apiRequests reads the kube-apiserver's apiserver_request_total, keyed by
// "VERB resource[/subresource]" (watches left out: they are long-lived, not round
// trips). Every client of the benchmark's envtest is counted, so a phase's delta is
// what that contender (plus the benchmark's own Tenant creates) cost the server.
func apiRequests(ctx context.Context, cfg *rest.Config) (counters, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("read kube-apiserver metrics: %w", err)
	}
	out := counters{}
	err = eachSample(strings.NewReader(string(raw)), "apiserver_request_total", func(l map[string]string, v float64) {
		if l["verb"] == "WATCH" || l["resource"] == "" {
			return
		}
		k := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			k += "/" + l["subresource"]
		}
		out[k] += v
	})
	for k, v := range serverCPU() {
		out[k] = v
	}
	if benchDB != nil {
		if ms, perr := postgresCPU(ctx, benchDB); perr == nil {
			out["cpu ms postgres (bench database)"] = ms
		}
	}
	return out, err
}

// benchDB is the benchmark's pool on its own database, set by run; postgresCPU reads
// the PostgreSQL backends serving that database through it.
var benchDB *pgxpool.Pool

// postgresCPU is the CPU time (user + system) of the PostgreSQL backends connected
// to the benchmark's database now: the bare writes' and the operator's connections
// (both pools keep theirs open, so a burst's delta is their work in it; a backend
// that closed in between is missed). It reads /proc, so PostgreSQL must run on this
// machine, as hack/services.sh runs it.
func postgresCPU(ctx context.Context, pool *pgxpool.Pool) (float64, error) {
	rows, err := pool.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
	if err != nil {
		return 0, err
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, pid := range pids {
		p, err := procstat.Read(int(pid))
		if err != nil {
			return 0, err // not this machine's PostgreSQL, or the backend just left
		}
		total += p.CPU
	}
	return float64(total) / float64(time.Millisecond), nil
}

// operatorMetrics reads the operator's tenant controller reconcile counts (by
// result) and its client's requests (by method and code) from its /metrics.
func operatorMetrics(ctx context.Context, addr string) (counters, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read operator metrics: %w", err)
	}
	defer resp.Body.Close()
	out := counters{}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if err := eachSample(strings.NewReader(string(b)), "controller_runtime_reconcile_total", func(l map[string]string, v float64) {
		if l["controller"] == "tenant" {
			out["reconcile passes ("+l["result"]+")"] += v
		}
	}); err != nil {
		return nil, err
	}
	err = eachSample(strings.NewReader(string(b)), "rest_client_requests_total", func(l map[string]string, v float64) {
		out["client "+l["method"]+" → "+l["code"]] += v
	})
	if err != nil {
		return nil, err
	}
	// Where a slow Tenant's time went: in its pass, or waiting in the work queue
	// (per Tenant, these read as the share of passes within the bound).
	for _, h := range []struct{ metric, label, what string }{
		{"controller_runtime_reconcile_time_seconds_bucket", "controller", "pass took"},
		{"workqueue_queue_duration_seconds_bucket", "name", "queue wait"},
	} {
		err = eachSample(strings.NewReader(string(b)), h.metric, func(l map[string]string, v float64) {
			if l[h.label] == "tenant" && slices.Contains([]string{"0.01", "0.05", "0.1", "0.2", "1"}, l["le"]) {
				out[fmt.Sprintf("%s <= %s s", h.what, l["le"])] += v
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// eachSample calls fn for every sample of the metric name in a Prometheus text
// exposition.
func eachSample(r io.Reader, name string, fn func(labels map[string]string, v float64)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		labels := map[string]string{}
		rest := strings.TrimPrefix(line, name)
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndex(rest, "}")
			if end < 0 {
				continue
			}
			for _, kv := range splitLabels(rest[1:end]) {
				k, v, ok := strings.Cut(kv, "=")
				if ok {
					labels[k] = strings.Trim(v, `"`)
				}
			}
			rest = rest[end+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		fn(labels, v)
	}
	return sc.Err()
}

// splitLabels splits `a="x",b="y,z"` at the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// perTenant formats c divided by n, one "key: value" per line, sorted by key.
func perTenant(c counters, n int) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	total := 0.0
	for _, k := range keys {
		if !strings.HasPrefix(k, "reconcile") && !strings.HasPrefix(k, "client") && !strings.HasPrefix(k, "cpu") {
			total += c[k]
		}
		fmt.Fprintf(&b, "  %-42s %6.2f\n", k, c[k]/float64(n))
	}
	if total > 0 {
		fmt.Fprintf(&b, "  %-42s %6.2f\n", "all API requests (not watches)", total/float64(n))
	}
	return b.String()
}

// serverCPU is the CPU time (user + system) the kube-apiserver, etcd and operator
// (kommerce) this benchmark started (its child processes) have used so far, by
// process name, and the benchmark's own: in the bare writes' burst that is their
// client (encoding the creates, the row's transaction), which the operator's burst
// counts under kommerce; in both it is the Ready watch. The stream of creates, a
// process that has exited by the time the counts are read, is added by burst.
func serverCPU() counters {
	out := counters{}
	self := os.Getpid()
	for _, p := range procstat.All() {
		name := p.Comm
		switch {
		case p.PID == self:
			name = "operatorbench (this process)"
		case p.PPID != self || name != "kube-apiserver" && name != "etcd" && name != "kommerce":
			continue
		}
		out["cpu ms "+name] += float64(p.CPU) / float64(time.Millisecond)
	}
	return out
}

// apiserverProfile records kube-apiserver's CPU for d (at least 3s) into path,
// from its /debug/pprof (on by default, behind the same authentication).
func apiserverProfile(ctx context.Context, cfg *rest.Config, path string, d time.Duration) *profiler {
	pr := &profiler{done: make(chan error, 1)}
	secs := max(3, int(d.Seconds()+0.5))
	go func() {
		c := rest.CopyConfig(cfg)
		c.Timeout = 0
		cs, err := kubernetes.NewForConfig(c)
		if err != nil {
			pr.done <- err
			return
		}
		raw, err := cs.Discovery().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(secs)).DoRaw(ctx)
		if err != nil {
			pr.done <- err
			return
		}
		pr.done <- os.WriteFile(path, raw, 0o600)
	}()
	return pr
}
