package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/gort"
	"github.com/kommerce/kommerce/inference/oip"
	"github.com/kommerce/kommerce/inference/ort"
	"github.com/kommerce/kommerce/internal/config"
	"github.com/kommerce/kommerce/internal/server"
	"github.com/kommerce/kommerce/internal/version"
)

// inferenceConfig is the settings of `kommerce inference`.
type inferenceConfig struct {
	serverConfig
	models         string
	lib            string
	runtime        string
	threads        int
	maxBatch       int
	batchRows      int
	batchWait      time.Duration
	maxElements    int
	maxRequest     int
	maxModel       int
	reloadInterval time.Duration
	fetchTimeout   time.Duration
	// One model given by flags instead of a list (how the operator runs a
	// ModelVersion's pods).
	modelName      string
	modelVersion   string
	modelURI       string
	modelSHA256    string
	modelTensors   string
	terminationLog string
}

// single reports whether one model is given by flags rather than by a list.
func (c *inferenceConfig) single() bool { return c.modelURI != "" || c.modelSHA256 != "" }

// singleModelConfig is the model list of one model given by flags. --model-tensors
// is JSON {"inputs": [...], "outputs": [...]} in a ModelVersion's spec.artifact
// shape; the file is refused when its graph declares other tensors.
func (c *inferenceConfig) singleModelConfig() (inference.Config, error) {
	if c.models != "" {
		return inference.Config{}, config.Usagef("give either --models or --model-uri/--model-sha256, not both")
	}
	mc := inference.ModelConfig{Name: c.modelName, Version: c.modelVersion, URI: c.modelURI, SHA256: c.modelSHA256, Default: true}
	if c.modelTensors != "" {
		var tensors struct {
			Inputs  []inference.ExpectedTensor `json:"inputs"`
			Outputs []inference.ExpectedTensor `json:"outputs"`
		}
		dec := json.NewDecoder(strings.NewReader(c.modelTensors))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&tensors); err != nil {
			return inference.Config{}, config.Usagef("--model-tensors / KOMMERCE_INFERENCE_MODEL_TENSORS: want JSON {\"inputs\": [{name, datatype, shape}], \"outputs\": [...]}: %v", err)
		}
		mc.Inputs, mc.Outputs = tensors.Inputs, tensors.Outputs
	}
	if u, err := url.Parse(c.modelURI); err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") {
		return inference.Config{}, config.Usagef("--model-uri / KOMMERCE_INFERENCE_MODEL_URI %q: want an http://, https:// or file:// URL", c.modelURI)
	}
	cfg := inference.Config{Models: []inference.ModelConfig{mc}}
	if err := cfg.Validate(); err != nil {
		return inference.Config{}, config.Usagef("%v", err)
	}
	return cfg, nil
}

func runInference(ctx context.Context, e *env) error {
	set := config.NewSet("inference", `Serve ONNX models over the Open Inference Protocol (KServe v2 REST): /v2, /v2/health/{live,ready},
/v2/models/{name}[/versions/{v}][/ready|/infer], plus /healthz, /readyz and /metrics.
The model list (--models) is YAML: models: [{name, version, uri, sha256, runtime, default,
inputs, outputs}]; uri is a path or an http(s) URL and sha256 is required. The file is
re-read every --reload-interval and a change is swapped in atomically; a model file that
is refused (checksum, size, format, tensors) leaves the previous one serving.

Concurrent requests to the same model version are merged into one runtime call of at
most --batch-max-rows rows (dynamic batching) and the outputs split back per request;
requests whose inputs differ in shape beyond the batch dimension run apart, and a
merged call that fails is retried request by request so that an error stays with its
request. kommerce_inference_batch_rows, _batch_requests and _batch_queue_seconds show
the batches formed.

Instead of a list, --model-uri and --model-sha256 (with --model-name, --model-version and
--model-tensors) serve one model, as the operator runs a ModelVersion: readiness stays
false until it is loaded, and a model that is refused ends the process with status 1
after writing the reason to --termination-log.`, e.getenv)
	var c inferenceConfig
	c.register(set, defaultInferenceAddr)
	set.String(&c.models, "models", "KOMMERCE_INFERENCE_MODELS", "", "path of the model list (YAML); required")
	set.String(&c.lib, "onnxruntime-lib", "KOMMERCE_ONNXRUNTIME_LIB", "", "path of libonnxruntime.so (hack/onnxruntime.sh installs it)")
	set.String(&c.runtime, "runtime", "KOMMERCE_INFERENCE_RUNTIME", "auto", "default runtime: onnxruntime, go (pure Go, fewer operators), or auto (onnxruntime when the library is set)",
		config.Enum("auto", ort.Name, gort.Name))
	set.Int(&c.threads, "threads", "KOMMERCE_INFERENCE_THREADS", 1, "onnxruntime intra-op threads per model", config.Check(config.Positive))
	set.Int(&c.maxBatch, "max-batch", "KOMMERCE_INFERENCE_MAX_BATCH", 256, "largest batch (first dimension) one request may send", config.Check(config.Positive))
	set.Int(&c.batchRows, "batch-max-rows", "KOMMERCE_INFERENCE_BATCH_MAX_ROWS", 64, "dynamic batching: concurrent requests to one model version are merged into one runtime call of at most this many rows (a request's own batch counts its rows; 1 = off)", config.Check(config.Positive))
	set.Duration(&c.batchWait, "batch-max-wait", "KOMMERCE_INFERENCE_BATCH_MAX_WAIT", 0, "dynamic batching: longest a request waits for others to join it (0 = leave as soon as a runtime slot is free, merging only what queued while all were busy)", config.Check(nonNegativeDuration))
	set.Int(&c.maxElements, "max-elements", "KOMMERCE_INFERENCE_MAX_ELEMENTS", 1<<20, "most elements one input tensor may have", config.Check(config.Positive))
	set.Int(&c.maxRequest, "max-request-bytes", "KOMMERCE_INFERENCE_MAX_REQUEST_BYTES", 16<<20, "largest inference request body", config.Check(config.Positive))
	set.Int(&c.maxModel, "max-model-bytes", "KOMMERCE_INFERENCE_MAX_MODEL_BYTES", 512<<20, "largest model file accepted", config.Check(config.Positive))
	set.Duration(&c.reloadInterval, "reload-interval", "KOMMERCE_INFERENCE_RELOAD_INTERVAL", 10*time.Second, "how often the model list is re-read (0 = never)")
	set.Duration(&c.fetchTimeout, "fetch-timeout", "KOMMERCE_INFERENCE_FETCH_TIMEOUT", 2*time.Minute, "timeout for downloading one model over http(s)")
	set.String(&c.modelURI, "model-uri", "KOMMERCE_INFERENCE_MODEL_URI", "", "serve one model from this http(s):// or file:// URL instead of a list")
	set.String(&c.modelSHA256, "model-sha256", "KOMMERCE_INFERENCE_MODEL_SHA256", "", "sha256 the --model-uri file must have (64 hex digits)")
	set.String(&c.modelName, "model-name", "KOMMERCE_INFERENCE_MODEL_NAME", "model", "name of the --model-uri model in /v2/models/{name}")
	set.String(&c.modelVersion, "model-version", "KOMMERCE_INFERENCE_MODEL_VERSION", "1", "version of the --model-uri model")
	set.String(&c.modelTensors, "model-tensors", "KOMMERCE_INFERENCE_MODEL_TENSORS", "", `tensors the --model-uri model must declare, JSON {"inputs": [{name, datatype, shape}], "outputs": [...]} (empty: not checked)`)
	set.String(&c.terminationLog, "termination-log", "KOMMERCE_TERMINATION_LOG", "", "file the reason a --model-uri model was refused is written to before exiting (Kubernetes shows /dev/termination-log in the pod's status)")
	if _, err := set.Parse(e.args, e.stdout); err != nil {
		return err
	}
	var cfg inference.Config
	var err error
	switch {
	case c.single():
		if cfg, err = c.singleModelConfig(); err != nil {
			return err
		}
	case c.models == "":
		return config.Usagef("--models / KOMMERCE_INFERENCE_MODELS is required: the path of the model list (or --model-uri and --model-sha256 for one model)")
	default:
		if cfg, err = inference.ReadConfig(c.models); err != nil {
			return config.Usagef("%v", err)
		}
	}
	if c.runtime == "auto" {
		c.runtime = gort.Name
		if c.lib != "" {
			c.runtime = ort.Name
		}
	}
	runtimes := map[string]inference.Runtime{gort.Name: gort.New()}
	if c.lib != "" {
		rt, err := ort.New(c.lib, c.threads)
		if err != nil {
			return err
		}
		runtimes[ort.Name] = rt
	} else if c.runtime == ort.Name {
		return config.Usagef("--runtime onnxruntime needs --onnxruntime-lib / KOMMERCE_ONNXRUNTIME_LIB (run hack/onnxruntime.sh)")
	}
	log := c.logger(e.stderr)
	prom := server.NewRegistry()
	tp, stopTracing, err := startTracing(e, "inference", log)
	if err != nil {
		return err
	}
	defer stopTracing()
	if err := tp.Register(prom); err != nil {
		return err
	}
	reg := inference.NewRegistry(inference.Options{
		Runtimes: runtimes, DefaultRuntime: c.runtime,
		Fetcher:  inference.Fetcher{Client: &http.Client{Timeout: c.fetchTimeout}, MaxBytes: int64(c.maxModel)},
		Limits:   inference.Limits{MaxBatch: int64(c.maxBatch), MaxElements: int64(c.maxElements)},
		Batching: inference.Batching{MaxRows: c.batchRows, MaxWait: c.batchWait},
		Metrics:  inference.NewMetrics(prom), Logger: log,
	})
	defer reg.Close()
	var srv *server.Server
	h := &oip.Handler{Registry: reg, Draining: func() bool { return srv.Draining() }, MaxBodyBytes: int64(c.maxRequest), Version: version.Version, Logger: log}
	opts := c.options("inference", log)
	stopProfiling, err := c.startProfiling(log)
	if err != nil {
		return err
	}
	defer stopProfiling()
	opts.Handler, opts.Registry = h.Routes(), prom
	opts.Checks = append(opts.Checks, server.Check{Name: "models", Fn: func(context.Context) error { return reg.Ready() }})
	srv = server.New(opts)
	if c.single() {
		return serveOne(ctx, log, srv, reg, cfg, c.terminationLog)
	}
	// Load in the background: liveness answers at once, readiness once models load.
	go func() {
		err := reg.Apply(ctx, cfg)
		if err != nil {
			log.Error("some models were refused", "err", err)
		}
		if c.reloadInterval > 0 {
			watchModels(ctx, log, reg, c.models, c.reloadInterval, err == nil)
		}
	}()
	return srv.Run(ctx)
}

// nonNegativeDuration checks a duration setting is not below zero.
func nonNegativeDuration(v string) error {
	if d, err := time.ParseDuration(v); err == nil && d < 0 {
		return errors.New("must not be negative")
	}
	return nil
}

// serveOne serves while the one model loads in the background (liveness answers at
// once, readiness once it is loaded) and stops the server if it is refused: a pod
// that can never serve its ModelVersion should say so in its status, not idle
// unready. The reason goes to terminationLog, which Kubernetes copies into the
// container's termination message, where the operator reads it.
func serveOne(ctx context.Context, log *slog.Logger, srv *server.Server, reg *inference.Registry, cfg inference.Config, terminationLog string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	loadErr := make(chan error, 1)
	go func() {
		err := reg.Apply(ctx, cfg)
		loadErr <- err
		if err != nil {
			cancel()
		}
	}()
	err := srv.Run(ctx)
	select {
	case lerr := <-loadErr:
		if lerr == nil {
			return err
		}
		if werr := writeTerminationLog(terminationLog, lerr.Error()); werr != nil {
			log.Error("writing the termination log", "path", terminationLog, "err", werr)
		}
		return fmt.Errorf("model refused: %w", lerr)
	default:
		return err // stopped before the load finished
	}
}

// terminationMessageMax is what Kubernetes keeps of a termination message.
const terminationMessageMax = 4096

// writeTerminationLog writes msg (cut to what Kubernetes keeps) to path; an empty
// path writes nothing.
func writeTerminationLog(path, msg string) error {
	if path == "" {
		return nil
	}
	if len(msg) > terminationMessageMax {
		msg = msg[:terminationMessageMax-3] + "..."
	}
	return os.WriteFile(path, []byte(msg), 0o644)
}

// watchModels re-reads the model list and applies it whenever its content changes,
// and again on every tick while the last apply refused a model (a download may
// have failed for a passing reason).
func watchModels(ctx context.Context, log *slog.Logger, reg *inference.Registry, path string, every time.Duration, applied bool) {
	var last []byte
	if applied {
		last = fileSum(path)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sum := fileSum(path)
		if sum == nil || bytes.Equal(sum, last) {
			continue
		}
		cfg, err := inference.ReadConfig(path)
		if err != nil {
			log.Error("model list not applied", "err", err)
			last = sum
			continue
		}
		log.Info("applying the model list", "path", path)
		if err := reg.Apply(ctx, cfg); err != nil {
			log.Error("some models were refused", "err", err)
			continue
		}
		last = sum
	}
}

func fileSum(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := sha256.Sum256(b)
	return s[:]
}
