// Package ort runs ONNX models with onnxruntime through github.com/yalue/onnxruntime_go
// (cgo). The shared library comes from hack/onnxruntime.sh and is named by
// KOMMERCE_ONNXRUNTIME_LIB; onnxruntime_go v1.27.0 needs onnxruntime 1.24 or newer.
//
// One DynamicAdvancedSession per model version, shared by concurrent requests (the
// onnxruntime C API allows concurrent Run calls on one session), with one intra-op
// thread: our models are small, and parallelism comes from concurrent requests.
package ort

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/onnx"
)

// Name is this runtime's name in model configs.
const Name = "onnxruntime"

var (
	initOnce sync.Once
	initLib  string
	initErr  error
)

// Runtime is the onnxruntime runtime. Create it with New.
type Runtime struct {
	threads int
}

// New loads the shared library at libPath (once per process; a second call must
// name the same library) and returns the runtime. threads is the intra-op thread
// count of each session (0 = 1).
func New(libPath string, threads int) (*Runtime, error) {
	if libPath == "" {
		return nil, fmt.Errorf("onnxruntime: no library path: run hack/onnxruntime.sh and set KOMMERCE_ONNXRUNTIME_LIB")
	}
	initOnce.Do(func() {
		initLib = libPath
		ort.SetSharedLibraryPath(libPath)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			initErr = fmt.Errorf("onnxruntime: load %s: %w", libPath, err)
		}
	})
	if initErr != nil {
		return nil, initErr
	}
	if libPath != initLib {
		return nil, fmt.Errorf("onnxruntime: already initialised with %s, cannot switch to %s", initLib, libPath)
	}
	if threads <= 0 {
		threads = 1
	}
	return &Runtime{threads: threads}, nil
}

// Name implements inference.Runtime.
func (r *Runtime) Name() string { return Name }

// Load implements inference.Runtime: it parses the model, creates a session and runs
// it once on the smallest valid input, so that a graph onnxruntime cannot execute is
// refused at load.
func (r *Runtime) Load(ctx context.Context, model []byte) (inference.Session, error) {
	m, err := onnx.Decode(model)
	if err != nil {
		return nil, &inference.Error{Code: inference.CodeLoadFailed, Message: "the file is not a valid ONNX model", Err: err}
	}
	sig, err := inference.SignatureOf(m)
	if err != nil {
		return nil, &inference.Error{Code: inference.CodeLoadFailed, Message: "the model's inputs or outputs cannot be served", Err: err}
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnxruntime session options: %w", err)
	}
	defer func() { _ = opts.Destroy() }()
	if err := opts.SetIntraOpNumThreads(r.threads); err != nil {
		return nil, fmt.Errorf("onnxruntime intra-op threads: %w", err)
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("onnxruntime inter-op threads: %w", err)
	}
	var inNames, outNames []string
	for _, s := range sig.Inputs {
		inNames = append(inNames, s.Name)
	}
	for _, s := range sig.Outputs {
		outNames = append(outNames, s.Name)
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(model, inNames, outNames, opts)
	if err != nil {
		return nil, &inference.Error{Code: inference.CodeLoadFailed, Message: "onnxruntime refused the model", Err: err}
	}
	s := &session{sig: sig, sess: sess, perRow: rowSizes(sig)}
	if _, err := s.Run(ctx, inference.WarmUpInputs(sig)); err != nil {
		_ = sess.Destroy()
		return nil, &inference.Error{Code: inference.CodeLoadFailed, Message: "the model failed its warm-up run", Err: err}
	}
	return s, nil
}

type session struct {
	sig  inference.Signature
	sess *ort.DynamicAdvancedSession
	// perRow is the element count of one row of each output when every output is
	// [batch, fixed dimensions...] (nil otherwise). The outputs are then allocated in
	// Go before the run, with as many rows as the inputs, and onnxruntime writes into
	// them: the answer needs no copy and no shape queries through cgo (about ten
	// calls per output otherwise). dynamic is set if a graph computes other shapes:
	// the session then lets onnxruntime allocate, as it does for other signatures.
	perRow  []int64
	dynamic atomic.Bool
}

// rowSizes returns the elements of one row of each output, or nil if an output's
// shape is not [batch, fixed dimensions...] or the inputs have no batch dimension.
func rowSizes(sig inference.Signature) []int64 {
	for _, in := range sig.Inputs {
		if len(in.Shape) == 0 || in.Shape[0] >= 0 {
			return nil
		}
	}
	per := make([]int64, len(sig.Outputs))
	for i, o := range sig.Outputs {
		if len(o.Shape) == 0 || o.Shape[0] >= 0 {
			return nil
		}
		n := int64(1)
		for _, d := range o.Shape[1:] {
			if d <= 0 {
				return nil
			}
			n *= d
		}
		per[i] = n
	}
	return per
}

func (s *session) Signature() inference.Signature { return s.sig }

func (s *session) Close() error { return s.sess.Destroy() }

// Run implements inference.Session.
func (s *session) Run(_ context.Context, inputs []inference.Tensor) ([]inference.Tensor, error) {
	if s.perRow != nil && !s.dynamic.Load() && len(inputs) > 0 && len(inputs[0].Shape) > 0 {
		res, err := s.runInto(inputs, inputs[0].Shape[0])
		if err == nil {
			return res, nil
		}
		// A refused input fails the same way below; an output shape other than
		// [rows, ...] succeeds there, and the session stops allocating ahead.
		res, err2 := s.runDynamic(inputs)
		if err2 == nil {
			s.dynamic.Store(true)
		}
		return res, err2
	}
	return s.runDynamic(inputs)
}

// runInto runs with outputs of rows rows allocated in Go.
func (s *session) runInto(inputs []inference.Tensor, rows int64) ([]inference.Tensor, error) {
	in := make([]ort.Value, len(inputs))
	defer destroy(in)
	for i, t := range inputs {
		v, err := toValue(t)
		if err != nil {
			return nil, err
		}
		in[i] = v
	}
	out := make([]ort.Value, len(s.sig.Outputs))
	defer destroy(out)
	res := make([]inference.Tensor, len(out))
	for i, spec := range s.sig.Outputs {
		shape := append([]int64{rows}, spec.Shape[1:]...)
		t := inference.Tensor{Name: spec.Name, DataType: spec.DataType, Shape: shape}
		if spec.DataType == inference.INT64 {
			t.Int64 = make([]int64, rows*s.perRow[i])
		} else {
			t.Float32 = make([]float32, rows*s.perRow[i])
		}
		v, err := toValue(t)
		if err != nil {
			return nil, err
		}
		out[i], res[i] = v, t
	}
	if err := s.sess.Run(in, out); err != nil {
		return nil, &inference.Error{Code: inference.CodeInvalid, Message: "onnxruntime refused the input: " + err.Error()}
	}
	return res, nil
}

// runDynamic runs with outputs onnxruntime allocates, and copies them.
func (s *session) runDynamic(inputs []inference.Tensor) ([]inference.Tensor, error) {
	in := make([]ort.Value, len(inputs))
	defer destroy(in)
	for i, t := range inputs {
		v, err := toValue(t)
		if err != nil {
			return nil, err
		}
		in[i] = v
	}
	out := make([]ort.Value, len(s.sig.Outputs))
	defer destroy(out)
	if err := s.sess.Run(in, out); err != nil {
		// Inputs were validated against the signature, so what onnxruntime still
		// refuses is a value the graph cannot use.
		return nil, &inference.Error{Code: inference.CodeInvalid, Message: "onnxruntime refused the input: " + err.Error()}
	}
	res := make([]inference.Tensor, len(out))
	for i, v := range out {
		t, err := fromValue(s.sig.Outputs[i].Name, v)
		if err != nil {
			return nil, err
		}
		res[i] = t
	}
	return res, nil
}

func destroy(vs []ort.Value) {
	for _, v := range vs {
		if v != nil {
			_ = v.Destroy()
		}
	}
}

func toValue(t inference.Tensor) (ort.Value, error) {
	shape := ort.NewShape(t.Shape...)
	switch t.DataType {
	case inference.FP32:
		return ort.NewTensor(shape, t.Float32)
	case inference.INT64:
		return ort.NewTensor(shape, t.Int64)
	default:
		return nil, inference.Errorf(inference.CodeInvalid, "datatype %s is not supported", t.DataType)
	}
}

func fromValue(name string, v ort.Value) (inference.Tensor, error) {
	shape := []int64(v.GetShape())
	switch tv := v.(type) {
	case *ort.Tensor[float32]:
		return inference.Tensor{Name: name, DataType: inference.FP32, Shape: shape, Float32: append([]float32(nil), tv.GetData()...)}, nil
	case *ort.Tensor[int64]:
		return inference.Tensor{Name: name, DataType: inference.INT64, Shape: shape, Int64: append([]int64(nil), tv.GetData()...)}, nil
	default:
		return inference.Tensor{}, fmt.Errorf("onnxruntime output %q has an unsupported type %T", name, v)
	}
}
