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
	"slices"
	"sync"
	"sync/atomic"
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
	// OnShadow, when set, receives the outcome of each mirrored call to a shadow
	// arm: the overlap of its products with the answer the shopper got (0 to 1),
	// or the error it failed with (ErrShadowBusy when the call was dropped).
	OnShadow func(arm string, overlap float64, err error)
	// ShadowConcurrency bounds the mirrored calls in flight (default 8): shadows
	// must never take resources from shoppers' requests.
	ShadowConcurrency int
	Logger            *slog.Logger
}

// ErrShadowBusy is reported to OnShadow for a mirrored call dropped because
// ShadowConcurrency calls were already in flight.
var ErrShadowBusy = errors.New("shadow call dropped: too many in flight")

// Recommender answers recommendation requests. Safe for concurrent use.
type Recommender struct {
	opts    Options
	arms    atomic.Pointer[armSet]
	shadows chan struct{}
	mu      sync.Mutex
	vocab   map[string]*vocabulary // by server + model + "/" + requested version
}

// armSet is an experiment with what serves each of its arms: a client and a circuit
// breaker per arm, so a failing candidate never opens the baseline's breaker.
type armSet struct {
	exp      Experiment
	clients  map[string]*client.Client
	breakers map[string]*gobreaker.CircuitBreaker[[]string]
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
	if opts.ShadowConcurrency <= 0 {
		opts.ShadowConcurrency = 8
	}
	r := &Recommender{opts: opts, vocab: map[string]*vocabulary{}, shadows: make(chan struct{}, opts.ShadowConcurrency)}
	if err := r.SetExperiment(opts.Experiment); err != nil {
		return nil, err
	}
	return r, nil
}

// SetExperiment replaces the experiment, e.g. when the storefront's settings bring
// a new traffic split. Requests in flight finish with the old one; the next ones
// use the new one. Breakers start closed for the new arms.
func (r *Recommender) SetExperiment(e Experiment) error {
	if err := e.Validate(); err != nil {
		return err
	}
	set := &armSet{exp: e, clients: map[string]*client.Client{}, breakers: map[string]*gobreaker.CircuitBreaker[[]string]{}}
	for _, a := range e.Arms {
		if a.Model == "" {
			continue
		}
		c := r.opts.Client
		if a.URL != "" && a.URL != c.BaseURL {
			c = &client.Client{BaseURL: a.URL, HTTP: r.opts.Client.HTTP}
		}
		set.clients[a.Name] = c
		set.breakers[a.Name] = gobreaker.NewCircuitBreaker[[]string](gobreaker.Settings{
			Name: "recommendations/" + a.Name, MaxRequests: 1, Timeout: r.opts.OpenFor,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= r.opts.FailuresToOpen },
			// A context nobody knows is the shopper's, not the server's, fault.
			IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, errNoContext) },
			OnStateChange: func(name string, from, to gobreaker.State) {
				r.opts.Logger.Warn("recommendation circuit breaker", "breaker", name, "from", from.String(), "to", to.String())
			},
		})
	}
	r.arms.Store(set)
	return nil
}

// Experiment returns the experiment in force.
func (r *Recommender) Experiment() Experiment { return r.arms.Load().exp }

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
	Items  []string
	Source string
	// Fallback is why the assigned arm's model did not answer: popularity answered
	// instead, or — when AnsweredBy is set — the baseline arm's model did.
	Fallback string
	Arm      string
	// AnsweredBy names the baseline arm whose model answered for a failing Arm.
	AnsweredBy string
	// Experiment is the experiment the shopper was assigned in.
	Experiment string
	// Latency is how long the assigned arm's model took to answer or fail (0 when
	// the arm has no model); a baseline answering for it is not included.
	Latency   time.Duration
	Model     string
	Version   string
	RequestID string
}

var errNoContext = errors.New("no product of the context is known to the model")

// Recommend never fails: every error becomes an answer with a reason — the
// baseline arm's model when the assigned arm's fails and there is a baseline, else
// popularity.
func (r *Recommender) Recommend(ctx context.Context, req Request) Response {
	limit := min(max(req.Limit, 1), MaxLimit)
	set := r.arms.Load()
	arm := set.exp.Assign(req.SubjectKey)
	res := Response{Arm: arm.Name, Model: arm.Model, RequestID: newID(), Experiment: set.exp.Name}
	if arm.Model == "" {
		res.Fallback = ReasonArm
	} else {
		start := time.Now()
		items, version, err := r.ask(ctx, set, arm, req.Context, limit)
		res.Version, res.Latency = version, time.Since(start)
		if err == nil {
			res.Items, res.Source = items, SourceModel
		} else {
			res.Fallback = reasonOf(err)
			if res.Fallback == ReasonError {
				r.opts.Logger.Warn("recommendation model failed", "arm", arm.Name, "model", arm.Model, "err", err)
			}
			if b, ok := set.exp.baseline(); ok && b.Name != arm.Name && res.Fallback != ReasonNoContext {
				if items, version, err := r.ask(ctx, set, b, req.Context, limit); err == nil {
					res.Items, res.Source, res.AnsweredBy, res.Model, res.Version = items, SourceModel, b.Name, b.Model, version
				}
			}
		}
	}
	if res.Source == "" {
		res.Source = SourcePopularity
	}
	answered := res.Items
	res.Items = fill(res.Items, r.opts.Popularity.Top(limit+len(req.Context)), req.Context, limit)
	for _, a := range set.exp.Arms {
		if a.Shadow && int(bucketOf(a.Name, res.RequestID, 100)) < a.ShadowPercent { //nolint:gosec // below 100
			r.mirror(set, a, req.Context, limit, answered)
		}
	}
	if r.opts.Exposures != nil {
		r.opts.Exposures.Publish(events.Exposure{
			RequestID: res.RequestID, TenantID: req.TenantID, Storefront: req.Storefront, SubjectKey: req.SubjectKey,
			Purpose: "recommendations", Experiment: set.exp.Name, Arm: res.Arm, Model: res.Model, Version: res.Version,
			Source: res.Source, Fallback: res.Fallback, ContextKind: req.ContextKind, Items: res.Items, At: time.Now().UTC(),
			LatencyMs: res.LatencyMs(),
		})
	}
	return res
}

// LatencyMs is Latency in milliseconds for an exposure event, nil when no model was
// asked.
func (r Response) LatencyMs() *float64 {
	if r.Latency <= 0 {
		return nil
	}
	ms := float64(r.Latency) / float64(time.Millisecond)
	return &ms
}

// ask calls one arm's model through the arm's breaker.
func (r *Recommender) ask(ctx context.Context, set *armSet, arm Arm, products []string, limit int) ([]string, string, error) {
	var version string
	items, err := set.breakers[arm.Name].Execute(func() ([]string, error) {
		var err error
		var items []string
		items, version, err = r.fromModel(ctx, set.clients[arm.Name], arm, products, limit)
		return items, err
	})
	return items, version, err
}

// reasonOf names why a model call did not give an answer.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, errNoContext):
		return ReasonNoContext
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return ReasonBreakerOpen
	case errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	default:
		return ReasonError
	}
}

// mirror sends a copy of the request to a shadow arm in the background and reports
// how far its answer is from what the shopper got. It never delays or changes the
// shopper's answer: when ShadowConcurrency calls are in flight the copy is dropped.
func (r *Recommender) mirror(set *armSet, arm Arm, products []string, limit int, answered []string) {
	select {
	case r.shadows <- struct{}{}:
	default:
		r.reportShadow(arm.Name, 0, ErrShadowBusy)
		return
	}
	products = slices.Clone(products)
	go func() {
		defer func() { <-r.shadows }()
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.Timeout)
		defer cancel()
		items, _, err := r.ask(ctx, set, arm, products, limit)
		r.reportShadow(arm.Name, overlap(items, answered), err)
	}()
}

func (r *Recommender) reportShadow(arm string, o float64, err error) {
	if r.opts.OnShadow != nil {
		r.opts.OnShadow(arm, o, err)
	}
}

// overlap is the share of products two answers have in common, relative to the
// longer one (1 when both are empty).
func overlap(a, b []string) float64 {
	n := max(len(a), len(b))
	if n == 0 {
		return 1
	}
	in := map[string]bool{}
	for _, id := range a {
		in[id] = true
	}
	common := 0
	for _, id := range b {
		if in[id] {
			common++
		}
	}
	return float64(common) / float64(n)
}

// fromModel asks the arm's model for the context and maps the answer to product ids.
func (r *Recommender) fromModel(ctx context.Context, c *client.Client, arm Arm, products []string, limit int) ([]string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	v, err := r.vocabulary(ctx, c, arm.Model, arm.Version)
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
	resp, err := c.Infer(ctx, arm.Model, v.version, []inference.Tensor{{
		Name: features.RecsInput, DataType: inference.INT64, Shape: []int64{1, int64(len(idx))}, Int64: idx,
	}})
	if err != nil {
		var se *client.StatusError
		if errors.As(err, &se) && se.Status == 404 {
			r.forget(c, arm.Model, arm.Version)
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
func (r *Recommender) vocabulary(ctx context.Context, c *client.Client, model, version string) (*vocabulary, error) {
	key := c.BaseURL + "|" + model + "/" + version
	r.mu.Lock()
	v := r.vocab[key]
	r.mu.Unlock()
	if v != nil && time.Since(v.fetched) < r.opts.MetadataTTL {
		return v, nil
	}
	md, err := c.Metadata(ctx, model, version)
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

func (r *Recommender) forget(c *client.Client, model, version string) {
	r.mu.Lock()
	delete(r.vocab, c.BaseURL+"|"+model+"/"+version)
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
