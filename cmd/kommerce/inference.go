package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"os"
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
	maxElements    int
	maxRequest     int
	maxModel       int
	reloadInterval time.Duration
	fetchTimeout   time.Duration
}

func runInference(ctx context.Context, e *env) error {
	set := config.NewSet("inference", `Serve ONNX models over the Open Inference Protocol (KServe v2 REST): /v2, /v2/health/{live,ready},
/v2/models/{name}[/versions/{v}][/ready|/infer], plus /healthz, /readyz and /metrics.
The model list (--models) is YAML: models: [{name, version, uri, sha256, runtime, default}];
uri is a path or an http(s) URL and sha256 is required. The file is re-read every
--reload-interval and a change is swapped in atomically; a model file that is refused
(checksum, size, format) leaves the previous one serving.`, e.getenv)
	var c inferenceConfig
	c.register(set, defaultInferenceAddr)
	set.String(&c.models, "models", "KOMMERCE_INFERENCE_MODELS", "", "path of the model list (YAML); required")
	set.String(&c.lib, "onnxruntime-lib", "KOMMERCE_ONNXRUNTIME_LIB", "", "path of libonnxruntime.so (hack/onnxruntime.sh installs it)")
	set.String(&c.runtime, "runtime", "KOMMERCE_INFERENCE_RUNTIME", "auto", "default runtime: onnxruntime, go (pure Go, fewer operators), or auto (onnxruntime when the library is set)",
		config.Enum("auto", ort.Name, gort.Name))
	set.Int(&c.threads, "threads", "KOMMERCE_INFERENCE_THREADS", 1, "onnxruntime intra-op threads per model", config.Check(config.Positive))
	set.Int(&c.maxBatch, "max-batch", "KOMMERCE_INFERENCE_MAX_BATCH", 256, "largest batch (first dimension) one request may send", config.Check(config.Positive))
	set.Int(&c.maxElements, "max-elements", "KOMMERCE_INFERENCE_MAX_ELEMENTS", 1<<20, "most elements one input tensor may have", config.Check(config.Positive))
	set.Int(&c.maxRequest, "max-request-bytes", "KOMMERCE_INFERENCE_MAX_REQUEST_BYTES", 16<<20, "largest inference request body", config.Check(config.Positive))
	set.Int(&c.maxModel, "max-model-bytes", "KOMMERCE_INFERENCE_MAX_MODEL_BYTES", 512<<20, "largest model file accepted", config.Check(config.Positive))
	set.Duration(&c.reloadInterval, "reload-interval", "KOMMERCE_INFERENCE_RELOAD_INTERVAL", 10*time.Second, "how often the model list is re-read (0 = never)")
	set.Duration(&c.fetchTimeout, "fetch-timeout", "KOMMERCE_INFERENCE_FETCH_TIMEOUT", 2*time.Minute, "timeout for downloading one model over http(s)")
	if _, err := set.Parse(e.args, e.stdout); err != nil {
		return err
	}
	if c.models == "" {
		return config.Usagef("--models / KOMMERCE_INFERENCE_MODELS is required: the path of the model list")
	}
	cfg, err := inference.ReadConfig(c.models)
	if err != nil {
		return config.Usagef("%v", err)
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
		Fetcher: inference.Fetcher{Client: &http.Client{Timeout: c.fetchTimeout}, MaxBytes: int64(c.maxModel)},
		Limits:  inference.Limits{MaxBatch: int64(c.maxBatch), MaxElements: int64(c.maxElements)},
		Metrics: inference.NewMetrics(prom), Logger: log,
	})
	defer reg.Close()
	var srv *server.Server
	h := &oip.Handler{Registry: reg, Draining: func() bool { return srv.Draining() }, MaxBodyBytes: int64(c.maxRequest), Version: version.Version, Logger: log}
	opts := c.options("inference", log)
	opts.Handler, opts.Registry = h.Routes(), prom
	opts.Checks = append(opts.Checks, server.Check{Name: "models", Fn: func(context.Context) error { return reg.Ready() }})
	srv = server.New(opts)
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
