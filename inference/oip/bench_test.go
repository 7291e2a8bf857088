package oip_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/internal/modeltest"
	"github.com/kommerce/kommerce/inference/oip"
	"github.com/kommerce/kommerce/inference/ort/orttest"
)

// BenchmarkInferHandler measures the handler alone (decode, validate, run, encode)
// for a fraud batch of 64, without the network.
func BenchmarkInferHandler(b *testing.B) {
	_, fraud := modeltest.Train(b, "1")
	reg := inference.NewRegistry(inference.Options{
		Runtimes: map[string]inference.Runtime{"onnxruntime": orttest.Runtime(b)}, DefaultRuntime: "onnxruntime",
		Limits: inference.Limits{MaxBatch: 256},
	})
	defer reg.Close()
	if err := reg.Apply(context.Background(), inference.Config{Models: []inference.ModelConfig{{Name: "fraud", Version: "1", URI: fraud.ONNX, SHA256: fraud.SHA256}}}); err != nil {
		b.Fatal(err)
	}
	h := (&oip.Handler{Registry: reg}).Routes()
	body := fraudBody(64)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v2/models/fraud/infer", strings.NewReader(body)))
		if rec.Code != 200 {
			b.Fatal(rec.Body.String())
		}
	}
}
