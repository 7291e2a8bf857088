package inference_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/features"
	"github.com/kommerce/kommerce/inference/gort"
	"github.com/kommerce/kommerce/inference/internal/modeltest"
)

// TestLoadFetchesVerifiesAndMatchesTensors serves a trained model (and broken
// copies of it) from a real HTTP file server and from disk, and checks what the
// registry loads and what it refuses, with which reason — the reason a
// ModelVersion's Failed status shows.
func TestInferenceLoadFetchesVerifiesAndMatchesTensors(t *testing.T) {
	recs, _ := modeltest.Train(t, "1")
	good := modeltest.Read(t, recs.ONNX)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return inference.SHA256(b)
	}
	goodSum := write("good.onnx", good)
	truncated := good[:len(good)/2]
	truncSum := write("truncated.onnx", truncated)
	files := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(files.Close)

	k := int64(20) // modeltest trains with TopK 20
	published := []inference.ExpectedTensor{{Name: features.RecsInput, DataType: "INT64", Shape: []int64{-1, -1}}}
	outputs := []inference.ExpectedTensor{
		{Name: features.RecsOutputScores, DataType: "FP32", Shape: []int64{-1, k}},
		{Name: features.RecsOutputItems, DataType: "INT64", Shape: []int64{-1, k}},
	}
	tests := []struct {
		name    string
		mc      inference.ModelConfig
		refused []string // fragments of the load error; nil: it loads
	}{
		{name: "good over http", mc: inference.ModelConfig{URI: files.URL + "/good.onnx", SHA256: goodSum, Inputs: published, Outputs: outputs}},
		{name: "good from a file URI", mc: inference.ModelConfig{URI: "file://" + filepath.Join(dir, "good.onnx"), SHA256: goodSum, Inputs: published, Outputs: outputs}},
		{name: "good, nothing published to check", mc: inference.ModelConfig{URI: files.URL + "/good.onnx", SHA256: goodSum}},
		{name: "wrong sha256", mc: inference.ModelConfig{URI: files.URL + "/good.onnx", SHA256: strings.Repeat("ab", 32)},
			refused: []string{"has sha256 " + goodSum, "the config says " + strings.Repeat("ab", 32)}},
		{name: "truncated ONNX with its own sha256", mc: inference.ModelConfig{URI: files.URL + "/truncated.onnx", SHA256: truncSum},
			refused: []string{"not a valid ONNX model"}},
		{name: "missing file", mc: inference.ModelConfig{URI: files.URL + "/nope.onnx", SHA256: goodSum},
			refused: []string{"answered HTTP 404"}},
		{name: "unreachable server", mc: inference.ModelConfig{URI: "http://127.0.0.1:1/good.onnx", SHA256: goodSum},
			refused: []string{"cannot fetch model http://127.0.0.1:1/good.onnx"}},
		{name: "wrong input name", mc: inference.ModelConfig{URI: files.URL + "/good.onnx", SHA256: goodSum,
			Inputs: []inference.ExpectedTensor{{Name: "user_id", DataType: "INT64", Shape: []int64{-1, 1}}}, Outputs: outputs},
			refused: []string{`input "user_id" is published but the graph has no such input (it has "items")`, `the graph's input "items" is not published`}},
		{name: "wrong output datatype", mc: inference.ModelConfig{URI: files.URL + "/good.onnx", SHA256: goodSum, Inputs: published,
			Outputs: []inference.ExpectedTensor{outputs[0], {Name: features.RecsOutputItems, DataType: "FP32", Shape: []int64{-1, k}}}},
			refused: []string{`output "item_indices" is INT64 in the graph, published as FP32`}},
		{name: "wrong output width", mc: inference.ModelConfig{URI: files.URL + "/good.onnx", SHA256: goodSum, Inputs: published,
			Outputs: []inference.ExpectedTensor{{Name: features.RecsOutputScores, DataType: "FP32", Shape: []int64{-1, 1000}}, outputs[1]}},
			refused: []string{`output "scores" has shape [-1 20] in the graph, published as [-1 1000]`}},
		{name: "an output left unpublished", mc: inference.ModelConfig{URI: files.URL + "/good.onnx", SHA256: goodSum, Inputs: published, Outputs: outputs[:1]},
			refused: []string{`the graph's output "item_indices" is not published`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := inference.NewRegistry(inference.Options{
				Runtimes: map[string]inference.Runtime{gort.Name: gort.New()}, DefaultRuntime: gort.Name,
				Fetcher: inference.Fetcher{Client: files.Client()},
			})
			t.Cleanup(reg.Close)
			tt.mc.Name, tt.mc.Version = "recs", "1"
			err := reg.Apply(context.Background(), inference.Config{Models: []inference.ModelConfig{tt.mc}})
			if tt.refused == nil {
				if err != nil {
					t.Fatalf("refused a good model: %v", err)
				}
				if err := reg.Ready(); err != nil {
					t.Fatalf("not ready after loading: %v", err)
				}
				info, err := reg.Model("recs", "")
				if err != nil || info.Signature.Inputs[0].Name != features.RecsInput {
					t.Fatalf("model metadata = %+v, %v", info, err)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded a model that must be refused")
			}
			if inference.ErrorCode(err) != inference.CodeLoadFailed {
				t.Errorf("code %s; want %s", inference.ErrorCode(err), inference.CodeLoadFailed)
			}
			for _, f := range tt.refused {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q does not say %q", err, f)
				}
			}
			if reg.Ready() == nil {
				t.Error("ready although its only model was refused")
			}
		})
	}
}
