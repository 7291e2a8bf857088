package stack_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/inference/recs"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/sfsettings"
	"github.com/kommerce/kommerce/internal/sfsettings/sfsettingstest"
	"github.com/kommerce/kommerce/internal/testenv"
)

// A storefront pod's recommendations follow the traffic split of its settings
// document, live: no model → popularity; one ModelVersion → its inference Service;
// an A/B split whose candidate is down → the candidate's shoppers get the
// baseline's answer, and their exposures count the failure against the candidate.
func TestStorefrontDocumentSplitsRecommendations(t *testing.T) {
	k := newKafkaEnv(t)
	doc := sfsettingstest.Document("acme", "web")
	doc.Models = nil
	vol := sfsettingstest.NewVolume(t.TempDir())
	if err := vol.WriteDocument(doc); err != nil {
		t.Fatal(err)
	}
	store, err := sfsettings.Open(vol.Path(), nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	e := startAPI(t, func(o *stack.Options) {
		o.Storefront = store
		o.Discovery = stack.DiscoveryOptions{Kafka: k.k}
	})
	go store.Watch(t.Context(), 10*time.Millisecond)
	s := newRecsShop(e, "acme", k.prefix)
	live := modelServer(t, s)
	dead := httptest.NewServer(nil)
	dead.Close()

	ctx := "product:" + s.sweater
	calls := 0 // each answer is one exposure on the behaviour topic
	recommend := func(kv ...string) recsAnswer {
		calls++
		return e.recommend("acme", kv...)
	}
	if a := recommend("context", ctx, "session_id", "s-0"); a.Source != recs.SourcePopularity {
		t.Fatalf("no model bound: %+v", a)
	}
	bind := func(exp string, arms ...sfsettings.Arm) {
		t.Helper()
		d := *doc
		d.Generation++
		doc = &d
		d.Models = []sfsettings.Model{{Purpose: "Recommendations", Model: "recs-mf", Experiment: exp, StickyBy: "User", Arms: arms}}
		if err := vol.WriteDocument(&d); err != nil {
			t.Fatal(err)
		}
	}
	bind("recs-mf-v1", sfsettings.Arm{ModelVersion: "recs-mf-v1", ModelName: "recs", URL: live, Percent: 100, Baseline: true})
	testenv.Eventually(t, 10*time.Second, "the bound model answers", func() (bool, string) {
		a := recommend("context", ctx, "session_id", "s-0")
		return a.Source == recs.SourceModel && a.Model == "recs", fmt.Sprintf("%+v", a)
	})

	exp := "recs-mf-v2-abc123"
	bind(exp, sfsettings.Arm{ModelVersion: "recs-mf-v1", ModelName: "recs", URL: live, Percent: 50, Baseline: true},
		sfsettings.Arm{ModelVersion: "recs-mf-v2", ModelName: "recs", URL: dead.URL, Percent: 50})
	split := recs.Experiment{Name: exp, Arms: []recs.Arm{{Name: "recs-mf-v1", Weight: 50}, {Name: "recs-mf-v2", Weight: 50}}}
	var session string
	for i := range 200 {
		if split.Assign(fmt.Sprintf("s-%d", i)).Name == "recs-mf-v2" {
			session = fmt.Sprintf("s-%d", i)
			break
		}
	}
	testenv.Eventually(t, 10*time.Second, "the candidate's shopper answered by the baseline", func() (bool, string) {
		a := recommend("context", ctx, "session_id", session)
		return a.Source == recs.SourceModel && a.FallbackReason != "", fmt.Sprintf("%+v", a)
	})
	// The exposures name the experiment and charge the failure to the candidate.
	found := false
	for _, env := range k.readBehaviour(t, calls) {
		var x events.Exposure
		if err := json.Unmarshal(env.Data, &x); err != nil {
			t.Fatal(err)
		}
		if x.Experiment == exp && x.SubjectKey == session {
			if x.Arm != "recs-mf-v2" || x.Fallback == "" || x.Source != recs.SourceModel {
				t.Fatalf("exposure %+v: want arm recs-mf-v2 with its failure", x)
			}
			found = true
		}
	}
	if !found {
		t.Fatal("no exposure of the A/B experiment was logged")
	}
}
