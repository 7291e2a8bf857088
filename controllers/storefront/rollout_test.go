package storefront

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time { return &metav1.Time{Time: t0.Add(d)} }

// serving is the status of a storefront whose 1.0 runs in blue.
func serving() kv1.StorefrontStatus {
	return kv1.StorefrontStatus{
		Phase: kv1.StorefrontReady, ActiveColor: kv1.Blue, ActiveVersion: "1.0", ActiveImage: "kommerce:1.0",
		PromotedAt: at(-time.Hour),
	}
}

// previewing is serving with 1.1 in green since t0.
func previewing() kv1.StorefrontStatus {
	st := serving()
	st.Phase = kv1.StorefrontPreviewing
	st.PreviewColor, st.PreviewVersion, st.PreviewImage, st.PreviewStarted = kv1.Green, "1.1", "kommerce:1.1", at(0)
	return st
}

// checked is previewing with both checks passed at now.
func checked(now time.Duration, passed ...bool) kv1.StorefrontStatus {
	st := previewing()
	for i, name := range []string{"catalog", "health"} {
		ok := i >= len(passed) || passed[i]
		r := kv1.CheckResult{Name: name, Passed: ok, Status: 200, Time: at(now)}
		if !ok {
			r.Status, r.Message = 500, `want 200, got 500: {"error":"boom"}`
		}
		st.Checks = append(st.Checks, r)
	}
	return st
}

// promoted is the status right after 1.1 was promoted at t0: blue kept for 30m.
func promoted() kv1.StorefrontStatus {
	st := serving()
	st.ActiveColor, st.ActiveVersion, st.ActiveImage = kv1.Green, "1.1", "kommerce:1.1"
	st.PreviousColor, st.PreviousVersion, st.PreviousImage = kv1.Blue, "1.0", "kommerce:1.0"
	st.PromotedAt, st.RollbackUntil = at(0), at(30*time.Minute)
	return st
}

func spec(mode kv1.PromotionMode) kv1.StorefrontSpec {
	return kv1.StorefrontSpec{
		Version: "1.1",
		Rollout: kv1.StorefrontRollout{
			Promotion:          mode,
			PrePromotionChecks: []kv1.PrePromotionCheck{{Name: "catalog", Path: "/api/v1/products"}, {Name: "health", Path: "/readyz"}},
			ProgressDeadline:   &metav1.Duration{Duration: 10 * time.Minute},
			RollbackWindow:     &metav1.Duration{Duration: 30 * time.Minute},
		},
	}
}

func up(image string) deployState {
	return deployState{Exists: true, Image: image, Replicas: 2, Ready: 2, Available: true}
}

func starting(image string) deployState {
	return deployState{Exists: true, Image: image, Replicas: 2}
}

func freeze(start, end time.Duration) []kv1.FreezeWindow {
	return []kv1.FreezeWindow{{Name: "black-friday", Start: *at(start), End: *at(end), Reason: "peak sales"}}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name  string
		in    rolloutInput
		check func(t *testing.T, p rolloutPlan)
	}{
		{
			name: "first deploy starts blue",
			in:   rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.0", DesiredVersion: "1.0", Now: t0},
			check: func(t *testing.T, p rolloutPlan) {
				st := p.Status
				want(t, st.Phase == kv1.StorefrontDeploying && st.ActiveColor == kv1.Blue && st.ActiveImage == "kommerce:1.0" && st.PromotedAt == nil, "deploying blue: %+v", st)
				want(t, p.RequeueAfter == podProblemPoll, "looked at again within seconds (pods are not watched), got %s", p.RequeueAfter)
				want(t, p.Progressing.Status == metav1.ConditionTrue, "progressing")
			},
		},
		{
			name: "first deploy available is Ready",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.0", DesiredVersion: "1.0", Now: t0.Add(time.Minute),
				Status:      kv1.StorefrontStatus{Phase: kv1.StorefrontDeploying, ActiveColor: kv1.Blue, ActiveImage: "kommerce:1.0", ActiveVersion: "1.0", PreviewStarted: at(0)},
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.Status.Phase == kv1.StorefrontReady && p.Status.PromotedAt != nil, "ready: %+v", p.Status)
				wantEvent(t, p, "Deployed")
			},
		},
		{
			name: "first deploy past its deadline fails naming the pod",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.0", DesiredVersion: "1.0", Now: t0.Add(11 * time.Minute),
				Status:         kv1.StorefrontStatus{Phase: kv1.StorefrontDeploying, ActiveColor: kv1.Blue, ActiveImage: "kommerce:1.0", ActiveVersion: "1.0", PreviewStarted: at(0)},
				Deployments:    map[kv1.Color]deployState{kv1.Blue: starting("kommerce:1.0")},
				PreviewProblem: "pod web-api-blue-x container api ImagePullBackOff"},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.Status.Phase == kv1.StorefrontFailed, "failed: %+v", p.Status)
				want(t, p.Degraded.Reason == kv1.ReasonDeadlineExceeded && strings.Contains(p.Degraded.Message, "ImagePullBackOff"), "degraded %+v", p.Degraded)
			},
		},
		{
			name: "steady state does nothing",
			in:   rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.0", DesiredVersion: "1.0", Now: t0, Status: serving(), Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.Status.Phase == kv1.StorefrontReady && len(p.Events) == 0 && !p.RunChecks && p.Degraded.Status == metav1.ConditionFalse, "steady: %+v %+v", p.Status, p.Events)
			},
		},
		{
			name: "a new version starts the preview in the other colour",
			in:   rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0, Status: serving(), Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0")}},
			check: func(t *testing.T, p rolloutPlan) {
				st := p.Status
				want(t, st.Phase == kv1.StorefrontPreviewing && st.PreviewColor == kv1.Green && st.PreviewImage == "kommerce:1.1" && st.PreviewStarted.Equal(at(0)), "preview: %+v", st)
				want(t, st.ActiveColor == kv1.Blue && st.ActiveImage == "kommerce:1.0", "active untouched: %+v", st)
				wantEvent(t, p, "PreviewStarted")
			},
		},
		{
			name: "an available preview asks for the checks",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(time.Minute), Status: previewing(),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.RunChecks && p.Status.Phase == kv1.StorefrontPreviewing, "run checks: %+v", p)
			},
		},
		{
			name: "checks passed, auto: promoted in one step",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(2 * time.Minute), Status: checked(time.Minute),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				st := p.Status
				want(t, st.Phase == kv1.StorefrontReady && st.ActiveColor == kv1.Green && st.ActiveImage == "kommerce:1.1" && st.PreviewColor == "", "promoted: %+v", st)
				want(t, st.PreviousColor == kv1.Blue && st.PreviousImage == "kommerce:1.0" && st.RollbackUntil.Equal(at(32*time.Minute)), "previous kept: %+v", st)
				want(t, p.RequeueAfter == 30*time.Minute, "requeue at the window's end, got %s", p.RequeueAfter)
				wantEvent(t, p, kv1.ReasonPromotedReason)
			},
		},
		{
			name: "a zero rollback window still keeps the old colour briefly",
			in: rolloutInput{Spec: func() kv1.StorefrontSpec {
				s := spec(kv1.PromoteAuto)
				s.Rollout.RollbackWindow = &metav1.Duration{}
				return s
			}(), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(2 * time.Minute), Status: checked(time.Minute),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.Status.RollbackUntil.Equal(at(2*time.Minute+30*time.Second)), "rollbackUntil %v", p.Status.RollbackUntil)
			},
		},
		{
			name: "checks passed, manual: paused until promote",
			in: rolloutInput{Spec: spec(kv1.PromoteManual), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(2 * time.Minute), Status: checked(time.Minute),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.Status.Phase == kv1.StorefrontPaused && p.Status.BlockedBy == "waiting for kommerce rollout promote" && p.Status.ActiveColor == kv1.Blue, "paused: %+v", p.Status)
				want(t, p.Progressing.Reason == kv1.ReasonWaitingForPromote, "progressing %+v", p.Progressing)
			},
		},
		{
			name: "manual with the promote annotation promotes and clears it",
			in: rolloutInput{Spec: spec(kv1.PromoteManual), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(2 * time.Minute), Status: checked(time.Minute), Promote: true,
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.Status.ActiveColor == kv1.Green && p.ClearPromote, "promoted and cleared: %+v", p)
			},
		},
		{
			name: "promote asked while the preview starts is kept",
			in: rolloutInput{Spec: spec(kv1.PromoteManual), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(time.Minute), Status: previewing(), Promote: true,
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: starting("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, !p.ClearPromote && p.Status.Phase == kv1.StorefrontPreviewing, "kept: %+v", p)
			},
		},
		{
			name: "a freeze window blocks promotion until its end",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(2 * time.Minute), Status: checked(time.Minute),
				Freeze:      freeze(-time.Hour, 5*time.Hour),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				st := p.Status
				want(t, st.Phase == kv1.StorefrontPaused && st.ActiveColor == kv1.Blue, "paused: %+v", st)
				want(t, st.BlockedBy == "freeze window black-friday until 2026-11-20T15:00:00Z: peak sales", "blockedBy %q", st.BlockedBy)
				want(t, st.BlockedUntil.Equal(at(5*time.Hour)) && p.RequeueAfter == 5*time.Hour-2*time.Minute, "until %v requeue %s", st.BlockedUntil, p.RequeueAfter)
				wantEvent(t, p, "Frozen")
			},
		},
		{
			name: "a freeze window already reported emits nothing",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(3 * time.Minute),
				Status: func() kv1.StorefrontStatus {
					s := checked(time.Minute)
					s.BlockedBy = "freeze window black-friday until 2026-11-20T15:00:00Z: peak sales"
					return s
				}(),
				Freeze:      freeze(-time.Hour, 5*time.Hour),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, len(p.Events) == 0 && p.Status.Phase == kv1.StorefrontPaused, "no news: %+v", p.Events)
			},
		},
		{
			name: "a window that has ended does not block",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(2 * time.Minute), Status: checked(time.Minute),
				Freeze:      freeze(-2*time.Hour, -time.Hour),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.Status.ActiveColor == kv1.Green, "promoted: %+v", p.Status)
			},
		},
		{
			name: "a failed check aborts with its answer",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(2 * time.Minute), Status: checked(time.Minute, false),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				st := p.Status
				want(t, st.Phase == kv1.StorefrontAborted && st.AbortedImage == "kommerce:1.1" && st.PreviewColor == "" && st.ActiveColor == kv1.Blue, "aborted: %+v", st)
				want(t, st.BlockedBy == `check catalog failed: want 200, got 500: {"error":"boom"}`, "blockedBy %q", st.BlockedBy)
				want(t, p.Degraded.Status == metav1.ConditionTrue && p.Degraded.Reason == kv1.ReasonChecksFailed, "degraded %+v", p.Degraded)
				wantEvent(t, p, kv1.ReasonAborted)
				wantEvent(t, p, kv1.ReasonChecksFailed)
			},
		},
		{
			name: "a missed progress deadline aborts naming the pod",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(10 * time.Minute), Status: previewing(),
				PreviewProblem: "pod web-api-green-abc container api CrashLoopBackOff: back-off 40s",
				Deployments:    map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: starting("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.Status.Phase == kv1.StorefrontAborted && p.Degraded.Reason == kv1.ReasonDeadlineExceeded, "aborted: %+v %+v", p.Status, p.Degraded)
				want(t, strings.Contains(p.Status.BlockedBy, "web-api-green-abc") && strings.Contains(p.Status.BlockedBy, "CrashLoopBackOff"), "blockedBy %q", p.Status.BlockedBy)
			},
		},
		{
			name: "before the deadline the preview is waited for",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(4 * time.Minute), Status: previewing(),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: starting("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.Status.Phase == kv1.StorefrontPreviewing && p.RequeueAfter == podProblemPoll, "waiting: %+v requeue %s", p.Status, p.RequeueAfter)
			},
		},
		{
			name: "a new version mid-preview supersedes it",
			in: rolloutInput{Spec: spec(kv1.PromoteManual), DesiredImage: "kommerce:1.2", DesiredVersion: "1.2", Now: t0.Add(5 * time.Minute), Status: checked(time.Minute),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				st := p.Status
				want(t, st.PreviewColor == kv1.Green && st.PreviewImage == "kommerce:1.2" && st.Checks == nil && st.PreviewStarted.Equal(at(5*time.Minute)), "superseded: %+v", st)
				want(t, st.Phase == kv1.StorefrontPreviewing && !p.RunChecks, "the new image must come up first: %+v", p)
				want(t, len(p.Events) == 1 && strings.Contains(p.Events[0].Message, "supersedes 1.1"), "events %+v", p.Events)
			},
		},
		{
			name: "undo within the window switches back at once, freeze or not",
			in: rolloutInput{Spec: spec(kv1.PromoteManual), DesiredImage: "kommerce:1.0", DesiredVersion: "1.0", Now: t0.Add(10 * time.Minute), Status: promoted(),
				Freeze:      freeze(-time.Hour, time.Hour),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				st := p.Status
				want(t, st.Phase == kv1.StorefrontReady && st.ActiveColor == kv1.Blue && st.ActiveImage == "kommerce:1.0", "undone: %+v", st)
				want(t, st.PreviousColor == kv1.Green && st.PreviewColor == "" && !p.RunChecks, "green kept as previous: %+v", st)
				wantEvent(t, p, kv1.ReasonRolledBack)
			},
		},
		{
			name: "undo after the window is a normal rollout",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.0", DesiredVersion: "1.0", Now: t0.Add(31 * time.Minute), Status: promoted(),
				Deployments: map[kv1.Color]deployState{kv1.Blue: {Exists: true, Image: "kommerce:1.0"}, kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				st := p.Status
				want(t, st.Phase == kv1.StorefrontPreviewing && st.ActiveColor == kv1.Green && st.PreviewColor == kv1.Blue && st.PreviousColor == "", "preview blue: %+v", st)
			},
		},
		{
			name: "undo within the window without ready pods is a normal rollout",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.0", DesiredVersion: "1.0", Now: t0.Add(10 * time.Minute), Status: promoted(),
				Deployments: map[kv1.Color]deployState{kv1.Blue: starting("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.Status.PreviewColor == kv1.Blue && p.Status.ActiveColor == kv1.Green, "rollout: %+v", p.Status)
			},
		},
		{
			name: "the abort annotation aborts a frozen rollout and is cleared",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(3 * time.Minute), Status: checked(time.Minute), Abort: true,
				Freeze:      freeze(-time.Hour, time.Hour),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.Status.Phase == kv1.StorefrontAborted && p.Degraded.Reason == kv1.ReasonAborted && p.ClearAbort && p.Status.ActiveColor == kv1.Blue, "aborted: %+v", p)
			},
		},
		{
			name: "an aborted image stays aborted",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(time.Hour),
				Status: func() kv1.StorefrontStatus {
					s := serving()
					s.Phase, s.AbortedImage, s.BlockedBy = kv1.StorefrontAborted, "kommerce:1.1", "check catalog failed"
					s.Conditions = []metav1.Condition{{Type: kv1.StorefrontDegraded, Status: metav1.ConditionTrue, Reason: kv1.ReasonChecksFailed, Message: "rollout of 1.1 aborted: check catalog failed"}}
					return s
				}(),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: {Exists: true, Image: "kommerce:1.1"}}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.Status.Phase == kv1.StorefrontAborted && p.Status.PreviewColor == "" && len(p.Events) == 0, "still aborted: %+v", p)
				want(t, p.Degraded.Reason == kv1.ReasonChecksFailed, "degraded kept: %+v", p.Degraded)
			},
		},
		{
			name: "a newer version after an abort starts over",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.2", DesiredVersion: "1.2", Now: t0.Add(time.Hour),
				Status: func() kv1.StorefrontStatus {
					s := serving()
					s.Phase, s.AbortedImage = kv1.StorefrontAborted, "kommerce:1.1"
					return s
				}(),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.Status.AbortedImage == "" && p.Status.PreviewImage == "kommerce:1.2" && p.Degraded.Status == metav1.ConditionFalse, "started over: %+v", p.Status)
			},
		},
		{
			name: "the spec going back to the active version drops the preview",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.0", DesiredVersion: "1.0", Now: t0.Add(time.Minute), Status: previewing(),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: starting("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.Status.Phase == kv1.StorefrontReady && p.Status.PreviewColor == "" && p.Status.ActiveColor == kv1.Blue, "dropped: %+v", p.Status)
			},
		},
		{
			name: "a restarted operator resumes a paused rollout from status without news",
			in: rolloutInput{Spec: spec(kv1.PromoteManual), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(time.Hour),
				Status: func() kv1.StorefrontStatus {
					s := checked(time.Minute)
					s.Phase, s.BlockedBy = kv1.StorefrontPaused, "waiting for kommerce rollout promote"
					return s
				}(),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.Status.Phase == kv1.StorefrontPaused && !p.RunChecks && len(p.Events) == 0, "resumed: %+v", p)
			},
		},
		{
			name: "a restarted operator promotes once: the status written after a promotion decides steady",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(time.Minute), Status: promoted(),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.Status.Phase == kv1.StorefrontReady && p.Status.ActiveColor == kv1.Green && len(p.Events) == 0, "steady: %+v", p)
			},
		},
		{
			name: "checks from an earlier preview are not reused",
			in: rolloutInput{Spec: spec(kv1.PromoteAuto), DesiredImage: "kommerce:1.1", DesiredVersion: "1.1", Now: t0.Add(2 * time.Minute), Status: checked(-time.Minute),
				Deployments: map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}},
			check: func(t *testing.T, p rolloutPlan) {
				want(t, p.RunChecks && p.Status.ActiveColor == kv1.Blue, "rerun: %+v", p)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.in.Status.DeepCopy()
			p := decide(tt.in)
			tt.check(t, p)
			if !equalStatus(before, &tt.in.Status) {
				t.Error("decide changed its input")
			}
		})
	}
}

func equalStatus(a, b *kv1.StorefrontStatus) bool {
	return a.Phase == b.Phase && a.PreviewImage == b.PreviewImage && a.ActiveImage == b.ActiveImage && len(a.Checks) == len(b.Checks)
}

func want(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
}

func wantEvent(t *testing.T, p rolloutPlan, reason string) {
	t.Helper()
	for _, e := range p.Events {
		if e.Reason == reason {
			return
		}
	}
	t.Errorf("no %s event in %+v", reason, p.Events)
}

func TestColorPlans(t *testing.T) {
	observed := map[kv1.Color]deployState{kv1.Blue: up("kommerce:1.0"), kv1.Green: up("kommerce:1.1")}
	tests := []struct {
		name string
		st   kv1.StorefrontStatus
		now  time.Duration
		want map[kv1.Color]colorPlan
	}{
		{"previewing: both full", previewing(), 0, map[kv1.Color]colorPlan{kv1.Blue: {"kommerce:1.0", true}, kv1.Green: {"kommerce:1.1", true}}},
		{"previous kept in its window", promoted(), 10 * time.Minute, map[kv1.Color]colorPlan{kv1.Blue: {"kommerce:1.0", true}, kv1.Green: {"kommerce:1.1", true}}},
		{"previous scaled down after it", promoted(), 31 * time.Minute, map[kv1.Color]colorPlan{kv1.Blue: {"kommerce:1.0", false}, kv1.Green: {"kommerce:1.1", true}}},
		{"aborted preview scaled down", serving(), 0, map[kv1.Color]colorPlan{kv1.Blue: {"kommerce:1.0", true}, kv1.Green: {"kommerce:1.1", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := colorPlans(tt.st, observed, t0.Add(tt.now))
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for c, w := range tt.want {
				if got[c] != w {
					t.Errorf("%s: got %+v, want %+v", c, got[c], w)
				}
			}
		})
	}
	if got := colorPlans(kv1.StorefrontStatus{ActiveColor: kv1.Blue, ActiveImage: "kommerce:1.0"}, nil, t0); len(got) != 1 {
		t.Errorf("first deploy creates only blue, got %+v", got)
	}
}

func TestPodProblem(t *testing.T) {
	waiting := func(reason, msg string) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-api-green-1"}, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
			{Name: "api", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}}}
	}
	tests := []struct {
		name string
		pods []corev1.Pod
		want string
	}{
		{"none", nil, ""},
		{"starting is no problem", []corev1.Pod{waiting("ContainerCreating", "")}, ""},
		{"image pull", []corev1.Pod{waiting("ImagePullBackOff", `Back-off pulling image "kommerce:nope"`)},
			`pod web-api-green-1 container api ImagePullBackOff: Back-off pulling image "kommerce:nope"`},
		{"crash loop", []corev1.Pod{waiting("CrashLoopBackOff", "back-off 20s")}, "pod web-api-green-1 container api CrashLoopBackOff: back-off 20s"},
		{"unschedulable", []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available"}}}}},
			"pod p Unschedulable: 0/1 nodes are available"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := podProblem(tt.pods); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
