package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafka "github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/internal/procstat"
)

// timeline samples, every 100 ms while a path runs, how far each stage has got:
// outbox rows published (the outbox paths: the relay's own counter of rows
// committed as published, read from its metrics registry), offsets committed by the group, documents
// indexed by the engine (Elasticsearch's indexing counter, which counts a document
// when its bulk item is applied, before any refresh). It records when each stage
// first moved and when it reached N, so a run shows where the time went: the relay
// (first/last row relayed), the indexer (first/last document indexed, last offset
// committed) and the final refresh. It also reads the CPU time the engine, the
// broker, PostgreSQL and this process used over the span (from /proc), to show who
// had the two cores. The sampler's own requests are part of the load (three per 100 ms).
type timeline struct {
	base  int64 // counted before the path began (the running path's warm rows)
	start time.Time
	stop  chan struct{}
	done  chan struct{}

	mu     sync.Mutex
	stages map[string]*stage
	cpu0   map[string]float64
	wall0  time.Time
}

type stage struct{ first, last time.Duration }

func (e *env) startTimeline(ctx context.Context, engine, group, topic, index string, relay *prometheus.Registry, base int64) *timeline {
	t := &timeline{base: base, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{}), stages: map[string]*stage{}, cpu0: cpuByProcess(), wall0: time.Now()}
	client := &kafka.Client{Addr: kafka.TCP(e.brokers...), Timeout: 5 * time.Second}
	parts := make([]int, *partitions)
	for i := range parts {
		parts[i] = i
	}
	go func() {
		defer close(t.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if relay != nil {
				// Until 2026-12-05 17:00Z this counted the unpublished rows in
				// PostgreSQL: 5–7 ms of a PostgreSQL process per sample with 20,000
				// rows waiting, which only the outbox path paid.
				if n, err := published(relay); err == nil {
					t.observe("relayed", n)
				}
			}
			if group == "" {
				// the direct load has no group
			} else if res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}}); err == nil {
				var got int64
				for _, p := range res.Topics[topic] {
					got += max(p.CommittedOffset, 0)
				}
				t.observe("committed", got)
			}
			if engine == "elasticsearch" {
				if n, err := e.indexed(ctx, index); err == nil {
					t.observe("indexed", n)
				}
			}
			select {
			case <-t.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return t
}

// observe records stage's count at this moment.
func (t *timeline) observe(name string, count int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stages[name]
	if s == nil {
		s = &stage{first: -1, last: -1}
		t.stages[name] = s
	}
	at := time.Since(t.start)
	count -= t.base
	if count > 0 && s.first < 0 {
		s.first = at
	}
	if count >= int64(*n) && s.last < 0 {
		s.last = at
	}
}

// end stops the sampler and returns one line: each stage's first and last moment,
// seconds after the path's start, and the CPU seconds of each process over the span.
func (t *timeline) end(total time.Duration) string {
	close(t.stop)
	<-t.done
	cpu := cpuByProcess()
	wall := time.Since(t.wall0).Seconds()
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	for _, name := range []string{"relayed", "indexed", "committed"} {
		if s := t.stages[name]; s != nil {
			fmt.Fprintf(&b, "%s %s–%s, ", name, secs(s.first), secs(s.last))
		}
	}
	fmt.Fprintf(&b, "searchable %.2fs; cpu s over %.1fs:", total.Seconds(), wall)
	for _, p := range []string{"elasticsearch", "kafka", "postgres", "bench", "other"} {
		fmt.Fprintf(&b, " %s %.1f", p, cpu[p]-t.cpu0[p])
	}
	return b.String()
}

func secs(d time.Duration) string {
	if d < 0 {
		return "—"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// published reads the relay's counter of rows published (committed as such).
func published(reg *prometheus.Registry) (int64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == "kommerce_outbox_published_total" && len(mf.GetMetric()) == 1 {
			return int64(mf.GetMetric()[0].GetCounter().GetValue()), nil
		}
	}
	return 0, fmt.Errorf("no kommerce_outbox_published_total in the registry")
}

// indexed is the engine's count of documents indexed into the index behind alias
// (primaries' indexing.index_total; it counts applied bulk items, refreshed or not).
func (e *env) indexed(ctx context.Context, alias string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.esURL+"/"+alias+"/_stats/indexing?filter_path=_all.primaries.indexing.index_total", nil)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var body struct {
		All struct {
			Primaries struct {
				Indexing struct {
					IndexTotal int64 `json:"index_total"`
				} `json:"indexing"`
			} `json:"primaries"`
		} `json:"_all"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return 0, err
	}
	return body.All.Primaries.Indexing.IndexTotal, nil
}

// cpuByProcess sums user+system CPU seconds of every process, grouped: the
// Elasticsearch and Kafka JVMs, PostgreSQL's processes, this process, and the rest
// of the machine's busy time.
func cpuByProcess() map[string]float64 {
	out := map[string]float64{}
	self := os.Getpid()
	for _, p := range procstat.All() {
		group := "other"
		switch {
		case p.PID == self:
			group = "bench"
		case p.Comm == "postgres":
			group = "postgres"
		case p.Comm == "java":
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
			switch {
			case strings.Contains(string(cmd), "elasticsearch"):
				group = "elasticsearch"
			case strings.Contains(string(cmd), "kafka.Kafka"):
				group = "kafka"
			}
		}
		out[group] += p.CPU.Seconds()
	}
	// "other" is the machine's busy time less the groups above (processes that
	// exited during the span are counted there, not lost).
	if stat, err := os.ReadFile("/proc/stat"); err == nil {
		f := strings.Fields(strings.SplitN(string(stat), "\n", 2)[0])
		busy := 0.0
		for i, v := range f[1:min(len(f), 9)] { // guest time is in user already
			if i == 3 || i == 4 { // idle, iowait
				continue
			}
			x, _ := strconv.ParseFloat(v, 64)
			busy += x / 100
		}
		out["other"] = busy - out["elasticsearch"] - out["kafka"] - out["postgres"] - out["bench"]
	}
	return out
}
