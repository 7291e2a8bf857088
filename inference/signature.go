package inference

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kommerce/kommerce/inference/onnx"
	"github.com/kommerce/kommerce/inference/onnx/onnxpb"
)

// MetaInputRange is the metadata key prefix our exporters use to bound the values of
// an INT64 input: "kommerce.input.<name>.range" = "<min>:<max>". The server refuses
// values outside it with a clear error instead of letting a runtime index out of an
// embedding table.
const MetaInputRange = "kommerce.input."

// SignatureOf reads a model's inputs and outputs from its graph. Graph inputs that
// are also initializers (allowed by older IR versions) are not inputs of the model.
// Only FP32 and INT64 tensors are accepted.
func SignatureOf(m *onnxpb.ModelProto) (Signature, error) {
	g := m.GetGraph()
	init := map[string]bool{}
	for _, t := range g.GetInitializer() {
		init[t.GetName()] = true
	}
	md := onnx.Metadata(m)
	var sig Signature
	for _, vi := range g.GetInput() {
		if init[vi.GetName()] {
			continue
		}
		spec, err := specOf(vi)
		if err != nil {
			return Signature{}, err
		}
		if r, ok := md[MetaInputRange+spec.Name+".range"]; ok {
			lo, hi, ok := strings.Cut(r, ":")
			minV, err1 := strconv.ParseInt(lo, 10, 64)
			maxV, err2 := strconv.ParseInt(hi, 10, 64)
			if !ok || err1 != nil || err2 != nil || minV > maxV {
				return Signature{}, fmt.Errorf("metadata range %q of input %q is not <min>:<max>", r, spec.Name)
			}
			spec.Min, spec.Max = minV, maxV
		}
		sig.Inputs = append(sig.Inputs, spec)
	}
	for _, vi := range g.GetOutput() {
		spec, err := specOf(vi)
		if err != nil {
			return Signature{}, err
		}
		sig.Outputs = append(sig.Outputs, spec)
	}
	if len(sig.Inputs) == 0 || len(sig.Outputs) == 0 {
		return Signature{}, fmt.Errorf("the graph declares %d inputs and %d outputs; both must be at least 1", len(sig.Inputs), len(sig.Outputs))
	}
	return sig, nil
}

func specOf(vi *onnxpb.ValueInfoProto) (TensorSpec, error) {
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return TensorSpec{}, fmt.Errorf("%q is not a tensor", vi.GetName())
	}
	spec := TensorSpec{Name: vi.GetName()}
	switch tt.GetElemType() {
	case onnx.Float:
		spec.DataType = FP32
	case onnx.Int64:
		spec.DataType = INT64
	default:
		return TensorSpec{}, fmt.Errorf("%q has ONNX element type %d; only float (1) and int64 (7) are served", vi.GetName(), tt.GetElemType())
	}
	if tt.GetShape() == nil {
		return TensorSpec{}, fmt.Errorf("%q has no shape", vi.GetName())
	}
	for _, d := range tt.GetShape().GetDim() {
		if v, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && v.DimValue > 0 {
			spec.Shape = append(spec.Shape, v.DimValue)
		} else {
			spec.Shape = append(spec.Shape, -1)
		}
	}
	return spec, nil
}

// WarmUpInputs returns the smallest valid inputs of a signature (batch 1, every
// run-time dimension 1, zeros or the lowest accepted index), which runtimes run once
// at load so that a graph that cannot execute is refused before it takes traffic.
func WarmUpInputs(sig Signature) []Tensor {
	in := make([]Tensor, len(sig.Inputs))
	for i, spec := range sig.Inputs {
		shape := make([]int64, len(spec.Shape))
		n := int64(1)
		for j, d := range spec.Shape {
			if d < 0 {
				d = 1
			}
			shape[j] = d
			n *= d
		}
		t := Tensor{Name: spec.Name, DataType: spec.DataType, Shape: shape}
		if spec.DataType == INT64 {
			t.Int64 = make([]int64, n)
			for k := range t.Int64 {
				t.Int64[k] = max(spec.Min, min(0, spec.Max))
			}
		} else {
			t.Float32 = make([]float32, n)
		}
		in[i] = t
	}
	return in
}

// Match checks the signature against the tensors a model was published with (empty
// lists check nothing). Every input and every output must be declared with the same
// name, datatype and rank, and each fixed dimension expected must be the graph's;
// extra or missing tensors are refused too, since a caller following the published
// signature would fail on every request. The error is CodeLoadFailed and names each
// difference.
func (s Signature) Match(inputs, outputs []ExpectedTensor) error {
	var diffs []string
	if len(inputs) > 0 {
		diffs = append(diffs, matchTensors("input", s.Inputs, inputs)...)
	}
	if len(outputs) > 0 {
		diffs = append(diffs, matchTensors("output", s.Outputs, outputs)...)
	}
	if len(diffs) == 0 {
		return nil
	}
	return Errorf(CodeLoadFailed, "the model's tensors do not match its published signature: %s", strings.Join(diffs, "; "))
}

func matchTensors(kind string, have []TensorSpec, want []ExpectedTensor) []string {
	byName := make(map[string]TensorSpec, len(have))
	for _, h := range have {
		byName[h.Name] = h
	}
	var diffs []string
	seen := map[string]bool{}
	for _, w := range want {
		seen[w.Name] = true
		h, ok := byName[w.Name]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s %q is published but the graph has no such %s (it has %s)", kind, w.Name, kind, specNames(have)))
		case string(h.DataType) != w.DataType:
			diffs = append(diffs, fmt.Sprintf("%s %q is %s in the graph, published as %s", kind, w.Name, h.DataType, w.DataType))
		case !shapeFits(h.Shape, w.Shape):
			diffs = append(diffs, fmt.Sprintf("%s %q has shape %s in the graph, published as %s", kind, w.Name, shapeString(h.Shape), shapeString(w.Shape)))
		}
	}
	for _, h := range have {
		if !seen[h.Name] {
			diffs = append(diffs, fmt.Sprintf("the graph's %s %q is not published", kind, h.Name))
		}
	}
	return diffs
}

// shapeFits reports whether a graph shape satisfies a published one: same rank, and
// every published fixed dimension equal to the graph's.
func shapeFits(graph, published []int64) bool {
	if len(graph) != len(published) {
		return false
	}
	for i, p := range published {
		if p >= 0 && graph[i] != p {
			return false
		}
	}
	return true
}

func specNames(specs []TensorSpec) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return quoteAll(names)
}
