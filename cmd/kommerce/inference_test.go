package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/inference/ort/orttest"
	"github.com/kommerce/kommerce/internal/testenv"
)

func TestTrainAndInferenceUsageErrors(t *testing.T) {
	dir := t.TempDir()
	badList := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badList, []byte("models:\n- name: recs\n  version: \"1\"\n  uri: x.onnx\n  sha256: abc\n"), 0o644)
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantStderr string
	}{
		{"train without purpose", nil, []string{"train"}, "exactly one of recommendations, fraud"},
		{"train unknown purpose", nil, []string{"train", "ranking"}, "exactly one of recommendations, fraud"},
		{"train bad hold-out", nil, []string{"train", "fraud", "--hold-out", "1.5"}, "between 0 and 1"},
		{"train bad source", nil, []string{"train", "fraud", "--source", "csv"}, "accepted values are synthetic, events"},
		{"train events without brokers", nil, []string{"train", "fraud", "--source", "events"}, "needs --kafka-brokers"},
		{"inference without models", nil, []string{"inference"}, "KOMMERCE_INFERENCE_MODELS is required"},
		{"inference bad model list", map[string]string{"KOMMERCE_INFERENCE_MODELS": badList}, []string{"inference"}, "sha256 must be 64 hex digits"},
		{"inference missing model list", nil, []string{"inference", "--models", filepath.Join(dir, "nope.yaml")}, "read model config"},
		{"inference onnxruntime without library", nil, []string{"inference", "--models", writeList(t, dir, ""), "--runtime", "onnxruntime"}, "needs --onnxruntime-lib"},
		{"inference list and one model", nil, []string{"inference", "--models", writeList(t, dir, ""), "--model-uri", "https://m.example/a.onnx", "--model-sha256", strings.Repeat("a", 64)}, "either --models or --model-uri"},
		{"inference one model by an s3 uri", nil, []string{"inference", "--model-uri", "s3://bucket/a.onnx", "--model-sha256", strings.Repeat("a", 64)}, "want an http://, https:// or file:// URL"},
		{"inference one model without sha256", nil, []string{"inference", "--model-uri", "https://m.example/a.onnx"}, "sha256 must be 64 hex digits"},
		{"inference one model with bad tensors", nil, []string{"inference", "--model-uri", "https://m.example/a.onnx", "--model-sha256", strings.Repeat("a", 64), "--model-tensors", `{"inputz":[]}`}, "KOMMERCE_INFERENCE_MODEL_TENSORS"},
		{"inference bad batch limit", nil, []string{"inference", "--models", writeList(t, dir, ""), "--max-batch", "0"}, "KOMMERCE_INFERENCE_MAX_BATCH"},
		{"inference no batch rows", nil, []string{"inference", "--models", writeList(t, dir, ""), "--batch-max-rows", "0"}, "KOMMERCE_INFERENCE_BATCH_MAX_ROWS"},
		{"inference negative batch wait", map[string]string{"KOMMERCE_INFERENCE_BATCH_MAX_WAIT": "-1ms"}, []string{"inference", "--models", writeList(t, dir, "")}, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := invoke(t, tt.env, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.wantStderr) {
				t.Fatalf("exit %d stderr %q; want 2 and %q", code, stderr, tt.wantStderr)
			}
		})
	}
}

func writeList(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "models.yaml")
	if body == "" {
		body = "models: []\n"
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTrainThenServe runs `kommerce train` for both purposes, then `kommerce
// inference` on what it wrote, and changes the model list while it runs.
func TestTrainThenServe(t *testing.T) {
	dir := t.TempDir()
	var sums = map[string]string{}
	for _, purpose := range []string{"recommendations", "fraud"} {
		code, stdout, stderr := invoke(t, nil, "train", purpose, "--out", dir, "--version", "7", "--factors", "16", "--log-level", "warn")
		if code != 0 {
			t.Fatalf("train %s: exit %d: %s", purpose, code, stderr)
		}
		for _, l := range strings.Split(stdout, "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[0] == "sha256" {
				sums[purpose] = f[1]
			}
		}
	}
	recs := filepath.Join(dir, "recs-als-7.onnx")
	fraud := filepath.Join(dir, "fraud-logreg-7.onnx")
	var mv v1alpha1.ModelVersion
	raw, err := os.ReadFile(filepath.Join(dir, "recs-als-7.modelversion.yaml"))
	if err != nil || yaml.UnmarshalStrict(raw, &mv) != nil {
		t.Fatalf("manifest: %v\n%s", err, raw)
	}
	if mv.Kind != "ModelVersion" || mv.Spec.Artifact.SHA256 != sums["recommendations"] || mv.Spec.Artifact.URI != "file://"+recs || mv.Spec.Purpose != v1alpha1.PurposeRecommendations || mv.Spec.Model != "recs-als" {
		t.Fatalf("manifest does not describe the written file: %+v", mv)
	}
	card, err := os.ReadFile(filepath.Join(dir, "fraud-logreg-7.card.md"))
	if err != nil || !strings.Contains(string(card), "precision at 2.0% review budget") || !strings.Contains(string(card), "log_accounts_on_ip_30d") {
		t.Fatalf("fraud model card lacks metrics or schema: %v\n%s", err, card)
	}

	list := writeList(t, dir, fmt.Sprintf("models:\n- {name: recs, version: \"7\", uri: %q, sha256: %s}\n", recs, sums["recommendations"]))
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	env := map[string]string{"KOMMERCE_ONNXRUNTIME_LIB": orttest.Library(t), "KOMMERCE_HTTP_ADDR": addr}
	go func() {
		var out, errOut strings.Builder
		done <- run(ctx, []string{"kommerce", "inference", "--models", list, "--reload-interval", "50ms", "--log-level", "warn"},
			func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
	}()
	base := "http://" + addr
	serving(t, done, base+"/v2/health/ready")
	body := `{"inputs":[{"name":"items","shape":[1,2],"datatype":"INT64","data":[3,4]}]}`
	resp, err := http.Post(base+"/v2/models/recs/infer", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		ModelVersion string `json:"model_version"`
		Outputs      []struct{ Name string }
	}
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if resp.StatusCode != 200 || res.ModelVersion != "7" || len(res.Outputs) != 2 {
		t.Fatalf("infer = %d %+v", resp.StatusCode, res)
	}
	if status(base+"/v2/models/fraud/ready") != 404 {
		t.Fatal("fraud served before it was listed")
	}
	writeList(t, dir, fmt.Sprintf("models:\n- {name: recs, version: \"7\", uri: %q, sha256: %s}\n- {name: fraud, version: \"7\", uri: %q, sha256: %s, runtime: go}\n",
		recs, sums["recommendations"], fraud, sums["fraud"]))
	serving(t, done, base+"/v2/models/fraud/versions/7/ready")
	if status(base+"/metrics") != 200 || status(base+"/readyz") != 200 {
		t.Fatal("metrics or readyz do not answer")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("inference stopped with %v", err)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func status(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// serving waits until url answers 200, failing at once if the server exits first.
func serving(t *testing.T, done chan error, url string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, url+" answers 200", func() (bool, string) {
		select {
		case err := <-done:
			t.Fatalf("server exited before %s answered: %v", url, err)
		default:
		}
		code := status(url)
		return code == 200, fmt.Sprintf("status %d", code)
	})
}

// TestInferenceOneModel runs `kommerce inference` the way the operator runs a
// ModelVersion's pod: one model by URI from a real HTTP server, its sha256 and its
// published tensors. A good file is served under the ModelVersion's name; a refused
// one ends the process with status 1 and the reason in the termination log.
func TestInferenceOneModel(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := invoke(t, nil, "train", "recommendations", "--out", dir, "--version", "3", "--factors", "8", "--log-level", "warn")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	var sum string
	for _, l := range strings.Split(stdout, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "sha256" {
			sum = f[1]
		}
	}
	good, err := os.ReadFile(filepath.Join(dir, "recs-als-3.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "truncated.onnx"), good[:len(good)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	files := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(files.Close)
	tensors := `{"inputs":[{"name":"items","datatype":"INT64","shape":[-1,-1]}],` +
		`"outputs":[{"name":"scores","datatype":"FP32","shape":[-1,-1]},{"name":"item_indices","datatype":"INT64","shape":[-1,-1]}]}`

	t.Run("serves a verified model", func(t *testing.T) {
		addr := freeAddr(t)
		env := map[string]string{"KOMMERCE_HTTP_ADDR": addr, "KOMMERCE_INFERENCE_MODEL_URI": files.URL + "/recs-als-3.onnx",
			"KOMMERCE_INFERENCE_MODEL_SHA256": sum, "KOMMERCE_INFERENCE_MODEL_NAME": "recs-mf",
			"KOMMERCE_INFERENCE_MODEL_VERSION": "recs-mf-v2", "KOMMERCE_INFERENCE_MODEL_TENSORS": tensors}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			var out, errOut strings.Builder
			done <- run(ctx, []string{"kommerce", "inference", "--log-level", "warn"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
		}()
		serving(t, done, "http://"+addr+"/v2/models/recs-mf/versions/recs-mf-v2/ready")
		if status("http://"+addr+"/readyz") != 200 {
			t.Fatal("readyz does not answer 200 with the model loaded")
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("inference stopped with %v", err)
		}
	})

	refused := []struct {
		name, uri, sha256, tensors, want string
	}{
		{"wrong sha256", "/recs-als-3.onnx", strings.Repeat("0", 64), tensors, "has sha256 " + sum},
		{"truncated file", "/truncated.onnx", sha256Hex(good[:len(good)/3]), "", "not a valid ONNX model"},
		{"tensors that differ from the published ones", "/recs-als-3.onnx", sum,
			`{"inputs":[{"name":"user_id","datatype":"INT64","shape":[-1,1]}],"outputs":[{"name":"scores","datatype":"FP32","shape":[-1,1000]}]}`,
			`input "user_id" is published but the graph has no such input`},
		{"unreachable artifact", "/missing.onnx", sum, "", "answered HTTP 404"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			termLog := filepath.Join(t.TempDir(), "termination-log")
			args := []string{"inference", "--http-addr", freeAddr(t), "--model-uri", files.URL + tt.uri, "--model-sha256", tt.sha256,
				"--termination-log", termLog, "--log-level", "warn"}
			if tt.tensors != "" {
				args = append(args, "--model-tensors", tt.tensors)
			}
			code, _, stderr := invoke(t, nil, args...)
			if code != 1 || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d stderr %q; want 1 and %q", code, stderr, tt.want)
			}
			msg, err := os.ReadFile(termLog)
			if err != nil || !strings.Contains(string(msg), tt.want) {
				t.Fatalf("termination log %q (%v); want it to say %q", msg, err, tt.want)
			}
		})
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
