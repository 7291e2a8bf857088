package oip

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/kommerce/kommerce/inference"
)

// The request decoder is written by hand: an inference request has a small, fixed
// shape, and encoding/json (reflection, a RawMessage copy per tensor, then a second
// pass over the numbers) was about a sixth of a request's server CPU. It accepts
// what encoding/json accepted for the request struct — keys matched without regard
// to case, unknown keys skipped, null for an absent value, the last of duplicate
// keys — and refuses everything else with a message that says where.

// maxDepth bounds the nesting of any JSON value in a request, so that a body of
// brackets cannot exhaust the stack.
const maxDepth = 64

// Binary tensor data extension (KServe v2 / Triton): the request's JSON is the first
// Inference-Header-Content-Length bytes of the body; an input with the parameter
// binary_data_size takes that many bytes, little-endian, from what follows, in the
// order of the inputs. An output asked for with "binary_data": true (or every output,
// with the request parameter "binary_data_output": true) is answered the same way.
const (
	headerContentLength = "Inference-Header-Content-Length"
	paramBinarySize     = "binary_data_size"
	paramBinary         = "binary_data"
	paramBinaryOutput   = "binary_data_output"
)

type request struct {
	id      string
	tensors []inference.Tensor
	outputs []outputRequest
	// binaryOutput is the request parameter binary_data_output: every output binary.
	binaryOutput bool
}

type outputRequest struct {
	name string
	// binary is the output's binary_data parameter; set says it was given (it then
	// overrides the request's binary_data_output).
	binary, set bool
}

// outputBinary reports whether the output named name is answered as binary data.
func (r *request) outputBinary(name string) bool {
	for _, o := range r.outputs {
		if o.name == name && o.set {
			return o.binary
		}
	}
	return r.binaryOutput
}

func invalid(format string, args ...any) error {
	return inference.Errorf(inference.CodeInvalid, format, args...)
}

// decodeRequest parses an inference request: body is its JSON and bin the binary
// data after it (nil when the request has no Inference-Header-Content-Length). Data
// may be flat or nested row-major arrays; its element count is checked against the
// shape by the registry.
func decodeRequest(body, bin []byte) (*request, error) {
	d := &decoder{b: body}
	d.ws()
	if d.i == len(d.b) {
		return nil, invalid("the request body is empty; send {\"inputs\": [...]}")
	}
	req := &request{}
	var inputs []*inputSpan
	err := d.object(0, func(key []byte) error {
		switch {
		case bytes.EqualFold(key, []byte("id")):
			s, err := d.nullableString(top("id"))
			req.id = s
			return err
		case bytes.EqualFold(key, []byte("inputs")):
			inputs = inputs[:0]
			return d.nullableArray(1, top("inputs"), func(i int) error {
				in, err := d.input(i)
				inputs = append(inputs, in)
				return err
			})
		case bytes.EqualFold(key, []byte("outputs")):
			req.outputs = req.outputs[:0]
			return d.nullableArray(1, top("outputs"), func(i int) error {
				o, err := d.output(i)
				req.outputs = append(req.outputs, o)
				return err
			})
		case bytes.EqualFold(key, []byte("parameters")):
			return d.parameters(1, top("parameters"), func(key []byte) (bool, error) {
				if !bytes.EqualFold(key, []byte(paramBinaryOutput)) {
					return false, nil
				}
				v, err := d.boolean(top("parameters." + paramBinaryOutput))
				req.binaryOutput = v
				return true, err
			})
		default:
			return d.skip(1)
		}
	})
	if err != nil {
		return nil, err
	}
	d.ws()
	if d.i != len(d.b) {
		return nil, invalid("the request body has data after the JSON object")
	}
	if len(inputs) == 0 {
		return nil, invalid("the request has no inputs")
	}
	req.tensors = make([]inference.Tensor, 0, len(inputs))
	for i, in := range inputs {
		t, err := in.tensor(i, body, &bin)
		if err != nil {
			return nil, err
		}
		req.tensors = append(req.tensors, t)
	}
	if len(bin) > 0 {
		return nil, invalid("the request has %d bytes of binary data that no input's %s claims", len(bin), paramBinarySize)
	}
	return req, nil
}

// inputSpan is one element of "inputs" as read: its data is parsed once the
// datatype is known (keys may come in any order).
type inputSpan struct {
	name, datatype string
	shape          []int64
	data           []byte // the raw JSON of "data", nil if absent or null
	binarySize     int64  // -1 when the input has no binary_data_size
	parsed         *inference.Tensor
}

func (d *decoder) input(i int) (*inputSpan, error) {
	in := &inputSpan{binarySize: -1}
	where := func(field string) path { return path{"inputs", i, field, -1} }
	err := d.object(2, func(key []byte) error {
		var err error
		switch {
		case bytes.EqualFold(key, []byte("name")):
			in.name, err = d.nullableString(where("name"))
		case bytes.EqualFold(key, []byte("datatype")):
			in.datatype, err = d.nullableString(where("datatype"))
		case bytes.EqualFold(key, []byte("shape")):
			in.shape, err = d.shape(where("shape"))
		case bytes.EqualFold(key, []byte("data")):
			in.parsed = nil
			if d.literal("null") {
				in.data = nil
				return nil
			}
			start := d.i
			if in.name != "" && (in.datatype == string(inference.FP32) || in.datatype == string(inference.INT64)) {
				// The usual order (name, shape, datatype, data): parse in one pass.
				t := inference.Tensor{Name: in.name, DataType: inference.DataType(in.datatype)}
				if err := d.tensorData(&t); err != nil {
					return err
				}
				in.parsed = &t
			} else if err := d.skip(3); err != nil {
				return err
			}
			in.data = d.b[start:d.i]
		case bytes.EqualFold(key, []byte("parameters")):
			err = d.parameters(3, where("parameters"), func(key []byte) (bool, error) {
				if !bytes.EqualFold(key, []byte(paramBinarySize)) {
					return false, nil
				}
				n, err := d.integer(where("parameters." + paramBinarySize))
				if err == nil && n < 0 {
					err = invalid("%s is %d; a size cannot be negative", where("parameters."+paramBinarySize), n)
				}
				in.binarySize = n
				return true, err
			})
		default:
			err = d.skip(3)
		}
		return err
	})
	return in, err
}

// tensor checks what the input declared and takes its data, from the JSON or from
// the front of *bin.
func (in *inputSpan) tensor(i int, body []byte, bin *[]byte) (inference.Tensor, error) {
	if in.name == "" {
		return inference.Tensor{}, invalid("inputs[%d] has no name", i)
	}
	if in.shape == nil {
		return inference.Tensor{}, invalid("input %q has no shape", in.name)
	}
	t := inference.Tensor{Name: in.name, DataType: inference.DataType(in.datatype), Shape: in.shape}
	switch t.DataType {
	case inference.FP32, inference.INT64:
	case "":
		return t, invalid("input %q has no datatype", in.name)
	default:
		return t, invalid("input %q has datatype %q; this server accepts FP32 and INT64", in.name, in.datatype)
	}
	if in.binarySize >= 0 {
		if in.data != nil {
			return t, invalid("input %q has both data and the parameter %s; send one", in.name, paramBinarySize)
		}
		return t, binaryData(&t, in.binarySize, bin)
	}
	if in.parsed != nil && in.parsed.Name == in.name && in.parsed.DataType == t.DataType {
		in.parsed.Shape = in.shape
		return *in.parsed, nil
	}
	if in.data == nil {
		return t, invalid("input %q: data is missing", in.name)
	}
	d := &decoder{b: in.data}
	return t, d.tensorData(&t)
}

// binaryData takes size bytes from the front of *bin as the little-endian elements
// of t.
func binaryData(t *inference.Tensor, size int64, bin *[]byte) error {
	if *bin == nil {
		return invalid("input %q has the parameter %s but the request has no %s header", t.Name, paramBinarySize, headerContentLength)
	}
	if size > int64(len(*bin)) {
		return invalid("input %q has %s %d but only %d bytes of binary data are left", t.Name, paramBinarySize, size, len(*bin))
	}
	if size%8 != 0 && t.DataType == inference.INT64 || size%4 != 0 {
		return invalid("input %q has %s %d, not a whole number of %s elements", t.Name, paramBinarySize, size, t.DataType)
	}
	raw := (*bin)[:size]
	*bin = (*bin)[size:]
	if t.DataType == inference.INT64 {
		t.Int64 = make([]int64, size/8)
		for j := range t.Int64 {
			t.Int64[j] = int64(binary.LittleEndian.Uint64(raw[8*j:]))
		}
		return nil
	}
	t.Float32 = make([]float32, size/4)
	for j := range t.Float32 {
		t.Float32[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
	}
	return nil
}

func (d *decoder) output(i int) (outputRequest, error) {
	var o outputRequest
	where := func(field string) path { return path{"outputs", i, field, -1} }
	err := d.object(2, func(key []byte) error {
		var err error
		switch {
		case bytes.EqualFold(key, []byte("name")):
			o.name, err = d.nullableString(where("name"))
		case bytes.EqualFold(key, []byte("parameters")):
			err = d.parameters(3, where("parameters"), func(key []byte) (bool, error) {
				if !bytes.EqualFold(key, []byte(paramBinary)) {
					return false, nil
				}
				v, err := d.boolean(where("parameters." + paramBinary))
				o.binary, o.set = v, true
				return true, err
			})
		default:
			err = d.skip(3)
		}
		return err
	})
	return o, err
}

// path names a value of the request in an error, e.g. inputs[0].shape[1]. It is
// formatted only when an error is.
type path struct {
	list  string // "inputs", "outputs" or "" for a top-level key
	i     int    // index in list
	field string // e.g. "shape", "parameters.binary_data_size"
	elem  int    // index in an array field, -1 for none
}

func (p path) String() string {
	s := p.field
	if p.list != "" {
		s = fmt.Sprintf("%s[%d].%s", p.list, p.i, p.field)
	}
	if p.elem >= 0 {
		s += fmt.Sprintf("[%d]", p.elem)
	}
	return s
}

func top(field string) path { return path{field: field, elem: -1} }

// decoder reads JSON from b at i.
type decoder struct {
	b []byte
	i int
}

// syntax is the error for a body that is not JSON, or not a request's JSON.
func (d *decoder) syntax(format string, args ...any) error {
	return invalid("the request body is not a valid inference request: %s (at byte %d)", fmt.Sprintf(format, args...), d.i)
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// found describes what is at i, for an error.
func (d *decoder) found() string {
	if d.i >= len(d.b) {
		return "the end of the body"
	}
	return strconv.QuoteRune(rune(d.b[d.i]))
}

// literal consumes lit (after white space) if it is next.
func (d *decoder) literal(lit string) bool {
	d.ws()
	if bytes.HasPrefix(d.b[d.i:], []byte(lit)) {
		d.i += len(lit)
		return true
	}
	return false
}

// object reads an object, calling field for each key with i at its value; field
// must consume the value.
func (d *decoder) object(depth int, field func(key []byte) error) error {
	d.ws()
	if d.peek() != '{' {
		return d.syntax("want an object, found %s", d.found())
	}
	if depth >= maxDepth {
		return d.syntax("values nested more than %d deep", maxDepth)
	}
	d.i++
	d.ws()
	if d.peek() == '}' {
		d.i++
		return nil
	}
	for {
		d.ws()
		if d.peek() != '"' {
			return d.syntax("want a key, found %s", d.found())
		}
		key, err := d.stringBytes()
		if err != nil {
			return err
		}
		d.ws()
		if d.peek() != ':' {
			return d.syntax("want ':' after a key, found %s", d.found())
		}
		d.i++
		d.ws()
		if err := field(key); err != nil {
			return err
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return d.syntax("want ',' or '}' in an object, found %s", d.found())
		}
	}
}

// array reads an array, calling elem for each element with i at it.
func (d *decoder) array(depth int, elem func(i int) error) error {
	d.ws()
	if d.peek() != '[' {
		return d.syntax("want an array, found %s", d.found())
	}
	if depth >= maxDepth {
		return d.syntax("values nested more than %d deep", maxDepth)
	}
	d.i++
	d.ws()
	if d.peek() == ']' {
		d.i++
		return nil
	}
	for n := 0; ; n++ {
		d.ws()
		if err := elem(n); err != nil {
			return err
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return nil
		default:
			return d.syntax("want ',' or ']' in an array, found %s", d.found())
		}
	}
}

// nullableArray is array, or nothing for null.
func (d *decoder) nullableArray(depth int, what path, elem func(i int) error) error {
	if d.literal("null") {
		return nil
	}
	if d.peek() != '[' {
		return d.syntax("%s must be an array, found %s", what, d.found())
	}
	return d.array(depth, elem)
}

// parameters reads a parameters object: param handles the keys it knows (and
// consumes their values), the others are skipped.
func (d *decoder) parameters(depth int, what path, param func(key []byte) (bool, error)) error {
	if d.literal("null") {
		return nil
	}
	if d.peek() != '{' {
		return d.syntax("%s must be an object, found %s", what, d.found())
	}
	return d.object(depth, func(key []byte) error {
		known, err := param(key)
		if err != nil || known {
			return err
		}
		return d.skip(depth + 1)
	})
}

// stringBytes reads a string at i. Without escapes it returns a slice of the body;
// escapes and invalid UTF-8 are left to encoding/json, which decodes them exactly
// as before (invalid bytes become U+FFFD).
func (d *decoder) stringBytes() ([]byte, error) {
	start := d.i
	d.i++
	plain := true
	for {
		if d.i >= len(d.b) {
			return nil, d.syntax("a string does not end")
		}
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			raw := d.b[start+1 : d.i-1]
			if plain && utf8.Valid(raw) {
				return raw, nil
			}
			var s string
			if err := json.Unmarshal(d.b[start:d.i], &s); err != nil {
				d.i = start
				return nil, d.syntax("%v", err)
			}
			return []byte(s), nil
		case c == '\\':
			plain = false
			d.i += 2
		case c < 0x20:
			return nil, d.syntax("a control character in a string")
		default:
			d.i++
		}
	}
}

// nullableString reads a string, or "" for null.
func (d *decoder) nullableString(what path) (string, error) {
	if d.literal("null") {
		return "", nil
	}
	if d.peek() != '"' {
		return "", d.syntax("%s must be a string, found %s", what, d.found())
	}
	b, err := d.stringBytes()
	return string(b), err
}

func (d *decoder) boolean(what path) (bool, error) {
	switch {
	case d.literal("true"):
		return true, nil
	case d.literal("false"), d.literal("null"):
		return false, nil
	}
	return false, d.syntax("%s must be true or false, found %s", what, d.found())
}

// number reads a JSON number token at i.
func (d *decoder) number() ([]byte, bool) {
	start := d.i
	j := d.i
	if j < len(d.b) && d.b[j] == '-' {
		j++
	}
	switch {
	case j < len(d.b) && d.b[j] == '0':
		j++
	case j < len(d.b) && d.b[j] >= '1' && d.b[j] <= '9':
		for j < len(d.b) && d.b[j] >= '0' && d.b[j] <= '9' {
			j++
		}
	default:
		return nil, false
	}
	if j < len(d.b) && d.b[j] == '.' {
		j++
		k := j
		for j < len(d.b) && d.b[j] >= '0' && d.b[j] <= '9' {
			j++
		}
		if j == k {
			return nil, false
		}
	}
	if j < len(d.b) && (d.b[j] == 'e' || d.b[j] == 'E') {
		j++
		if j < len(d.b) && (d.b[j] == '+' || d.b[j] == '-') {
			j++
		}
		k := j
		for j < len(d.b) && d.b[j] >= '0' && d.b[j] <= '9' {
			j++
		}
		if j == k {
			return nil, false
		}
	}
	d.i = j
	return d.b[start:j], true
}

// integer reads an integer (null is 0).
func (d *decoder) integer(what path) (int64, error) {
	if d.literal("null") {
		return 0, nil
	}
	at := d.i
	tok, ok := d.number()
	if !ok {
		return 0, d.syntax("%s must be an integer, found %s", what, d.found())
	}
	v, ok := parseInt(tok)
	if !ok {
		d.i = at
		return 0, d.syntax("%s is %s, not an integer", what, tok)
	}
	return v, nil
}

// shape reads an array of integers; null leaves it absent.
func (d *decoder) shape(what path) ([]int64, error) {
	if d.literal("null") {
		return nil, nil
	}
	if d.peek() != '[' {
		return nil, d.syntax("%s must be an array of integers, found %s", what, d.found())
	}
	shape := make([]int64, 0, 4)
	err := d.array(3, func(i int) error {
		elem := what
		elem.elem = i
		v, err := d.integer(elem)
		shape = append(shape, v)
		return err
	})
	return shape, err
}

// parseInt parses an optional minus and decimal digits, as strconv.ParseInt would.
func parseInt(tok []byte) (int64, bool) {
	neg := len(tok) > 0 && tok[0] == '-'
	digits := tok
	if neg {
		digits = tok[1:]
	}
	if len(digits) == 0 || len(digits) > 19 {
		if len(digits) > 19 {
			// Rare: leave the overflow rules to strconv.
			v, err := strconv.ParseInt(string(tok), 10, 64)
			return v, err == nil
		}
		return 0, false
	}
	var u uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// skip reads any value.
func (d *decoder) skip(depth int) error {
	d.ws()
	switch c := d.peek(); {
	case c == '{':
		return d.object(depth, func([]byte) error { return d.skip(depth + 1) })
	case c == '[':
		return d.array(depth, func(int) error { return d.skip(depth + 1) })
	case c == '"':
		_, err := d.stringBytes()
		return err
	case d.literal("true"), d.literal("false"), d.literal("null"):
		return nil
	default:
		if _, ok := d.number(); !ok {
			return d.syntax("want a value, found %s", d.found())
		}
		return nil
	}
}

// tensorData reads t's data: numbers in an array, flat or nested (the nesting is not
// checked against the shape; the element count is, by the registry).
func (d *decoder) tensorData(t *inference.Tensor) error {
	d.ws()
	if d.peek() != '[' {
		if d.peek() == 0 {
			return invalid("input %q: data is missing", t.Name)
		}
		if err := d.skip(3); err != nil {
			return err
		}
		return invalid("input %q: data must be an array", t.Name)
	}
	n := 0
	if t.DataType == inference.INT64 {
		t.Int64 = make([]int64, 0, 8)
	} else {
		t.Float32 = make([]float32, 0, 16)
	}
	var elem func(int) error
	depth := 3
	elem = func(int) error {
		switch c := d.peek(); {
		case c == '[':
			depth++
			err := d.array(depth, elem)
			depth--
			return err
		case c == '-' || c >= '0' && c <= '9':
			at := d.i
			tok, ok := d.number()
			if !ok {
				return d.syntax("want a number, found %s", d.found())
			}
			if err := appendNumber(t, n, tok); err != nil {
				d.i = at
				return err
			}
			n++
			return nil
		default:
			start := d.i
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			tok := d.b[start:d.i]
			if len(tok) > 32 {
				tok = append(tok[:32:32], "..."...)
			}
			if t.DataType == inference.INT64 {
				return invalid("input %q: element %d (%s) is not an INT64 integer", t.Name, n, tok)
			}
			return invalid("input %q: element %d is %s, not a number", t.Name, n, tok)
		}
	}
	return d.array(depth, elem)
}

// appendNumber appends element n of t from its JSON token.
func appendNumber(t *inference.Tensor, n int, tok []byte) error {
	if t.DataType == inference.INT64 {
		v, ok := parseInt(tok)
		if !ok {
			return invalid("input %q: element %d (%s) is not an INT64 integer", t.Name, n, tok)
		}
		t.Int64 = append(t.Int64, v)
		return nil
	}
	v, err := strconv.ParseFloat(string(tok), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) || math.Abs(v) > math.MaxFloat32 {
		return invalid("input %q: element %d (%s) is not a finite FP32 number", t.Name, n, tok)
	}
	t.Float32 = append(t.Float32, float32(v))
	return nil
}
