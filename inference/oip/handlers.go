package oip

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/internal/tracing"
)

// status maps each inference error code to its HTTP status.
var status = map[inference.Code]int{
	inference.CodeInvalid:     http.StatusBadRequest,
	inference.CodeNotFound:    http.StatusNotFound,
	inference.CodeTooLarge:    http.StatusRequestEntityTooLarge,
	inference.CodeUnavailable: http.StatusServiceUnavailable,
	inference.CodeLoadFailed:  http.StatusServiceUnavailable,
	inference.CodeInternal:    http.StatusInternalServerError,
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := inference.ErrorCode(err)
	st, ok := status[code]
	if !ok {
		st = http.StatusInternalServerError
	}
	if st >= 500 && code != inference.CodeUnavailable && code != inference.CodeLoadFailed {
		h.Logger.Error("inference request failed", "path", r.URL.Path, "err", err)
	}
	writeError(w, st, inference.ErrorMessage(err))
}

func writeError(w http.ResponseWriter, st int, msg string) {
	writeJSON(w, st, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, st int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Handler) serverMetadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"name": "kommerce-inference", "version": h.Version, "extensions": []string{"binary_tensor_data"}})
}

// live is true while the process serves HTTP at all.
func (h *Handler) live(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"live": true})
}

// ready follows the protocol: 200 when ready, a 4xx when not (with the reason).
func (h *Handler) ready(w http.ResponseWriter, _ *http.Request) {
	if h.Draining != nil && h.Draining() {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ready": false, "reason": "the server is draining"})
		return
	}
	if err := h.Registry.Ready(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ready": false, "reason": inference.ErrorMessage(err)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
}

type tensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

type modelMetadata struct {
	Name       string            `json:"name"`
	Versions   []string          `json:"versions"`
	Platform   string            `json:"platform"`
	Inputs     []tensorMetadata  `json:"inputs"`
	Outputs    []tensorMetadata  `json:"outputs"`
	Parameters map[string]string `json:"parameters,omitempty"`
}

// modelMetadata answers the protocol's model metadata. Extension: "parameters"
// carries the version described, the runtime and the ONNX file's metadata_props
// (e.g. the product ids of a recommendation model's indices).
func (h *Handler) modelMetadata(w http.ResponseWriter, r *http.Request) {
	info, err := h.Registry.Model(r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	md := modelMetadata{Name: info.Name, Versions: info.Versions, Platform: "onnxruntime_onnx", Parameters: map[string]string{}}
	for k, v := range info.Metadata {
		md.Parameters[k] = v
	}
	md.Parameters["version"] = info.Version
	md.Parameters["runtime"] = info.Runtime
	for _, s := range info.Signature.Inputs {
		md.Inputs = append(md.Inputs, tensorMetadata{s.Name, string(s.DataType), s.Shape})
	}
	for _, s := range info.Signature.Outputs {
		md.Outputs = append(md.Outputs, tensorMetadata{s.Name, string(s.DataType), s.Shape})
	}
	writeJSON(w, http.StatusOK, md)
}

func (h *Handler) modelReady(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	_, err := h.Registry.Model(name, r.PathValue("version"))
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]any{"name": name, "ready": true})
	case inference.ErrorCode(err) == inference.CodeNotFound:
		h.fail(w, r, err)
	default:
		writeJSON(w, http.StatusBadRequest, map[string]any{"name": name, "ready": false, "reason": inference.ErrorMessage(err)})
	}
}

func (h *Handler) infer(w http.ResponseWriter, r *http.Request) {
	name, version := r.PathValue("name"), r.PathValue("version")
	buf := getBuf()
	defer putBuf(buf)
	req, err := h.readRequest(w, r, buf)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The model run is its own span under the request's, so a trace shows how much of
	// a slow request the model took; its attributes name the model, never the inputs.
	ctx, span := r.Context(), trace.SpanFromContext(context.Background())
	if tracing.Enabled() {
		ctx, span = tracing.Tracer().Start(ctx, "infer "+name, trace.WithAttributes(
			attribute.String("kommerce.model.name", name), attribute.String("kommerce.model.version.requested", version)))
	}
	out, served, err := h.Registry.Infer(ctx, name, version, req.tensors)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("kommerce.model.version", served))
	}
	tracing.EndWithError(span, err, "inference failed")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err = selectOutputs(out, req.outputs)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The request is decoded: its buffer now holds the answer.
	b, header := appendResponse((*buf)[:0], name, served, req, out)
	*buf = b
	hdr := w.Header()
	// A known length spares the chunked encoding net/http uses otherwise for a body
	// larger than its buffer, one write with its framing per chunk.
	if header >= 0 {
		hdr["Content-Type"] = []string{"application/octet-stream"}
		hdr[headerContentLength] = []string{strconv.Itoa(header)}
	} else {
		hdr["Content-Type"] = jsonContentType
	}
	hdr["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

var jsonContentType = []string{"application/json"}

// readRequest reads the body into *buf (bounded by MaxBodyBytes) and decodes it,
// splitting off the binary data when Inference-Header-Content-Length is given.
func (h *Handler) readRequest(w http.ResponseWriter, r *http.Request, buf *[]byte) (*request, error) {
	tooLarge := func() error {
		return inference.Errorf(inference.CodeTooLarge, "the request body is larger than %d bytes", h.MaxBodyBytes)
	}
	if r.ContentLength > h.MaxBodyBytes {
		return nil, tooLarge()
	}
	b := *buf
	if r.ContentLength > 0 && int64(cap(b)) <= r.ContentLength {
		b = make([]byte, 0, r.ContentLength+1) // +1: the read that sees EOF needs room
	}
	body := http.MaxBytesReader(w, r.Body, h.MaxBodyBytes)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*buf = b
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge()
			}
			return nil, invalid("reading the request body: %v", err)
		}
	}
	*buf = b
	var bin []byte
	if v := r.Header.Get(headerContentLength); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > len(b) {
			return nil, invalid("the %s header is %q; want the length of the JSON at the start of the body, at most its %d bytes", headerContentLength, v, len(b))
		}
		b, bin = b[:n], b[n:] // non-nil even when empty: the header was given
	}
	return decodeRequest(b, bin)
}
