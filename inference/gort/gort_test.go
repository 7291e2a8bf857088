package gort_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/gort"
	"github.com/kommerce/kommerce/inference/onnx"
)

// graph builds a one-node model over a float input x [batch, 3] and an int64
// table index when needed.
func graph(t *testing.T, opset int64, build func(g *onnx.Graph)) []byte {
	t.Helper()
	g := &onnx.Graph{Name: "t"}
	build(g)
	b, err := g.Marshal("test", 1)
	if err != nil {
		t.Fatal(err)
	}
	if opset != onnx.Opset {
		m, _ := onnx.Decode(b)
		m.OpsetImport[0].Version = opset
		b, _ = protoMarshal(m)
	}
	return b
}

func TestLoadRefusals(t *testing.T) {
	batch := onnx.Dim{Param: "batch"}
	tests := []struct {
		name  string
		opset int64
		build func(g *onnx.Graph)
		want  string
	}{
		{"gather on axis 1", 13, func(g *onnx.Graph) {
			g.Input("i", onnx.Int64, batch)
			g.Output("y", onnx.Float, batch, onnx.Dim{Value: 2})
			g.FloatTensor("tab", []float32{1, 2, 3, 4}, 2, 2)
			g.Node("Gather", []string{"tab", "i"}, []string{"y"}, onnx.IntAttr("axis", 1))
		}, "only axis 0 is supported"},
		{"topk smallest", 13, func(g *onnx.Graph) {
			g.Input("x", onnx.Float, batch, onnx.Dim{Value: 3})
			g.Output("v", onnx.Float, batch, onnx.Dim{Value: 1})
			g.Output("i", onnx.Int64, batch, onnx.Dim{Value: 1})
			g.Int64Tensor("k", []int64{1}, 1)
			g.Node("TopK", []string{"x", "k"}, []string{"v", "i"}, onnx.IntAttr("largest", 0))
		}, "largest=1"},
		{"gemm with alpha", 13, func(g *onnx.Graph) {
			g.Input("x", onnx.Float, batch, onnx.Dim{Value: 2})
			g.Output("y", onnx.Float, batch, onnx.Dim{Value: 1})
			g.FloatTensor("w", []float32{1, 2}, 2, 1)
			g.FloatTensor("b", []float32{0}, 1)
			g.Node("Gemm", []string{"x", "w", "b"}, []string{"y"}, onnx.FloatAttr("alpha", 2))
		}, "alpha=1"},
		{"unknown attribute", 13, func(g *onnx.Graph) {
			g.Input("x", onnx.Float, batch, onnx.Dim{Value: 2})
			g.Output("y", onnx.Float, batch, onnx.Dim{Value: 2})
			g.Node("Sigmoid", []string{"x"}, []string{"y"}, onnx.IntAttr("fast", 1))
		}, `attribute "fast" is not supported`},
		{"old opset", 11, func(g *onnx.Graph) {
			g.Input("x", onnx.Float, batch, onnx.Dim{Value: 2})
			g.Output("y", onnx.Float, batch, onnx.Dim{Value: 2})
			g.Node("Sigmoid", []string{"x"}, []string{"y"})
		}, "opset 11 is outside the supported 13 to 21"},
		{"unsorted graph", 13, func(g *onnx.Graph) {
			g.Input("x", onnx.Float, batch, onnx.Dim{Value: 2})
			g.Output("y", onnx.Float, batch, onnx.Dim{Value: 2})
			g.Node("Sigmoid", []string{"h"}, []string{"y"})
			g.Node("Sigmoid", []string{"x"}, []string{"h"})
		}, "before anything produces it"},
		{"output never produced", 13, func(g *onnx.Graph) {
			g.Input("x", onnx.Float, batch, onnx.Dim{Value: 2})
			g.Output("z", onnx.Float, batch, onnx.Dim{Value: 2})
			g.Node("Sigmoid", []string{"x"}, []string{"y"})
		}, `output "z" is never produced`},
		{"bool input", 13, func(g *onnx.Graph) {
			g.Input("x", 9, batch)
			g.Output("y", onnx.Float, batch)
			g.Node("Identity", []string{"x"}, []string{"y"})
		}, "only float (1) and int64 (7) are served"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gort.New().Load(context.Background(), graph(t, tt.opset, tt.build))
			if err == nil || inference.ErrorCode(err) != inference.CodeLoadFailed || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want load_failed containing %q", err, tt.want)
			}
		})
	}
}

func TestRunErrorsAndNumbers(t *testing.T) {
	b := graph(t, 13, func(g *onnx.Graph) {
		g.Input("i", onnx.Int64, onnx.Dim{Param: "batch"}, onnx.Dim{Param: "n"})
		g.Output("s", onnx.Float, onnx.Dim{Param: "batch"}, onnx.Dim{Value: 2})
		g.FloatTensor("tab", []float32{1, 2, 3, 4, 5, 6}, 3, 2)
		g.Int64Tensor("ax", []int64{1}, 1)
		g.Node("Gather", []string{"tab", "i"}, []string{"e"})
		g.Node("ReduceSum", []string{"e", "ax"}, []string{"s"}, onnx.IntAttr("keepdims", 0))
	})
	s, err := gort.New().Load(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	in := inference.Tensor{Name: "i", DataType: inference.INT64, Shape: []int64{2, 2}, Int64: []int64{0, 2, -1, 1}}
	out, err := s.Run(context.Background(), []inference.Tensor{in})
	if err != nil {
		t.Fatal(err)
	}
	// Row 0: rows 0 and 2 of the table; row 1: row -1 (= 2) and row 1.
	want := []float32{1 + 5, 2 + 6, 5 + 3, 6 + 4}
	for i, v := range want {
		if out[0].Float32[i] != v {
			t.Fatalf("output %v, want %v", out[0].Float32, want)
		}
	}
	in.Int64[0] = 3
	if _, err := s.Run(context.Background(), []inference.Tensor{in}); inference.ErrorCode(err) != inference.CodeInvalid || !strings.Contains(err.Error(), "index 3 is out of range [-3, 2]") {
		t.Fatalf("out-of-range index: %v", err)
	}
}
