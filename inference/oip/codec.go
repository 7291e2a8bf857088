package oip

import (
	"encoding/binary"
	"math"
	"strconv"
	"sync"

	"github.com/kommerce/kommerce/inference"
)

// selectOutputs returns the outputs the request names, in its order (all of them
// when it names none).
func selectOutputs(out []inference.Tensor, want []outputRequest) ([]inference.Tensor, error) {
	if len(want) == 0 {
		return out, nil
	}
	sel := make([]inference.Tensor, 0, len(want))
	for _, o := range want {
		found := false
		for _, t := range out {
			if t.Name == o.name {
				sel, found = append(sel, t), true
				break
			}
		}
		if !found {
			return nil, invalid("requested output %q does not exist", o.name)
		}
	}
	return sel, nil
}

// bufPool holds the buffers of request bodies and responses, so that a request
// allocates neither once the server is warm.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooled bounds the buffers kept: one huge request must not pin its memory.
const maxPooled = 1 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooled {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// appendResponse appends the inference response to b by hand: the numbers dominate
// its size and strconv is several times faster than encoding/json for them. Outputs
// req asks for as binary data are announced in the JSON with their
// binary_data_size and appended after it, little-endian, in output order; header is
// then the JSON's length (the Inference-Header-Content-Length), otherwise -1.
func appendResponse(b []byte, model, version string, req *request, out []inference.Tensor) (res []byte, header int) {
	start := len(b)
	b = append(b, `{"model_name":`...)
	b = strconv.AppendQuote(b, model)
	b = append(b, `,"model_version":`...)
	b = strconv.AppendQuote(b, version)
	if req.id != "" {
		b = append(b, `,"id":`...)
		b = strconv.AppendQuote(b, req.id)
	}
	b = append(b, `,"outputs":[`...)
	anyBinary := false
	for i, t := range out {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = strconv.AppendQuote(b, t.Name)
		b = append(b, `,"datatype":"`...)
		b = append(b, t.DataType...)
		b = append(b, `","shape":[`...)
		for j, d := range t.Shape {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, d, 10)
		}
		if req.outputBinary(t.Name) {
			anyBinary = true
			b = append(b, `],"parameters":{"binary_data_size":`...)
			b = strconv.AppendInt(b, int64(binarySize(&t)), 10)
			b = append(b, "}}"...)
			continue
		}
		b = append(b, `],"data":[`...)
		if t.DataType == inference.INT64 {
			for j, v := range t.Int64 {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, v, 10)
			}
		} else {
			for j, v := range t.Float32 {
				if j > 0 {
					b = append(b, ',')
				}
				f := float64(v)
				if math.IsNaN(f) || math.IsInf(f, 0) {
					b = append(b, "null"...) // JSON has no NaN; a model should never emit one
					continue
				}
				b = strconv.AppendFloat(b, f, 'g', -1, 32)
			}
		}
		b = append(b, "]}"...)
	}
	if !anyBinary {
		return append(b, "]}\n"...), -1
	}
	b = append(b, "]}"...)
	header = len(b) - start
	for i := range out {
		if req.outputBinary(out[i].Name) {
			b = appendBinary(b, &out[i])
		}
	}
	return b, header
}

func binarySize(t *inference.Tensor) int {
	if t.DataType == inference.INT64 {
		return 8 * len(t.Int64)
	}
	return 4 * len(t.Float32)
}

// appendBinary appends t's elements little-endian, row-major, without padding.
func appendBinary(b []byte, t *inference.Tensor) []byte {
	if t.DataType == inference.INT64 {
		for _, v := range t.Int64 {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
		return b
	}
	for _, v := range t.Float32 {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}
