package stack_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/gort"
	"github.com/kommerce/kommerce/inference/oip"
	"github.com/kommerce/kommerce/inference/recs"
	"github.com/kommerce/kommerce/inference/training"
	"github.com/kommerce/kommerce/internal/events"
)

type recsAnswer struct {
	Items []struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Prices []struct {
			Currency string `json:"currency"`
			Amount   int64  `json:"amount"`
		} `json:"prices"`
	} `json:"items"`
	Source         string `json:"source"`
	FallbackReason string `json:"fallback_reason"`
	Model          string `json:"model"`
	RequestID      string `json:"request_id"`
}

func (a recsAnswer) ids() []string {
	out := make([]string, len(a.Items))
	for i, it := range a.Items {
		out[i] = it.ID
	}
	return out
}

// recsShop is a catalog with two taste clusters (knitwear, tops), a draft and a
// deleted product, created one after the other so newest-first order is known.
type recsShop struct {
	tenant                        *apiserver.Tenant
	sweater, cardigan, tee, shirt string
	draft, deleted                string
	published                     []string // newest first
}

func newRecsShop(e *apiEnv, slug, topicPrefix string) *recsShop {
	t := e.discTenant(slug, "test-recs-"+slug, topicPrefix)
	staff := e.user(t, "staff@"+slug+".test", apiserver.RoleStaff)
	s := &recsShop{tenant: t}
	s.sweater = e.createProduct(slug, staff, item("Navy Merino Sweater", slug+"-SW", apiserver.StatusPublished, "", 5900, "Navy"))
	s.draft = e.createProduct(slug, staff, item("Merino Scarf Draft", slug+"-SC", apiserver.StatusDraft, "", 2900, "Navy"))
	s.cardigan = e.createProduct(slug, staff, item("Grey Merino Cardigan", slug+"-CA", apiserver.StatusPublished, "", 7900, "Grey"))
	s.deleted = e.createProduct(slug, staff, item("Merino Beanie Gone", slug+"-BE", apiserver.StatusPublished, "", 2500, "Navy"))
	s.tee = e.createProduct(slug, staff, item("Cotton Tee", slug+"-TE", apiserver.StatusPublished, "", 1900, "Navy"))
	s.shirt = e.createProduct(slug, staff, item("Linen Shirt", slug+"-LI", apiserver.StatusPublished, "", 3900, "White"))
	e.do("DELETE", "/api/v1/products/"+s.deleted, slug, staff, nil).want(204, "")
	s.published = []string{s.shirt, s.tee, s.cardigan, s.sweater}
	return s
}

func (e *apiEnv) recommend(tenant string, kv ...string) recsAnswer {
	e.t.Helper()
	var a recsAnswer
	e.do("GET", query("/api/v1/recommendations", kv...), tenant, "", nil).want(200, "").decodeRaw(&a)
	return a
}

func TestRecommendationsPopularity(t *testing.T) {
	e := startAPI(t, nil)
	s := newRecsShop(e, "acme", "test.recs.acme")
	other := newRecsShop(e, "other", "test.recs.other")

	a := e.recommend("acme", "limit", "10")
	if !slices.Equal(a.ids(), s.published) || a.Source != recs.SourcePopularity || a.FallbackReason != recs.ReasonArm {
		t.Fatalf("home: %v (%s/%s), want the published products newest first %v", a.ids(), a.Source, a.FallbackReason, s.published)
	}
	if a.Items[0].Name != "Linen Shirt" || len(a.Items[0].Prices) != 1 || a.Items[0].Prices[0].Amount != 3900 {
		t.Fatalf("summary %+v", a.Items[0])
	}
	if a := e.recommend("acme", "limit", "2"); !slices.Equal(a.ids(), s.published[:2]) {
		t.Fatalf("limit 2: %v", a.ids())
	}
	a = e.recommend("acme", "context", "product:"+s.shirt, "limit", "3")
	if !slices.Equal(a.ids(), []string{s.tee, s.cardigan, s.sweater}) {
		t.Fatalf("product context must leave out the product itself: %v", a.ids())
	}
	a = e.recommend("acme", "context", "cart", "items", s.tee+","+s.shirt)
	if !slices.Equal(a.ids(), []string{s.cardigan, s.sweater}) {
		t.Fatalf("cart context must leave out the cart: %v", a.ids())
	}
	// Unknown, draft, deleted and foreign products as context are not errors.
	for _, id := range []string{"00000000-0000-4000-8000-000000000000", s.draft, s.deleted, other.sweater} {
		a := e.recommend("acme", "context", "product:"+id)
		if !slices.Equal(a.ids(), s.published) {
			t.Fatalf("context %s: %v", id, a.ids())
		}
	}
}

func TestRecommendationsBadParameters(t *testing.T) {
	e := startAPI(t, nil)
	e.tenant("acme")
	tests := []struct {
		kv    []string
		field string
	}{
		{[]string{"context", "shelf"}, "context"},
		{[]string{"context", "product:"}, "context"},
		{[]string{"context", "product:not-a-uuid"}, "context"},
		{[]string{"context", "product:3F0C5F3E-7D1A-4B8E-9A55-0A1B2C3D4E5F"}, "context"},
		{[]string{"limit", "0"}, "limit"},
		{[]string{"limit", "51"}, "limit"},
		{[]string{"limit", "many"}, "limit"},
		{[]string{"items", "abc"}, "items"},
		{[]string{"session_id", "has spaces"}, "session_id"},
		{[]string{"ctx", "home"}, "ctx"},
		{[]string{"context", "home", "context", "cart"}, "context"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.kv), func(t *testing.T) {
			r := e.do("GET", query("/api/v1/recommendations", tt.kv...), "acme", "", nil).want(400, apiserver.ErrInvalid)
			if r.field() != tt.field {
				t.Fatalf("field %q, want %q (%s)", r.field(), tt.field, r.raw)
			}
		})
	}
	var many []string
	for i := range 21 {
		many = append(many, fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
	}
	e.do("GET", query("/api/v1/recommendations", "context", "cart", "items", joinComma(many)), "acme", "", nil).want(400, apiserver.ErrInvalid)
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

// modelServer serves a recommendation model trained on the shop's two clusters by
// the real inference server (pure-Go runtime). The draft is bought with the
// knitwear, so the model proposes it; the API must not show it.
func modelServer(t *testing.T, s *recsShop) string {
	t.Helper()
	var in []training.Interaction
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for u := range 40 {
		cluster := []string{s.sweater, s.cardigan, s.draft, s.deleted}
		if u%2 == 1 {
			cluster = []string{s.tee, s.shirt}
		}
		for _, p := range cluster {
			in = append(in, training.Interaction{User: fmt.Sprintf("u%d", u), Item: p, Action: training.ActionPurchase, At: at})
			at = at.Add(time.Minute)
		}
	}
	m, err := training.TrainALS(in, training.RecsParams{Factors: 4, Iterations: 8, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := training.ExportRecs(m, 10, "1", "test")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "recs.onnx")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	reg := inference.NewRegistry(inference.Options{Runtimes: map[string]inference.Runtime{gort.Name: gort.New()}, DefaultRuntime: gort.Name,
		Limits: inference.Limits{MaxBatch: 64}})
	if err := reg.Apply(context.Background(), inference.Config{Models: []inference.ModelConfig{{Name: "recs", Version: "1", URI: path, SHA256: hex.EncodeToString(sum[:])}}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&oip.Handler{Registry: reg}).Routes())
	t.Cleanup(func() { srv.Close(); reg.Close() })
	return srv.URL
}

func TestRecommendationsFromModel(t *testing.T) {
	k := newKafkaEnv(t)
	e := startAPI(t, nil)
	s := newRecsShop(e, "acme", k.prefix)
	url := modelServer(t, s)
	// The stack is built before the catalog exists (the model needs its ids): start
	// a second API on the same database with the real URL.
	e.start(func(o *stack.Options) { o.Discovery = stack.DiscoveryOptions{InferenceURL: url, Kafka: k.k} })

	a := e.recommend("acme", "context", "product:"+s.sweater, "limit", "3", "session_id", "s-1")
	if a.Source != recs.SourceModel || a.Model != "recs" {
		t.Fatalf("source %s (%s), want the model", a.Source, a.FallbackReason)
	}
	if len(a.Items) != 3 || a.Items[0].ID != s.cardigan {
		t.Fatalf("model answer %v, want the cardigan (same cluster) first", a.ids())
	}
	for _, id := range a.ids() {
		if id == s.draft || id == s.deleted || id == s.sweater {
			t.Fatalf("answer %v holds a draft, deleted or context product", a.ids())
		}
	}
	// A context the model does not know falls back to popularity.
	b := e.recommend("acme", "context", "product:00000000-0000-4000-8000-000000000000")
	if b.Source != recs.SourcePopularity || b.FallbackReason != recs.ReasonNoContext || !slices.Equal(b.ids(), s.published) {
		t.Fatalf("unknown context: %v %s/%s", b.ids(), b.Source, b.FallbackReason)
	}
	// Each answer's exposure says what was shown.
	envs := k.readBehaviour(t, 2)
	for i, want := range []recsAnswer{a, b} {
		var x events.Exposure
		if err := json.Unmarshal(envs[i].Data, &x); err != nil {
			t.Fatal(err)
		}
		if envs[i].Type != events.ModelExposure || x.RequestID != want.RequestID || !slices.Equal(x.Items, want.ids()) || x.Source != want.Source || x.TenantID != s.tenant.ID {
			t.Fatalf("exposure %d: %+v, want items %v", i, x, want.ids())
		}
	}
}

func TestRecommendationsModelDown(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hang.Close)
	tests := []struct {
		name, url string
		reasons   []string // per request, in order
	}{
		{"refused", "http://127.0.0.1:1", []string{recs.ReasonError, recs.ReasonError, recs.ReasonError, recs.ReasonError, recs.ReasonError, recs.ReasonBreakerOpen}},
		{"hanging", hang.URL, []string{recs.ReasonTimeout, recs.ReasonTimeout}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startAPI(t, withDiscovery(stack.DiscoveryOptions{InferenceURL: tt.url, RecsTimeout: 100 * time.Millisecond}))
			s := newRecsShop(e, "acme", "test.recs.acme")
			for i, reason := range tt.reasons {
				a := e.recommend("acme", "context", "product:"+s.tee)
				if a.Source != recs.SourcePopularity || a.FallbackReason != reason {
					t.Fatalf("request %d: %s/%s, want popularity/%s", i, a.Source, a.FallbackReason, reason)
				}
				if !slices.Equal(a.ids(), []string{s.shirt, s.cardigan, s.sweater}) {
					t.Fatalf("request %d: %v", i, a.ids())
				}
			}
		})
	}
}
