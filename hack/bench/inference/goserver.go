package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"

	"github.com/kommerce/kommerce/inference/training"
)

// startGoServer serves the hand-written Go forward pass of the recommendation model
// behind the same net/http server, over loopback: the least any served model pays.
// It reads the same JSON request body as the model server (just the numbers of
// "data", by a hand-written scan) and answers the same OIP JSON (the top k scores
// and indices) — no registry, validation, metrics or runtime. It is the second
// baseline of the benchmark, next to the in-process Go forward pass.
func startGoServer(recs *training.RecsModel, k int) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctx, err := dataInts(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		scores := recs.Scores(ctx)
		top := topK(scores, k)
		b := make([]byte, 0, 2048)
		b = append(b, `{"model_name":"recs","model_version":"1","outputs":[{"name":"scores","datatype":"FP32","shape":[1,`...)
		b = strconv.AppendInt(b, int64(len(top)), 10)
		b = append(b, `],"data":[`...)
		for i, j := range top {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, float64(float32(scores[j])), 'g', -1, 32)
		}
		b = append(b, `]},{"name":"item_indices","datatype":"INT64","shape":[1,`...)
		b = strconv.AppendInt(b, int64(len(top)), 10)
		b = append(b, `],"data":[`...)
		for i, j := range top {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(j), 10)
		}
		b = append(b, "]}]}\n"...)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	})
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// dataInts returns the integers of the first "data" array of an OIP JSON request.
func dataInts(body []byte) ([]int64, error) {
	i := bytes.Index(body, []byte(`"data":[`))
	if i < 0 {
		return nil, fmt.Errorf("no data")
	}
	rest := body[i+len(`"data":[`):]
	end := bytes.IndexByte(rest, ']')
	if end < 0 {
		return nil, fmt.Errorf("data does not end")
	}
	var out []int64
	for f := range bytes.SplitSeq(rest[:end], []byte(",")) {
		v, err := strconv.ParseInt(string(bytes.TrimSpace(f)), 10, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
