package inference

import (
	"fmt"
	"math"
	"strings"
)

// DataType is an element type, named as the Open Inference Protocol names them.
type DataType string

// The element types kommerce models use. Other OIP types are refused with a clear
// error rather than converted silently.
const (
	FP32  DataType = "FP32"
	INT64 DataType = "INT64"
)

// Tensor is a dense row-major tensor. Exactly one of Float32 and Int64 holds data,
// according to DataType.
type Tensor struct {
	Name     string
	DataType DataType
	Shape    []int64
	Float32  []float32
	Int64    []int64
}

// Len is the number of elements the data holds.
func (t *Tensor) Len() int {
	if t.DataType == INT64 {
		return len(t.Int64)
	}
	return len(t.Float32)
}

// TensorSpec describes one graph input or output. A dimension of -1 is known only at
// run time (the batch, a history length).
type TensorSpec struct {
	Name     string
	DataType DataType
	Shape    []int64
	// Min and Max bound the values of an INT64 input (indices into an embedding
	// table), from the model's metadata; both zero means unbounded.
	Min, Max int64
}

// Signature is a model's inputs and outputs.
type Signature struct {
	Inputs  []TensorSpec
	Outputs []TensorSpec
}

// Limits bound the work one request may ask for.
type Limits struct {
	// MaxBatch bounds the first dimension of every input.
	MaxBatch int64
	// MaxElements bounds the elements of one input tensor.
	MaxElements int64
}

// Validate checks inputs against the signature and the limits and returns them in
// signature order. Every rejection is CodeInvalid or CodeTooLarge with a message
// naming the input and what is wrong, so that a runtime only ever sees well-formed
// tensors.
func (s Signature) Validate(inputs []Tensor, lim Limits) ([]Tensor, error) {
	if inOrder(s.Inputs, inputs) {
		// The usual request: the inputs, each once, in signature order.
		for i := range inputs {
			if err := s.Inputs[i].check(&inputs[i], lim); err != nil {
				return nil, err
			}
		}
		return inputs, nil
	}
	byName := make(map[string]int, len(inputs))
	for i, in := range inputs {
		if _, dup := byName[in.Name]; dup {
			return nil, Errorf(CodeInvalid, "input %q is given twice", in.Name)
		}
		byName[in.Name] = i
	}
	ordered := make([]Tensor, len(s.Inputs))
	var missing []string
	for i, spec := range s.Inputs {
		j, ok := byName[spec.Name]
		if !ok {
			missing = append(missing, spec.Name)
			continue
		}
		delete(byName, spec.Name)
		if err := spec.check(&inputs[j], lim); err != nil {
			return nil, err
		}
		ordered[i] = inputs[j]
	}
	if len(missing) > 0 {
		return nil, Errorf(CodeInvalid, "missing input(s) %s; the model takes %s", quoteAll(missing), s.inputNames())
	}
	for name := range byName {
		return nil, Errorf(CodeInvalid, "unexpected input %q; the model takes %s", name, s.inputNames())
	}
	return ordered, nil
}

// inOrder reports whether inputs name exactly the specs, in their order.
func inOrder(specs []TensorSpec, inputs []Tensor) bool {
	if len(inputs) != len(specs) {
		return false
	}
	for i := range specs {
		if inputs[i].Name != specs[i].Name {
			return false
		}
	}
	return true
}

func (spec TensorSpec) check(t *Tensor, lim Limits) error {
	if t.DataType != spec.DataType {
		return Errorf(CodeInvalid, "input %q has datatype %s, the model wants %s", t.Name, t.DataType, spec.DataType)
	}
	if len(t.Shape) != len(spec.Shape) {
		return Errorf(CodeInvalid, "input %q has shape %v (rank %d), the model wants %s (rank %d)", t.Name, t.Shape, len(t.Shape), shapeString(spec.Shape), len(spec.Shape))
	}
	n := int64(1)
	for i, d := range t.Shape {
		if d < 1 {
			return Errorf(CodeInvalid, "input %q has dimension %d = %d; every dimension must be at least 1", t.Name, i, d)
		}
		if spec.Shape[i] >= 0 && d != spec.Shape[i] {
			return Errorf(CodeInvalid, "input %q has shape %v, the model wants %s", t.Name, t.Shape, shapeString(spec.Shape))
		}
		if n > math.MaxInt64/d {
			return Errorf(CodeTooLarge, "input %q has too many elements", t.Name)
		}
		n *= d
	}
	if len(t.Shape) > 0 && lim.MaxBatch > 0 && t.Shape[0] > lim.MaxBatch {
		return Errorf(CodeTooLarge, "input %q has batch size %d; the limit is %d", t.Name, t.Shape[0], lim.MaxBatch)
	}
	if lim.MaxElements > 0 && n > lim.MaxElements {
		return Errorf(CodeTooLarge, "input %q has %d elements; the limit is %d", t.Name, n, lim.MaxElements)
	}
	if int64(t.Len()) != n {
		return Errorf(CodeInvalid, "input %q has %d values, its shape %v needs %d", t.Name, t.Len(), t.Shape, n)
	}
	switch t.DataType {
	case FP32:
		for i, v := range t.Float32 {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return Errorf(CodeInvalid, "input %q has a non-finite value at element %d", t.Name, i)
			}
		}
	case INT64:
		if spec.Min != 0 || spec.Max != 0 {
			for i, v := range t.Int64 {
				if v < spec.Min || v > spec.Max {
					return Errorf(CodeInvalid, "input %q has value %d at element %d; accepted values are %d to %d", t.Name, v, i, spec.Min, spec.Max)
				}
			}
		}
	}
	return nil
}

func (s Signature) inputNames() string {
	names := make([]string, len(s.Inputs))
	for i, in := range s.Inputs {
		names[i] = in.Name
	}
	return quoteAll(names)
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

func shapeString(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		if d < 0 {
			parts[i] = "-1"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}
