package oip_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/inference"
)

type binaryAnswer struct {
	status int
	header http.Header
	json   map[string]any
	bin    []byte
}

func (f *fixture) post(t *testing.T, path string, body []byte, headers map[string]string) binaryAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := binaryAnswer{status: resp.StatusCode, header: resp.Header}
	n := len(raw)
	if h := resp.Header.Get("Inference-Header-Content-Length"); h != "" {
		if n, err = strconv.Atoi(h); err != nil || n > len(raw) {
			t.Fatalf("Inference-Header-Content-Length %q for a body of %d bytes", h, len(raw))
		}
	}
	if err := json.Unmarshal(raw[:n], &a.json); err != nil {
		t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, raw)
	}
	a.bin = raw[n:]
	return a
}

// TestBinaryTensorData sends the same recommendation request in JSON and with the
// binary tensor data extension (inputs and outputs binary, one output asked back in
// JSON): every number must be the same, and bad framing a clear 400.
func TestBinaryTensorData(t *testing.T) {
	f := newFixture(t, inference.Fetcher{})
	if err := f.reg.Apply(context.Background(), f.config()); err != nil {
		t.Fatal(err)
	}
	if code, md := f.do(t, "GET", "/v2", ""); code != 200 || !strings.Contains(mustJSON(t, md["extensions"]), "binary_tensor_data") {
		t.Fatalf("server metadata = %d %v; want the binary_tensor_data extension", code, md)
	}
	ctx := []int64{5, 6, 7, 8, 9, 10}
	asJSON := f.post(t, "/v2/models/recs/infer", []byte(`{"inputs":[{"name":"items","shape":[2,3],"datatype":"INT64","data":[5,6,7,8,9,10]}]}`), nil)
	if asJSON.status != 200 || asJSON.header.Get("Inference-Header-Content-Length") != "" {
		t.Fatalf("JSON answer %d %v", asJSON.status, asJSON.header)
	}
	header := `{"id":"b1","inputs":[{"name":"items","shape":[2,3],"datatype":"INT64","parameters":{"binary_data_size":48}}],` +
		`"outputs":[{"name":"scores"},{"name":"item_indices","parameters":{"binary_data":false}}],"parameters":{"binary_data_output":true}}`
	body := []byte(header)
	for _, v := range ctx {
		body = binary.LittleEndian.AppendUint64(body, uint64(v))
	}
	a := f.post(t, "/v2/models/recs/infer", body, map[string]string{"Inference-Header-Content-Length": strconv.Itoa(len(header)), "Content-Type": "application/octet-stream"})
	if a.status != 200 || a.json["id"] != "b1" || a.header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("binary answer %d %v %v", a.status, a.header, a.json)
	}
	want := outputsByName(asJSON.json)
	got := outputsByName(a.json)
	// scores: binary, and exactly the JSON answer's numbers.
	scores := got["scores"]
	size := int(scores["parameters"].(map[string]any)["binary_data_size"].(float64))
	if scores["data"] != nil || size != len(a.bin) || size != 4*len(want["scores"]["data"].([]any)) {
		t.Fatalf("scores: %v with %d bytes after the JSON; want binary_data_size = %d bytes and no data", scores, len(a.bin), 4*len(want["scores"]["data"].([]any)))
	}
	for i, w := range want["scores"]["data"].([]any) {
		if g := math.Float32frombits(binary.LittleEndian.Uint32(a.bin[4*i:])); float64(g) != w.(float64) && strconv.FormatFloat(float64(g), 'g', -1, 32) != strconv.FormatFloat(w.(float64), 'g', -1, 32) {
			t.Fatalf("score %d: binary %g, JSON %v", i, g, w)
		}
	}
	// item_indices asked back in JSON: the JSON answer's, exactly.
	if mustJSON(t, got["item_indices"]["data"]) != mustJSON(t, want["item_indices"]["data"]) {
		t.Fatalf("item_indices %v, JSON answer %v", got["item_indices"]["data"], want["item_indices"]["data"])
	}

	bad := []struct {
		name, header string
		body         []byte
		wantMsg      string
	}{
		{"header not a number", "x", body, `Inference-Header-Content-Length header is "x"`},
		{"header beyond the body", strconv.Itoa(len(body) + 1), body, "at most its"},
		{"header cuts the JSON", strconv.Itoa(len(header) - 1), body, "not a valid inference request"},
		{"binary data short", strconv.Itoa(len(header)), body[:len(body)-8], "only 40 bytes of binary data are left"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			a := f.post(t, "/v2/models/recs/infer", tt.body, map[string]string{"Inference-Header-Content-Length": tt.header})
			if a.status != 400 || !strings.Contains(a.json["error"].(string), tt.wantMsg) {
				t.Fatalf("answer %d %v; want 400 containing %q", a.status, a.json, tt.wantMsg)
			}
		})
	}
}

// TestOversizedBodyOfUnknownLength: a chunked body (no Content-Length) above the
// limit is cut off and refused with 413, like one that declares its length.
func TestOversizedBodyOfUnknownLength(t *testing.T) {
	f := newFixture(t, inference.Fetcher{})
	if err := f.reg.Apply(context.Background(), f.config()); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte(`{"inputs":[{"name":"items","shape":[1,1],"datatype":"INT64","data":[`))
		chunk := []byte(strings.Repeat("1,", 4096))
		for range (16 << 20) / len(chunk) {
			if _, err := pw.Write(chunk); err != nil {
				return // the server stopped reading
			}
		}
		_ = pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v2/models/recs/infer", pr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	_ = pr.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(raw), "larger than 1048576 bytes") {
		t.Fatalf("answer %d %s; want 413", resp.StatusCode, raw)
	}
}

func outputsByName(answer map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, o := range answer["outputs"].([]any) {
		m := o.(map[string]any)
		out[m["name"].(string)] = m
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
