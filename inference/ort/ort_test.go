package ort_test

import (
	"context"
	"slices"
	"testing"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/onnx"
	"github.com/kommerce/kommerce/inference/ort/orttest"
)

// TestOutputsOfAnotherBatch runs a graph that declares its output [batch, 2] but
// sums over the batch (one row whatever the batch): the outputs the session
// allocates ahead of the run have the wrong number of rows, and the answer must
// still be onnxruntime's own, run after run.
func TestOutputsOfAnotherBatch(t *testing.T) {
	g := &onnx.Graph{Name: "sum-over-batch"}
	batch := onnx.Dim{Param: "batch"}
	g.Input("x", onnx.Float, batch, onnx.Dim{Value: 2})
	g.Output("y", onnx.Float, batch, onnx.Dim{Value: 2})
	g.Int64Tensor("axes", []int64{0}, 1)
	g.Node("ReduceSum", []string{"x", "axes"}, []string{"y"}, onnx.IntAttr("keepdims", 1))
	file, err := g.Marshal("test", 1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := orttest.Runtime(t).Load(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	in := []inference.Tensor{{Name: "x", DataType: inference.FP32, Shape: []int64{3, 2}, Float32: []float32{1, 2, 3, 4, 5, 6}}}
	for run := range 3 {
		out, err := s.Run(context.Background(), in)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if got := out[0]; !slices.Equal(got.Shape, []int64{1, 2}) || !slices.Equal(got.Float32, []float32{9, 12}) {
			t.Fatalf("run %d: output %v %v, want [1 2] [9 12]", run, got.Shape, got.Float32)
		}
	}
}

// TestOutputsAllocatedAhead checks the usual path, outputs of as many rows as the
// inputs allocated before the run, against rows run one by one, and that a value
// the graph refuses is still a CodeInvalid error.
func TestOutputsAllocatedAhead(t *testing.T) {
	g := &onnx.Graph{Name: "gather"}
	batch := onnx.Dim{Param: "batch"}
	g.Input("i", onnx.Int64, batch, onnx.Dim{Value: 1})
	g.Output("y", onnx.Float, batch, onnx.Dim{Value: 1}, onnx.Dim{Value: 2})
	g.FloatTensor("table", []float32{0, 1, 10, 11, 20, 21}, 3, 2)
	g.Node("Gather", []string{"table", "i"}, []string{"y"}, onnx.IntAttr("axis", 0))
	file, err := g.Marshal("test", 1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := orttest.Runtime(t).Load(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	out, err := s.Run(context.Background(), []inference.Tensor{{Name: "i", DataType: inference.INT64, Shape: []int64{3, 1}, Int64: []int64{2, 0, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0]; !slices.Equal(got.Shape, []int64{3, 1, 2}) || !slices.Equal(got.Float32, []float32{20, 21, 0, 1, 10, 11}) {
		t.Fatalf("output %v %v", got.Shape, got.Float32)
	}
	_, err = s.Run(context.Background(), []inference.Tensor{{Name: "i", DataType: inference.INT64, Shape: []int64{1, 1}, Int64: []int64{7}}})
	if inference.ErrorCode(err) != inference.CodeInvalid {
		t.Fatalf("index 7 of 3: err %v, want CodeInvalid", err)
	}
}
