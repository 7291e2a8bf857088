// Command inference measures the model server against a hand-written Go forward pass
// of the same models in the same run, and the offline metrics of both models against
// their baselines. Run it with hack/bench/inference.sh; it prints Markdown.
//
// For each model and batch size it times, sequentially on one goroutine:
//   - go-forward: the plain-Go forward pass (training.RecsModel.Scores + a heap top-k,
//     features.FraudModel.Score), the baseline;
//   - onnxruntime / go-runtime: one in-process Session.Run of the runtime;
//   - server: a full OIP request over loopback HTTP (JSON encode, validation,
//     onnxruntime, JSON decode), as a client sees it, in JSON and with the binary
//     tensor data extension (raw little-endian tensors after a JSON header);
//   - go-forward behind net/http (recs, one row): the Go forward pass served by a
//     bare net/http handler with the same JSON request and answer, a second
//     baseline that pays the HTTP round trip every served model pays.
//
// Then, under concurrency, 1, 16 and 64 clients (goroutines of this process, each
// sending one-row requests back to back over loopback HTTP) against a server that
// batches (the defaults of `kommerce inference`; in JSON and with binary tensors),
// one that waits 500 µs for a batch, one that does not batch, and the Go forward
// pass behind net/http, in interleaved rounds, next to the Go forward pass run in
// process by as many goroutines. The
// server's overhead at N clients is the Go forward pass's throughput at N goroutines
// divided by the batching server's throughput at N clients.
//
// It ends with BENCHSUMMARY lines for hack/bench/all.sh. BENCH_SHORT=1 (or -short)
// runs fewer calls, one seed and shorter rounds.
package main

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"time"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/features"
	"github.com/kommerce/kommerce/inference/gort"
	"github.com/kommerce/kommerce/inference/ort"
	"github.com/kommerce/kommerce/inference/training"
)

func main() {
	iters := flag.Int("iterations", 2000, "timed calls per case (batch 64 uses a quarter)")
	seeds := flag.Int("seeds", 3, "synthetic datasets for the offline metrics")
	dur := flag.Duration("duration", 250*time.Millisecond, "length of one mode's turn in a concurrency round")
	rounds := flag.Int("rounds", 12, "interleaved rounds per concurrency case")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the concurrency phase (clients and servers share the process) to this file")
	short := flag.Bool("short", os.Getenv("BENCH_SHORT") == "1", "short mode: 300 calls, 1 seed, 4 concurrency rounds (also BENCH_SHORT=1)")
	flag.Parse()
	if *short {
		*iters, *seeds, *rounds = 300, 1, 4
	}
	if err := run(*iters, *seeds, *dur, *rounds, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// batchWait is the max wait of the second batching server: long enough for requests
// to gather even when a runtime slot is free.
const batchWait = 500 * time.Microsecond

func run(iters, seeds int, dur time.Duration, rounds int, cpuprofile string) error {
	ctx := context.Background()
	lib := os.Getenv("KOMMERCE_ONNXRUNTIME_LIB")
	rt, err := ort.New(lib, 1)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kommerce-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()

	fmt.Println("### Offline metrics (time-based hold-out, synthetic data, default sizes)")
	fmt.Println()
	fmt.Println("| seed | ALS HR@10 | popularity HR@10 | ALS NDCG@10 | popularity NDCG@10 | LR AUC | amount-rule AUC | LR precision@2% | rule precision@2% |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	var recsRes, fraudRes *training.Result
	for seed := 1; seed <= seeds; seed++ {
		src := training.Synthetic{Seed: uint64(seed)}
		r, err := training.Job{Purpose: training.PurposeRecommendations, Source: src, OutDir: dir, Version: fmt.Sprint(seed), Recs: training.RecsParams{Seed: uint64(seed)}}.Run(ctx)
		if err != nil {
			return err
		}
		f, err := training.Job{Purpose: training.PurposeFraud, Source: src, OutDir: dir, Version: fmt.Sprint(seed)}.Run(ctx)
		if err != nil {
			return err
		}
		rm, rp := r.Metrics["model"].(training.RankingMetrics), r.Metrics["popularity"].(training.RankingMetrics)
		fm, fr := f.Metrics["model"].(training.ClassMetrics), f.Metrics["amount_rule"].(training.ClassMetrics)
		fmt.Printf("| %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", seed, rm.HR10, rp.HR10, rm.NDCG10, rp.NDCG10, fm.AUC, fr.AUC, fm.PrecisionBudget, fr.PrecisionBudget)
		if seed == 1 {
			recsRes, fraudRes = r, f
		}
	}
	fmt.Println()

	recsFile, _ := os.ReadFile(recsRes.ONNX)
	fraudFile, _ := os.ReadFile(fraudRes.ONNX)
	recs, err := training.ReadRecs(recsFile)
	if err != nil {
		return err
	}
	fraud, err := features.ReadFraud(fraudFile)
	if err != nil {
		return err
	}

	// The servers: the same registry and handler `kommerce inference` runs, without
	// and with batching (the command's defaults).
	models := inference.Config{Models: []inference.ModelConfig{
		{Name: "recs", Version: "1", URI: recsRes.ONNX, SHA256: recsRes.SHA256},
		{Name: "fraud", Version: "1", URI: fraudRes.ONNX, SHA256: fraudRes.SHA256},
	}}
	base, _, stop, err := startServer(ctx, rt, models, inference.Batching{})
	if err != nil {
		return err
	}
	defer stop()
	batchedBase, batchedProm, stopBatched, err := startServer(ctx, rt, models, inference.Batching{MaxRows: 64})
	if err != nil {
		return err
	}
	defer stopBatched()
	waitBase, waitProm, stopWait, err := startServer(ctx, rt, models, inference.Batching{MaxRows: 64, MaxWait: batchWait})
	if err != nil {
		return err
	}
	defer stopWait()
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

	ortRecs, err := rt.Load(ctx, recsFile)
	if err != nil {
		return err
	}
	gortRecs, err := gort.New().Load(ctx, recsFile)
	if err != nil {
		return err
	}
	ortFraud, err := rt.Load(ctx, fraudFile)
	if err != nil {
		return err
	}
	gortFraud, err := gort.New().Load(ctx, fraudFile)
	if err != nil {
		return err
	}

	goBase, stopGo, err := startGoServer(recs, min(100, len(recs.Items)))
	if err != nil {
		return err
	}
	defer stopGo()

	fmt.Printf("### Latency per call (%d products × %d factors, top %d; fraud: %d features)\n\n", len(recs.Items), recs.D, 100, len(fraud.W))
	fmt.Println("| model | batch | mode | p50 | p99 | p50 / go-forward |")
	fmt.Println("|---|---|---|---|---|---|")
	rng := rand.New(rand.NewPCG(9, 9))
	var sum summary
	for _, batch := range []int{1, 64} {
		n := iters
		if batch > 1 {
			n = max(iters/4, 50)
		}
		// Recommendations: a context of 5 products per row.
		const width = 5
		idx := make([]int64, batch*width)
		for i := range idx {
			idx[i] = rng.Int64N(int64(len(recs.Items)))
		}
		recsIn := []inference.Tensor{{Name: features.RecsInput, DataType: inference.INT64, Shape: []int64{int64(batch), width}, Int64: idx}}
		recsBody := body(recsIn)
		recsBin, recsHeader := binaryBody(recsIn)
		k := min(100, len(recs.Items))
		goRecs := func() {
			for r := range batch {
				topK(recs.Scores(idx[r*width:(r+1)*width]), k)
			}
		}
		modes := []mode{
			{"go-forward", func() error { goRecs(); return nil }},
			{"onnxruntime", func() error { _, err := ortRecs.Run(ctx, recsIn); return err }},
			{"go-runtime", func() error { _, err := gortRecs.Run(ctx, recsIn); return err }},
			{"server (HTTP+JSON, onnxruntime)", func() error { return post(httpc, base+"/v2/models/recs/infer", recsBody) }},
			{"server (HTTP+binary tensors, onnxruntime)", func() error {
				return postBinary(httpc, base+"/v2/models/recs/infer", recsBin, strconv.Itoa(recsHeader))
			}},
		}
		if batch == 1 {
			// The second baseline: the Go forward pass behind net/http (one row only).
			modes = append(modes, mode{"go-forward behind net/http (HTTP+JSON)", func() error { return post(httpc, goBase+"/", recsBody) }})
		}
		ratios, err := table("recs-als", batch, n, modes)
		if err != nil {
			return err
		}
		if batch == 1 {
			sum.batch1, sum.batch1Binary, sum.batch1GoHTTP = ratios[3], ratios[4], ratios[5]
		}
		f := len(fraud.W)
		feats := make([]float32, batch*f)
		for i := range feats {
			feats[i] = float32(rng.NormFloat64())
		}
		fraudIn := []inference.Tensor{{Name: features.FraudInput, DataType: inference.FP32, Shape: []int64{int64(batch), int64(f)}, Float32: feats}}
		fraudBody := body(fraudIn)
		fraudBin, fraudHeader := binaryBody(fraudIn)
		sink := 0.0
		if _, err := table("fraud-logreg", batch, n, []mode{
			{"go-forward", func() error {
				for r := range batch {
					sink += fraud.Score(feats[r*f : (r+1)*f])
				}
				return nil
			}},
			{"onnxruntime", func() error { _, err := ortFraud.Run(ctx, fraudIn); return err }},
			{"go-runtime", func() error { _, err := gortFraud.Run(ctx, fraudIn); return err }},
			{"server (HTTP+JSON, onnxruntime)", func() error { return post(httpc, base+"/v2/models/fraud/infer", fraudBody) }},
			{"server (HTTP+binary tensors, onnxruntime)", func() error {
				return postBinary(httpc, base+"/v2/models/fraud/infer", fraudBin, strconv.Itoa(fraudHeader))
			}},
		}); err != nil {
			return err
		}
		_ = sink
	}
	fmt.Println()
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if err := concurrencyTables(recs, fraud, base, goBase, []batchingServer{{batchedBase, batchedProm, "batching"}, {waitBase, waitProm, fmt.Sprintf("batching, max wait %s", batchWait)}}, dur, rounds, &sum); err != nil {
		return err
	}
	sum.print()
	return nil
}

type mode struct {
	name string
	call func() error
}

// table times every mode for n calls after a warm-up and prints p50/p99 and the
// ratio of each p50 to the first mode's, which it returns with the p50s.
func table(model string, batch, n int, modes []mode) ([]ratio, error) {
	var base time.Duration
	var ratios []ratio
	for i, m := range modes {
		for range n / 10 {
			if err := m.call(); err != nil {
				return nil, fmt.Errorf("%s %s: %w", model, m.name, err)
			}
		}
		lat := make([]time.Duration, n)
		for j := range lat {
			start := time.Now()
			if err := m.call(); err != nil {
				return nil, fmt.Errorf("%s %s: %w", model, m.name, err)
			}
			lat[j] = time.Since(start)
		}
		slices.Sort(lat)
		p50, p99 := lat[n/2], lat[n*99/100]
		if i == 0 {
			base = p50
		}
		fmt.Printf("| %s | %d | %s | %s | %s | %.1f× |\n", model, batch, m.name, p50, p99, float64(p50)/float64(base))
		ratios = append(ratios, ratio{float64(p50) / float64(base), p50, base})
	}
	return ratios, nil
}

// ratio is a p50 against the baseline's.
type ratio struct {
	x         float64
	p50, base time.Duration
}

func body(in []inference.Tensor) []byte {
	type wire struct {
		Name     string  `json:"name"`
		Shape    []int64 `json:"shape"`
		Datatype string  `json:"datatype"`
		Data     any     `json:"data"`
	}
	var req struct {
		Inputs []wire `json:"inputs"`
	}
	for _, t := range in {
		var data any = t.Float32
		if t.DataType == inference.INT64 {
			data = t.Int64
		}
		req.Inputs = append(req.Inputs, wire{t.Name, t.Shape, string(t.DataType), data})
	}
	b, _ := json.Marshal(req)
	return b
}

// binaryBody is the request of in with the binary tensor data extension: a JSON
// header naming each input's binary_data_size and asking for binary outputs, then
// the raw little-endian tensors. It returns the body and the header's length.
func binaryBody(in []inference.Tensor) ([]byte, int) {
	type wire struct {
		Name       string           `json:"name"`
		Shape      []int64          `json:"shape"`
		Datatype   string           `json:"datatype"`
		Parameters map[string]int64 `json:"parameters"`
	}
	var req struct {
		Inputs     []wire          `json:"inputs"`
		Parameters map[string]bool `json:"parameters"`
	}
	req.Parameters = map[string]bool{"binary_data_output": true}
	var raw []byte
	for _, t := range in {
		n := len(raw)
		if t.DataType == inference.INT64 {
			for _, v := range t.Int64 {
				raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
			}
		} else {
			for _, v := range t.Float32 {
				raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
			}
		}
		req.Inputs = append(req.Inputs, wire{t.Name, t.Shape, string(t.DataType), map[string]int64{"binary_data_size": int64(len(raw) - n)}})
	}
	b, _ := json.Marshal(req)
	return append(b, raw...), len(b)
}

// postBinary sends a binary_data request and reads the answer's JSON header and
// every output's raw data, as a client of the extension would.
func postBinary(c *http.Client, url string, b []byte, header string) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Inference-Header-Content-Length", header)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	n, err := strconv.Atoi(resp.Header.Get("Inference-Header-Content-Length"))
	if resp.StatusCode != 200 || err != nil || n > len(raw) {
		return fmt.Errorf("server answered %d: %s", resp.StatusCode, raw)
	}
	var out struct {
		Outputs []struct {
			Datatype   string `json:"datatype"`
			Parameters struct {
				Size int `json:"binary_data_size"`
			} `json:"parameters"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(raw[:n], &out); err != nil {
		return err
	}
	rest := raw[n:]
	for _, o := range out.Outputs {
		if o.Parameters.Size > len(rest) {
			return fmt.Errorf("answer has %d bytes of binary data, its header says more", len(raw)-n)
		}
		data := rest[:o.Parameters.Size]
		rest = rest[o.Parameters.Size:]
		if o.Datatype == "INT64" {
			v := make([]int64, len(data)/8)
			for i := range v {
				v[i] = int64(binary.LittleEndian.Uint64(data[8*i:]))
			}
		} else {
			v := make([]float32, len(data)/4)
			for i := range v {
				v[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			}
		}
	}
	return nil
}

func post(c *http.Client, url string, b []byte) error {
	resp, err := c.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Outputs []json.RawMessage `json:"outputs"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(raw, &out) != nil {
		return fmt.Errorf("server answered %d: %s", resp.StatusCode, raw)
	}
	return nil
}

// topK is the hand-written selection the Go forward pass uses: a min-heap of k.
func topK(s []float64, k int) []int {
	h := &minHeap{s: s}
	for i := range s {
		if h.Len() < k {
			heap.Push(h, i)
		} else if s[i] > s[h.idx[0]] {
			h.idx[0] = i
			heap.Fix(h, 0)
		}
	}
	out := make([]int, h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(int)
	}
	return out
}

type minHeap struct {
	s   []float64
	idx []int
}

func (h minHeap) Len() int           { return len(h.idx) }
func (h minHeap) Less(i, j int) bool { return h.s[h.idx[i]] < h.s[h.idx[j]] }
func (h minHeap) Swap(i, j int)      { h.idx[i], h.idx[j] = h.idx[j], h.idx[i] }
func (h *minHeap) Push(x any)        { h.idx = append(h.idx, x.(int)) }
func (h *minHeap) Pop() any {
	x := h.idx[len(h.idx)-1]
	h.idx = h.idx[:len(h.idx)-1]
	return x
}
