package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/features"
	"github.com/kommerce/kommerce/inference/gort"
	"github.com/kommerce/kommerce/inference/oip"
	"github.com/kommerce/kommerce/inference/ort"
	"github.com/kommerce/kommerce/inference/training"
)

// startServer serves models over loopback HTTP with the handler and registry
// `kommerce inference` runs.
func startServer(ctx context.Context, rt *ort.Runtime, models inference.Config, b inference.Batching) (string, *prometheus.Registry, func(), error) {
	prom := prometheus.NewRegistry()
	reg := inference.NewRegistry(inference.Options{
		Runtimes:       map[string]inference.Runtime{ort.Name: rt, gort.Name: gort.New()},
		DefaultRuntime: ort.Name, Limits: inference.Limits{MaxBatch: 256}, Batching: b,
		Metrics: inference.NewMetrics(prom),
	})
	if err := reg.Apply(ctx, models); err != nil {
		reg.Close()
		return "", nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		reg.Close()
		return "", nil, nil, err
	}
	srv := &http.Server{Handler: (&oip.Handler{Registry: reg}).Routes()}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), prom, func() { _ = srv.Close(); reg.Close() }, nil
}

// measured is what one mode achieved over its rounds.
type measured struct {
	calls    int
	elapsed  time.Duration
	cpu      time.Duration // process CPU time (user + system, every thread) during the rounds
	lat      []time.Duration
	rowsCall float64 // rows per runtime call (batching server only)
}

func (m *measured) rate() float64 { return float64(m.calls) / m.elapsed.Seconds() }

// cpuPerCall is the process's CPU time per call: clients, server and runtime
// together. Unlike req/s it hardly depends on how much of the machine other work
// takes.
func (m *measured) cpuPerCall() time.Duration { return m.cpu / time.Duration(max(m.calls, 1)) }

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (m *measured) pct(p int) time.Duration {
	slices.Sort(m.lat)
	return m.lat[(len(m.lat)-1)*p/100]
}

// drive runs clients goroutines calling call back to back for d.
func drive(clients int, d time.Duration, call func(client, i int) error, into *measured) error {
	var wg sync.WaitGroup
	lats := make([][]time.Duration, clients)
	errs := make([]error, clients)
	cpu0 := cpuTime()
	start := time.Now()
	deadline := start.Add(d)
	for c := range clients {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				t := time.Now()
				if err := call(c, i); err != nil {
					errs[c] = err
					return
				}
				lats[c] = append(lats[c], time.Since(t))
			}
		})
	}
	wg.Wait()
	into.elapsed += time.Since(start)
	into.cpu += cpuTime() - cpu0
	for c := range clients {
		if errs[c] != nil {
			return errs[c]
		}
		into.calls += len(lats[c])
		into.lat = append(into.lat, lats[c]...)
	}
	return nil
}

// rowsPerCall returns the sum and count of kommerce_inference_batch_rows for model.
func rowsPerCall(prom *prometheus.Registry, model string) (float64, float64) {
	mfs, _ := prom.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "kommerce_inference_batch_rows" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "model" && l.GetValue() == model {
					return m.GetHistogram().GetSampleSum(), float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return 0, 0
}

// batchingServer is a server that batches, with its metrics.
type batchingServer struct {
	base string
	prom *prometheus.Registry
	name string
}

// concurrencyTables measures 1, 16 and 64 clients of one-row requests: the Go
// forward pass on as many goroutines, the server without batching and with it, in
// interleaved rounds so that other load on the machine hits every mode alike.
func concurrencyTables(recs *training.RecsModel, fraud *features.FraudModel, plain, goHTTP string, batched []batchingServer, d time.Duration, rounds int, sum *summary) error {
	fmt.Printf("### Concurrent clients, one row per request (%d rounds of %s per mode, interleaved)\n\n", rounds, d)
	fmt.Println("| model | clients | mode | req/s | p50 | p99 | rows per runtime call | req/s / go-forward | CPU per request | CPU / go-forward |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}}
	rng := rand.New(rand.NewPCG(3, 3))
	const width, pool = 5, 512
	recsCtx := make([][]int64, pool)
	recsBodies, recsBins := make([][]byte, pool), make([]binReq, pool)
	for i := range recsCtx {
		recsCtx[i] = make([]int64, width)
		for j := range recsCtx[i] {
			recsCtx[i][j] = rng.Int64N(int64(len(recs.Items)))
		}
		in := []inference.Tensor{{Name: features.RecsInput, DataType: inference.INT64, Shape: []int64{1, width}, Int64: recsCtx[i]}}
		recsBodies[i] = body(in)
		recsBins[i] = newBinReq(in)
	}
	nf := len(fraud.W)
	fraudRows := make([][]float32, pool)
	fraudBodies, fraudBins := make([][]byte, pool), make([]binReq, pool)
	for i := range fraudRows {
		fraudRows[i] = make([]float32, nf)
		for j := range fraudRows[i] {
			fraudRows[i][j] = float32(rng.NormFloat64())
		}
		in := []inference.Tensor{{Name: features.FraudInput, DataType: inference.FP32, Shape: []int64{1, int64(nf)}, Float32: fraudRows[i]}}
		fraudBodies[i] = body(in)
		fraudBins[i] = newBinReq(in)
	}
	k := min(100, len(recs.Items))
	var sink float64
	var sinkMu sync.Mutex
	type model struct {
		name, path string
		bodies     [][]byte
		bins       []binReq
		goHTTP     string // the Go forward pass behind net/http, if any
		goForward  func(i int)
	}
	models := []model{
		{"recs-als", "/v2/models/recs/infer", recsBodies, recsBins, goHTTP, func(i int) { topK(recs.Scores(recsCtx[i%pool]), k) }},
		{"fraud-logreg", "/v2/models/fraud/infer", fraudBodies, fraudBins, "", func(i int) {
			s := fraud.Score(fraudRows[i%pool])
			if s < 0 {
				sinkMu.Lock()
				sink += s
				sinkMu.Unlock()
			}
		}},
	}
	for _, m := range models {
		for _, clients := range []int{1, 16, 64} {
			var goF, goH, none, bin measured
			batch := make([]measured, len(batched))
			serverCall := func(base string) func(c, i int) error {
				return func(c, i int) error { return post(httpc, base+m.path, m.bodies[(c*7919+i)%pool]) }
			}
			name := m.path[len("/v2/models/") : len(m.path)-len("/infer")]
			rows0, calls0 := make([]float64, len(batched)), make([]float64, len(batched))
			for i, b := range batched {
				rows0[i], calls0[i] = rowsPerCall(b.prom, name)
			}
			// Short rounds, the order rotated each round, so that what else runs on
			// the machine weighs on every mode alike.
			runs := []func() error{
				func() error {
					return drive(clients, d, func(c, i int) error { m.goForward(c*7919 + i); return nil }, &goF)
				},
				func() error { return wrap("no batching", drive(clients, d, serverCall(plain), &none)) },
			}
			for i, b := range batched {
				runs = append(runs, func() error { return wrap(b.name, drive(clients, d, serverCall(b.base), &batch[i])) })
			}
			if m.goHTTP != "" {
				runs = append(runs, func() error {
					return wrap("go-forward behind net/http", drive(clients, d, func(c, i int) error {
						return post(httpc, m.goHTTP+"/", m.bodies[(c*7919+i)%pool])
					}, &goH))
				})
			}
			// The batching server again, with the binary tensor data extension.
			runs = append(runs, func() error {
				return wrap("binary", drive(clients, d, func(c, i int) error {
					r := m.bins[(c*7919+i)%pool]
					return postBinary(httpc, batched[0].base+m.path, r.body, r.header)
				}, &bin))
			})
			for r := range rounds {
				for j := range runs {
					if err := runs[(r+j)%len(runs)](); err != nil {
						return fmt.Errorf("%s, %d clients: %w", m.name, clients, err)
					}
				}
			}
			for i, b := range batched {
				if i == 0 {
					continue // shared with the binary mode: see below
				}
				rows1, calls1 := rowsPerCall(b.prom, name)
				if calls1 > calls0[i] {
					batch[i].rowsCall = (rows1 - rows0[i]) / (calls1 - calls0[i])
				}
			}
			if rows1, calls1 := rowsPerCall(batched[0].prom, name); calls1 > calls0[0] {
				// Both modes on this server: their mean rows per call.
				batch[0].rowsCall = (rows1 - rows0[0]) / (calls1 - calls0[0])
				bin.rowsCall = batch[0].rowsCall
			}
			none.rowsCall = 1
			type row struct {
				name string
				m    *measured
			}
			rows := []row{{"go-forward", &goF}}
			if m.goHTTP != "" {
				rows = append(rows, row{"go-forward behind net/http", &goH})
			}
			rows = append(rows, row{"server, no batching", &none})
			for i, b := range batched {
				rows = append(rows, row{"server, " + b.name, &batch[i]})
			}
			rows = append(rows, row{"server, batching, binary tensors", &bin})
			for _, r := range rows {
				rc := "—"
				if r.m.rowsCall > 0 {
					rc = fmt.Sprintf("%.1f", r.m.rowsCall)
				}
				fmt.Printf("| %s | %d | %s | %.0f | %s | %s | %s | %.2f× | %.1f µs | %.1f× |\n", m.name, clients, r.name, r.m.rate(), r.m.pct(50), r.m.pct(99), rc, r.m.rate()/goF.rate(),
					float64(r.m.cpuPerCall())/1e3, float64(r.m.cpuPerCall())/float64(goF.cpuPerCall()))
			}
			if m.name == "recs-als" && clients == 64 {
				sum.clients64 = [5]float64{goF.rate(), none.rate(), batch[0].rate(), bin.rate(), goH.rate()}
			}
		}
	}
	_ = sink
	fmt.Println()
	return nil
}

func wrap(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// binReq is a request with the binary tensor data extension.
type binReq struct {
	body   []byte
	header string // Inference-Header-Content-Length
}

func newBinReq(in []inference.Tensor) binReq {
	b, n := binaryBody(in)
	return binReq{b, strconv.Itoa(n)}
}

// summary holds the figures of the BENCHSUMMARY lines.
type summary struct {
	batch1       ratio      // recs-als server p50 ÷ go-forward p50, batch 1, one client (JSON)
	batch1Binary ratio      // the same with binary tensor data
	batch1GoHTTP ratio      // the Go forward pass behind net/http
	clients64    [5]float64 // recs-als req/s at 64 clients: go-forward, no batching, batching, batching with binary tensors, go-forward behind net/http
}

func (s summary) print() {
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "not met"
	}
	goF, none, batch, bin, goH := s.clients64[0], s.clients64[1], s.clients64[2], s.clients64[3], s.clients64[4]
	gain := batch / none
	fmt.Printf("BENCHSUMMARY\tinference: 64 clients, batching vs none (recs-als)\t>= 1.0x\t%.2fx (%.0f vs %.0f req/s)\t%s\n", gain, batch, none, verdict(gain >= 1))
	fmt.Printf("BENCHSUMMARY\tinference server overhead over Go forward pass, batch 1 (recs-als, p50 ÷ p50)\t<= 3x\t%.1fx (%s vs %s)\t%s\n", s.batch1.x, s.batch1.p50, s.batch1.base, verdict(s.batch1.x <= 3))
	over := goF / batch
	fmt.Printf("BENCHSUMMARY\tinference server overhead over Go forward pass, 64 clients (recs-als, go req/s ÷ server req/s)\t<= 3x\t%.1fx (%.0f vs %.0f req/s)\t%s\n", over, goF, batch, verdict(over <= 3))
	fmt.Printf("BENCHSUMMARY\tinference server overhead over Go forward pass, batch 1, binary tensor data (recs-als, p50 ÷ p50)\t<= 3x\t%.1fx (%s vs %s)\t%s\n", s.batch1Binary.x, s.batch1Binary.p50, s.batch1Binary.base, verdict(s.batch1Binary.x <= 3))
	overH := float64(s.batch1.p50) / float64(s.batch1GoHTTP.p50)
	fmt.Printf("BENCHSUMMARY\tinference server overhead over Go forward pass behind the same net/http, batch 1 (recs-als, JSON, p50 ÷ p50)\t<= 3x\t%.1fx (%s vs %s)\t%s\n", overH, s.batch1.p50, s.batch1GoHTTP.p50, verdict(overH <= 3))
	overH64 := goH / batch
	fmt.Printf("BENCHSUMMARY\tinference server overhead over Go forward pass behind the same net/http, 64 clients (recs-als, JSON, req/s ÷ req/s)\t<= 3x\t%.1fx (%.0f vs %.0f req/s)\t%s\n", overH64, goH, batch, verdict(overH64 <= 3))
	overBin := goF / bin
	fmt.Printf("BENCHSUMMARY\tinference server overhead over Go forward pass, 64 clients, binary tensor data (recs-als, go req/s ÷ server req/s)\t<= 3x\t%.1fx (%.0f vs %.0f req/s)\t%s\n", overBin, goF, bin, verdict(overBin <= 3))
}
