package oip_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/internal/modeltest"
	"github.com/kommerce/kommerce/inference/oip"
	"github.com/kommerce/kommerce/inference/ort/orttest"
)

// BenchmarkInferHandler measures the handler alone (decode, validate, run, encode),
// without the network: a fraud batch of 64 in JSON, and one recommendation request
// in JSON and with the binary tensor data extension.
func BenchmarkInferHandler(b *testing.B) {
	recs, fraud := modeltest.Train(b, "1")
	reg := inference.NewRegistry(inference.Options{
		Runtimes: map[string]inference.Runtime{"onnxruntime": orttest.Runtime(b)}, DefaultRuntime: "onnxruntime",
		Limits: inference.Limits{MaxBatch: 256},
	})
	defer reg.Close()
	if err := reg.Apply(context.Background(), inference.Config{Models: []inference.ModelConfig{
		{Name: "fraud", Version: "1", URI: fraud.ONNX, SHA256: fraud.SHA256},
		{Name: "recs", Version: "1", URI: recs.ONNX, SHA256: recs.SHA256},
	}}); err != nil {
		b.Fatal(err)
	}
	h := (&oip.Handler{Registry: reg}).Routes()
	header := `{"inputs":[{"name":"items","shape":[1,5],"datatype":"INT64","parameters":{"binary_data_size":40}}],"parameters":{"binary_data_output":true}}`
	bin := []byte(header)
	for _, v := range []uint64{1, 2, 3, 4, 5} {
		bin = binary.LittleEndian.AppendUint64(bin, v)
	}
	for _, bc := range []struct {
		name, path string
		body       []byte
		header     string
	}{
		{"fraud-64-json", "/v2/models/fraud/infer", []byte(fraudBody(64)), ""},
		{"recs-1-json", "/v2/models/recs/infer", []byte(`{"inputs":[{"name":"items","shape":[1,5],"datatype":"INT64","data":[1,2,3,4,5]}]}`), ""},
		{"recs-1-binary", "/v2/models/recs/infer", bin, strconv.Itoa(len(header))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			// CPU time (every thread of the process, GC included) per request: on a
			// shared machine, wall time per op moves with other work, CPU time much less.
			cpu0 := cpuTime()
			for b.Loop() {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodPost, bc.path, bytes.NewReader(bc.body))
				if bc.header != "" {
					req.Header.Set("Inference-Header-Content-Length", bc.header)
				}
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatal(rec.Body.String())
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
