package modelversion

import (
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

var t0 = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func direct() kv1.ModelRollout { return kv1.ModelRollout{Strategy: kv1.RolloutDirect} }

func canary(auto bool, weights ...int32) kv1.ModelRollout {
	r := kv1.ModelRollout{Strategy: kv1.RolloutCanary, AutoPromote: auto, Canary: &kv1.CanaryRollout{}}
	for _, w := range weights {
		r.Canary.Steps = append(r.Canary.Steps, kv1.CanaryStep{Weight: w, Pause: dur(10 * time.Minute)})
	}
	return r
}

func shadow(auto bool, mirror int32, d time.Duration) kv1.ModelRollout {
	return kv1.ModelRollout{Strategy: kv1.RolloutShadow, AutoPromote: auto,
		Shadow: &kv1.ShadowRollout{MirrorPercent: mirror, Duration: metav1.Duration{Duration: d}}}
}

func abTest(auto bool, baseline string, cand, base int32) kv1.ModelRollout {
	return kv1.ModelRollout{Strategy: kv1.RolloutABTest, AutoPromote: auto,
		ABTest: &kv1.ABTestRollout{Baseline: baseline, CandidateWeight: cand, BaselineWeight: base, MaxDuration: dur(48 * time.Hour)}}
}

// v1 is the version serving the model in most cases: promoted an hour before t0.
func v1() Version {
	return Version{Name: "recs-v1", UID: "u1", Created: t0.Add(-48 * time.Hour), Rollout: effectiveRollout(direct()),
		Phase: kv1.ModelPromoted, CompletedAt: t0.Add(-time.Hour), Serving: true}
}

func cand(name string, r kv1.ModelRollout, phase kv1.ModelVersionPhase) Version {
	return Version{Name: name, UID: "uid-" + name, Created: t0.Add(-time.Hour), Rollout: effectiveRollout(r), Phase: phase, Serving: true}
}

func with(v Version, f func(*Version)) Version { f(&v); return v }

func TestModelVersionAdvance(t *testing.T) {
	tests := []struct {
		name     string
		v        Version
		others   []Version
		now      time.Time
		decision Decision
		want     State // Event and BlockedBy are checked by wantEvent / wantBlocked
		// wantEvent is the event reason, "" for none.
		wantEvent   string
		wantBlocked string
	}{
		{name: "first pass of a version whose pods still load", v: with(cand("recs-v2", direct(), ""), func(v *Version) { v.Serving = false }),
			others: []Version{v1()}, now: t0,
			want: State{Phase: kv1.ModelPending}, wantBlocked: "waiting for the inference pods to load the artifact"},
		{name: "direct promotes once serving", v: cand("recs-v2", direct(), kv1.ModelPending), others: []Version{v1()}, now: t0,
			want: State{Phase: kv1.ModelPromoted, CompletedAt: t0}, wantEvent: "Promoted"},
		{name: "the first version of a model is promoted whatever its strategy", v: cand("recs-v1", canary(false, 10, 100), kv1.ModelPending), now: t0,
			want: State{Phase: kv1.ModelPromoted, CompletedAt: t0}, wantEvent: "Promoted"},
		{name: "a refused artifact fails the version", v: with(cand("recs-v2", direct(), kv1.ModelPending), func(v *Version) {
			v.Serving, v.LoadFailure = false, "model file has sha256 aa, the config says bb"
		}), others: []Version{v1()}, now: t0,
			want: State{Phase: kv1.ModelFailed}, wantEvent: "Failed", wantBlocked: "has sha256 aa"},
		{name: "a failed version whose pods now load starts over", v: with(cand("recs-v2", canary(false, 10, 100), kv1.ModelFailed), func(v *Version) {
			v.StartedAt = t0.Add(-time.Hour)
		}), others: []Version{v1()}, now: t0,
			want: State{Phase: kv1.ModelProgressing, StartedAt: t0, StepStartedAt: t0, Verdict: kv1.VerdictPending, RequeueAfter: 10 * time.Minute}, wantEvent: "CanaryStep"},
		{name: "a refused artifact fails a running candidate too", v: with(cand("recs-v2", canary(false, 10, 100), kv1.ModelProgressing), func(v *Version) {
			v.Serving, v.LoadFailure, v.StartedAt, v.StepStartedAt = false, "tensors differ", t0, t0
		}), others: []Version{v1()}, now: t0,
			want: State{Phase: kv1.ModelFailed, StartedAt: t0, StepStartedAt: t0}, wantEvent: "Failed", wantBlocked: "tensors differ"},
		{name: "a younger version waits for the running rollout", v: with(cand("recs-v3", direct(), kv1.ModelPending), func(v *Version) { v.Created = t0 }),
			others: []Version{v1(), with(cand("recs-v2", canary(false, 10, 100), kv1.ModelProgressing), func(v *Version) { v.Created = t0.Add(time.Hour) })},
			now:    t0, want: State{Phase: kv1.ModelPending}, wantBlocked: "waiting for the rollout of recs-v2 to end"},
		{name: "an older waiting version goes first", v: with(cand("recs-v3", direct(), kv1.ModelPending), func(v *Version) { v.Created = t0 }),
			others: []Version{v1(), with(cand("recs-v2", direct(), kv1.ModelPending), func(v *Version) { v.Created = t0.Add(-time.Minute); v.Serving = false })},
			now:    t0, want: State{Phase: kv1.ModelPending}, wantBlocked: "waiting for the rollout of recs-v2 to end"},
		{name: "a failed older version blocks nobody", v: with(cand("recs-v3", direct(), kv1.ModelPending), func(v *Version) { v.Created = t0 }),
			others: []Version{v1(), with(cand("recs-v2", direct(), kv1.ModelFailed), func(v *Version) { v.Created = t0.Add(-time.Minute) })},
			now:    t0, want: State{Phase: kv1.ModelPromoted, CompletedAt: t0}, wantEvent: "Promoted"},

		{name: "shadow starts", v: cand("recs-v2", shadow(true, 20, time.Hour), kv1.ModelPending), others: []Version{v1()}, now: t0,
			want: State{Phase: kv1.ModelShadowing, StartedAt: t0, Verdict: kv1.VerdictPending, RequeueAfter: time.Hour}, wantEvent: "Shadowing"},
		{name: "shadow runs its duration", v: with(cand("recs-v2", shadow(true, 20, time.Hour), kv1.ModelShadowing), func(v *Version) { v.StartedAt = t0 }),
			others: []Version{v1()}, now: t0.Add(20 * time.Minute),
			want: State{Phase: kv1.ModelShadowing, StartedAt: t0, Verdict: kv1.VerdictPending, RequeueAfter: 40 * time.Minute}},
		{name: "shadow promotes after its duration with autoPromote", v: with(cand("recs-v2", shadow(true, 20, time.Hour), kv1.ModelShadowing), func(v *Version) { v.StartedAt = t0 }),
			others: []Version{v1()}, now: t0.Add(time.Hour),
			want: State{Phase: kv1.ModelPromoted, StartedAt: t0, CompletedAt: t0.Add(time.Hour)}, wantEvent: "Promoted"},
		{name: "shadow waits for a person without autoPromote", v: with(cand("recs-v2", shadow(false, 20, time.Hour), kv1.ModelShadowing), func(v *Version) { v.StartedAt = t0 }),
			others: []Version{v1()}, now: t0.Add(2 * time.Hour),
			want: State{Phase: kv1.ModelShadowing, StartedAt: t0, Verdict: kv1.VerdictPending}, wantBlocked: "waiting for the annotation kommerce.io/promote=true"},
		{name: "shadow rolled back by the judge", v: with(cand("recs-v2", shadow(true, 20, time.Hour), kv1.ModelShadowing), func(v *Version) { v.StartedAt = t0 }),
			others: []Version{v1()}, now: t0.Add(time.Minute), decision: Decision{Action: ActionRollback, Reason: "error rate 9% above 5%"},
			want: State{Phase: kv1.ModelRolledBack, StartedAt: t0, CompletedAt: t0.Add(time.Minute), Verdict: kv1.VerdictWorse}, wantEvent: "RolledBack"},

		{name: "canary starts at its first step", v: cand("recs-v2", canary(true, 10, 50, 100), kv1.ModelPending), others: []Version{v1()}, now: t0,
			want: State{Phase: kv1.ModelProgressing, StartedAt: t0, StepStartedAt: t0, Verdict: kv1.VerdictPending, RequeueAfter: 10 * time.Minute}, wantEvent: "CanaryStep"},
		{name: "canary holds a step until its pause elapsed", v: with(cand("recs-v2", canary(true, 10, 50, 100), kv1.ModelProgressing), func(v *Version) {
			v.StartedAt, v.StepStartedAt = t0, t0
		}), others: []Version{v1()}, now: t0.Add(9 * time.Minute),
			want: State{Phase: kv1.ModelProgressing, StartedAt: t0, StepStartedAt: t0, Verdict: kv1.VerdictPending, RequeueAfter: time.Minute}},
		{name: "canary advances when the pause elapsed", v: with(cand("recs-v2", canary(true, 10, 50, 100), kv1.ModelProgressing), func(v *Version) {
			v.StartedAt, v.StepStartedAt = t0, t0
		}), others: []Version{v1()}, now: t0.Add(10 * time.Minute),
			want: State{Phase: kv1.ModelProgressing, StartedAt: t0, StepStartedAt: t0.Add(10 * time.Minute), CanaryStep: 1, Verdict: kv1.VerdictPending, RequeueAfter: 10 * time.Minute}, wantEvent: "CanaryStep"},
		{name: "canary does not step up while the candidate's pods are down", v: with(cand("recs-v2", canary(true, 10, 50, 100), kv1.ModelProgressing), func(v *Version) {
			v.StartedAt, v.StepStartedAt, v.Serving = t0, t0, false
		}), others: []Version{v1()}, now: t0.Add(time.Hour),
			want: State{Phase: kv1.ModelProgressing, StartedAt: t0, StepStartedAt: t0, Verdict: kv1.VerdictPending}, wantBlocked: "no inference pod of the candidate is ready"},
		{name: "canary promotes after its last step", v: with(cand("recs-v2", canary(true, 10, 50, 100), kv1.ModelProgressing), func(v *Version) {
			v.StartedAt, v.StepStartedAt, v.CanaryStep = t0, t0.Add(20*time.Minute), 2
		}), others: []Version{v1()}, now: t0.Add(30 * time.Minute),
			want: State{Phase: kv1.ModelPromoted, StartedAt: t0, StepStartedAt: t0.Add(20 * time.Minute), CanaryStep: 2, CompletedAt: t0.Add(30 * time.Minute)}, wantEvent: "Promoted"},
		{name: "canary rolls back on a trigger", v: with(cand("recs-v2", canary(true, 10, 50, 100), kv1.ModelProgressing), func(v *Version) {
			v.StartedAt, v.StepStartedAt, v.CanaryStep = t0, t0, 1
		}), others: []Version{v1()}, now: t0.Add(time.Minute), decision: Decision{Action: ActionRollback, Reason: "latency p99 300ms above 200ms"},
			want: State{Phase: kv1.ModelRolledBack, StartedAt: t0, StepStartedAt: t0, CanaryStep: 1, CompletedAt: t0.Add(time.Minute), Verdict: kv1.VerdictWorse}, wantEvent: "RolledBack"},
		{name: "an abort annotation rolls back", v: with(cand("recs-v2", canary(true, 10, 50, 100), kv1.ModelProgressing), func(v *Version) {
			v.StartedAt, v.StepStartedAt, v.Abort, v.Verdict = t0, t0, true, kv1.VerdictPending
		}), others: []Version{v1()}, now: t0.Add(time.Minute),
			want: State{Phase: kv1.ModelRolledBack, StartedAt: t0, StepStartedAt: t0, CompletedAt: t0.Add(time.Minute)}, wantEvent: "RolledBack"},
		{name: "a promote annotation promotes at once", v: with(cand("recs-v2", canary(false, 10, 50, 100), kv1.ModelProgressing), func(v *Version) {
			v.StartedAt, v.StepStartedAt, v.Promote = t0, t0, true
		}), others: []Version{v1()}, now: t0.Add(time.Minute),
			want: State{Phase: kv1.ModelPromoted, StartedAt: t0, StepStartedAt: t0, CompletedAt: t0.Add(time.Minute)}, wantEvent: "Promoted"},

		{name: "a/b test waits for a baseline that does not serve", v: cand("recs-v2", abTest(true, "recs-v0", 50, 50), kv1.ModelPending), others: []Version{v1()}, now: t0,
			want: State{Phase: kv1.ModelPending}, wantBlocked: "abTest.baseline recs-v0 is not the version serving the model; recs-v1 is"},
		{name: "a/b test of a model nobody serves waits", v: cand("recs-v2", abTest(true, "recs-v1", 50, 50), kv1.ModelPending), now: t0,
			want: State{Phase: kv1.ModelPending}, wantBlocked: "no version of the model has been promoted"},
		{name: "a/b test starts against the stable baseline", v: cand("recs-v2", abTest(true, "recs-v1", 30, 70), kv1.ModelPending), others: []Version{v1()}, now: t0,
			want: State{Phase: kv1.ModelProgressing, StartedAt: t0, Verdict: kv1.VerdictPending, RequeueAfter: 48 * time.Hour}, wantEvent: "ABTestStarted"},
		{name: "a/b test without a judge keeps running", v: with(cand("recs-v2", abTest(true, "recs-v1", 30, 70), kv1.ModelProgressing), func(v *Version) { v.StartedAt = t0 }),
			others: []Version{v1()}, now: t0.Add(47 * time.Hour),
			want: State{Phase: kv1.ModelProgressing, StartedAt: t0, Verdict: kv1.VerdictPending, RequeueAfter: time.Hour}},
		{name: "a/b test without a verdict at maxDuration is inconclusive", v: with(cand("recs-v2", abTest(true, "recs-v1", 30, 70), kv1.ModelProgressing), func(v *Version) { v.StartedAt = t0 }),
			others: []Version{v1()}, now: t0.Add(48 * time.Hour),
			want: State{Phase: kv1.ModelInconclusive, StartedAt: t0, CompletedAt: t0.Add(48 * time.Hour), Verdict: kv1.VerdictInconclusive}, wantEvent: "Inconclusive"},
		{name: "a/b test promoted by the judge", v: with(cand("recs-v2", abTest(true, "recs-v1", 30, 70), kv1.ModelProgressing), func(v *Version) { v.StartedAt = t0 }),
			others: []Version{v1()}, now: t0.Add(5 * time.Hour), decision: Decision{Action: ActionPromote, Verdict: kv1.VerdictBetter, Reason: "conversion +6.1%"},
			want: State{Phase: kv1.ModelPromoted, StartedAt: t0, CompletedAt: t0.Add(5 * time.Hour), Verdict: kv1.VerdictBetter}, wantEvent: "Promoted"},
		{name: "a/b test with a passing verdict waits for a person without autoPromote", v: with(cand("recs-v2", abTest(false, "recs-v1", 30, 70), kv1.ModelProgressing), func(v *Version) { v.StartedAt = t0 }),
			others: []Version{v1()}, now: t0.Add(5 * time.Hour), decision: Decision{Action: ActionPromote, Verdict: kv1.VerdictNoWorse, Reason: "no worse"},
			want: State{Phase: kv1.ModelProgressing, StartedAt: t0, Verdict: kv1.VerdictNoWorse}, wantBlocked: "kommerce.io/promote=true"},
		{name: "a/b test rolled back by the judge", v: with(cand("recs-v2", abTest(true, "recs-v1", 30, 70), kv1.ModelProgressing), func(v *Version) { v.StartedAt = t0 }),
			others: []Version{v1()}, now: t0.Add(time.Hour), decision: Decision{Action: ActionRollback, Verdict: kv1.VerdictWorse, Reason: "conversion -10%"},
			want: State{Phase: kv1.ModelRolledBack, StartedAt: t0, CompletedAt: t0.Add(time.Hour), Verdict: kv1.VerdictWorse}, wantEvent: "RolledBack"},
		{name: "a finished rollout never moves again", v: with(cand("recs-v2", abTest(true, "recs-v1", 30, 70), kv1.ModelRolledBack), func(v *Version) {
			v.CompletedAt, v.Verdict = t0, kv1.VerdictWorse
		}), others: []Version{v1()}, now: t0.Add(time.Hour), decision: Decision{Action: ActionPromote},
			want: State{Phase: kv1.ModelRolledBack, CompletedAt: t0, Verdict: kv1.VerdictWorse}},
		{name: "no strategy is the default canary", v: cand("recs-v2", kv1.ModelRollout{}, kv1.ModelPending), others: []Version{v1()}, now: t0,
			want: State{Phase: kv1.ModelProgressing, StartedAt: t0, StepStartedAt: t0, Verdict: kv1.VerdictPending, RequeueAfter: 10 * time.Minute}, wantEvent: "CanaryStep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := advance(tt.v, tt.others, tt.now, tt.decision)
			event, blocked := got.Event, got.BlockedBy
			got.Event, got.BlockedBy = nil, ""
			if !reflect.DeepEqual(tt.want, got) {
				t.Errorf("state\n got %+v\nwant %+v", got, tt.want)
			}
			switch {
			case tt.wantEvent == "" && event != nil:
				t.Errorf("event %+v; want none", *event)
			case tt.wantEvent != "" && (event == nil || event.Reason != tt.wantEvent):
				t.Errorf("event %+v; want reason %s", event, tt.wantEvent)
			}
			if !strings.Contains(blocked, tt.wantBlocked) || (tt.wantBlocked == "" && blocked != "") {
				t.Errorf("blockedBy %q; want it to say %q", blocked, tt.wantBlocked)
			}
		})
	}
}

func TestModelVersionSplit(t *testing.T) {
	running := func(v Version, f func(*Version)) Version { v.StartedAt = t0; f(&v); return v }
	tests := []struct {
		name        string
		vs          []Version
		want        []kv1.TrafficShare
		wantSummary string
		experiment  bool
	}{
		{name: "no version", want: nil},
		{name: "a pending first version gets nothing", vs: []Version{with(cand("recs-v1", direct(), kv1.ModelPending), func(v *Version) { v.Serving = false })}, want: nil},
		{name: "the stable version alone", vs: []Version{v1()},
			want: []kv1.TrafficShare{{ModelVersion: "recs-v1", Percent: 100}}, wantSummary: "recs-v1=100"},
		{name: "the latest promotion wins", vs: []Version{v1(), with(cand("recs-v2", direct(), kv1.ModelPromoted), func(v *Version) { v.CompletedAt = t0 })},
			want: []kv1.TrafficShare{{ModelVersion: "recs-v2", Percent: 100}}},
		{name: "a pending candidate gets nothing", vs: []Version{v1(), cand("recs-v2", canary(true, 10, 100), kv1.ModelPending)},
			want: []kv1.TrafficShare{{ModelVersion: "recs-v1", Percent: 100}}},
		{name: "a failed candidate gets nothing", vs: []Version{v1(), with(cand("recs-v2", canary(true, 10, 100), kv1.ModelFailed), func(v *Version) { v.Serving = false })},
			want: []kv1.TrafficShare{{ModelVersion: "recs-v1", Percent: 100}}},
		{name: "rolled back and inconclusive candidates get nothing", vs: []Version{v1(), cand("recs-v2", canary(true, 10, 100), kv1.ModelRolledBack), cand("recs-v3", abTest(true, "recs-v1", 50, 50), kv1.ModelInconclusive)},
			want: []kv1.TrafficShare{{ModelVersion: "recs-v1", Percent: 100}}},
		{name: "shadow mirrors a share", vs: []Version{v1(), running(cand("recs-v2", shadow(true, 20, time.Hour), kv1.ModelShadowing), func(*Version) {})},
			want:        []kv1.TrafficShare{{ModelVersion: "recs-v1", Percent: 100}, {ModelVersion: "recs-v2", Percent: 20, Mirrored: true}},
			wantSummary: "recs-v1=100 recs-v2~20", experiment: true},
		{name: "canary at its second step", vs: []Version{v1(), running(cand("recs-v2", canary(true, 10, 50, 100), kv1.ModelProgressing), func(v *Version) { v.CanaryStep = 1 })},
			want: []kv1.TrafficShare{{ModelVersion: "recs-v1", Percent: 50}, {ModelVersion: "recs-v2", Percent: 50}}, experiment: true},
		{name: "canary at its last step takes everything", vs: []Version{v1(), running(cand("recs-v2", canary(true, 10, 100), kv1.ModelProgressing), func(v *Version) { v.CanaryStep = 1 })},
			want: []kv1.TrafficShare{{ModelVersion: "recs-v2", Percent: 100}}, experiment: true},
		{name: "a/b test weights", vs: []Version{v1(), running(cand("recs-v2", abTest(true, "recs-v1", 30, 70), kv1.ModelProgressing), func(*Version) {})},
			want: []kv1.TrafficShare{{ModelVersion: "recs-v1", Percent: 70}, {ModelVersion: "recs-v2", Percent: 30}}, wantSummary: "recs-v1=70 recs-v2=30", experiment: true},
		{name: "a running candidate whose pods are down gets nothing", vs: []Version{v1(), running(cand("recs-v2", abTest(true, "recs-v1", 30, 70), kv1.ModelProgressing), func(v *Version) { v.Serving = false })},
			want: []kv1.TrafficShare{{ModelVersion: "recs-v1", Percent: 100}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := split(tt.vs)
			if !reflect.DeepEqual(tt.want, got.Shares) {
				t.Errorf("split %+v; want %+v", got.Shares, tt.want)
			}
			if tt.wantSummary != "" && summary(got.Shares) != tt.wantSummary {
				t.Errorf("summary %q; want %q", summary(got.Shares), tt.wantSummary)
			}
			if tt.experiment != (got.Experiment != "") {
				t.Errorf("experiment %q; want one: %v", got.Experiment, tt.experiment)
			}
			total := int32(0)
			for _, s := range got.Shares {
				if !s.Mirrored {
					total += s.Percent
				}
			}
			if len(got.Shares) > 0 && total != 100 {
				t.Errorf("answering shares sum to %d", total)
			}
		})
	}
}

// TestExperimentID: the id is stable for one rollout and new for the next one.
func TestModelVersionExperimentID(t *testing.T) {
	v := cand("recs-v2", canary(true, 10, 100), kv1.ModelProgressing)
	v.StartedAt = t0
	a, b := experimentID(v), experimentID(v)
	v.StartedAt = t0.Add(time.Hour)
	c := experimentID(v)
	if a != b || a == c || !strings.HasPrefix(a, "recs-v2-") {
		t.Fatalf("ids %q %q %q: want the first two equal, the third different, all prefixed by the version", a, b, c)
	}
}

func TestModelVersionRequeue(t *testing.T) {
	tests := []struct {
		name     string
		st       State
		serving  bool
		replicas int32
		want     time.Duration
	}{
		{"serving, nothing on the clock", State{Phase: kv1.ModelPromoted}, true, 1, 0},
		{"serving canary pause", State{Phase: kv1.ModelProgressing, RequeueAfter: 7 * time.Minute}, true, 1, 7 * time.Minute},
		{"loading pods are polled", State{Phase: kv1.ModelPending}, false, 1, loadingPoll},
		{"a pause shorter than the poll", State{Phase: kv1.ModelProgressing, RequeueAfter: 3 * time.Second}, false, 1, 3 * time.Second},
		{"failed pods are polled slower", State{Phase: kv1.ModelFailed}, false, 1, failedPoll},
		{"scaled to zero waits for a change", State{Phase: kv1.ModelPending}, false, 0, 0},
		{"a finished rollout waits for a change", State{Phase: kv1.ModelRolledBack}, false, 1, 0},
	}
	for _, tt := range tests {
		if got := requeue(tt.st, tt.serving, tt.replicas); got != tt.want {
			t.Errorf("%s: requeue %s; want %s", tt.name, got, tt.want)
		}
	}
}

func TestModelVersionJudgeAgain(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration
		want  time.Duration
	}{
		{"an A/B test waiting for its maxDuration is judged every poll", 2 * time.Hour, judgePoll},
		{"nothing on the clock: judged every poll", 0, judgePoll},
		{"a pause ending sooner is kept", 3 * time.Second, 3 * time.Second},
	}
	for _, tt := range tests {
		if got := judgeAgain(tt.after); got != tt.want {
			t.Errorf("%s: judgeAgain(%s) = %s; want %s", tt.name, tt.after, got, tt.want)
		}
	}
}

func TestExperimentOfOutlivesTheRollout(t *testing.T) {
	v := cand("recs-v2", canary(true, 10, 100), kv1.ModelProgressing)
	v.StartedAt = t0
	running := experimentID(v)
	mv := &kv1.ModelVersion{ObjectMeta: metav1.ObjectMeta{Name: v.Name, UID: types.UID(v.UID)}}
	mv.Status.Phase, mv.Status.Experiment = kv1.ModelPromoted, "recs-v3-0123abcd" // the next rollout's
	mv.Status.StartedAt = &metav1.Time{Time: t0}
	if got := ExperimentOf(mv); got != running {
		t.Fatalf("ExperimentOf a promoted version = %q; want the id its rollout ran under, %q", got, running)
	}
	mv.Status.StartedAt = nil
	if got := ExperimentOf(mv); got != "" {
		t.Fatalf("ExperimentOf a version that never started a rollout = %q; want none", got)
	}
}
