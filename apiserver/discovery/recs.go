package discovery

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/inference/client"
	"github.com/kommerce/kommerce/inference/recs"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/sfsettings"
)

// RecsStore reads the catalog for recommendations (postgres.DiscoveryStore).
type RecsStore interface {
	// RecentProducts ranks published products newest first.
	RecentProducts(ctx context.Context, limit int) ([]string, error)
	// ProductSummaries keeps the published, non-deleted products of the tenant among
	// ids, in order.
	ProductSummaries(ctx context.Context, ids []string) ([]apiserver.RecommendedProduct, error)
}

// ExposureSinks gives the exposure sink of a tenant's topic prefix
// (apiserver/kafka.Kafka.Exposures).
type ExposureSinks interface {
	Exposures(ctx context.Context, topicPrefix string) (recs.ExposureSink, error)
}

// Recommendation parameters and bounds.
const (
	DefaultRecsLimit = 10
	MaxRecsItems     = 20 // product ids in items
	// FallbackCatalogUnavailable: the catalog could not be read, so nothing could
	// be checked as showable and the answer is empty rather than an error.
	FallbackCatalogUnavailable = "catalog_unavailable"
)

// Recommendations implements apiserver.RecommendationService with inference/recs:
// one Recommender (experiment assignment, model call with timeout and circuit
// breaker, popularity fallback) per tenant and storefront.
//
// Popularity is the optional Ranking (e.g. the ranking file `kommerce train`
// writes) followed by the tenant's catalog ranking — its published products newest
// first, re-read every PopularityTTL — because no sales ranking exists yet. Whatever
// the model or the rankings propose, only published, non-deleted products of the
// request's tenant are returned (one query per request), never the context's own
// products.
type Recommendations struct {
	Store       RecsStore
	Storefronts *Storefronts
	// InferenceURL is the model server; empty serves popularity only.
	InferenceURL string
	HTTP         *http.Client
	// Model is the model name on the server (default "recs"); ControlPercent of
	// shoppers (by a stable hash) get popularity as the experiment's control arm.
	Model          string
	ControlPercent int
	Ranking        recs.Popularity
	Exposures      ExposureSinks // nil: exposures are not logged
	Timeout        time.Duration // one model call (default 150ms)
	PopularityTTL  time.Duration // catalog ranking refresh (default 1m)
	// Experiments, when set, is the traffic split of a pod serving one storefront
	// from its settings document (ModelExperiment): it replaces InferenceURL, Model
	// and ControlPercent, and a new document moves traffic without a restart. key
	// changes whenever the split may have.
	Experiments func() (exp recs.Experiment, key any)
	Log         *slog.Logger

	mu       sync.Mutex
	client   *client.Client
	rankings map[string]*catalogRanking // by tenant id
	recs     map[string]*recs.Recommender
	expKey   map[string]any // the Experiments key each recommender was last set from
}

var _ apiserver.RecommendationService = (*Recommendations)(nil)

// recsParams are the parsed query parameters.
type recsParams struct {
	kind    string
	context []string
	session string
	limit   int
}

var sessionPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,200}$`)

func parseRecsParams(v url.Values) (recsParams, error) {
	p := recsParams{kind: recs.ContextHome, limit: DefaultRecsLimit}
	for k, vals := range v {
		switch k {
		case "context", "limit", "session_id":
			if len(vals) > 1 {
				return p, apiserver.FieldErrorf(k, "%s may be given only once.", k)
			}
		case "items":
		default:
			return p, apiserver.FieldErrorf(k, "Unknown query parameter %q; use context, items, limit or session_id.", k)
		}
	}
	badContext := apiserver.FieldErrorf("context", "context must be home, cart or product:<product id>.")
	switch c := v.Get("context"); {
	case c == "" || c == recs.ContextHome:
	case c == recs.ContextCart:
		p.kind = recs.ContextCart
	case strings.HasPrefix(c, recs.ContextProduct+":"):
		id := strings.TrimPrefix(c, recs.ContextProduct+":")
		if !apiserver.ValidID(id) {
			return p, badContext
		}
		p.kind, p.context = recs.ContextProduct, []string{id}
	default:
		return p, badContext
	}
	items := 0
	for _, s := range v["items"] {
		for _, id := range strings.Split(s, ",") {
			if id = strings.TrimSpace(id); id == "" {
				continue
			}
			if !apiserver.ValidID(id) {
				return p, apiserver.FieldErrorf("items", "items must be product ids separated by commas.")
			}
			if items++; items > MaxRecsItems {
				return p, apiserver.FieldErrorf("items", "items holds at most %d product ids.", MaxRecsItems)
			}
			p.context = append(p.context, id)
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > recs.MaxLimit {
			return p, apiserver.FieldErrorf("limit", "limit must be a whole number between 1 and %d.", recs.MaxLimit)
		}
		p.limit = n
	}
	if s := v.Get("session_id"); s != "" {
		if !sessionPattern.MatchString(s) {
			return p, apiserver.FieldErrorf("session_id", "session_id must be 1 to 200 characters of letters, digits, '.', '_', ':' or '-'.")
		}
		p.session = s
	}
	return p, nil
}

// Recommend implements apiserver.RecommendationService.
func (r *Recommendations) Recommend(ctx context.Context, host string, params url.Values) (*apiserver.Recommendation, error) {
	p, err := parseRecsParams(params)
	if err != nil {
		return nil, err
	}
	t, err := apiserver.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	storefront := r.Storefronts.Name(ctx, host)
	subject := p.session
	if pr := apiserver.PrincipalFromContext(ctx); pr != nil {
		subject = pr.UserID
	}
	if subject == "" {
		subject = "anonymous"
	}
	ranking := r.ranking(t.ID)
	ranking.refresh(ctx, r.Store, r.popularityTTL(), r.log())
	rec, err := r.recommender(t.ID, storefront, ranking)
	if err != nil {
		return nil, err
	}
	// Ask for more than the page: some proposals may not be showable.
	res := rec.Recommend(ctx, recs.Request{TenantID: t.ID, Storefront: storefront, SubjectKey: subject,
		ContextKind: p.kind, Context: p.context, Limit: min(2*p.limit+len(p.context), recs.MaxLimit)})
	out := &apiserver.Recommendation{Items: []apiserver.RecommendedProduct{}, Source: res.Source, FallbackReason: res.Fallback,
		Model: res.Model, Version: res.Version, RequestID: res.RequestID}
	if res.Source != recs.SourceModel {
		out.Model, out.Version = "", ""
	}
	exclude := map[string]bool{}
	for _, id := range p.context {
		exclude[id] = true
	}
	var candidates []string
	for _, id := range append(append([]string(nil), res.Items...), ranking.catalogTop(p.limit+len(p.context))...) {
		if !exclude[id] {
			exclude[id] = true
			candidates = append(candidates, id)
		}
	}
	items, err := r.Store.ProductSummaries(ctx, candidates)
	if err != nil {
		r.log().WarnContext(ctx, "recommendations: catalog unavailable; answering with no products", "error", err)
		out.Source, out.FallbackReason, out.Model, out.Version = recs.SourcePopularity, FallbackCatalogUnavailable, "", ""
	} else {
		out.Items = items[:min(len(items), p.limit)]
	}
	r.expose(ctx, t, storefront, subject, p.kind, res, out)
	return out, nil
}

// expose logs what the shopper is actually shown (after the visibility filter), so
// the experiment analysis never counts a product nobody saw.
func (r *Recommendations) expose(ctx context.Context, t *apiserver.Tenant, storefront, subject, kind string, res recs.Response, out *apiserver.Recommendation) {
	if r.Exposures == nil {
		return
	}
	sink, err := r.Exposures.Exposures(ctx, t.TopicPrefix)
	if err != nil {
		r.log().WarnContext(ctx, "recommendation exposure not logged", "error", err)
		return
	}
	ids := make([]string, len(out.Items))
	for i, it := range out.Items {
		ids[i] = it.ID
	}
	sink.Publish(events.Exposure{
		RequestID: res.RequestID, TenantID: t.ID, Storefront: storefront, SubjectKey: subject,
		Purpose: "recommendations", Experiment: res.Experiment, Arm: res.Arm, Model: res.Model, Version: res.Version,
		Source: out.Source, Fallback: out.FallbackReason, ContextKind: kind, Items: ids, At: time.Now().UTC(),
		LatencyMs: res.LatencyMs(),
	})
}

const experimentName = "recs"

// experiment is the split between the model and the popularity control arm.
func (r *Recommendations) experiment() recs.Experiment {
	model := r.Model
	if model == "" {
		model = "recs"
	}
	control := min(max(r.ControlPercent, 0), 100)
	if r.InferenceURL == "" || control == 100 {
		return recs.Experiment{Name: experimentName, Arms: []recs.Arm{{Name: "popularity", Weight: 100}}}
	}
	arms := []recs.Arm{{Name: "model", Model: model, Weight: 100 - control}}
	if control > 0 {
		arms = append(arms, recs.Arm{Name: "control", Weight: control})
	}
	return recs.Experiment{Name: experimentName, Arms: arms}
}

func (r *Recommendations) recommender(tenantID, storefront string, ranking *catalogRanking) (*recs.Recommender, error) {
	key := tenantID + "/" + storefront
	exp := r.experiment()
	var expKey any
	if r.Experiments != nil {
		exp, expKey = r.Experiments()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec, ok := r.recs[key]; ok {
		if r.Experiments != nil && r.expKey[key] != expKey {
			if err := rec.SetExperiment(exp); err != nil {
				// The document was validated when it was loaded; an experiment it cannot
				// express keeps the previous split rather than failing shoppers.
				r.log().Warn("traffic split not applied; the previous one stays", "storefront", storefront, "error", err)
			}
			r.expKey[key] = expKey
		}
		return rec, nil
	}
	if r.client == nil {
		r.client = &client.Client{BaseURL: r.InferenceURL, HTTP: r.HTTP}
	}
	rec, err := recs.New(recs.Options{
		Client: r.client, Experiment: exp, Popularity: popularity{extra: r.Ranking, catalog: ranking},
		Timeout: r.Timeout, Logger: r.log().With("tenant_id", tenantID, "storefront", storefront),
	})
	if err != nil {
		return nil, err
	}
	if r.recs == nil {
		r.recs, r.expKey = map[string]*recs.Recommender{}, map[string]any{}
	}
	r.recs[key], r.expKey[key] = rec, expKey
	return rec, nil
}

// ModelExperiment is the recommendation experiment of a settings document's model
// binding: one arm per ModelVersion with its share of requests, its own inference
// Service and the baseline marked; shadows are mirrored, never assigned. A document
// without a recommendation model, or whose split gives no arm traffic yet, serves
// popularity.
func ModelExperiment(models []sfsettings.Model) recs.Experiment {
	for _, m := range models {
		if m.Purpose != "Recommendations" {
			continue
		}
		name := m.Experiment
		if name == "" {
			name = "recs-" + m.Model
		}
		exp := recs.Experiment{Name: name}
		served := false
		for _, a := range m.Arms {
			arm := recs.Arm{Name: a.ModelVersion, Model: a.ModelName, URL: a.URL, Baseline: a.Baseline && !a.Shadow}
			switch {
			case a.Shadow:
				arm.Shadow, arm.ShadowPercent = true, int(a.Percent)
			case a.Percent > 0:
				arm.Weight, served = int(a.Percent), true
			default:
				continue
			}
			exp.Arms = append(exp.Arms, arm)
		}
		if served && exp.Validate() == nil {
			return exp
		}
	}
	return recs.Experiment{Name: experimentName, Arms: []recs.Arm{{Name: "popularity", Weight: 100}}}
}

func (r *Recommendations) ranking(tenantID string) *catalogRanking {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rankings == nil {
		r.rankings = map[string]*catalogRanking{}
	}
	c, ok := r.rankings[tenantID]
	if !ok {
		c = &catalogRanking{}
		r.rankings[tenantID] = c
	}
	return c
}

func (r *Recommendations) popularityTTL() time.Duration {
	if r.PopularityTTL > 0 {
		return r.PopularityTTL
	}
	return time.Minute
}

func (r *Recommendations) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// catalogRankingSize is how many products the catalog ranking holds.
const catalogRankingSize = 200

// catalogRanking is a tenant's published products, newest first, re-read at most
// once per TTL by one request while the others use the previous list.
type catalogRanking struct {
	mu         sync.Mutex
	ids        []string
	fetched    time.Time
	refreshing bool
}

func (c *catalogRanking) refresh(ctx context.Context, store RecsStore, ttl time.Duration, log *slog.Logger) {
	c.mu.Lock()
	if c.refreshing || (!c.fetched.IsZero() && time.Since(c.fetched) < ttl) {
		c.mu.Unlock()
		return
	}
	c.refreshing = true
	c.mu.Unlock()
	ids, err := store.RecentProducts(ctx, catalogRankingSize)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	if err != nil {
		log.WarnContext(ctx, "popularity ranking not refreshed", "error", err)
		return
	}
	c.ids, c.fetched = ids, time.Now()
}

func (c *catalogRanking) catalogTop(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ids[:min(n, len(c.ids))]...)
}

// popularity is the recs.Popularity of a tenant: the extra ranking first, then the
// catalog's, without repeats.
type popularity struct {
	extra   recs.Popularity
	catalog *catalogRanking
}

func (p popularity) Top(n int) []string {
	var out []string
	seen := map[string]bool{}
	add := func(ids []string) {
		for _, id := range ids {
			if len(out) == n {
				return
			}
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	if p.extra != nil {
		add(p.extra.Top(n))
	}
	add(p.catalog.catalogTop(n))
	return out
}
