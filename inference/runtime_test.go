package inference_test

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/features"
	"github.com/kommerce/kommerce/inference/gort"
	"github.com/kommerce/kommerce/inference/internal/modeltest"
	"github.com/kommerce/kommerce/inference/onnx"
	"github.com/kommerce/kommerce/inference/ort/orttest"
	"github.com/kommerce/kommerce/inference/training"
)

// softmaxProbe is a graph with an operator the pure-Go runtime does not implement.
func softmaxProbe(t *testing.T) []byte {
	g := &onnx.Graph{Name: "probe"}
	g.Input("x", onnx.Float, onnx.Dim{Param: "batch"}, onnx.Dim{Value: 4})
	g.Output("y", onnx.Float, onnx.Dim{Param: "batch"}, onnx.Dim{Value: 4})
	g.Node("Softmax", []string{"x"}, []string{"y"}, onnx.IntAttr("axis", 1))
	b, err := g.Marshal("test", 1)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRuntimesAgainstGoReference is the table of which of our models each runtime
// runs (checked number by number against the plain-Go forward pass on the very
// file trained by the training job) and which it refuses, with what error.
func TestRuntimesAgainstGoReference(t *testing.T) {
	recsRes, fraudRes := modeltest.Train(t, "1")
	recsFile, fraudFile := modeltest.Read(t, recsRes.ONNX), modeltest.Read(t, fraudRes.ONNX)
	recs, err := training.ReadRecs(recsFile)
	if err != nil {
		t.Fatal(err)
	}
	fraud, err := features.ReadFraud(fraudFile)
	if err != nil {
		t.Fatal(err)
	}
	runtimes := map[string]inference.Runtime{"onnxruntime": orttest.Runtime(t), "go": gort.New()}
	models := []struct {
		name    string
		file    []byte
		check   func(t *testing.T, s inference.Session)
		refused map[string]string // runtime → text the load error must contain
	}{
		{name: "recs-als", file: recsFile, check: func(t *testing.T, s inference.Session) { checkRecs(t, s, recs) }},
		{name: "fraud-logreg", file: fraudFile, check: func(t *testing.T, s inference.Session) { checkFraud(t, s, fraud) }},
		{name: "softmax-probe", file: softmaxProbe(t), check: checkSoftmax,
			refused: map[string]string{"go": "operator Softmax (node \"Softmax_0\") is not supported"}},
		{name: "corrupt-file", file: append([]byte("\x08\x07garbage"), recsFile[100:400]...),
			refused: map[string]string{"onnxruntime": "not a valid ONNX model", "go": "not a valid ONNX model"}},
	}
	for _, m := range models {
		for _, rtName := range []string{"onnxruntime", "go"} {
			t.Run(m.name+"/"+rtName, func(t *testing.T) {
				s, err := runtimes[rtName].Load(context.Background(), m.file)
				if want, refused := m.refused[rtName]; refused {
					if err == nil {
						s.Close()
						t.Fatalf("loaded; want refusal containing %q", want)
					}
					if inference.ErrorCode(err) != inference.CodeLoadFailed || !strings.Contains(err.Error(), want) {
						t.Fatalf("error %q (code %s); want load_failed containing %q", err, inference.ErrorCode(err), want)
					}
					return
				}
				if err != nil {
					t.Fatalf("load: %v", err)
				}
				defer s.Close()
				m.check(t, s)
			})
		}
	}
}

func checkRecs(t *testing.T, s inference.Session, ref *training.RecsModel) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := int64(len(ref.Items))
	for _, batch := range []int64{1, 64} {
		for _, width := range []int64{1, 5} {
			in := inference.Tensor{Name: features.RecsInput, DataType: inference.INT64, Shape: []int64{batch, width}}
			for range batch * width {
				in.Int64 = append(in.Int64, rng.Int64N(n+1)-1) // -1 pads
			}
			out, err := s.Run(context.Background(), []inference.Tensor{in})
			if err != nil {
				t.Fatalf("batch %d width %d: %v", batch, width, err)
			}
			k := out[0].Shape[1]
			for r := range batch {
				want := ref.Scores(in.Int64[r*width : (r+1)*width])
				best := 0.0
				for _, v := range want {
					best = math.Max(best, math.Abs(v))
				}
				tol := 1e-4*best + 1e-6
				prev := math.Inf(1)
				for c := range k {
					got := float64(out[0].Float32[r*k+c])
					idx := out[1].Int64[r*k+c]
					// The index must carry the score reported for it, scores must come
					// best first, and nothing left out may beat the last one kept.
					if math.Abs(want[idx]-got) > tol || got > prev+tol {
						t.Fatalf("row %d rank %d: index %d score %g, reference %g (previous %g)", r, c, idx, got, want[idx], prev)
					}
					prev = got
				}
				kept := map[int64]bool{}
				for c := range k {
					kept[out[1].Int64[r*k+c]] = true
				}
				for j, v := range want {
					if !kept[int64(j)] && v > prev+tol {
						t.Fatalf("row %d: product %d (score %g) beats the last kept score %g", r, j, v, prev)
					}
				}
			}
		}
	}
}

func checkFraud(t *testing.T, s inference.Session, ref *features.FraudModel) {
	rng := rand.New(rand.NewPCG(3, 4))
	f := int64(len(ref.W))
	for _, batch := range []int64{1, 64} {
		in := inference.Tensor{Name: features.FraudInput, DataType: inference.FP32, Shape: []int64{batch, f}}
		for range batch * f {
			in.Float32 = append(in.Float32, float32(rng.NormFloat64()*2+1))
		}
		out, err := s.Run(context.Background(), []inference.Tensor{in})
		if err != nil {
			t.Fatal(err)
		}
		if len(out[0].Float32) != int(batch) {
			t.Fatalf("%d outputs for batch %d", len(out[0].Float32), batch)
		}
		for r := range batch {
			want := ref.Score(in.Float32[r*f : (r+1)*f])
			if got := float64(out[0].Float32[r]); math.Abs(got-want) > 1e-5 {
				t.Fatalf("row %d: %g, reference %g", r, got, want)
			}
		}
	}
}

func checkSoftmax(t *testing.T, s inference.Session) {
	in := inference.Tensor{Name: "x", DataType: inference.FP32, Shape: []int64{2, 4}, Float32: []float32{1, 2, 3, 4, -1, 0, 0, 5}}
	out, err := s.Run(context.Background(), []inference.Tensor{in})
	if err != nil {
		t.Fatal(err)
	}
	for r := range 2 {
		sum := 0.0
		for c := range 4 {
			sum += math.Exp(float64(in.Float32[r*4+c]))
		}
		for c := range 4 {
			want := math.Exp(float64(in.Float32[r*4+c])) / sum
			if got := float64(out[0].Float32[r*4+c]); math.Abs(got-want) > 1e-6 {
				t.Fatalf("[%d,%d] = %g, want %g", r, c, got, want)
			}
		}
	}
}
