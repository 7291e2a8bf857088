package inference

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kommerce/kommerce/inference/onnx"
)

// Options configures a Registry.
type Options struct {
	// Runtimes by name; DefaultRuntime names the one used when a model config names
	// none.
	Runtimes       map[string]Runtime
	DefaultRuntime string
	Fetcher        Fetcher
	Limits         Limits
	// Batching merges concurrent requests to a model version into one runtime call
	// (zero value: off). Models whose tensors have no run-time batch dimension are
	// never batched.
	Batching Batching
	Metrics  *Metrics
	Logger   *slog.Logger
}

// Registry holds the loaded models. Lookups read an immutable snapshot through an
// atomic pointer, so a config change swaps every model at once and a request never
// sees half of a change; sessions that left the snapshot are closed once their
// in-flight requests finish.
type Registry struct {
	opts    Options
	applyMu sync.Mutex // one Apply at a time
	cur     atomic.Pointer[snapshot]
	applied atomic.Bool
}

type snapshot struct {
	models map[string]*modelEntry
	// failures records the load error of a model version (by name, then version),
	// shown by the ready and metadata endpoints.
	failures map[string]map[string]error
}

type modelEntry struct {
	name           string
	versions       map[string]*loaded
	order          []string // config order
	defaultVersion string
}

// loaded is one model version with its session. The RWMutex lets requests run
// concurrently and lets retirement wait for them; a request holds it while it waits
// in the batch queue too, so a retired session has no batch left to run.
type loaded struct {
	cfg      ModelConfig
	sig      Signature
	meta     map[string]string
	session  Session
	metrics  *versionMetrics // nil without metrics
	batch    *batcher        // nil when requests run one by one
	loadedAt time.Time
	mu       sync.RWMutex
	retired  bool
}

// NewRegistry returns an empty registry; it is not ready until Apply has run.
func NewRegistry(opts Options) *Registry {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{opts: opts}
	r.cur.Store(&snapshot{models: map[string]*modelEntry{}, failures: map[string]map[string]error{}})
	return r
}

// Apply loads what changed in cfg and swaps the served set atomically. A model
// version whose new file is refused keeps serving its previous file; a version that
// never loaded stays unavailable. The returned error joins every load failure (the
// other models are served regardless).
func (r *Registry) Apply(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	old := r.cur.Load()
	next := &snapshot{models: map[string]*modelEntry{}, failures: map[string]map[string]error{}}
	keep := map[*loaded]bool{}
	var errs []error
	for _, mc := range cfg.Models {
		prev := old.find(mc.Name, mc.Version)
		l := prev
		if prev == nil || !reflect.DeepEqual(prev.cfg, withoutDefault(mc)) {
			nl, err := r.load(ctx, mc)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s version %s: %w", mc.Name, mc.Version, err))
				if next.failures[mc.Name] == nil {
					next.failures[mc.Name] = map[string]error{}
				}
				next.failures[mc.Name][mc.Version] = err
				r.opts.Metrics.loadFailed(mc.Name, mc.Version)
				r.opts.Logger.Error("model refused", "model", mc.Name, "version", mc.Version, "uri", redact(mc.URI), "err", err, "keeps_serving_previous", prev != nil)
			} else {
				l = nl
				r.opts.Logger.Info("model loaded", "model", mc.Name, "version", mc.Version, "runtime", r.runtimeName(mc), "uri", redact(mc.URI))
			}
		}
		if l == nil {
			continue
		}
		e := next.models[mc.Name]
		if e == nil {
			e = &modelEntry{name: mc.Name, versions: map[string]*loaded{}}
			next.models[mc.Name] = e
		}
		keep[l] = true
		e.versions[mc.Version] = l
		e.order = append(e.order, mc.Version)
		if mc.Default {
			e.defaultVersion = mc.Version
		}
	}
	for _, e := range next.models {
		if e.defaultVersion == "" && len(e.order) > 0 {
			e.defaultVersion = e.order[len(e.order)-1]
		}
	}
	r.cur.Store(next)
	r.applied.Store(true)
	r.opts.Metrics.setReady(old, next)
	for _, e := range old.models {
		for _, l := range e.versions {
			if !keep[l] {
				go r.retire(l)
			}
		}
	}
	return errors.Join(errs...)
}

func withoutDefault(mc ModelConfig) ModelConfig { mc.Default = false; return mc }

func (r *Registry) runtimeName(mc ModelConfig) string {
	if mc.Runtime != "" {
		return mc.Runtime
	}
	return r.opts.DefaultRuntime
}

func (r *Registry) load(ctx context.Context, mc ModelConfig) (*loaded, error) {
	rt, ok := r.opts.Runtimes[r.runtimeName(mc)]
	if !ok {
		return nil, Errorf(CodeLoadFailed, "runtime %q is not available in this server", r.runtimeName(mc))
	}
	b, err := r.opts.Fetcher.Fetch(ctx, mc.URI, mc.SHA256)
	if err != nil {
		return nil, err
	}
	m, err := onnx.Decode(b)
	if err != nil {
		return nil, &Error{Code: CodeLoadFailed, Message: "the file is not a valid ONNX model", Err: err}
	}
	s, err := rt.Load(ctx, b)
	if err != nil {
		return nil, err
	}
	if err := s.Signature().Match(mc.Inputs, mc.Outputs); err != nil {
		_ = s.Close()
		return nil, err
	}
	l := &loaded{cfg: withoutDefault(mc), sig: s.Signature(), meta: onnx.Metadata(m), session: s, loadedAt: time.Now()}
	l.metrics = r.opts.Metrics.version(mc.Name, mc.Version, l.sig)
	if r.opts.Batching.enabled() && batchable(l.sig) {
		l.batch = newBatcher(s, r.opts.Batching, l.metrics)
	}
	return l, nil
}

// retire waits for the requests still running on l, then closes its session.
func (r *Registry) retire(l *loaded) {
	l.mu.Lock()
	l.retired = true
	err := l.session.Close()
	l.mu.Unlock()
	if err != nil {
		r.opts.Logger.Warn("closing retired model", "model", l.cfg.Name, "version", l.cfg.Version, "err", err)
	}
}

// Close retires every model; the registry serves nothing afterwards.
func (r *Registry) Close() {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	old := r.cur.Swap(&snapshot{models: map[string]*modelEntry{}, failures: map[string]map[string]error{}})
	for _, e := range old.models {
		for _, l := range e.versions {
			r.retire(l)
		}
	}
}

func (s *snapshot) find(name, version string) *loaded {
	if e := s.models[name]; e != nil {
		return e.versions[version]
	}
	return nil
}

// lookup resolves name and version ("" = the default version).
func (s *snapshot) lookup(name, version string) (*loaded, error) {
	e := s.models[name]
	if e == nil {
		for _, err := range s.failures[name] {
			return nil, &Error{Code: CodeUnavailable, Message: fmt.Sprintf("model %q is not loaded: %s", name, ErrorMessage(err)), Err: err}
		}
		return nil, Errorf(CodeNotFound, "model %q is not served here", name)
	}
	if version == "" {
		version = e.defaultVersion
	}
	l := e.versions[version]
	if l == nil {
		if err, failed := s.failures[name][version]; failed {
			return nil, &Error{Code: CodeUnavailable, Message: fmt.Sprintf("model %q version %q is not loaded: %s", name, version, ErrorMessage(err)), Err: err}
		}
		return nil, Errorf(CodeNotFound, "model %q has no version %q; served versions: %v", name, version, e.order)
	}
	return l, nil
}

// ModelInfo describes a served model version.
type ModelInfo struct {
	Name      string
	Version   string
	Versions  []string // every served version of the model
	Runtime   string
	Signature Signature
	// Metadata is the ONNX file's metadata_props, e.g. the item ids of a
	// recommendation model's output indices.
	Metadata map[string]string
}

// Model returns the metadata of a model version ("" = default version).
func (r *Registry) Model(name, version string) (ModelInfo, error) {
	s := r.cur.Load()
	l, err := s.lookup(name, version)
	if err != nil {
		return ModelInfo{}, err
	}
	e := s.models[name]
	vs := append([]string(nil), e.order...)
	return ModelInfo{Name: name, Version: l.cfg.Version, Versions: vs, Runtime: r.runtimeName(l.cfg), Signature: l.sig, Metadata: l.meta}, nil
}

// Ready returns nil once the first Apply has run and every configured model has a
// loaded version; otherwise an Error saying what is missing.
func (r *Registry) Ready() error {
	if !r.applied.Load() {
		return Errorf(CodeUnavailable, "models are still loading")
	}
	s := r.cur.Load()
	var missing []string
	for name := range s.failures {
		if s.models[name] == nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return Errorf(CodeUnavailable, "no version of %v is loaded", missing)
	}
	return nil
}

// Infer validates inputs and runs the model. The result names the version that
// served. If a hot swap retires the version between lookup and run, the request is
// retried on the new snapshot, so swaps never fail a request.
func (r *Registry) Infer(ctx context.Context, name, version string, inputs []Tensor) ([]Tensor, string, error) {
	start := time.Now()
	for {
		l, err := r.cur.Load().lookup(name, version)
		if err != nil {
			r.opts.Metrics.failed(name, orUnknown(version), string(ErrorCode(err)))
			return nil, "", err
		}
		out, retired, err := r.run(ctx, l, inputs)
		if retired {
			continue
		}
		code := "ok"
		if err != nil {
			code = string(ErrorCode(err))
		}
		r.opts.Metrics.observe(l.metrics, name, l.cfg.Version, time.Since(start).Seconds(), code, out)
		return out, l.cfg.Version, err
	}
}

func orUnknown(v string) string {
	if v == "" {
		return "default"
	}
	return v
}

func (r *Registry) run(ctx context.Context, l *loaded, inputs []Tensor) ([]Tensor, bool, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.retired {
		return nil, true, nil
	}
	ordered, err := l.sig.Validate(inputs, r.opts.Limits)
	if err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, &Error{Code: CodeUnavailable, Message: "request cancelled", Err: err}
	}
	var out []Tensor
	if l.batch != nil {
		out, err = l.batch.do(ctx, ordered)
	} else {
		out, err = l.session.Run(ctx, ordered)
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			err = &Error{Code: CodeInternal, Message: "the runtime failed", Err: err}
		}
		return nil, false, err
	}
	return out, false, nil
}
