// Package gort is a small pure-Go ONNX interpreter: the no-cgo fallback runtime. It
// runs only the operators kommerce's exporters write (listed in Supported) with the
// attribute values they use, and refuses any other graph at load with an error that
// names the operator, so it never runs a graph it would compute wrongly. Numbers are
// float32 like onnxruntime's; matrix products accumulate in float64.
package gort

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/onnx"
	"github.com/kommerce/kommerce/inference/onnx/onnxpb"
)

// Name is this runtime's name in model configs.
const Name = "go"

// Opset range whose semantics of the supported operators this interpreter follows
// (ReduceSum takes its axes as an input from 13 on).
const (
	MinOpset = 13
	MaxOpset = 21
)

// Supported lists the operators gort runs.
var Supported = []string{"Add", "Div", "Gather", "Gemm", "Identity", "MatMul", "Mul", "ReduceSum", "Sigmoid", "Sub", "TopK"}

// Runtime is the pure-Go runtime.
type Runtime struct{}

// New returns the runtime.
func New() *Runtime { return &Runtime{} }

// Name implements inference.Runtime.
func (*Runtime) Name() string { return Name }

type tensor struct {
	shape []int64
	f     []float32 // float data, or
	i     []int64   // int64 data
	isInt bool
}

type node struct {
	op      string
	name    string
	in, out []string
	attrs   map[string]*onnxpb.AttributeProto
}

type session struct {
	sig    inference.Signature
	consts map[string]*tensor
	nodes  []node
}

// Load implements inference.Runtime.
func (*Runtime) Load(ctx context.Context, model []byte) (inference.Session, error) {
	m, err := onnx.Decode(model)
	if err != nil {
		return nil, &inference.Error{Code: inference.CodeLoadFailed, Message: "the file is not a valid ONNX model", Err: err}
	}
	s, err := compile(m)
	if err != nil {
		return nil, &inference.Error{Code: inference.CodeLoadFailed, Message: "the go runtime cannot run this model: " + err.Error()}
	}
	if _, err := s.Run(ctx, inference.WarmUpInputs(s.sig)); err != nil {
		return nil, &inference.Error{Code: inference.CodeLoadFailed, Message: "the model failed its warm-up run", Err: err}
	}
	return s, nil
}

func compile(m *onnxpb.ModelProto) (*session, error) {
	if v := onnx.OpsetVersion(m); v < MinOpset || v > MaxOpset {
		return nil, fmt.Errorf("opset %d is outside the supported %d to %d", v, MinOpset, MaxOpset)
	}
	for _, o := range m.GetOpsetImport() {
		if d := o.GetDomain(); d != "" && d != "ai.onnx" {
			return nil, fmt.Errorf("operator domain %q is not supported", d)
		}
	}
	sig, err := inference.SignatureOf(m)
	if err != nil {
		return nil, err
	}
	g := m.GetGraph()
	s := &session{sig: sig, consts: map[string]*tensor{}}
	for _, t := range g.GetInitializer() {
		ct := &tensor{shape: t.GetDims()}
		switch t.GetDataType() {
		case onnx.Float:
			ct.f, err = onnx.Floats(t)
		case onnx.Int64:
			ct.i, err = onnx.Int64s(t)
			ct.isInt = true
		default:
			err = fmt.Errorf("initializer %q has element type %d; only float and int64 are supported", t.GetName(), t.GetDataType())
		}
		if err != nil {
			return nil, err
		}
		s.consts[t.GetName()] = ct
	}
	known := map[string]bool{}
	for n := range s.consts {
		known[n] = true
	}
	for _, in := range sig.Inputs {
		known[in.Name] = true
	}
	for _, n := range g.GetNode() {
		nd := node{op: n.GetOpType(), name: n.GetName(), in: n.GetInput(), out: n.GetOutput(), attrs: map[string]*onnxpb.AttributeProto{}}
		for _, a := range n.GetAttribute() {
			nd.attrs[a.GetName()] = a
		}
		if n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
			return nil, fmt.Errorf("node %q uses operator domain %q", nd.name, n.GetDomain())
		}
		if !slices.Contains(Supported, nd.op) {
			return nil, fmt.Errorf("operator %s (node %q) is not supported; supported are %s", nd.op, nd.name, strings.Join(Supported, ", "))
		}
		if err := checkAttrs(nd); err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", nd.name, nd.op, err)
		}
		for _, in := range nd.in {
			if in != "" && !known[in] {
				return nil, fmt.Errorf("node %q reads %q before anything produces it (graph not topologically sorted)", nd.name, in)
			}
		}
		for _, o := range nd.out {
			known[o] = true
		}
		s.nodes = append(s.nodes, nd)
	}
	for _, o := range sig.Outputs {
		if !known[o.Name] {
			return nil, fmt.Errorf("output %q is never produced", o.Name)
		}
	}
	return s, nil
}

// checkAttrs refuses attribute values this interpreter does not implement.
func checkAttrs(n node) error {
	ival := func(name string, def int64) int64 {
		if a, ok := n.attrs[name]; ok {
			return a.GetI()
		}
		return def
	}
	fval := func(name string, def float32) float32 {
		if a, ok := n.attrs[name]; ok {
			return a.GetF()
		}
		return def
	}
	want := map[string][2]int{"Add": {2, 1}, "Sub": {2, 1}, "Mul": {2, 1}, "Div": {2, 1}, "Gather": {2, 1}, "Gemm": {3, 1},
		"Identity": {1, 1}, "MatMul": {2, 1}, "ReduceSum": {2, 1}, "Sigmoid": {1, 1}, "TopK": {2, 2}}[n.op]
	if len(n.in) != want[0] || len(n.out) != want[1] {
		return fmt.Errorf("takes %d inputs and %d outputs here, the node has %d and %d", want[0], want[1], len(n.in), len(n.out))
	}
	for name := range n.attrs {
		allowed := map[string][]string{"Gather": {"axis"}, "Gemm": {"alpha", "beta", "transA", "transB"}, "ReduceSum": {"keepdims", "noop_with_empty_axes"}, "TopK": {"axis", "largest", "sorted"}}[n.op]
		if !slices.Contains(allowed, name) {
			return fmt.Errorf("attribute %q is not supported", name)
		}
	}
	switch n.op {
	case "Gather":
		if ival("axis", 0) != 0 {
			return fmt.Errorf("only axis 0 is supported")
		}
	case "Gemm":
		if ival("transA", 0) != 0 || fval("alpha", 1) != 1 || fval("beta", 1) != 1 {
			return fmt.Errorf("only transA=0, alpha=1, beta=1 are supported")
		}
	case "ReduceSum":
		if ival("noop_with_empty_axes", 0) != 0 {
			return fmt.Errorf("noop_with_empty_axes is not supported")
		}
	case "TopK":
		if ival("largest", 1) != 1 || ival("sorted", 1) != 1 || ival("axis", -1) != -1 {
			return fmt.Errorf("only axis=-1, largest=1, sorted=1 are supported")
		}
	}
	return nil
}

func (s *session) Signature() inference.Signature { return s.sig }

func (s *session) Close() error { return nil }

// Run implements inference.Session.
func (s *session) Run(_ context.Context, inputs []inference.Tensor) ([]inference.Tensor, error) {
	vals := make(map[string]*tensor, len(s.consts)+len(s.nodes)+len(inputs))
	for k, v := range s.consts {
		vals[k] = v
	}
	for _, in := range inputs {
		t := &tensor{shape: in.Shape}
		if in.DataType == inference.INT64 {
			t.i, t.isInt = in.Int64, true
		} else {
			t.f = in.Float32
		}
		vals[in.Name] = t
	}
	for _, n := range s.nodes {
		args := make([]*tensor, len(n.in))
		for i, name := range n.in {
			args[i] = vals[name]
		}
		outs, err := exec(n, args)
		if err != nil {
			return nil, &inference.Error{Code: inference.CodeInvalid, Message: fmt.Sprintf("node %q (%s): %v", n.name, n.op, err)}
		}
		for i, o := range n.out {
			vals[o] = outs[i]
		}
	}
	res := make([]inference.Tensor, len(s.sig.Outputs))
	for i, spec := range s.sig.Outputs {
		t := vals[spec.Name]
		out := inference.Tensor{Name: spec.Name, Shape: slices.Clone(t.shape)}
		if t.isInt {
			out.DataType, out.Int64 = inference.INT64, slices.Clone(t.i)
		} else {
			out.DataType, out.Float32 = inference.FP32, slices.Clone(t.f)
		}
		if out.DataType != spec.DataType {
			return nil, fmt.Errorf("output %q came out as %s, the graph declares %s", spec.Name, out.DataType, spec.DataType)
		}
		res[i] = out
	}
	return res, nil
}

func exec(n node, a []*tensor) ([]*tensor, error) {
	for i, t := range a {
		if t == nil {
			return nil, fmt.Errorf("input %d is missing", i)
		}
	}
	switch n.op {
	case "Identity":
		return []*tensor{a[0]}, nil
	case "Add", "Sub", "Mul", "Div":
		t, err := binary(n.op, a[0], a[1])
		return []*tensor{t}, err
	case "Sigmoid":
		if a[0].isInt {
			return nil, fmt.Errorf("needs a float input")
		}
		out := make([]float32, len(a[0].f))
		for i, v := range a[0].f {
			out[i] = float32(1 / (1 + math.Exp(-float64(v))))
		}
		return []*tensor{{shape: a[0].shape, f: out}}, nil
	case "Gather":
		t, err := gather(a[0], a[1])
		return []*tensor{t}, err
	case "MatMul":
		t, err := matmul(a[0], a[1], false)
		return []*tensor{t}, err
	case "Gemm":
		transB := false
		if at, ok := n.attrs["transB"]; ok {
			transB = at.GetI() != 0
		}
		t, err := matmul(a[0], a[1], transB)
		if err != nil {
			return nil, err
		}
		t, err = binary("Add", t, a[2])
		return []*tensor{t}, err
	case "ReduceSum":
		keep := true
		if at, ok := n.attrs["keepdims"]; ok {
			keep = at.GetI() != 0
		}
		t, err := reduceSum(a[0], a[1], keep)
		return []*tensor{t}, err
	case "TopK":
		return topK(a[0], a[1])
	}
	return nil, fmt.Errorf("operator %s is not supported", n.op)
}

// binary applies an element-wise operator where b's shape equals a's or is a
// suffix of it (including a single element), the broadcasting our graphs use.
func binary(op string, a, b *tensor) (*tensor, error) {
	if a.isInt || b.isInt {
		return nil, fmt.Errorf("needs float inputs")
	}
	nb := len(b.f)
	if nb == 0 || len(a.f)%nb != 0 || (nb != 1 && !isSuffix(b.shape, a.shape)) {
		return nil, fmt.Errorf("cannot broadcast shape %v to %v", b.shape, a.shape)
	}
	out := make([]float32, len(a.f))
	for i, x := range a.f {
		y := b.f[i%nb]
		switch op {
		case "Add":
			out[i] = x + y
		case "Sub":
			out[i] = x - y
		case "Mul":
			out[i] = x * y
		case "Div":
			out[i] = x / y
		}
	}
	return &tensor{shape: a.shape, f: out}, nil
}

func isSuffix(s, of []int64) bool {
	for len(s) > 0 && s[0] == 1 && len(s) > len(of) {
		s = s[1:]
	}
	return len(s) <= len(of) && slices.Equal(s, of[len(of)-len(s):])
}

// gather takes rows of data (axis 0); negative indices count from the end.
func gather(data, idx *tensor) (*tensor, error) {
	if data.isInt || !idx.isInt || len(data.shape) < 1 {
		return nil, fmt.Errorf("needs float data and int64 indices")
	}
	rows := data.shape[0]
	width := onnx.Size(data.shape[1:])
	out := make([]float32, 0, int64(len(idx.i))*width)
	for _, ix := range idx.i {
		if ix < -rows || ix >= rows {
			return nil, fmt.Errorf("index %d is out of range [%d, %d]", ix, -rows, rows-1)
		}
		if ix < 0 {
			ix += rows
		}
		out = append(out, data.f[ix*width:(ix+1)*width]...)
	}
	return &tensor{shape: append(slices.Clone(idx.shape), data.shape[1:]...), f: out}, nil
}

// matmul multiplies [N,K] by [K,M] (or by [M,K] transposed).
func matmul(a, b *tensor, transB bool) (*tensor, error) {
	if a.isInt || b.isInt || len(a.shape) != 2 || len(b.shape) != 2 {
		return nil, fmt.Errorf("needs two float matrices, got shapes %v and %v", a.shape, b.shape)
	}
	n, k := a.shape[0], a.shape[1]
	kb, m := b.shape[0], b.shape[1]
	if transB {
		kb, m = m, kb
	}
	if k != kb {
		return nil, fmt.Errorf("shapes %v and %v do not multiply", a.shape, b.shape)
	}
	out := make([]float32, n*m)
	row := make([]float64, m)
	for i := int64(0); i < n; i++ {
		clear(row)
		for p := int64(0); p < k; p++ {
			x := float64(a.f[i*k+p])
			if x == 0 {
				continue
			}
			if transB {
				for j := int64(0); j < m; j++ {
					row[j] += x * float64(b.f[j*k+p])
				}
			} else {
				bp := b.f[p*m : (p+1)*m]
				for j, y := range bp {
					row[j] += x * float64(y)
				}
			}
		}
		for j, v := range row {
			out[i*m+int64(j)] = float32(v)
		}
	}
	return &tensor{shape: []int64{n, m}, f: out}, nil
}

// reduceSum sums over the given axes.
func reduceSum(x, axes *tensor, keep bool) (*tensor, error) {
	if x.isInt || !axes.isInt {
		return nil, fmt.Errorf("needs float data and int64 axes")
	}
	rank := int64(len(x.shape))
	red := make([]bool, rank)
	for _, ax := range axes.i {
		if ax < -rank || ax >= rank {
			return nil, fmt.Errorf("axis %d is out of range for rank %d", ax, rank)
		}
		if ax < 0 {
			ax += rank
		}
		red[ax] = true
	}
	if len(axes.i) == 0 {
		for i := range red {
			red[i] = true
		}
	}
	var outShape []int64
	for i, d := range x.shape {
		switch {
		case !red[i]:
			outShape = append(outShape, d)
		case keep:
			outShape = append(outShape, 1)
		}
	}
	acc := make([]float64, onnx.Size(outShape))
	// Walk every element, computing its output position from its coordinates.
	coord := make([]int64, rank)
	for _, v := range x.f {
		pos := int64(0)
		for i := int64(0); i < rank; i++ {
			if !red[i] {
				pos = pos*x.shape[i] + coord[i]
			}
		}
		acc[pos] += float64(v)
		for i := rank - 1; i >= 0; i-- {
			coord[i]++
			if coord[i] < x.shape[i] {
				break
			}
			coord[i] = 0
		}
	}
	out := make([]float32, len(acc))
	for i, v := range acc {
		out[i] = float32(v)
	}
	return &tensor{shape: outShape, f: out}, nil
}

// topK returns the k largest values of each row (last axis) and their indices,
// largest first; ties go to the lower index, as onnxruntime does.
func topK(x, kt *tensor) ([]*tensor, error) {
	if x.isInt || !kt.isInt || len(kt.i) != 1 || len(x.shape) < 1 {
		return nil, fmt.Errorf("needs float data and a one-element int64 k")
	}
	last := x.shape[len(x.shape)-1]
	k := kt.i[0]
	if k < 0 || k > last {
		return nil, fmt.Errorf("k = %d is outside [0, %d]", k, last)
	}
	rows := int64(len(x.f)) / max(last, 1)
	vals := make([]float32, 0, rows*k)
	idxs := make([]int64, 0, rows*k)
	order := make([]int64, last)
	for r := int64(0); r < rows; r++ {
		row := x.f[r*last : (r+1)*last]
		for i := range order {
			order[i] = int64(i)
		}
		sort.SliceStable(order, func(i, j int) bool { return row[order[i]] > row[order[j]] })
		for _, ix := range order[:k] {
			vals = append(vals, row[ix])
			idxs = append(idxs, ix)
		}
	}
	shape := append(slices.Clone(x.shape[:len(x.shape)-1]), k)
	return []*tensor{{shape: shape, f: vals}, {shape: slices.Clone(shape), i: idxs, isInt: true}}, nil
}
