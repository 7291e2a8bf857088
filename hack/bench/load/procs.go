package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// procNames are the processes whose CPU each step reports, in the table's order.
var procNames = []string{"api", "ingest", "postgres", "redis", "kafka", "elasticsearch", "stripe-mock", "load"}

// procSet samples the CPU time of the stack's processes from /proc. Shared services
// (PostgreSQL, Redis, Kafka, Elasticsearch) also serve whoever else uses them on the
// machine, so their figures are an upper bound of what this load cost; "machine" is
// the whole machine's busy time, which shows how much else ran meanwhile.
type procSet struct{ api, ingest int }

type cpuSample struct {
	at    time.Time
	ticks map[int]float64 // pid -> seconds of CPU
	group map[int]string
	busy  float64 // machine busy seconds
}

func newProcSet(api, ingest int) *procSet { return &procSet{api: api, ingest: ingest} }

func numCPU() int { return runtime.NumCPU() }

func goVersion() string { return runtime.Version() }

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// groupOf names the process pid belongs to, or "".
func (p *procSet) groupOf(pid int) string {
	switch pid {
	case p.api:
		return "api"
	case p.ingest:
		return "ingest"
	case os.Getpid():
		return "load"
	}
	comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	switch c := strings.TrimSpace(string(comm)); {
	case c == "postgres":
		return "postgres"
	case c == "redis-server":
		return "redis"
	case strings.HasPrefix(c, "stripe-mock"):
		return "stripe-mock"
	case c == "java":
		cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		switch {
		case bytes.Contains(cmd, []byte("kafka.Kafka")):
			return "kafka"
		case bytes.Contains(cmd, []byte("org.elasticsearch")):
			return "elasticsearch"
		}
	}
	return ""
}

// cpuSeconds is utime+stime of pid (all its threads).
func cpuSeconds(pid int) (float64, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100, true // USER_HZ is 100 on Linux
}

func machineBusy() float64 {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	total := 0.0
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		total += n
	}
	return total / 100
}

func (p *procSet) sample() cpuSample {
	s := cpuSample{at: time.Now(), ticks: map[int]float64{}, group: map[int]string{}, busy: machineBusy()}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if g := p.groupOf(pid); g != "" {
			if t, ok := cpuSeconds(pid); ok {
				s.ticks[pid], s.group[pid] = t, g
			}
		}
	}
	return s
}

// since is the CPU each group used since before, in cores (CPU seconds per second).
// A process that started meanwhile counts from zero; one that ended is missed.
func (p *procSet) since(before cpuSample) map[string]float64 {
	now := p.sample()
	el := now.at.Sub(before.at).Seconds()
	out := map[string]float64{"machine": (now.busy - before.busy) / el}
	for pid, t := range now.ticks {
		out[now.group[pid]] += (t - before.ticks[pid]) / el
	}
	return out
}
