package oip

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/inference"
)

// referenceDecode is the decoder this server had before, on encoding/json: the hand
// written one must read every valid request the same way.
func referenceDecode(t *testing.T, body string) *request {
	t.Helper()
	var wire struct {
		ID     string `json:"id"`
		Inputs []struct {
			Name     string          `json:"name"`
			Shape    []int64         `json:"shape"`
			Datatype string          `json:"datatype"`
			Data     json.RawMessage `json:"data"`
		} `json:"inputs"`
		Outputs []struct {
			Name string `json:"name"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(body), &wire); err != nil {
		t.Fatalf("reference: %v", err)
	}
	req := &request{id: wire.ID}
	for _, in := range wire.Inputs {
		tn := inference.Tensor{Name: in.Name, DataType: inference.DataType(in.Datatype), Shape: in.Shape}
		var flat []any
		var walk func(v any)
		walk = func(v any) {
			if a, ok := v.([]any); ok {
				for _, e := range a {
					walk(e)
				}
				return
			}
			flat = append(flat, v)
		}
		var data any
		dec := json.NewDecoder(bytes.NewReader(in.Data))
		dec.UseNumber()
		if err := dec.Decode(&data); err != nil {
			t.Fatalf("reference data: %v", err)
		}
		walk(data)
		for _, v := range flat {
			if tn.DataType == inference.INT64 {
				n, err := v.(json.Number).Int64()
				if err != nil {
					t.Fatalf("reference data: %v", err)
				}
				tn.Int64 = append(tn.Int64, n)
			} else {
				f, err := v.(json.Number).Float64()
				if err != nil {
					t.Fatalf("reference data: %v", err)
				}
				tn.Float32 = append(tn.Float32, float32(f))
			}
		}
		if tn.DataType == inference.INT64 && tn.Int64 == nil {
			tn.Int64 = []int64{}
		}
		if tn.DataType == inference.FP32 && tn.Float32 == nil {
			tn.Float32 = []float32{}
		}
		req.tensors = append(req.tensors, tn)
	}
	for _, o := range wire.Outputs {
		req.outputs = append(req.outputs, outputRequest{name: o.Name})
	}
	return req
}

func TestDecodeAgreesWithEncodingJSON(t *testing.T) {
	tests := []struct{ name, body string }{
		{"flat", `{"inputs":[{"name":"items","shape":[1,3],"datatype":"INT64","data":[1,2,3]}]}`},
		{"nested", `{"inputs":[{"name":"items","shape":[2,2],"datatype":"INT64","data":[[1,2],[3,-4]]}]}`},
		{"white space", " {\n\t\"inputs\" : [ { \"name\" : \"x\" , \"shape\" : [ 1 , 2 ] , \"datatype\" : \"FP32\" , \"data\" : [ [ 1.5 , -2e-3 ] ] } ] } \n"},
		{"data before datatype", `{"inputs":[{"data":[0.1,0.2],"name":"x","datatype":"FP32","shape":[2]}]}`},
		{"keys in any case", `{"INPUTS":[{"Name":"x","Shape":[1],"DataType":"FP32","DATA":[3]}],"Id":"a"}`},
		{"unknown keys skipped", `{"extra":{"a":[1,{"b":null}],"c":"d"},"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],"more":[true,false]}]}`},
		{"parameters skipped", `{"parameters":{"x":1},"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"content_type":"np"},"data":[1]}]}`},
		{"escaped name", `{"id":"r\"1\u00e9","inputs":[{"name":"it\u0065ms","shape":[1],"datatype":"INT64","data":[7]}]}`},
		{"null id", `{"id":null,"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}`},
		{"duplicate key, last wins", `{"id":"a","id":"b","inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}`},
		{"outputs", `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"outputs":[{"name":"scores"},{"name":"item_indices","parameters":{}}]}`},
		{"float forms", `{"inputs":[{"name":"x","shape":[6],"datatype":"FP32","data":[0,-0,1E3,1e+2,0.000001,3.4028234e38]}]}`},
		{"int extremes", `{"inputs":[{"name":"x","shape":[3],"datatype":"INT64","data":[9223372036854775807,-9223372036854775808,-0]}]}`},
		{"empty data", `{"inputs":[{"name":"x","shape":[0],"datatype":"FP32","data":[]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRequest([]byte(tt.body), nil)
			if err != nil {
				t.Fatal(err)
			}
			want := referenceDecode(t, tt.body)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded %+v\nencoding/json %+v", got, want)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	in := func(rest string) string {
		return `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32"` + rest + `}]}`
	}
	tests := []struct{ name, body, wantMsg string }{
		{"empty", ``, "body is empty"},
		{"white space only", " \n ", "body is empty"},
		{"not an object", `[1]`, "not a valid inference request: want an object, found '['"},
		{"unterminated", `{"inputs":[`, "not a valid inference request"},
		{"trailing comma", `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1,]}]}`, "not a valid inference request"},
		{"trailing comma in object", `{"id":"a",}`, "want a key"},
		{"missing colon", `{"id" "a"}`, "want ':'"},
		{"unterminated string", `{"id":"a`, "string does not end"},
		{"control character", "{\"id\":\"a\nb\"}", "control character"},
		{"bad escape", `{"id":"\q"}`, "not a valid inference request"},
		{"leading zero", in(`,"data":[01]`), "not a valid inference request"},
		{"bare minus", in(`,"data":[-]`), "want a number"},
		{"data after object", in(`,"data":[1]`) + ` {}`, "data after the JSON object"},
		{"garbage value", `{"id":nope}`, "must be a string"},
		{"deep nesting", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, "nested more than 64 deep"},
		{"deep data", in(`,"data":` + strings.Repeat("[", 100) + "1" + strings.Repeat("]", 100)), "nested more than 64 deep"},
		{"inputs not an array", `{"inputs":{}}`, "inputs must be an array"},
		{"no inputs", `{"inputs":[]}`, "has no inputs"},
		{"no name", `{"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]}`, "inputs[0] has no name"},
		{"no shape", `{"inputs":[{"name":"x","datatype":"FP32","data":[1]}]}`, `input "x" has no shape`},
		{"shape not an array", `{"inputs":[{"name":"x","shape":"1","datatype":"FP32","data":[1]}]}`, "inputs[0].shape must be an array of integers"},
		{"fractional dimension", `{"inputs":[{"name":"x","shape":[1.5],"datatype":"FP32","data":[1]}]}`, "inputs[0].shape[0] is 1.5, not an integer"},
		{"no datatype", `{"inputs":[{"name":"x","shape":[1],"data":[1]}]}`, `input "x" has no datatype`},
		{"datatype not a string", `{"inputs":[{"name":"x","shape":[1],"datatype":5,"data":[1]}]}`, "inputs[0].datatype must be a string"},
		{"unsupported datatype", `{"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":["a"]}]}`, "accepts FP32 and INT64"},
		{"no data", in(``), "data is missing"},
		{"null data", in(`,"data":null`), "data is missing"},
		{"data not an array", in(`,"data":5`), "data must be an array"},
		{"string element", in(`,"data":["1"]`), `element 0 is "1", not a number`},
		{"object element", in(`,"data":[{"a":1}]`), `element 0 is {"a":1}, not a number`},
		{"bool element", in(`,"data":[1,true]`), "element 1 is true, not a number"},
		{"non-finite float", in(`,"data":[1e39]`), "not a finite FP32 number"},
		{"fractional int", `{"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[1.5]}]}`, "element 0 (1.5) is not an INT64 integer"},
		{"exponent int", `{"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[1e2]}]}`, "not an INT64 integer"},
		{"overflowing int", `{"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[9223372036854775808]}]}`, "not an INT64 integer"},
		{"string int", `{"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":["NaN"]}]}`, `element 0 ("NaN") is not an INT64 integer`},
		{"binary size without header", in(`,"parameters":{"binary_data_size":4}`), "has no Inference-Header-Content-Length header"},
		{"binary size not an integer", in(`,"parameters":{"binary_data_size":"4"}`), "binary_data_size must be an integer"},
		{"negative binary size", in(`,"parameters":{"binary_data_size":-4}`), "cannot be negative"},
		{"binary_data_output not a bool", `{"parameters":{"binary_data_output":1},"inputs":[]}`, "binary_data_output must be true or false"},
		{"outputs not an array", `{"inputs":[],"outputs":"scores"}`, "outputs must be an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeRequest([]byte(tt.body), nil)
			if inference.ErrorCode(err) != inference.CodeInvalid || !strings.Contains(inference.ErrorMessage(err), tt.wantMsg) {
				t.Fatalf("err %v; want CodeInvalid containing %q", err, tt.wantMsg)
			}
		})
	}
}

func le64(vs ...int64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	return b
}

func le32(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func TestDecodeBinary(t *testing.T) {
	header := `{"inputs":[` +
		`{"name":"i","shape":[1,2],"datatype":"INT64","parameters":{"binary_data_size":16}},` +
		`{"name":"j","shape":[1],"datatype":"INT64","data":[5]},` +
		`{"name":"f","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}],` +
		`"outputs":[{"name":"a","parameters":{"binary_data":false}},{"name":"b"}],"parameters":{"binary_data_output":true}}`
	bin := append(le64(-1, 1<<40), le32(1.5, -2)...)
	got, err := decodeRequest([]byte(header), bin)
	if err != nil {
		t.Fatal(err)
	}
	want := []inference.Tensor{
		{Name: "i", DataType: inference.INT64, Shape: []int64{1, 2}, Int64: []int64{-1, 1 << 40}},
		{Name: "j", DataType: inference.INT64, Shape: []int64{1}, Int64: []int64{5}},
		{Name: "f", DataType: inference.FP32, Shape: []int64{2}, Float32: []float32{1.5, -2}},
	}
	if !reflect.DeepEqual(got.tensors, want) {
		t.Fatalf("tensors %+v, want %+v", got.tensors, want)
	}
	// binary_data_output makes every output binary but the one that says otherwise.
	for name, binary := range map[string]bool{"a": false, "b": true, "c": true} {
		if got.outputBinary(name) != binary {
			t.Errorf("output %q binary = %v, want %v", name, !binary, binary)
		}
	}

	bad := []struct {
		name, header string
		bin          []byte
		wantMsg      string
	}{
		{"size beyond the data", `{"inputs":[{"name":"i","shape":[2],"datatype":"INT64","parameters":{"binary_data_size":16}}]}`, le64(1), "only 8 bytes of binary data are left"},
		{"bytes nobody claims", `{"inputs":[{"name":"i","shape":[1],"datatype":"INT64","parameters":{"binary_data_size":8}}]}`, le64(1, 2), "8 bytes of binary data that no input's binary_data_size claims"},
		{"partial INT64", `{"inputs":[{"name":"i","shape":[1],"datatype":"INT64","parameters":{"binary_data_size":4}}]}`, le32(1), "not a whole number of INT64 elements"},
		{"partial FP32", `{"inputs":[{"name":"f","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":3}}]}`, []byte{1, 2, 3}, "not a whole number of FP32 elements"},
		{"data and binary", `{"inputs":[{"name":"f","shape":[1],"datatype":"FP32","data":[1],"parameters":{"binary_data_size":4}}]}`, le32(1), "has both data and the parameter binary_data_size"},
		{"binary for a JSON input", `{"inputs":[{"name":"f","shape":[1],"datatype":"FP32","data":[1]}]}`, le32(1), "no input's binary_data_size claims"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeRequest([]byte(tt.header), tt.bin)
			if inference.ErrorCode(err) != inference.CodeInvalid || !strings.Contains(inference.ErrorMessage(err), tt.wantMsg) {
				t.Fatalf("err %v; want CodeInvalid containing %q", err, tt.wantMsg)
			}
		})
	}
}

// FuzzDecodeRequest: whatever the body, the decoder returns a request or an
// invalid-request error, never a panic or another kind of error.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"inputs":[{"name":"items","shape":[1,3],"datatype":"INT64","data":[1,2,3]}]}`,
		`{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[[1.5],[2]]}],"outputs":[{"name":"y","parameters":{"binary_data":true}}]}`,
		`{"inputs":[{"name":"i","shape":[1],"datatype":"INT64","parameters":{"binary_data_size":8}}]}`,
		`{"id":"\u00e9\"","x":[{},[],null,true,-1.5e3]}`,
	} {
		f.Add([]byte(s), le64(7))
	}
	f.Fuzz(func(t *testing.T, body, bin []byte) {
		req, err := decodeRequest(body, bin)
		if err != nil {
			if inference.ErrorCode(err) != inference.CodeInvalid {
				t.Fatalf("error %v is not CodeInvalid", err)
			}
			return
		}
		if len(req.tensors) == 0 {
			t.Fatal("a request without inputs was accepted")
		}
	})
}
