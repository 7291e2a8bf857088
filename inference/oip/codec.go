package oip

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"

	"github.com/kommerce/kommerce/inference"
)

type requestTensor struct {
	Name     string          `json:"name"`
	Shape    []int64         `json:"shape"`
	Datatype string          `json:"datatype"`
	Data     json.RawMessage `json:"data"`
}

type requestOutput struct {
	Name string `json:"name"`
}

type requestBody struct {
	ID      string          `json:"id"`
	Inputs  []requestTensor `json:"inputs"`
	Outputs []requestOutput `json:"outputs"`
}

type request struct {
	id      string
	tensors []inference.Tensor
	outputs []string
}

func invalid(format string, args ...any) error {
	return inference.Errorf(inference.CodeInvalid, format, args...)
}

// decodeRequest parses an inference request. Data may be flat or nested row-major
// arrays; its element count is checked against the shape by the registry.
func decodeRequest(r io.Reader) (*request, error) {
	var body requestBody
	dec := json.NewDecoder(r)
	if err := dec.Decode(&body); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, err // the handler reports the limit
		case errors.Is(err, io.EOF):
			return nil, invalid("the request body is empty; send {\"inputs\": [...]}")
		default:
			return nil, invalid("the request body is not a valid inference request: %v", err)
		}
	}
	if dec.More() {
		return nil, invalid("the request body has data after the JSON object")
	}
	if len(body.Inputs) == 0 {
		return nil, invalid("the request has no inputs")
	}
	req := &request{id: body.ID}
	for i, in := range body.Inputs {
		if in.Name == "" {
			return nil, invalid("inputs[%d] has no name", i)
		}
		if in.Shape == nil {
			return nil, invalid("input %q has no shape", in.Name)
		}
		t := inference.Tensor{Name: in.Name, DataType: inference.DataType(in.Datatype), Shape: in.Shape}
		var err error
		switch t.DataType {
		case inference.FP32:
			t.Float32, err = parseFloats(in.Data)
		case inference.INT64:
			t.Int64, err = parseInts(in.Data)
		case "":
			return nil, invalid("input %q has no datatype", in.Name)
		default:
			return nil, invalid("input %q has datatype %q; this server accepts FP32 and INT64", in.Name, in.Datatype)
		}
		if err != nil {
			return nil, invalid("input %q: %v", in.Name, err)
		}
		req.tensors = append(req.tensors, t)
	}
	for _, o := range body.Outputs {
		req.outputs = append(req.outputs, o.Name)
	}
	return req, nil
}

// scan walks the numbers of a (possibly nested) JSON array.
func scan(data json.RawMessage, each func(tok []byte) error) error {
	if len(data) == 0 {
		return fmt.Errorf("data is missing")
	}
	depth, started := 0, false
	for i := 0; i < len(data); {
		switch c := data[i]; c {
		case ' ', '\t', '\n', '\r', ',':
			i++
		case '[':
			depth++
			started = true
			i++
		case ']':
			depth--
			if depth < 0 {
				return fmt.Errorf("data has unbalanced brackets")
			}
			i++
		default:
			if !started {
				return fmt.Errorf("data must be an array")
			}
			j := i
			for j < len(data) && data[j] != ',' && data[j] != ']' && data[j] != ' ' && data[j] != '\n' && data[j] != '\t' && data[j] != '\r' {
				j++
			}
			if err := each(data[i:j]); err != nil {
				return err
			}
			i = j
		}
	}
	if depth != 0 {
		return fmt.Errorf("data has unbalanced brackets")
	}
	return nil
}

func parseFloats(data json.RawMessage) ([]float32, error) {
	out := make([]float32, 0, len(data)/4)
	err := scan(data, func(tok []byte) error {
		if tok[0] == '"' || tok[0] == 't' || tok[0] == 'f' || tok[0] == 'n' {
			return fmt.Errorf("element %d is %s, not a number", len(out), tok)
		}
		v, err := strconv.ParseFloat(string(tok), 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) || math.Abs(v) > math.MaxFloat32 {
			return fmt.Errorf("element %d (%s) is not a finite FP32 number", len(out), tok)
		}
		out = append(out, float32(v))
		return nil
	})
	return out, err
}

func parseInts(data json.RawMessage) ([]int64, error) {
	out := make([]int64, 0, len(data)/2)
	err := scan(data, func(tok []byte) error {
		v, err := strconv.ParseInt(string(tok), 10, 64)
		if err != nil {
			return fmt.Errorf("element %d (%s) is not an INT64 integer", len(out), tok)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

func selectOutputs(out []inference.Tensor, names []string) ([]inference.Tensor, error) {
	if len(names) == 0 {
		return out, nil
	}
	sel := make([]inference.Tensor, 0, len(names))
	for _, n := range names {
		found := false
		for _, t := range out {
			if t.Name == n {
				sel, found = append(sel, t), true
				break
			}
		}
		if !found {
			return nil, invalid("requested output %q does not exist", n)
		}
	}
	return sel, nil
}

// encodeResponse writes the inference response by hand: the numbers dominate its
// size and strconv is several times faster than encoding/json for them.
func encodeResponse(model, version, id string, out []inference.Tensor) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"model_name":`...)
	b = strconv.AppendQuote(b, model)
	b = append(b, `,"model_version":`...)
	b = strconv.AppendQuote(b, version)
	if id != "" {
		b = append(b, `,"id":`...)
		b = strconv.AppendQuote(b, id)
	}
	b = append(b, `,"outputs":[`...)
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
	return append(b, "]}\n"...)
}
