// Package inference is the model server's domain: tensors and their validation,
// the Runtime interface behind which ONNX runtimes sit, the model registry with
// sha256-verified loading and atomic hot swap, and the one Error type.
//
// Adapters live in subpackages: oip (the Open Inference Protocol v2 REST API),
// ort (onnxruntime through cgo), gort (a small pure-Go interpreter for the operators
// our exporters write), training (the jobs that produce the models) and client/recs
// (what the commerce API calls).
package inference

import (
	"context"
	"errors"
	"fmt"
)

// Code classifies an Error; the OIP adapter maps each to an HTTP status.
type Code string

// Error codes.
const (
	CodeInvalid     Code = "invalid"     // the request is wrong: shape, dtype, names, values
	CodeNotFound    Code = "not_found"   // unknown model or version
	CodeTooLarge    Code = "too_large"   // batch or body above the limit
	CodeUnavailable Code = "unavailable" // model known but not loaded (yet), or server draining
	CodeLoadFailed  Code = "load_failed" // a model file was refused: checksum, size, format, operators
	CodeInternal    Code = "internal"    // a runtime failed on valid input
)

// Error is the one error type of the inference domain. Message is safe to show to a
// client; Err (if any) is the cause for logs.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, CodeInternal for errors that are not an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the client-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Runtime turns an ONNX file into a Session. Implementations: ort (onnxruntime) and
// gort (pure Go).
type Runtime interface {
	// Name identifies the runtime in configs, metrics and errors ("onnxruntime", "go").
	Name() string
	// Load parses and prepares a model. It returns CodeLoadFailed when the file is not
	// a model this runtime can run (corrupt bytes, unsupported operator or opset), and
	// never a session that would give wrong numbers.
	Load(ctx context.Context, model []byte) (Session, error)
}

// Session runs one loaded model. Run must be safe for concurrent use.
type Session interface {
	// Signature is the model's inputs and outputs as its graph declares them.
	Signature() Signature
	// Run computes the outputs for inputs that Signature.Validate accepted, in the
	// order of Signature().Outputs. Errors are CodeInvalid (the runtime rejected
	// values, e.g. an index out of range) or CodeInternal.
	Run(ctx context.Context, inputs []Tensor) ([]Tensor, error)
	// Close frees the session; no Run may be in flight.
	Close() error
}
