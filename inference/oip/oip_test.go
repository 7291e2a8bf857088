package oip_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/features"
	"github.com/kommerce/kommerce/inference/gort"
	"github.com/kommerce/kommerce/inference/internal/modeltest"
	"github.com/kommerce/kommerce/inference/oip"
	"github.com/kommerce/kommerce/inference/ort/orttest"
	"github.com/kommerce/kommerce/inference/training"
	"github.com/kommerce/kommerce/internal/testenv"
)

type fixture struct {
	srv      *httptest.Server
	reg      *inference.Registry
	prom     *prometheus.Registry
	draining atomic.Bool
	recs     *training.Result
	fraud    *training.Result
}

func newFixture(t *testing.T, fetcher inference.Fetcher) *fixture {
	t.Helper()
	f := &fixture{prom: prometheus.NewRegistry()}
	f.recs, f.fraud = modeltest.Train(t, "1")
	f.reg = inference.NewRegistry(inference.Options{
		Runtimes:       map[string]inference.Runtime{"onnxruntime": orttest.Runtime(t), "go": gort.New()},
		DefaultRuntime: "onnxruntime",
		Fetcher:        fetcher,
		Limits:         inference.Limits{MaxBatch: 64, MaxElements: 64 * 64},
		Metrics:        inference.NewMetrics(f.prom),
	})
	h := &oip.Handler{Registry: f.reg, Draining: f.draining.Load, MaxBodyBytes: 1 << 20, Version: "test"}
	f.srv = httptest.NewServer(h.Routes())
	t.Cleanup(func() { f.srv.Close(); f.reg.Close() })
	return f
}

func (f *fixture) config(extra ...inference.ModelConfig) inference.Config {
	return inference.Config{Models: append([]inference.ModelConfig{
		{Name: "recs", Version: "1", URI: f.recs.ONNX, SHA256: f.recs.SHA256},
		{Name: "fraud", Version: "1", URI: f.fraud.ONNX, SHA256: f.fraud.SHA256, Runtime: "go"},
	}, extra...)}
}

func (f *fixture) do(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s %s: status %d, body is not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, v
}

const recsBody = `{"id":"r1","inputs":[{"name":"items","shape":[2,3],"datatype":"INT64","data":[[0,1,-1],[5,6,7]]}]}`

func fraudBody(batch int) string {
	row := "[" + strings.TrimSuffix(strings.Repeat("1.5,", len(features.FraudFeatures)), ",") + "]"
	rows := strings.TrimSuffix(strings.Repeat(row+",", batch), ",")
	return fmt.Sprintf(`{"inputs":[{"name":"features","shape":[%d,%d],"datatype":"FP32","data":[%s]}]}`, batch, len(features.FraudFeatures), rows)
}

func TestHealthMetadataAndInference(t *testing.T) {
	f := newFixture(t, inference.Fetcher{})
	if code, body := f.do(t, "GET", "/v2/health/ready", ""); code != http.StatusBadRequest || body["ready"] != false {
		t.Fatalf("ready before loading = %d %v; want 400 not ready", code, body)
	}
	if code, _ := f.do(t, "GET", "/v2/health/live", ""); code != http.StatusOK {
		t.Fatalf("live = %d", code)
	}
	if err := f.reg.Apply(context.Background(), f.config()); err != nil {
		t.Fatal(err)
	}
	if code, body := f.do(t, "GET", "/v2/health/ready", ""); code != http.StatusOK || body["ready"] != true {
		t.Fatalf("ready after loading = %d %v", code, body)
	}
	code, md := f.do(t, "GET", "/v2/models/recs", "")
	if code != http.StatusOK || md["name"] != "recs" || md["parameters"].(map[string]any)[features.MetaItems] == nil {
		t.Fatalf("metadata = %d %v", code, md)
	}
	if code, _ := f.do(t, "GET", "/v2/models/recs/versions/1/ready", ""); code != http.StatusOK {
		t.Fatalf("model ready = %d", code)
	}
	code, out := f.do(t, "POST", "/v2/models/recs/versions/1/infer", recsBody)
	if code != http.StatusOK || out["model_version"] != "1" || out["id"] != "r1" {
		t.Fatalf("infer = %d %v", code, out)
	}
	// The numbers are those of the plain-Go forward pass of the same file.
	ref, err := training.ReadRecs(modeltest.Read(t, f.recs.ONNX))
	if err != nil {
		t.Fatal(err)
	}
	outs := out["outputs"].([]any)
	scores := outs[0].(map[string]any)["data"].([]any)
	idx := outs[1].(map[string]any)["data"].([]any)
	want := ref.Scores([]int64{5, 6, 7})
	k := len(scores) / 2
	for c := range k {
		got, i := scores[k+c].(float64), int(idx[k+c].(float64))
		if d := got - want[i]; d > 1e-5 || d < -1e-5 {
			t.Fatalf("row 1 rank %d: product %d score %g, reference %g", c, i, got, want[i])
		}
	}
	code, out = f.do(t, "POST", "/v2/models/fraud/infer", fraudBody(3))
	if code != http.StatusOK || len(out["outputs"].([]any)[0].(map[string]any)["data"].([]any)) != 3 {
		t.Fatalf("fraud infer = %d %v", code, out)
	}
	f.draining.Store(true)
	if code, _ := f.do(t, "GET", "/v2/health/ready", ""); code != http.StatusBadRequest {
		t.Fatalf("ready while draining = %d, want 400", code)
	}
	if n := testutil.CollectAndCount(f.prom, "kommerce_inference_duration_seconds"); n < 2 {
		t.Fatalf("latency histograms for %d model versions, want 2", n)
	}
	if n := testutil.CollectAndCount(f.prom, "kommerce_inference_prediction"); n < 2 {
		t.Fatalf("prediction summaries for %d outputs, want 2", n)
	}
}

func TestBadInferenceRequests(t *testing.T) {
	f := newFixture(t, inference.Fetcher{})
	if err := f.reg.Apply(context.Background(), f.config()); err != nil {
		t.Fatal(err)
	}
	nf := len(features.FraudFeatures)
	tests := []struct {
		name, path, body string
		wantCode         int
		wantMsg          string
	}{
		{"unknown model", "/v2/models/nope/infer", recsBody, 404, `model "nope" is not served here`},
		{"unknown version", "/v2/models/recs/versions/9/infer", recsBody, 404, `no version "9"`},
		{"malformed json", "/v2/models/recs/infer", `{"inputs":[`, 400, "not a valid inference request"},
		{"empty body", "/v2/models/recs/infer", ``, 400, "body is empty"},
		{"no inputs", "/v2/models/recs/infer", `{"inputs":[]}`, 400, "no inputs"},
		{"wrong dtype", "/v2/models/recs/infer", `{"inputs":[{"name":"items","shape":[1,1],"datatype":"FP32","data":[1]}]}`, 400, "has datatype FP32, the model wants INT64"},
		{"unsupported dtype", "/v2/models/recs/infer", `{"inputs":[{"name":"items","shape":[1,1],"datatype":"BYTES","data":["a"]}]}`, 400, "accepts FP32 and INT64"},
		{"wrong rank", "/v2/models/recs/infer", `{"inputs":[{"name":"items","shape":[2],"datatype":"INT64","data":[1,2]}]}`, 400, "rank 1"},
		{"wrong fixed dim", "/v2/models/fraud/infer", `{"inputs":[{"name":"features","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}`, 400, fmt.Sprintf("the model wants [-1 %d]", nf)},
		{"count mismatch", "/v2/models/recs/infer", `{"inputs":[{"name":"items","shape":[2,2],"datatype":"INT64","data":[1,2,3]}]}`, 400, "has 3 values, its shape [2 2] needs 4"},
		{"missing input", "/v2/models/recs/infer", `{"inputs":[{"name":"other","shape":[1,1],"datatype":"INT64","data":[1]}]}`, 400, `missing input(s) "items"`},
		{"extra input", "/v2/models/recs/infer", `{"inputs":[{"name":"items","shape":[1,1],"datatype":"INT64","data":[1]},{"name":"x","shape":[1],"datatype":"INT64","data":[1]}]}`, 400, `unexpected input "x"`},
		{"duplicate input", "/v2/models/recs/infer", `{"inputs":[{"name":"items","shape":[1,1],"datatype":"INT64","data":[1]},{"name":"items","shape":[1,1],"datatype":"INT64","data":[1]}]}`, 400, "given twice"},
		{"batch above limit", "/v2/models/fraud/infer", fraudBody(65), 413, "batch size 65; the limit is 64"},
		{"NaN as string", "/v2/models/recs/infer", `{"inputs":[{"name":"items","shape":[1,1],"datatype":"INT64","data":["NaN"]}]}`, 400, "not an INT64 integer"},
		{"overflowing float", "/v2/models/fraud/infer", strings.Replace(fraudBody(1), "1.5", "1e39", 1), 400, "not a finite FP32 number"},
		{"non-integer index", "/v2/models/recs/infer", `{"inputs":[{"name":"items","shape":[1,1],"datatype":"INT64","data":[1.5]}]}`, 400, "not an INT64 integer"},
		{"index out of range", "/v2/models/recs/infer", `{"inputs":[{"name":"items","shape":[1,1],"datatype":"INT64","data":[100000]}]}`, 400, "accepted values are -1 to"},
		{"zero dimension", "/v2/models/recs/infer", `{"inputs":[{"name":"items","shape":[0,1],"datatype":"INT64","data":[]}]}`, 400, "must be at least 1"},
		{"unknown output", "/v2/models/recs/infer", `{"inputs":[{"name":"items","shape":[1,1],"datatype":"INT64","data":[1]}],"outputs":[{"name":"nope"}]}`, 400, `output "nope" does not exist`},
		{"oversized body", "/v2/models/recs/infer", `{"inputs":[{"name":"items","shape":[1,1],"datatype":"INT64","data":[` + strings.Repeat("1,", 600000) + `1]}]}`, 413, "larger than"},
		{"wrong method", "/v2/models/recs/infer", "", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := "POST"
			if tt.wantCode == 405 {
				method = "PUT"
			}
			req, _ := http.NewRequest(method, f.srv.URL+tt.path, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, raw, tt.wantCode)
			}
			if tt.wantMsg == "" {
				return
			}
			var e struct{ Error string }
			if json.Unmarshal(raw, &e) != nil || !strings.Contains(e.Error, tt.wantMsg) {
				t.Fatalf("body %s; want an OIP error containing %q", raw, tt.wantMsg)
			}
		})
	}
	// After all of that, both models still serve.
	if code, _ := f.do(t, "POST", "/v2/models/recs/infer", recsBody); code != 200 {
		t.Fatalf("recs after bad requests = %d", code)
	}
	if code, _ := f.do(t, "POST", "/v2/models/fraud/infer", fraudBody(1)); code != 200 {
		t.Fatalf("fraud after bad requests = %d", code)
	}
}

func TestRefusedModelFiles(t *testing.T) {
	f := newFixture(t, inference.Fetcher{MaxBytes: 4 << 20})
	if err := f.reg.Apply(context.Background(), f.config()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.onnx")
	os.WriteFile(corrupt, []byte("this is not an onnx file"), 0o644)
	huge := filepath.Join(dir, "huge.onnx")
	os.WriteFile(huge, bytes.Repeat([]byte{0}, 5<<20), 0o644)
	sum := func(p string) string { return sha256Hex(t, p) }
	files := http.FileServer(http.Dir(filepath.Dir(f.recs.ONNX)))
	web := httptest.NewServer(files)
	defer web.Close()

	tests := []struct {
		name    string
		mc      inference.ModelConfig
		wantErr string
	}{
		{"sha256 mismatch keeps the previous file", inference.ModelConfig{Name: "recs", Version: "1", URI: f.fraud.ONNX, SHA256: f.recs.SHA256}, "has sha256"},
		{"corrupt file", inference.ModelConfig{Name: "broken", Version: "1", URI: corrupt, SHA256: sum(corrupt)}, "not a valid ONNX model"},
		{"huge file", inference.ModelConfig{Name: "huge", Version: "1", URI: huge, SHA256: sum(huge)}, "the limit is 4194304"},
		{"missing file", inference.ModelConfig{Name: "gone", Version: "1", URI: filepath.Join(dir, "gone.onnx"), SHA256: f.recs.SHA256}, "cannot open model file"},
		{"http 404", inference.ModelConfig{Name: "web", Version: "1", URI: web.URL + "/nope.onnx", SHA256: f.recs.SHA256}, "answered HTTP 404"},
		{"unknown scheme", inference.ModelConfig{Name: "s3", Version: "1", URI: "s3://bucket/m.onnx", SHA256: f.recs.SHA256}, `scheme "s3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := f.config()
			if tt.mc.Name == "recs" {
				cfg.Models[0] = tt.mc
			} else {
				cfg.Models = append(cfg.Models, tt.mc)
			}
			err := f.reg.Apply(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("apply error %v; want one containing %q", err, tt.wantErr)
			}
			if code, _ := f.do(t, "POST", "/v2/models/recs/versions/1/infer", recsBody); code != 200 {
				t.Fatalf("recs stopped serving: %d", code)
			}
			if code, _ := f.do(t, "POST", "/v2/models/fraud/infer", fraudBody(1)); code != 200 {
				t.Fatalf("fraud stopped serving: %d", code)
			}
			if tt.mc.Name != "recs" {
				code, body := f.do(t, "POST", "/v2/models/"+tt.mc.Name+"/infer", recsBody)
				if code != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(body["error"]), "is not loaded") {
					t.Fatalf("refused model answers %d %v; want 503 saying it is not loaded", code, body)
				}
				if code, _ := f.do(t, "GET", "/v2/health/ready", ""); code != http.StatusBadRequest {
					t.Fatalf("server ready although %s never loaded", tt.mc.Name)
				}
			}
		})
	}
	// The same file over HTTP loads.
	cfg := f.config(inference.ModelConfig{Name: "web", Version: "1", URI: web.URL + "/" + filepath.Base(f.recs.ONNX), SHA256: f.recs.SHA256})
	if err := f.reg.Apply(context.Background(), cfg); err != nil {
		t.Fatalf("loading over HTTP: %v", err)
	}
	if code, _ := f.do(t, "POST", "/v2/models/web/infer", recsBody); code != 200 {
		t.Fatalf("model loaded over HTTP answers %d", code)
	}
}

// TestHotSwapUnderLoad swaps the default version of a model back and forth while
// clients send requests without a version: no request may fail, and both versions
// must have served.
func TestHotSwapUnderLoad(t *testing.T) {
	f := newFixture(t, inference.Fetcher{})
	recs2, _ := modeltest.Train(t, "2")
	v1 := f.config()
	v2 := f.config()
	v2.Models[0] = inference.ModelConfig{Name: "recs", Version: "2", URI: recs2.ONNX, SHA256: recs2.SHA256, Runtime: "go"}
	if err := f.reg.Apply(context.Background(), v1); err != nil {
		t.Fatal(err)
	}
	var failures, total atomic.Int64
	var served sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Post(f.srv.URL+"/v2/models/recs/infer", "application/json", strings.NewReader(recsBody))
				total.Add(1)
				if err != nil {
					failures.Add(1)
					continue
				}
				var out struct {
					ModelVersion string `json:"model_version"`
				}
				if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
					failures.Add(1)
				}
				resp.Body.Close()
				served.Store(out.ModelVersion, true)
			}
		})
	}
	for i := range 40 {
		cfg := v1
		if i%2 == 0 {
			cfg = v2
		}
		if err := f.reg.Apply(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		// Let requests land on this version before the next swap.
		want := int64(i+1) * 20
		testenv.Eventually(t, time.Minute, fmt.Sprintf("%d requests by swap %d", want, i), func() (bool, string) {
			n := total.Load()
			return n >= want, fmt.Sprintf("%d requests", n)
		})
	}
	close(stop)
	wg.Wait()
	_, one := served.Load("1")
	_, two := served.Load("2")
	t.Logf("%d requests during 40 swaps", total.Load())
	if failures.Load() != 0 || !one || !two {
		t.Fatalf("%d of %d requests failed; served v1 %v v2 %v", failures.Load(), total.Load(), one, two)
	}
}

func sha256Hex(t *testing.T, path string) string {
	t.Helper()
	b := modeltest.Read(t, path)
	return inference.SHA256(b)
}
