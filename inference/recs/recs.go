// Package recs is what the commerce API calls for GET /api/v1/recommendations: it
// assigns the shopper to an experiment arm, asks the inference server for the arm's
// model with a timeout behind a circuit breaker, and falls back to popularity on
// any failure, so a shopper never sees an error because of a model. Every answer
// is reported as a model.exposure event.
package recs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/client"
	"github.com/kommerce/kommerce/inference/features"
	"github.com/kommerce/kommerce/internal/events"
)

// Context kinds of a recommendation request.
const (
	ContextProduct = "product"
	ContextCart    = "cart"
	ContextHome    = "home"
)

// Sources of an answer and the reasons for a fallback.
const (
	SourceModel      = "model"
	SourcePopularity = "popularity"

	ReasonArm         = "arm"          // the shopper's arm is popularity
	ReasonNoContext   = "no_context"   // no product of the context is known to the model
	ReasonBreakerOpen = "breaker_open" // recent failures: the model is not asked
	ReasonTimeout     = "timeout"
	ReasonError       = "error"
)

// MaxLimit bounds how many products one answer holds.
const MaxLimit = 50

// Popularity ranks products without a model; it must answer from memory or a fast
// store, since it is the fallback.
type Popularity interface {
	Top(n int) []string
}

// Options configures a Recommender.
type Options struct {
	Client     *client.Client
	Experiment Experiment
	Popularity Popularity
	Exposures  ExposureSink // may be nil
	// Timeout bounds one model call (default 150ms).
	Timeout time.Duration
	// Breaker: it opens after FailuresToOpen consecutive failures (default 5) and
	// lets one trial call through after OpenFor (default 10s).
	FailuresToOpen uint32
	OpenFor        time.Duration
	// MetadataTTL is how long a model's default version and product list are cached
	// (default 30s).
	MetadataTTL time.Duration
	Logger      *slog.Logger
}

// Recommender answers recommendation requests. Safe for concurrent use.
type Recommender struct {
	opts    Options
	breaker *gobreaker.CircuitBreaker[[]string]
	mu      sync.Mutex
	vocab   map[string]*vocabulary // by model + "/" + requested version
}

type vocabulary struct {
	version string
	items   []string
	index   map[string]int64
	fetched time.Time
}

// New builds a Recommender; the experiment must be valid.
func New(opts Options) (*Recommender, error) {
	if err := opts.Experiment.Validate(); err != nil {
		return nil, err
	}
	if opts.Popularity == nil || opts.Client == nil {
		return nil, errors.New("recs: a client and a popularity ranking are required")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 150 * time.Millisecond
	}
	if opts.FailuresToOpen == 0 {
		opts.FailuresToOpen = 5
	}
	if opts.OpenFor <= 0 {
		opts.OpenFor = 10 * time.Second
	}
	if opts.MetadataTTL <= 0 {
		opts.MetadataTTL = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Recommender{opts: opts, vocab: map[string]*vocabulary{}}
	r.breaker = gobreaker.NewCircuitBreaker[[]string](gobreaker.Settings{
		Name: "recommendations", MaxRequests: 1, Timeout: opts.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= opts.FailuresToOpen },
		// A context nobody knows is the shopper's, not the server's, fault.
		IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, errNoContext) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			opts.Logger.Warn("recommendation circuit breaker", "from", from.String(), "to", to.String())
		},
	})
	return r, nil
}

// Request is one recommendation request, as the API parsed it.
type Request struct {
	TenantID   string
	Storefront string
	// SubjectKey assigns the arm: the user id, or the session or cart token of a
	// guest.
	SubjectKey string
	// ContextKind is product, cart or home; Context is the product ids: the product
	// viewed, the cart's products, or the shopper's recent history for home.
	ContextKind string
	Context     []string
	Limit       int
}

// Response is what the shopper is shown and why.
type Response struct {
	Items     []string
	Source    string
	Fallback  string // reason, when Source is popularity
	Arm       string
	Model     string
	Version   string
	RequestID string
}

var errNoContext = errors.New("no product of the context is known to the model")

// Recommend never fails: every error becomes a popularity answer with a reason.
func (r *Recommender) Recommend(ctx context.Context, req Request) Response {
	limit := min(max(req.Limit, 1), MaxLimit)
	arm := r.opts.Experiment.Assign(req.SubjectKey)
	res := Response{Arm: arm.Name, Model: arm.Model, RequestID: newID()}
	if arm.Model == "" {
		res.Fallback = ReasonArm
	} else {
		var version string
		items, err := r.breaker.Execute(func() ([]string, error) {
			var err error
			var items []string
			items, version, err = r.fromModel(ctx, arm, req.Context, limit)
			return items, err
		})
		res.Version = version
		switch {
		case err == nil:
			res.Items, res.Source = items, SourceModel
		case errors.Is(err, errNoContext):
			res.Fallback = ReasonNoContext
		case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
			res.Fallback = ReasonBreakerOpen
		case errors.Is(err, context.DeadlineExceeded):
			res.Fallback = ReasonTimeout
		default:
			res.Fallback = ReasonError
			r.opts.Logger.Warn("recommendation model failed; serving popularity", "model", arm.Model, "err", err)
		}
	}
	if res.Source == "" {
		res.Source = SourcePopularity
	}
	res.Items = fill(res.Items, r.opts.Popularity.Top(limit+len(req.Context)), req.Context, limit)
	if r.opts.Exposures != nil {
		r.opts.Exposures.Publish(events.Exposure{
			RequestID: res.RequestID, TenantID: req.TenantID, Storefront: req.Storefront, SubjectKey: req.SubjectKey,
			Purpose: "recommendations", Experiment: r.opts.Experiment.Name, Arm: res.Arm, Model: res.Model, Version: res.Version,
			Source: res.Source, Fallback: res.Fallback, ContextKind: req.ContextKind, Items: res.Items, At: time.Now().UTC(),
		})
	}
	return res
}

// fromModel asks the arm's model for the context and maps the answer to product ids.
func (r *Recommender) fromModel(ctx context.Context, arm Arm, products []string, limit int) ([]string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	v, err := r.vocabulary(ctx, arm.Model, arm.Version)
	if err != nil {
		return nil, "", err
	}
	var idx []int64
	for _, id := range products {
		if i, ok := v.index[id]; ok {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil, v.version, errNoContext
	}
	// Pin the version whose product list we hold, so a hot swap on the server
	// cannot pair indices with the wrong list.
	resp, err := r.opts.Client.Infer(ctx, arm.Model, v.version, []inference.Tensor{{
		Name: features.RecsInput, DataType: inference.INT64, Shape: []int64{1, int64(len(idx))}, Int64: idx,
	}})
	if err != nil {
		var se *client.StatusError
		if errors.As(err, &se) && se.Status == 404 {
			r.forget(arm.Model, arm.Version)
		}
		return nil, v.version, err
	}
	out, ok := resp.Outputs[features.RecsOutputItems]
	if !ok {
		return nil, v.version, fmt.Errorf("model %s answered without %q", arm.Model, features.RecsOutputItems)
	}
	exclude := map[string]bool{}
	for _, id := range products {
		exclude[id] = true
	}
	items, err := features.DecodeItems(out.Int64, v.items, exclude, limit)
	if err != nil {
		return nil, v.version, fmt.Errorf("model %s: %w", arm.Model, err)
	}
	return items, v.version, nil
}

// vocabulary returns the product list of a model version, cached for MetadataTTL.
func (r *Recommender) vocabulary(ctx context.Context, model, version string) (*vocabulary, error) {
	key := model + "/" + version
	r.mu.Lock()
	v := r.vocab[key]
	r.mu.Unlock()
	if v != nil && time.Since(v.fetched) < r.opts.MetadataTTL {
		return v, nil
	}
	md, err := r.opts.Client.Metadata(ctx, model, version)
	if err != nil {
		return nil, err
	}
	v = &vocabulary{version: md.Version(), index: map[string]int64{}, fetched: time.Now()}
	if v.items, err = features.Items(md.Parameters); err != nil || v.version == "" {
		return nil, fmt.Errorf("model %s version %q has no product list in its metadata", model, md.Version())
	}
	for i, id := range v.items {
		v.index[id] = int64(i)
	}
	r.mu.Lock()
	r.vocab[key] = v
	r.mu.Unlock()
	return v, nil
}

func (r *Recommender) forget(model, version string) {
	r.mu.Lock()
	delete(r.vocab, model+"/"+version)
	r.mu.Unlock()
}

// fill tops up items with popular products not already shown nor in the context.
func fill(items, popular, context []string, limit int) []string {
	seen := map[string]bool{}
	for _, id := range context {
		seen[id] = true
	}
	out := make([]string, 0, limit)
	for _, id := range append(items, popular...) {
		if len(out) == limit {
			break
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
