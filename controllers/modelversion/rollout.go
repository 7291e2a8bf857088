package modelversion

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

// The rollout of a model's versions is two pure functions, so that every rule is
// table-tested without a cluster and every pass of every version computes the same
// answer from the same stored state:
//
//   - advance moves one version's rollout on (start, next canary step, promote, roll
//     back, give up) from its stored state, the other versions of its model, the
//     clock and the judge's decision. Only the reconcile of that version calls it and
//     stores the result in that version's status.
//   - split derives the model's traffic split from the stored states alone (no
//     clock), so the passes of sibling versions, which each write the split into
//     their own status, agree with one another.
//
// One rollout runs per model at a time: the oldest version still waiting goes
// first, later ones wait (blockedBy says for what). The version serving the model
// ("stable") is the one promoted last.

// Version is what the rollout logic knows of one ModelVersion.
type Version struct {
	Name    string
	UID     string
	Created time.Time
	// Rollout is spec.rollout with the default canary filled in (effectiveRollout).
	Rollout kv1.ModelRollout
	// The stored rollout state (status).
	Phase         kv1.ModelVersionPhase
	StartedAt     time.Time
	StepStartedAt time.Time
	CompletedAt   time.Time
	CanaryStep    int32
	Verdict       kv1.Verdict
	// Serving is true when at least one inference pod has the artifact loaded.
	Serving bool
	// LoadFailure is the reason the pods refused the artifact ("" when none did).
	LoadFailure string
	// Promote and Abort are the kommerce.io/promote and kommerce.io/abort annotations.
	Promote, Abort bool
}

// State is a version's rollout state after advance, stored in its status.
type State struct {
	Phase         kv1.ModelVersionPhase
	StartedAt     time.Time
	StepStartedAt time.Time
	CompletedAt   time.Time
	CanaryStep    int32
	Verdict       kv1.Verdict
	// BlockedBy says in words what the rollout waits for.
	BlockedBy string
	// Event, when set, announces the transition this pass made.
	Event *Event
	// RequeueAfter is when something changes by the clock alone (a pause or a
	// duration ends); zero when nothing will.
	RequeueAfter time.Duration
}

// Event is a Kubernetes Event for a rollout transition.
type Event struct {
	Warning bool
	Reason  string
	Message string
}

func (v Version) state() State {
	return State{Phase: v.Phase, StartedAt: v.StartedAt, StepStartedAt: v.StepStartedAt,
		CompletedAt: v.CompletedAt, CanaryStep: v.CanaryStep, Verdict: v.Verdict}
}

// DefaultCanary is the rollout of a ModelVersion whose spec.rollout names no
// strategy: 10 %, 50 %, then 100 % of the traffic, ten minutes each.
func DefaultCanary() *kv1.CanaryRollout {
	pause := metav1.Duration{Duration: 10 * time.Minute}
	return &kv1.CanaryRollout{Steps: []kv1.CanaryStep{
		{Weight: 10, Pause: &pause}, {Weight: 50, Pause: &pause}, {Weight: 100, Pause: &pause},
	}}
}

// effectiveRollout fills in what the schema leaves to the operator: the default
// canary when no strategy is named, and the documented defaults of fields a client
// may have sent without them (the API server fills them, a unit test may not).
func effectiveRollout(r kv1.ModelRollout) kv1.ModelRollout {
	r = *r.DeepCopy()
	if r.Strategy == "" {
		r.Strategy, r.Canary = kv1.RolloutCanary, DefaultCanary()
	}
	if r.Strategy == kv1.RolloutShadow && r.Shadow != nil && r.Shadow.MirrorPercent == 0 {
		r.Shadow.MirrorPercent = 100
	}
	if r.Strategy == kv1.RolloutABTest && r.ABTest != nil && r.ABTest.MaxDuration == nil {
		r.ABTest.MaxDuration = &metav1.Duration{Duration: 336 * time.Hour}
	}
	return r
}

// terminal reports whether a rollout in phase p has ended for good. Failed is not
// terminal: it lasts while the pods refuse the artifact, and a version whose pods
// later load it (an artifact server that was down) starts its rollout again.
func terminal(p kv1.ModelVersionPhase) bool {
	return p == kv1.ModelPromoted || p == kv1.ModelRolledBack || p == kv1.ModelInconclusive
}

// running reports whether phase p takes (or mirrors) traffic as a candidate.
func running(p kv1.ModelVersionPhase) bool {
	return p == kv1.ModelShadowing || p == kv1.ModelProgressing
}

func older(a, b Version) int {
	return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.Name, b.Name))
}

// stable is the version serving the model: the one promoted last.
func stable(vs []Version) *Version {
	var best *Version
	for i := range vs {
		v := &vs[i]
		if v.Phase != kv1.ModelPromoted {
			continue
		}
		if best == nil || v.CompletedAt.After(best.CompletedAt) ||
			(v.CompletedAt.Equal(best.CompletedAt) && older(*v, *best) > 0) {
			best = v
		}
	}
	return best
}

// active is the version whose rollout goes now: one already running, else the
// oldest waiting one. Failed versions wait behind nobody and block nobody.
func active(vs []Version) *Version {
	var first *Version
	for i := range vs {
		v := &vs[i]
		if terminal(v.Phase) || v.Phase == kv1.ModelFailed {
			continue
		}
		if running(v.Phase) {
			if first == nil || !running(first.Phase) || older(*v, *first) < 0 {
				first = v
			}
			continue
		}
		if first == nil || (!running(first.Phase) && older(*v, *first) < 0) {
			first = v
		}
	}
	return first
}

// advance computes v's next rollout state. others are the other versions of the
// same model (v itself excluded); d is the judge's decision on v's running
// rollout (NoDecision when there is no judge or nothing to judge).
func advance(v Version, others []Version, now time.Time, d Decision) State {
	s := v.state()
	s.BlockedBy = ""
	if terminal(v.Phase) {
		return s
	}
	if v.LoadFailure != "" && !v.Serving {
		if v.Phase != kv1.ModelFailed {
			s.Phase = kv1.ModelFailed
			s.Event = &Event{Warning: true, Reason: "Failed", Message: "the inference pods refused the artifact: " + v.LoadFailure}
		}
		s.BlockedBy = v.LoadFailure
		return s
	}
	if v.Phase == kv1.ModelFailed || v.Phase == "" {
		// A first pass, or pods that now load what they refused: start over.
		s = State{Phase: kv1.ModelPending}
		v.Phase = kv1.ModelPending
	}
	if running(v.Phase) {
		return advanceRunning(v, s, others, now, d)
	}
	return start(v, s, others, now)
}

// start begins v's rollout once it is the model's turn and its pods serve.
func start(v Version, s State, others []Version, now time.Time) State {
	all := append(slices.Clone(others), v)
	if a := active(all); a != nil && a.Name != v.Name {
		s.BlockedBy = fmt.Sprintf("waiting for the rollout of %s to end (one rollout per model at a time)", a.Name)
		return s
	}
	if !v.Serving {
		s.BlockedBy = "waiting for the inference pods to load the artifact"
		return s
	}
	st := stable(others)
	r := v.Rollout
	if r.Strategy == kv1.RolloutABTest {
		switch {
		case st == nil:
			s.BlockedBy = fmt.Sprintf("abTest.baseline %s does not serve model traffic: no version of the model has been promoted", r.ABTest.Baseline)
			return s
		case st.Name != r.ABTest.Baseline:
			s.BlockedBy = fmt.Sprintf("abTest.baseline %s is not the version serving the model; %s is", r.ABTest.Baseline, st.Name)
			return s
		}
	}
	if st == nil || r.Strategy == kv1.RolloutDirect {
		why := "strategy Direct"
		if st == nil {
			why = "the first version of its model"
		}
		return promote(s, now, "", fmt.Sprintf("promoted on loading (%s): it takes all of the model's traffic", why))
	}
	s.StartedAt = now
	switch r.Strategy {
	case kv1.RolloutShadow:
		s.Phase = kv1.ModelShadowing
		s.Verdict = kv1.VerdictPending
		s.Event = &Event{Reason: "Shadowing", Message: fmt.Sprintf("mirroring %d%% of %s's requests for %s; answers are not used",
			r.Shadow.MirrorPercent, st.Name, r.Shadow.Duration.Duration)}
		s.RequeueAfter = r.Shadow.Duration.Duration
	case kv1.RolloutCanary:
		s.Phase, s.CanaryStep, s.StepStartedAt = kv1.ModelProgressing, 0, now
		s.Verdict = kv1.VerdictPending
		step := r.Canary.Steps[0]
		s.Event = &Event{Reason: "CanaryStep", Message: fmt.Sprintf("canary step 1 of %d: %d%% of the traffic for %s", len(r.Canary.Steps), step.Weight, pause(step))}
		s.RequeueAfter = pause(step)
	case kv1.RolloutABTest:
		s.Phase = kv1.ModelProgressing
		s.Verdict = kv1.VerdictPending
		s.Event = &Event{Reason: "ABTestStarted", Message: fmt.Sprintf("A/B test against %s: %d%% / %d%% of shoppers, at most %s",
			st.Name, r.ABTest.CandidateWeight, r.ABTest.BaselineWeight, r.ABTest.MaxDuration.Duration)}
		s.RequeueAfter = r.ABTest.MaxDuration.Duration
	}
	return s
}

func pause(step kv1.CanaryStep) time.Duration {
	if step.Pause == nil {
		return 10 * time.Minute
	}
	return step.Pause.Duration
}

// advanceRunning moves a running shadow, canary or A/B test on. Order matters: an
// abort or a rollback decision wins over everything, then a person's promotion, then
// the clock.
func advanceRunning(v Version, s State, others []Version, now time.Time, d Decision) State {
	r := v.Rollout
	switch {
	case v.Abort:
		return rollBack(s, now, s.Verdict, "aborted by the kommerce.io/abort annotation")
	case d.Action == ActionRollback:
		return rollBack(s, now, cmp.Or(d.Verdict, kv1.VerdictWorse), "rolled back: "+d.Reason)
	case v.Promote:
		return promote(s, now, cmp.Or(d.Verdict, s.Verdict), "promoted by the kommerce.io/promote annotation")
	}
	if s.Verdict == "" {
		s.Verdict = kv1.VerdictPending
	}
	if !v.Serving {
		s.BlockedBy = "no inference pod of the candidate is ready; it gets no traffic meanwhile"
	}
	switch r.Strategy {
	case kv1.RolloutShadow:
		end := v.StartedAt.Add(r.Shadow.Duration.Duration)
		if now.Before(end) {
			s.RequeueAfter = end.Sub(now)
			return s
		}
		return promoteIfAllowed(v, s, now, d, fmt.Sprintf("the shadow ran its %s", r.Shadow.Duration.Duration))
	case kv1.RolloutCanary:
		steps := r.Canary.Steps
		i := min(int(v.CanaryStep), len(steps)-1)
		end := v.StepStartedAt.Add(pause(steps[i]))
		if now.Before(end) {
			s.RequeueAfter = end.Sub(now)
			return s
		}
		if i == len(steps)-1 {
			return promoteIfAllowed(v, s, now, d, fmt.Sprintf("the canary passed its %d steps", len(steps)))
		}
		if !v.Serving {
			return s // no step up while the candidate cannot answer
		}
		s.CanaryStep, s.StepStartedAt = int32(i+1), now
		next := steps[i+1]
		s.Event = &Event{Reason: "CanaryStep", Message: fmt.Sprintf("canary step %d of %d: %d%% of the traffic for %s", i+2, len(steps), next.Weight, pause(next))}
		s.RequeueAfter = pause(next)
		return s
	default: // ABTest
		if d.Action == ActionPromote {
			return promoteIfAllowed(v, s, now, d, "the success criteria are met: "+d.Reason)
		}
		if d.Verdict != "" {
			s.Verdict = d.Verdict
		}
		end := v.StartedAt.Add(r.ABTest.MaxDuration.Duration)
		if now.Before(end) {
			s.RequeueAfter = end.Sub(now)
			return s
		}
		s.Phase, s.CompletedAt, s.Verdict = kv1.ModelInconclusive, now, kv1.VerdictInconclusive
		s.Event = &Event{Warning: true, Reason: "Inconclusive", Message: fmt.Sprintf("no verdict within maxDuration %s; %s keeps serving",
			r.ABTest.MaxDuration.Duration, r.ABTest.Baseline)}
		return s
	}
}

// promoteIfAllowed promotes when the rollout may promote itself, or waits for a
// person's kommerce.io/promote annotation.
func promoteIfAllowed(v Version, s State, now time.Time, d Decision, why string) State {
	if d.Verdict != "" {
		s.Verdict = d.Verdict
	}
	if !v.Rollout.AutoPromote {
		s.BlockedBy = why + "; waiting for the annotation kommerce.io/promote=true (autoPromote is false)"
		return s
	}
	verdict := s.Verdict
	if verdict == kv1.VerdictPending {
		verdict = ""
	}
	return promote(s, now, verdict, "promoted: "+why)
}

func promote(s State, now time.Time, verdict kv1.Verdict, msg string) State {
	s.Phase, s.CompletedAt, s.Verdict, s.BlockedBy, s.RequeueAfter = kv1.ModelPromoted, now, verdict, "", 0
	s.Event = &Event{Reason: "Promoted", Message: msg}
	return s
}

func rollBack(s State, now time.Time, verdict kv1.Verdict, msg string) State {
	if verdict == kv1.VerdictPending {
		verdict = ""
	}
	s.Phase, s.CompletedAt, s.Verdict, s.BlockedBy, s.RequeueAfter = kv1.ModelRolledBack, now, verdict, "", 0
	s.Event = &Event{Warning: true, Reason: "RolledBack", Message: msg}
	return s
}

// Split is a model's traffic split, as every version of the model records it.
type Split struct {
	Shares []kv1.TrafficShare
	// Experiment identifies the running rollout ("" when one version serves alone).
	Experiment string
	// Candidate and Baseline name the versions compared ("" when none is).
	Candidate, Baseline string
}

// split derives the traffic split of a model from its versions' stored states: the
// stable version takes everything unless a serving candidate runs, which then
// takes its canary or A/B weight, or a mirrored copy of the requests while it
// shadows. A candidate whose pods are not ready gets nothing.
func split(vs []Version) Split {
	st := stable(vs)
	var cand *Version
	for i := range vs {
		if running(vs[i].Phase) && vs[i].Serving && (cand == nil || older(vs[i], *cand) < 0) {
			cand = &vs[i]
		}
	}
	switch {
	case st == nil && cand == nil:
		return Split{}
	case st == nil: // cannot happen through advance, which promotes a first version at once
		return Split{Shares: []kv1.TrafficShare{{ModelVersion: cand.Name, Percent: 100}}}
	case cand == nil:
		return Split{Shares: []kv1.TrafficShare{{ModelVersion: st.Name, Percent: 100}}}
	}
	r := cand.Rollout
	out := Split{Candidate: cand.Name, Baseline: st.Name, Experiment: experimentID(*cand)}
	switch {
	case cand.Phase == kv1.ModelShadowing:
		out.Shares = []kv1.TrafficShare{{ModelVersion: st.Name, Percent: 100}, {ModelVersion: cand.Name, Percent: r.Shadow.MirrorPercent, Mirrored: true}}
	case r.Strategy == kv1.RolloutCanary:
		w := r.Canary.Steps[min(int(cand.CanaryStep), len(r.Canary.Steps)-1)].Weight
		out.Shares = []kv1.TrafficShare{{ModelVersion: st.Name, Percent: 100 - w}, {ModelVersion: cand.Name, Percent: w}}
	default:
		out.Shares = []kv1.TrafficShare{{ModelVersion: st.Name, Percent: r.ABTest.BaselineWeight}, {ModelVersion: cand.Name, Percent: r.ABTest.CandidateWeight}}
	}
	// The last canary step leaves the stable version nothing to answer.
	out.Shares = slices.DeleteFunc(out.Shares, func(s kv1.TrafficShare) bool { return s.Percent == 0 })
	return out
}

// experimentID names a candidate's rollout: its name and a hash of its uid and
// start time, so it is the same in every replica and after restarts, and a new
// rollout of the same version (after a failure) is a new experiment.
// ExperimentOf is the id of the experiment mv's own rollout runs or ran, as the API
// logged it in exposures; "" when mv never started one (a first or Direct version).
// status.experiment is not that once the rollout ended: every version of a model
// records the model's current split and experiment, which by then are another
// version's (or none). The experiment report of a finished rollout needs this one.
// While mv's rollout runs that is status.experiment.
func ExperimentOf(mv *kv1.ModelVersion) string {
	switch {
	case running(mv.Status.Phase):
		return mv.Status.Experiment
	case mv.Status.StartedAt == nil:
		return ""
	}
	return experimentID(Version{Name: mv.Name, UID: string(mv.UID), StartedAt: mv.Status.StartedAt.UTC()})
}

func experimentID(v Version) string {
	sum := sha256.Sum256([]byte(v.UID + "/" + v.StartedAt.UTC().Format(time.RFC3339)))
	id := hex.EncodeToString(sum[:4])
	name := v.Name
	if len(name) > 253-len(id)-1 {
		name = name[:253-len(id)-1]
	}
	return name + "-" + id
}

// summary is the SPLIT column: "v1=50 v2=50", a mirror written "v3~20".
func summary(shares []kv1.TrafficShare) string {
	parts := make([]string, len(shares))
	for i, s := range shares {
		sep := "="
		if s.Mirrored {
			sep = "~"
		}
		parts[i] = fmt.Sprintf("%s%s%d", s.ModelVersion, sep, s.Percent)
	}
	out := strings.Join(parts, " ")
	if len(out) > 512 {
		out = out[:509] + "..."
	}
	return out
}

// weightOf is a version's share of the answers in a split (a mirror answers none).
func weightOf(shares []kv1.TrafficShare, name string) int32 {
	for _, s := range shares {
		if s.ModelVersion == name && !s.Mirrored {
			return s.Percent
		}
	}
	return 0
}
