package onnx_test

import (
	"strings"
	"testing"

	"github.com/kommerce/kommerce/inference/onnx"
	"github.com/kommerce/kommerce/inference/onnx/onnxpb"
)

func TestRoundTrip(t *testing.T) {
	g := &onnx.Graph{Name: "rt", Metadata: map[string]string{"b": "2", "a": "1"}}
	g.Input("x", onnx.Float, onnx.Dim{Param: "batch"}, onnx.Dim{Value: 2})
	g.Output("y", onnx.Float, onnx.Dim{Param: "batch"}, onnx.Dim{Value: 2})
	g.FloatTensor("f", []float32{1.5, -2, 0, 3.25}, 2, 2)
	g.Int64Tensor("i", []int64{-1, 1 << 40}, 2)
	g.Node("Identity", []string{"x"}, []string{"y"})
	b, err := g.Marshal("v", 7)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := g.Marshal("v", 7)
	if string(again) != string(b) {
		t.Fatal("marshalling is not deterministic")
	}
	m, err := onnx.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if onnx.OpsetVersion(m) != onnx.Opset || m.GetModelVersion() != 7 || onnx.Metadata(m)["a"] != "1" || m.GetMetadataProps()[0].GetKey() != "a" {
		t.Fatalf("model header or metadata lost: %v", m)
	}
	f, err := onnx.Floats(onnx.Initializer(m.GetGraph(), "f"))
	if err != nil || len(f) != 4 || f[1] != -2 || f[3] != 3.25 {
		t.Fatalf("floats %v %v", f, err)
	}
	i, err := onnx.Int64s(onnx.Initializer(m.GetGraph(), "i"))
	if err != nil || i[0] != -1 || i[1] != 1<<40 {
		t.Fatalf("int64s %v %v", i, err)
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"empty file", func() error { _, err := onnx.Decode(nil); return err }, "empty model file"},
		{"garbage", func() error { _, err := onnx.Decode([]byte("\xff\xff\xff")); return err }, "not an ONNX model"},
		{"no graph", func() error { _, err := onnx.Decode([]byte{0x08, 0x07}); return err }, "no graph"},
		{"float tensor with short raw data", func() error {
			_, err := onnx.Floats(&onnxpb.TensorProto{Name: "t", DataType: onnx.Float, Dims: []int64{2}, RawData: []byte{0, 0, 0, 0}})
			return err
		}, "4 bytes for 2 floats"},
		{"float_data count mismatch", func() error {
			_, err := onnx.Floats(&onnxpb.TensorProto{Name: "t", DataType: onnx.Float, Dims: []int64{3}, FloatData: []float32{1}})
			return err
		}, "1 floats, dims say 3"},
		{"wrong element type", func() error {
			_, err := onnx.Int64s(&onnxpb.TensorProto{Name: "t", DataType: onnx.Float, Dims: []int64{1}})
			return err
		}, "want int64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want %q", err, tt.want)
			}
		})
	}
	if v, err := onnx.Floats(&onnxpb.TensorProto{DataType: onnx.Float, Dims: []int64{2}, FloatData: []float32{1, 2}}); err != nil || v[1] != 2 {
		t.Fatalf("float_data tensors must read too: %v %v", v, err)
	}
}
