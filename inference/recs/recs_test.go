package recs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/client"
	"github.com/kommerce/kommerce/inference/internal/modeltest"
	"github.com/kommerce/kommerce/inference/oip"
	"github.com/kommerce/kommerce/inference/ort/orttest"
	"github.com/kommerce/kommerce/inference/recs"
	"github.com/kommerce/kommerce/inference/training"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/testenv"
)

// Fault modes of the test inference server.
const (
	healthy int32 = iota
	failing
	hanging
)

type server struct {
	url      string
	mode     atomic.Int32
	requests atomic.Int64
	pop      recs.StaticPopularity
	ref      *training.RecsModel
	reg      *inference.Registry
}

func newServer(t *testing.T) *server {
	t.Helper()
	res, _ := modeltest.Train(t, "1")
	reg := inference.NewRegistry(inference.Options{
		Runtimes: map[string]inference.Runtime{"onnxruntime": orttest.Runtime(t)}, DefaultRuntime: "onnxruntime",
		Limits: inference.Limits{MaxBatch: 64},
	})
	if err := reg.Apply(context.Background(), inference.Config{Models: []inference.ModelConfig{{Name: "recs", Version: "1", URI: res.ONNX, SHA256: res.SHA256}}}); err != nil {
		t.Fatal(err)
	}
	s := &server{reg: reg}
	h := (&oip.Handler{Registry: reg}).Routes()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		switch s.mode.Load() {
		case failing:
			http.Error(w, `{"error":"boom"}`, http.StatusInternalServerError)
		case hanging:
			// Read the body first: the server notices a client giving up (and
			// cancels r.Context) only once the request body is consumed.
			_, _ = io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		default:
			h.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(func() { srv.Close(); reg.Close() })
	s.url = srv.URL
	var err error
	if s.pop, err = recs.ReadPopularity(res.Popularity); err != nil {
		t.Fatal(err)
	}
	if s.ref, err = training.ReadRecs(modeltest.Read(t, res.ONNX)); err != nil {
		t.Fatal(err)
	}
	return s
}

type memSink struct {
	mu  sync.Mutex
	got []events.Exposure
}

func (m *memSink) Publish(e events.Exposure) { m.mu.Lock(); m.got = append(m.got, e); m.mu.Unlock() }

func newRecommender(t *testing.T, s *server, sink recs.ExposureSink, exp recs.Experiment) *recs.Recommender {
	t.Helper()
	r, err := recs.New(recs.Options{
		Client: &client.Client{BaseURL: s.url}, Experiment: exp, Popularity: s.pop, Exposures: sink,
		Timeout: 200 * time.Millisecond, FailuresToOpen: 3, OpenFor: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var modelOnly = recs.Experiment{Name: "recs-test", Arms: []recs.Arm{{Name: "als", Model: "recs", Weight: 1}}}

func TestRecommendFromModel(t *testing.T) {
	s := newServer(t)
	sink := &memSink{}
	r := newRecommender(t, s, sink, modelOnly)
	ctxItems := []string{s.ref.Items[3], s.ref.Items[4]}
	res := r.Recommend(context.Background(), recs.Request{TenantID: "t1", SubjectKey: "u-1", ContextKind: recs.ContextCart, Context: ctxItems, Limit: 5})
	if res.Source != recs.SourceModel || res.Version != "1" || len(res.Items) != 5 {
		t.Fatalf("response %+v; want 5 model items from version 1", res)
	}
	// The answer is the reference ranking without the context products.
	scores := s.ref.Scores([]int64{3, 4})
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmpDesc(scores[a], scores[b]) })
	var want []string
	for _, i := range order {
		if id := s.ref.Items[i]; !slices.Contains(ctxItems, id) && len(want) < 5 {
			want = append(want, id)
		}
	}
	for i := range want {
		if res.Items[i] != want[i] && math.Abs(scores[s.ref.Index()[res.Items[i]]]-scores[s.ref.Index()[want[i]]]) > 1e-5 {
			t.Fatalf("items %v, reference %v", res.Items, want)
		}
	}
	if len(sink.got) != 1 || sink.got[0].Source != recs.SourceModel || sink.got[0].Arm != "als" || sink.got[0].Version != "1" || !slices.Equal(sink.got[0].Items, res.Items) {
		t.Fatalf("exposure %+v", sink.got)
	}
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

func TestFallbacks(t *testing.T) {
	s := newServer(t)
	known := []string{s.ref.Items[1]}
	tests := []struct {
		name       string
		mode       int32
		exp        recs.Experiment
		context    []string
		wantReason string
	}{
		{"popularity arm", healthy, recs.Experiment{Name: "e", Arms: []recs.Arm{{Name: "control", Weight: 1}}}, known, recs.ReasonArm},
		{"unknown products", healthy, modelOnly, []string{"nope"}, recs.ReasonNoContext},
		{"empty home context", healthy, modelOnly, nil, recs.ReasonNoContext},
		{"server errors", failing, modelOnly, known, recs.ReasonError},
		{"server hangs", hanging, modelOnly, known, recs.ReasonTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.mode.Store(tt.mode)
			defer s.mode.Store(healthy)
			r := newRecommender(t, s, nil, tt.exp)
			res := r.Recommend(context.Background(), recs.Request{SubjectKey: "u", Context: tt.context, Limit: 4})
			want := s.pop.Top(4 + len(tt.context))
			want = slices.DeleteFunc(slices.Clone(want), func(id string) bool { return slices.Contains(tt.context, id) })[:4]
			if res.Source != recs.SourcePopularity || res.Fallback != tt.wantReason || !slices.Equal(res.Items, want) {
				t.Fatalf("response %+v; want popularity %v because %s", res, want, tt.wantReason)
			}
		})
	}
}

// TestCircuitBreaker: after consecutive failures the model is no longer asked;
// once the server recovers, a trial call closes the breaker again.
func TestCircuitBreaker(t *testing.T) {
	s := newServer(t)
	r := newRecommender(t, s, nil, modelOnly)
	req := recs.Request{SubjectKey: "u", Context: []string{s.ref.Items[2]}, Limit: 3}
	if res := r.Recommend(context.Background(), req); res.Source != recs.SourceModel {
		t.Fatalf("warm-up answer %+v", res) // also caches the product list
	}
	s.mode.Store(failing)
	for range 3 {
		if res := r.Recommend(context.Background(), req); res.Fallback != recs.ReasonError {
			t.Fatalf("answer while failing %+v", res)
		}
	}
	before := s.requests.Load()
	for range 20 {
		if res := r.Recommend(context.Background(), req); res.Fallback != recs.ReasonBreakerOpen || len(res.Items) != 3 {
			t.Fatalf("answer with the breaker open %+v", res)
		}
	}
	if n := s.requests.Load() - before; n > 1 {
		t.Fatalf("%d calls reached the server while the breaker was open", n)
	}
	s.mode.Store(healthy)
	// gobreaker reads the wall clock: its open timeout is waited out.
	testenv.Eventually(t, 30*time.Second, "the breaker closes after the server recovered", func() (bool, string) {
		res := r.Recommend(context.Background(), req)
		return res.Source == recs.SourceModel, fmt.Sprintf("answer from %s (%s)", res.Source, res.Fallback)
	})
}

func TestExperimentAssignment(t *testing.T) {
	exp := recs.Experiment{Name: "home-2026", Arms: []recs.Arm{{Name: "a", Model: "m", Weight: 70}, {Name: "b", Model: "m", Version: "2", Weight: 20}, {Name: "control", Weight: 10}}}
	counts := map[string]int{}
	const n = 20000
	for i := range n {
		key := fmt.Sprintf("user-%d", i)
		arm := exp.Assign(key)
		if again := exp.Assign(key); again.Name != arm.Name {
			t.Fatalf("%s moved from %s to %s", key, arm.Name, again.Name)
		}
		counts[arm.Name]++
	}
	for _, a := range exp.Arms {
		share := float64(counts[a.Name]) / n
		if want := float64(a.Weight) / 100; math.Abs(share-want) > 0.015 {
			t.Errorf("arm %s got %.3f of shoppers, want %.2f", a.Name, share, want)
		}
	}
	// Another experiment splits the same shoppers independently.
	other := exp
	other.Name = "home-2027"
	moved := 0
	for i := range 1000 {
		key := fmt.Sprintf("user-%d", i)
		if exp.Assign(key).Name != other.Assign(key).Name {
			moved++
		}
	}
	if moved < 300 {
		t.Errorf("only %d of 1000 shoppers changed arm between experiments", moved)
	}
	bad := []recs.Experiment{{}, {Name: "x"}, {Name: "x", Arms: []recs.Arm{{Name: "a", Weight: 0}}}, {Name: "x", Arms: []recs.Arm{{Name: "a", Weight: 1}, {Name: "a", Weight: 1}}},
		{Name: "only a shadow", Arms: []recs.Arm{{Name: "s", Model: "m", Shadow: true, ShadowPercent: 10}}},
		{Name: "shadow without share", Arms: []recs.Arm{{Name: "a", Model: "m", Weight: 1}, {Name: "s", Model: "m", Shadow: true}}},
		{Name: "shadow baseline", Arms: []recs.Arm{{Name: "a", Model: "m", Weight: 1}, {Name: "s", Model: "m", Shadow: true, ShadowPercent: 5, Baseline: true}}},
		{Name: "two baselines", Arms: []recs.Arm{{Name: "a", Model: "m", Weight: 1, Baseline: true}, {Name: "b", Model: "m", Weight: 1, Baseline: true}}}}
	for _, e := range bad {
		if e.Validate() == nil {
			t.Errorf("experiment %+v accepted", e)
		}
	}
	// Shadow arms are never assigned.
	withShadow := recs.Experiment{Name: "s", Arms: []recs.Arm{{Name: "a", Model: "m", Weight: 1}, {Name: "s", Model: "m", Shadow: true, ShadowPercent: 100}}}
	for i := range 500 {
		if a := withShadow.Assign(fmt.Sprint(i)); a.Name != "a" {
			t.Fatalf("shopper %d assigned to %s", i, a.Name)
		}
	}
}

// keyIn finds a subject key the experiment assigns to arm.
func keyIn(t *testing.T, e recs.Experiment, arm string) string {
	t.Helper()
	for i := range 1000 {
		if k := fmt.Sprintf("user-%d", i); e.Assign(k).Name == arm {
			return k
		}
	}
	t.Fatalf("no shopper lands in arm %s", arm)
	return ""
}

// A failing candidate is answered for by the baseline's model, not popularity, and
// the failure is still reported against the candidate; its open breaker never
// affects the baseline.
func TestBaselineAnswersForAFailingCandidate(t *testing.T) {
	base, cand := newServer(t), newServer(t)
	exp := recs.Experiment{Name: "ab", Arms: []recs.Arm{
		{Name: "baseline", Model: "recs", URL: base.url, Weight: 50, Baseline: true},
		{Name: "candidate", Model: "recs", URL: cand.url, Weight: 50},
	}}
	sink := &memSink{}
	r := newRecommender(t, base, sink, exp)
	req := recs.Request{TenantID: "t1", SubjectKey: keyIn(t, exp, "candidate"), ContextKind: recs.ContextCart, Context: []string{base.ref.Items[1]}, Limit: 4}

	ok := r.Recommend(context.Background(), req)
	if ok.Source != recs.SourceModel || ok.Arm != "candidate" || ok.AnsweredBy != "" || cand.requests.Load() == 0 {
		t.Fatalf("healthy candidate: %+v (candidate server saw %d requests)", ok, cand.requests.Load())
	}
	cand.mode.Store(failing)
	baseBefore := base.requests.Load()
	for i := range 5 { // FailuresToOpen is 3: the candidate's breaker opens on the way
		res := r.Recommend(context.Background(), req)
		if res.Source != recs.SourceModel || res.AnsweredBy != "baseline" || res.Arm != "candidate" || !slices.Equal(res.Items, ok.Items) {
			t.Fatalf("call %d with the candidate failing: %+v, want the baseline's answer %v", i, res, ok.Items)
		}
		if want := []string{recs.ReasonError, recs.ReasonBreakerOpen}; !slices.Contains(want, res.Fallback) {
			t.Fatalf("call %d: fallback %q, want one of %v", i, res.Fallback, want)
		}
	}
	if base.requests.Load() == baseBefore {
		t.Fatal("the baseline server was never asked")
	}
	sink.mu.Lock()
	last := sink.got[len(sink.got)-1]
	sink.mu.Unlock()
	if last.Arm != "candidate" || last.Fallback != recs.ReasonBreakerOpen || last.Source != recs.SourceModel {
		t.Fatalf("exposure %+v: the failure must count against the candidate", last)
	}
	// The baseline's own shoppers are untouched by the candidate's open breaker.
	own := r.Recommend(context.Background(), recs.Request{SubjectKey: keyIn(t, exp, "baseline"), Context: req.Context, Limit: 4})
	if own.Source != recs.SourceModel || own.Fallback != "" || own.Arm != "baseline" {
		t.Fatalf("baseline shopper: %+v", own)
	}
}

// A shadow arm gets copies of requests and its differences are recorded, but it
// never changes what the shopper gets, healthy, failing or hanging.
func TestShadowNeverChangesTheAnswer(t *testing.T) {
	base, shadow := newServer(t), newServer(t)
	type outcome struct {
		overlap float64
		err     error
	}
	got := make(chan outcome, 100)
	r, err := recs.New(recs.Options{
		Client: &client.Client{BaseURL: base.url}, Popularity: base.pop, Timeout: 200 * time.Millisecond,
		Experiment: recs.Experiment{Name: "sh", Arms: []recs.Arm{
			{Name: "live", Model: "recs", Weight: 100, Baseline: true},
			{Name: "shadow", Model: "recs", URL: shadow.url, Shadow: true, ShadowPercent: 100},
		}},
		OnShadow: func(arm string, o float64, err error) { got <- outcome{o, err} },
	})
	if err != nil {
		t.Fatal(err)
	}
	req := recs.Request{SubjectKey: "u-1", Context: []string{base.ref.Items[2]}, Limit: 5}
	want := r.Recommend(context.Background(), req)
	if o := <-got; o.err != nil || o.overlap != 1 {
		t.Fatalf("same model in shadow: overlap %v err %v, want 1", o.overlap, o.err)
	}
	for _, mode := range []int32{failing, hanging} {
		shadow.mode.Store(mode)
		res := r.Recommend(context.Background(), req)
		if res.Source != recs.SourceModel || res.Arm != "live" || !slices.Equal(res.Items, want.Items) {
			t.Fatalf("shadow mode %d changed the answer: %+v, want %v", mode, res, want.Items)
		}
		if o := <-got; o.err == nil {
			t.Fatalf("shadow mode %d: no error recorded", mode)
		}
	}
}

// SetExperiment moves traffic at once, e.g. when the storefront's settings change.
func TestSetExperimentMovesTraffic(t *testing.T) {
	a, b := newServer(t), newServer(t)
	r := newRecommender(t, a, nil, recs.Experiment{Name: "v1", Arms: []recs.Arm{{Name: "a", Model: "recs", URL: a.url, Weight: 1}}})
	req := recs.Request{SubjectKey: "u-9", Context: []string{a.ref.Items[0]}, Limit: 3}
	if res := r.Recommend(context.Background(), req); res.Arm != "a" || res.Source != recs.SourceModel {
		t.Fatalf("before: %+v", res)
	}
	if err := r.SetExperiment(recs.Experiment{Name: "v2", Arms: []recs.Arm{{Name: "b", Model: "recs", URL: b.url, Weight: 1}}}); err != nil {
		t.Fatal(err)
	}
	before := b.requests.Load()
	if res := r.Recommend(context.Background(), req); res.Arm != "b" || res.Source != recs.SourceModel || b.requests.Load() == before {
		t.Fatalf("after: %+v (server b saw %d new requests)", res, b.requests.Load()-before)
	}
	if err := r.SetExperiment(recs.Experiment{Name: "bad"}); err == nil || r.Experiment().Name != "v2" {
		t.Fatalf("an invalid experiment was taken: %v, in force %s", err, r.Experiment().Name)
	}
}

// TestKafkaExposures publishes exposures to a real topic and reads the envelopes.
func TestKafkaExposures(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	prefix := testenv.Name(t, "recs", ".")
	topic := events.Topic(prefix, events.StreamBehaviour)
	if err := testenv.CreateTopics(brokers, 1, topic); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testenv.DeleteTopics(brokers, topic) })
	s := newServer(t)
	sink := recs.NewKafkaExposures(brokers, prefix, nil)
	r := newRecommender(t, s, sink, modelOnly)
	var sent []recs.Response
	for i := range 5 {
		sent = append(sent, r.Recommend(context.Background(), recs.Request{TenantID: "tenant-1", SubjectKey: fmt.Sprintf("u-%d", i), ContextKind: recs.ContextProduct, Context: []string{s.ref.Items[i]}, Limit: 3}))
	}
	if err := sink.Close(); err != nil || sink.Dropped()+sink.Failed() != 0 {
		t.Fatalf("close %v, dropped %d, failed %d", err, sink.Dropped(), sink.Failed())
	}
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: 0, MaxWait: 200 * time.Millisecond})
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, want := range sent {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var env events.Envelope
		var e events.Exposure
		if json.Unmarshal(m.Value, &env) != nil || json.Unmarshal(env.Data, &e) != nil {
			t.Fatalf("message %d is not an exposure envelope: %s", i, m.Value)
		}
		if env.Type != events.ModelExposure || string(m.Key) != string(events.Key("tenant-1", fmt.Sprintf("u-%d", i))) ||
			e.RequestID != want.RequestID || e.Source != recs.SourceModel || !slices.Equal(e.Items, want.Items) {
			t.Fatalf("message %d: type %s key %s exposure %+v; want %+v", i, env.Type, m.Key, e, want)
		}
	}
}

// TestServerSwapsModelVersion: the client pins the version whose product list it
// holds; when the server retires it, that request falls back to popularity and the
// next one uses the new version with its own product list.
func TestServerSwapsModelVersion(t *testing.T) {
	s := newServer(t)
	r := newRecommender(t, s, nil, modelOnly)
	req := recs.Request{SubjectKey: "u", Context: []string{"p-0100"}, Limit: 5}
	if res := r.Recommend(context.Background(), req); res.Source != recs.SourceModel || res.Version != "1" {
		t.Fatalf("first answer %+v", res)
	}
	// Version 2 knows other products (p-0060..p-0119), so its indices mean other
	// products than version 1's: index 40 is p-0100 there, p-0040 in version 1.
	v2, err := training.Job{Purpose: training.PurposeRecommendations, Source: renamed{training.Synthetic{Seed: 8, Users: 200, Items: 60, Clusters: 4, Days: 30}},
		OutDir: t.TempDir(), Version: "2", Recs: training.RecsParams{Factors: 8, TopK: 20}}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.reg.Apply(context.Background(), inference.Config{Models: []inference.ModelConfig{{Name: "recs", Version: "2", URI: v2.ONNX, SHA256: v2.SHA256}}}); err != nil {
		t.Fatal(err)
	}
	if res := r.Recommend(context.Background(), req); res.Source != recs.SourcePopularity || res.Fallback != recs.ReasonError {
		t.Fatalf("answer while the pinned version is gone %+v; want a popularity fallback", res)
	}
	res := r.Recommend(context.Background(), req)
	ref2, err := training.ReadRecs(modeltest.Read(t, v2.ONNX))
	if err != nil {
		t.Fatal(err)
	}
	known := ref2.Index()
	if res.Source != recs.SourceModel || res.Version != "2" {
		t.Fatalf("answer after the swap %+v; want version 2", res)
	}
	// The answer is version 2's own ranking for the context, read with version 2's
	// product list (a stale list would name other products).
	scores := ref2.Scores([]int64{int64(known[req.Context[0]])})
	for i, id := range res.Items {
		j, ok := known[id]
		if !ok {
			t.Fatalf("item %s is not a product of version 2", id)
		}
		better := 0
		for k, v := range scores {
			if v > scores[j]+1e-6 && ref2.Items[k] != req.Context[0] {
				better++
			}
		}
		if better > i {
			t.Fatalf("item %d (%s) has %d better-scored products in version 2: a stale product list was used", i, id, better)
		}
	}
}

// renamed maps synthetic product p-n to p-(119-n).
type renamed struct{ src training.Source }

func (r renamed) Load(ctx context.Context) (*training.Dataset, error) {
	ds, err := r.src.Load(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ds.Interactions {
		var n int
		fmt.Sscanf(ds.Interactions[i].Item, "p-%d", &n)
		ds.Interactions[i].Item = training.ItemID(119 - n)
	}
	return ds, nil
}
