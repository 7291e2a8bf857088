// Package onnx writes and reads the ONNX files kommerce trains and serves, on top of
// the generated protobuf subset in onnxpb. It knows only what our exporters and the
// pure-Go runtime need: float32 and int64 tensors, nodes with int/ints/float
// attributes, graph inputs and outputs with symbolic dimensions, and metadata.
package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/kommerce/kommerce/inference/onnx/onnxpb"
)

// Element types used by kommerce models (the values of onnx.TensorProto.DataType).
const (
	Float = int32(onnxpb.TensorProto_FLOAT)
	Int64 = int32(onnxpb.TensorProto_INT64)
)

// Opset is the default-domain operator set version our exporters target: 13 is old
// enough for every runtime we know of and has every operator our graphs use.
const Opset = 13

// IRVersion is the ONNX IR version matching opset 13.
const IRVersion = 7

// Graph collects the parts of a model under construction.
type Graph struct {
	Name         string
	Doc          string
	Nodes        []*onnxpb.NodeProto
	Initializers []*onnxpb.TensorProto
	Inputs       []*onnxpb.ValueInfoProto
	Outputs      []*onnxpb.ValueInfoProto
	Metadata     map[string]string
}

// Dim is one dimension of a graph input or output: a fixed size, or a name for a size
// known only at run time (Param, e.g. "batch").
type Dim struct {
	Value int64
	Param string
}

// Dims makes fixed dimensions.
func Dims(values ...int64) []Dim {
	d := make([]Dim, len(values))
	for i, v := range values {
		d[i] = Dim{Value: v}
	}
	return d
}

// Input declares a graph input.
func (g *Graph) Input(name string, elem int32, dims ...Dim) {
	g.Inputs = append(g.Inputs, valueInfo(name, elem, dims))
}

// Output declares a graph output.
func (g *Graph) Output(name string, elem int32, dims ...Dim) {
	g.Outputs = append(g.Outputs, valueInfo(name, elem, dims))
}

func valueInfo(name string, elem int32, dims []Dim) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		if d.Param != "" {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
		} else {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.Value}
		}
		shape.Dim = append(shape.Dim, dim)
	}
	return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{
		Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: elem, Shape: shape}},
	}}
}

// FloatTensor adds a float32 initializer; data is row-major.
func (g *Graph) FloatTensor(name string, data []float32, dims ...int64) {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	g.Initializers = append(g.Initializers, &onnxpb.TensorProto{Name: name, DataType: Float, Dims: dims, RawData: raw})
}

// Int64Tensor adds an int64 initializer.
func (g *Graph) Int64Tensor(name string, data []int64, dims ...int64) {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v)) //nolint:gosec // two's complement bits, not a value conversion
	}
	g.Initializers = append(g.Initializers, &onnxpb.TensorProto{Name: name, DataType: Int64, Dims: dims, RawData: raw})
}

// Attr is a node attribute.
type Attr = *onnxpb.AttributeProto

// IntAttr is an INT attribute.
func IntAttr(name string, v int64) Attr {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

// IntsAttr is an INTS attribute.
func IntsAttr(name string, v ...int64) Attr {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INTS, Ints: v}
}

// FloatAttr is a FLOAT attribute.
func FloatAttr(name string, v float32) Attr {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOAT, F: v}
}

// Node appends an operator of the default domain.
func (g *Graph) Node(op string, inputs, outputs []string, attrs ...Attr) {
	g.Nodes = append(g.Nodes, &onnxpb.NodeProto{
		Name: fmt.Sprintf("%s_%d", op, len(g.Nodes)), OpType: op, Input: inputs, Output: outputs, Attribute: attrs,
	})
}

// Marshal encodes the graph as an ONNX model file.
func (g *Graph) Marshal(producerVersion string, modelVersion int64) ([]byte, error) {
	m := &onnxpb.ModelProto{
		IrVersion:       IRVersion,
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: "", Version: Opset}},
		ProducerName:    "kommerce",
		ProducerVersion: producerVersion,
		ModelVersion:    modelVersion,
		DocString:       g.Doc,
		Graph: &onnxpb.GraphProto{
			Name: g.Name, Node: g.Nodes, Initializer: g.Initializers, Input: g.Inputs, Output: g.Outputs,
		},
	}
	keys := make([]string, 0, len(g.Metadata))
	for k := range g.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		m.MetadataProps = append(m.MetadataProps, &onnxpb.StringStringEntryProto{Key: k, Value: g.Metadata[k]})
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// Decode parses an ONNX file. It fails on bytes that are not a protobuf model or on a
// model without a graph.
func Decode(b []byte) (*onnxpb.ModelProto, error) {
	if len(b) == 0 {
		return nil, errors.New("empty model file")
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("not an ONNX model: %w", err)
	}
	if m.GetGraph() == nil || len(m.GetGraph().GetNode()) == 0 {
		return nil, errors.New("not an ONNX model: no graph")
	}
	if m.GetIrVersion() <= 0 {
		return nil, errors.New("not an ONNX model: no IR version")
	}
	return m, nil
}

// Metadata returns the model's metadata_props as a map.
func Metadata(m *onnxpb.ModelProto) map[string]string {
	md := make(map[string]string, len(m.GetMetadataProps()))
	for _, p := range m.GetMetadataProps() {
		md[p.GetKey()] = p.GetValue()
	}
	return md
}

// OpsetVersion returns the version of the default-domain operator set, 0 if absent.
func OpsetVersion(m *onnxpb.ModelProto) int64 {
	for _, o := range m.GetOpsetImport() {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			return o.GetVersion()
		}
	}
	return 0
}

// Floats returns the values of a float32 tensor, from raw_data or float_data.
func Floats(t *onnxpb.TensorProto) ([]float32, error) {
	if t.GetDataType() != Float {
		return nil, fmt.Errorf("tensor %q has element type %d, want float", t.GetName(), t.GetDataType())
	}
	n := Size(t.GetDims())
	if raw := t.GetRawData(); raw != nil {
		if int64(len(raw)) != 4*n {
			return nil, fmt.Errorf("tensor %q has %d bytes for %d floats", t.GetName(), len(raw), n)
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	}
	if int64(len(t.GetFloatData())) != n {
		return nil, fmt.Errorf("tensor %q has %d floats, dims say %d", t.GetName(), len(t.GetFloatData()), n)
	}
	return t.GetFloatData(), nil
}

// Int64s returns the values of an int64 tensor, from raw_data or int64_data.
func Int64s(t *onnxpb.TensorProto) ([]int64, error) {
	if t.GetDataType() != Int64 {
		return nil, fmt.Errorf("tensor %q has element type %d, want int64", t.GetName(), t.GetDataType())
	}
	n := Size(t.GetDims())
	if raw := t.GetRawData(); raw != nil {
		if int64(len(raw)) != 8*n {
			return nil, fmt.Errorf("tensor %q has %d bytes for %d int64s", t.GetName(), len(raw), n)
		}
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:])) //nolint:gosec // two's complement bits, not a value conversion
		}
		return out, nil
	}
	if int64(len(t.GetInt64Data())) != n {
		return nil, fmt.Errorf("tensor %q has %d int64s, dims say %d", t.GetName(), len(t.GetInt64Data()), n)
	}
	return t.GetInt64Data(), nil
}

// Size is the number of elements of a shape (1 for a scalar).
func Size(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}

// Initializer finds an initializer by name.
func Initializer(g *onnxpb.GraphProto, name string) *onnxpb.TensorProto {
	for _, t := range g.GetInitializer() {
		if t.GetName() == name {
			return t
		}
	}
	return nil
}
