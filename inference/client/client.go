// Package client calls a kommerce inference server over the Open Inference Protocol
// v2 REST API. It adds no retries or fallbacks of its own: callers that serve
// shoppers wrap it (see inference/recs).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/kommerce/kommerce/internal/tracing"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/kommerce/kommerce/inference"
)

// Client talks to one inference server.
type Client struct {
	// BaseURL is the server, e.g. http://inference:8081 (KOMMERCE_INFERENCE_URL).
	BaseURL string
	// HTTP defaults to a client with pooled connections; timeouts come from ctx.
	HTTP *http.Client
}

// StatusError is an OIP error answer.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("inference server answered %d: %s", e.Status, e.Message)
}

// Metadata is a model version's OIP metadata.
type Metadata struct {
	Name       string            `json:"name"`
	Versions   []string          `json:"versions"`
	Parameters map[string]string `json:"parameters"`
	Inputs     []TensorMetadata  `json:"inputs"`
	Outputs    []TensorMetadata  `json:"outputs"`
}

// TensorMetadata describes one tensor.
type TensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// Version returns the version the metadata describes (a kommerce extension).
func (m *Metadata) Version() string { return m.Parameters["version"] }

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultClient
}

// defaultClient has pooled connections and joins the caller's trace when tracing is
// on (the transport passes requests through untouched otherwise).
var defaultClient = &http.Client{Transport: tracing.Transport(nil)}

func (c *Client) path(model, version, suffix string) string {
	p := strings.TrimRight(c.BaseURL, "/") + "/v2/models/" + url.PathEscape(model)
	if version != "" {
		p += "/versions/" + url.PathEscape(version)
	}
	return p + suffix
}

// Metadata fetches a model version's metadata ("" = the default version).
func (c *Client) Metadata(ctx context.Context, model, version string) (*Metadata, error) {
	var md Metadata
	if err := c.do(ctx, http.MethodGet, c.path(model, version, ""), nil, &md); err != nil {
		return nil, err
	}
	return &md, nil
}

type wireTensor struct {
	Name     string          `json:"name"`
	Shape    []int64         `json:"shape"`
	Datatype string          `json:"datatype"`
	Data     json.RawMessage `json:"data"`
}

// Response is an inference answer.
type Response struct {
	ModelVersion string
	Outputs      map[string]inference.Tensor
}

// Infer runs a model version ("" = the default version).
func (c *Client) Infer(ctx context.Context, model, version string, inputs []inference.Tensor) (*Response, error) {
	req := struct {
		Inputs []wireTensor `json:"inputs"`
	}{}
	for _, t := range inputs {
		var data []byte
		var err error
		if t.DataType == inference.INT64 {
			data, err = json.Marshal(t.Int64)
		} else {
			data, err = json.Marshal(t.Float32)
		}
		if err != nil {
			return nil, err
		}
		req.Inputs = append(req.Inputs, wireTensor{Name: t.Name, Shape: t.Shape, Datatype: string(t.DataType), Data: data})
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var res struct {
		ModelVersion string       `json:"model_version"`
		Outputs      []wireTensor `json:"outputs"`
	}
	if err := c.do(ctx, http.MethodPost, c.path(model, version, "/infer"), body, &res); err != nil {
		return nil, err
	}
	out := &Response{ModelVersion: res.ModelVersion, Outputs: map[string]inference.Tensor{}}
	for _, w := range res.Outputs {
		t := inference.Tensor{Name: w.Name, Shape: w.Shape, DataType: inference.DataType(w.Datatype)}
		switch t.DataType {
		case inference.INT64:
			err = json.Unmarshal(w.Data, &t.Int64)
		case inference.FP32:
			err = json.Unmarshal(w.Data, &t.Float32)
		default:
			err = fmt.Errorf("unsupported datatype %q", w.Datatype)
		}
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", w.Name, err)
		}
		out.Outputs[w.Name] = t
	}
	return out, nil
}

func (c *Client) do(ctx context.Context, method, url string, body []byte, into any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		return &StatusError{Status: resp.StatusCode, Message: e.Error}
	}
	return json.Unmarshal(raw, into)
}
