package oip_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/features"
	"github.com/kommerce/kommerce/inference/internal/modeltest"
	"github.com/kommerce/kommerce/inference/oip"
	"github.com/kommerce/kommerce/inference/ort/orttest"
)

// serve starts an OIP server on both models (onnxruntime) with the given batching.
func serve(t *testing.T, recs, fraud inference.ModelConfig, b inference.Batching) (string, *prometheus.Registry) {
	t.Helper()
	prom := prometheus.NewRegistry()
	reg := inference.NewRegistry(inference.Options{
		Runtimes: map[string]inference.Runtime{"onnxruntime": orttest.Runtime(t)}, DefaultRuntime: "onnxruntime",
		Limits: inference.Limits{MaxBatch: 64, MaxElements: 64 * 64}, Batching: b, Metrics: inference.NewMetrics(prom),
	})
	if err := reg.Apply(context.Background(), inference.Config{Models: []inference.ModelConfig{recs, fraud}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&oip.Handler{Registry: reg}).Routes())
	t.Cleanup(func() { srv.Close(); reg.Close() })
	return srv.URL, prom
}

type exchange struct {
	path, body string
}

// workload is a deterministic mix of requests: recommendation requests of 1–3 rows
// with a context of 5 or 3 products (which cannot be stacked together), fraud
// requests of 1–4 rows, and a few that fail: an index out of the model's range, a
// wrong width, a non-finite value.
func workload(clients, each int) [][]exchange {
	rng := rand.New(rand.NewPCG(1, 2))
	w := make([][]exchange, clients)
	nf := len(features.FraudFeatures)
	for c := range w {
		for i := range each {
			rows := 1 + rng.IntN(3)
			switch k := rng.IntN(20); {
			case k < 9:
				width := []int{5, 3}[rng.IntN(2)]
				data := make([]string, rows*width)
				for j := range data {
					data[j] = fmt.Sprint(rng.IntN(121) - 1)
				}
				if k == 0 {
					data[0] = "5000" // out of range: the registry refuses it alone
				}
				w[c] = append(w[c], exchange{"/v2/models/recs/infer", fmt.Sprintf(`{"id":"%d-%d","inputs":[{"name":"items","shape":[%d,%d],"datatype":"INT64","data":[%s]}]}`,
					c, i, rows, width, strings.Join(data, ","))})
			default:
				rows++
				cols := nf
				if k == 19 {
					cols = nf - 1 // a wrong width
				}
				data := make([]string, rows*cols)
				for j := range data {
					data[j] = fmt.Sprintf("%.4f", rng.NormFloat64())
				}
				w[c] = append(w[c], exchange{"/v2/models/fraud/infer", fmt.Sprintf(`{"inputs":[{"name":"features","shape":[%d,%d],"datatype":"FP32","data":[%s]}],"outputs":[{"name":"%s"}]}`,
					rows, cols, strings.Join(data, ","), features.FraudOutput)})
			}
		}
	}
	return w
}

func post(t *testing.T, c *http.Client, url string, e exchange) string {
	resp, err := c.Post(url+e.path, "application/json", strings.NewReader(e.body))
	if err != nil {
		t.Error(err)
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

// TestBatchingGivesTheSameAnswers runs many concurrent clients against a server that
// batches and one that does not, on the same model files, and compares every
// response byte for byte — outputs and errors alike.
func TestBatchingGivesTheSameAnswers(t *testing.T) {
	recsRes, fraudRes := modeltest.Train(t, "1")
	recs := inference.ModelConfig{Name: "recs", Version: "1", URI: recsRes.ONNX, SHA256: recsRes.SHA256}
	fraud := inference.ModelConfig{Name: "fraud", Version: "1", URI: fraudRes.ONNX, SHA256: fraudRes.SHA256}
	// One runtime slot and a wait, so that concurrent requests do queue and merge.
	batched, prom := serve(t, recs, fraud, inference.Batching{MaxRows: 16, MaxWait: 2 * time.Millisecond, Concurrency: 1})
	plain, _ := serve(t, recs, fraud, inference.Batching{})

	const clients, each = 32, 15
	w := workload(clients, each)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	got := make([][]string, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for _, e := range w[c] {
				got[c] = append(got[c], post(t, client, batched, e))
			}
		})
	}
	wg.Wait()
	errorsSeen := 0
	for c := range clients {
		for i, e := range w[c] {
			want := post(t, client, plain, e)
			if got[c][i] != want {
				t.Fatalf("client %d request %d (%s):\nbatched: %.300s\nalone:   %.300s", c, i, e.path, got[c][i], want)
			}
			if !strings.HasPrefix(want, "200 ") {
				errorsSeen++
			}
		}
	}
	if errorsSeen == 0 {
		t.Fatal("the workload has no failing request; it must check that errors stay per request")
	}
	merged, calls := batchRequests(t, prom)
	if merged <= float64(calls) {
		t.Fatalf("%v requests in %v runtime calls: nothing was merged, so the comparison proves nothing", merged, calls)
	}
	t.Logf("%d responses equal (%d errors); batching served %v requests in %v runtime calls", clients*each, errorsSeen, merged, calls)
}

// batchRequests returns the sum and count of kommerce_inference_batch_requests over
// every model.
func batchRequests(t *testing.T, prom *prometheus.Registry) (sum float64, count uint64) {
	t.Helper()
	mfs, err := prom.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "kommerce_inference_batch_requests" {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetHistogram().GetSampleSum()
			count += m.GetHistogram().GetSampleCount()
		}
	}
	return sum, count
}
