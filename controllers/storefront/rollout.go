package storefront

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

// Default rollout durations (the CRD defaults, for objects written without them).
const (
	defaultProgressDeadline = 10 * time.Minute
	defaultRollbackWindow   = 30 * time.Minute
)

// deployState is what the pass observed of one colour's API Deployment.
type deployState struct {
	Exists bool
	Image  string
	// Replicas is spec.replicas; Ready counts ready pods of the current template.
	Replicas int32
	Ready    int32
	// Available: the Deployment rolled out its current template and every replica
	// is ready.
	Available bool
}

// rolloutInput is everything the rollout decision depends on. Nothing else is read:
// the decision of an operator restarted mid-rollout is the same as before.
type rolloutInput struct {
	Spec           kv1.StorefrontSpec
	DesiredImage   string
	DesiredVersion string
	// Status is the Storefront's status as stored (the rollout's memory).
	Status kv1.StorefrontStatus
	// Deployments are the colours' API Deployments as observed.
	Deployments map[kv1.Color]deployState
	// PreviewProblem names a failing preview pod and why ("" when none is known).
	PreviewProblem string
	Promote, Abort bool
	Freeze         []kv1.FreezeWindow
	Now            time.Time
}

// condition is a condition's status, reason and message.
type condition struct {
	Status  metav1.ConditionStatus
	Reason  string
	Message string
}

// notice is one Kubernetes Event to emit once the status that caused it is stored.
type notice struct {
	Type, Reason, Message string
}

// rolloutPlan is the decision: the new rollout part of the status, what each colour
// runs, and what the controller must do.
type rolloutPlan struct {
	Status kv1.StorefrontStatus
	// RunChecks asks the controller to run the pre-promotion checks against the
	// preview, record them in Status.Checks and decide again.
	RunChecks                bool
	Events                   []notice
	RequeueAfter             time.Duration
	ClearPromote, ClearAbort bool
	Degraded, Progressing    condition
}

func (p *rolloutPlan) event(typ, reason, format string, args ...any) {
	p.Events = append(p.Events, notice{typ, reason, fmt.Sprintf(format, args...)})
}

func (p *rolloutPlan) requeue(d time.Duration) {
	if d <= 0 {
		d = time.Second
	}
	if p.RequeueAfter == 0 || d < p.RequeueAfter {
		p.RequeueAfter = d
	}
}

var (
	notDegraded    = condition{metav1.ConditionFalse, kv1.ReasonAsExpected, "nothing needs attention"}
	notProgressing = condition{metav1.ConditionFalse, kv1.ReasonAsExpected, "no rollout in progress"}
)

func progressDeadline(s kv1.StorefrontSpec) time.Duration {
	if d := s.Rollout.ProgressDeadline; d != nil {
		return d.Duration
	}
	return defaultProgressDeadline
}

// minRollbackWindow is the least time the previous colour keeps running after
// traffic left it, whatever spec.rollout.rollbackWindow says: kube-proxy on every
// node and clients with open connections must let go of it before its pods stop.
const minRollbackWindow = 30 * time.Second

func rollbackWindow(s kv1.StorefrontSpec) time.Duration {
	if d := s.Rollout.RollbackWindow; d != nil {
		return max(d.Duration, minRollbackWindow)
	}
	return defaultRollbackWindow
}

// decide is the blue-green state machine: a pure function of the spec, the stored
// status, the observed Deployments, the annotations, the tenant's freeze windows
// and the time.
func decide(in rolloutInput) rolloutPlan {
	p := rolloutPlan{Status: *in.Status.DeepCopy(), Degraded: notDegraded, Progressing: notProgressing}
	st := &p.Status
	now := metav1.NewTime(in.Now)
	if st.AbortedImage != "" && st.AbortedImage != in.DesiredImage {
		st.AbortedImage = "" // a new version or image starts over
	}
	p.ClearPromote = in.Promote
	p.ClearAbort = in.Abort

	switch {
	case st.ActiveImage == "" || (st.Phase == kv1.StorefrontDeploying || st.Phase == kv1.StorefrontFailed) && st.PromotedAt == nil:
		firstDeploy(in, &p)
	case in.DesiredImage == st.ActiveImage:
		if st.PreviewColor != "" {
			clearPreview(st) // the spec went back to what serves: the preview is dropped
		}
		steady(in, &p)
	case in.DesiredImage == st.AbortedImage:
		p.Status.Phase = kv1.StorefrontAborted
		p.Degraded = abortedCondition(in.Status)
		keepPrevious(in, &p)
	case in.DesiredImage == st.PreviousImage && st.PreviousColor != "" && st.PreviewColor == "" &&
		st.RollbackUntil != nil && in.Now.Before(st.RollbackUntil.Time) && in.Deployments[st.PreviousColor].Ready > 0:
		undo(in, &p, now)
	default:
		rollout(in, &p, now)
	}
	return p
}

// firstDeploy brings the first version up in Blue; nothing serves before it.
func firstDeploy(in rolloutInput, p *rolloutPlan) {
	st := &p.Status
	if st.ActiveColor == "" {
		st.ActiveColor = kv1.Blue
	}
	if st.ActiveImage != in.DesiredImage || st.PreviewStarted == nil {
		st.PreviewStarted = &metav1.Time{Time: in.Now}
	}
	st.ActiveImage, st.ActiveVersion = in.DesiredImage, in.DesiredVersion
	d := in.Deployments[st.ActiveColor]
	if d.Exists && d.Image == st.ActiveImage && d.Available {
		st.Phase = kv1.StorefrontReady
		st.PromotedAt = &metav1.Time{Time: in.Now}
		st.PreviewStarted = nil
		st.BlockedBy, st.BlockedUntil = "", nil
		p.event(corev1.EventTypeNormal, "Deployed", "version %s serves in %s", st.ActiveVersion, st.ActiveColor)
		return
	}
	p.Progressing = condition{metav1.ConditionTrue, kv1.ReasonPreviewStarting, fmt.Sprintf("first version %s is starting in %s", st.ActiveVersion, st.ActiveColor)}
	deadline := st.PreviewStarted.Add(progressDeadline(in.Spec))
	if !in.Now.Before(deadline) {
		st.Phase = kv1.StorefrontFailed
		st.BlockedBy = fmt.Sprintf("%s not available after %s: %s", apiColorName(st.ActiveColor), progressDeadline(in.Spec), orWaiting(in.PreviewProblem, d))
		p.Degraded = condition{metav1.ConditionTrue, kv1.ReasonDeadlineExceeded, st.BlockedBy}
		if in.Status.Phase != kv1.StorefrontFailed {
			p.event(corev1.EventTypeWarning, kv1.ReasonDeadlineExceeded, "%s", st.BlockedBy)
		}
		return
	}
	st.Phase = kv1.StorefrontDeploying
	st.BlockedBy = fmt.Sprintf("waiting for %s to become available (%d/%d ready)", apiColorName(st.ActiveColor), d.Ready, max(d.Replicas, 1))
	if in.PreviewProblem != "" {
		st.BlockedBy += ": " + in.PreviewProblem
	}
	p.requeue(min(deadline.Sub(in.Now), podProblemPoll))
}

func apiColorName(c kv1.Color) string { return "colour " + colorValue(c) }

func orWaiting(problem string, d deployState) string {
	if problem != "" {
		return problem
	}
	return fmt.Sprintf("%d/%d pods ready", d.Ready, d.Replicas)
}

// steady is the state with the desired version serving: only the previous colour's
// rollback window runs out.
func steady(in rolloutInput, p *rolloutPlan) {
	st := &p.Status
	st.Phase = kv1.StorefrontReady
	st.BlockedBy, st.BlockedUntil = "", nil
	keepPrevious(in, p)
}

// keepPrevious schedules the pass that scales the previous colour down when its
// rollback window ends.
func keepPrevious(in rolloutInput, p *rolloutPlan) {
	st := &p.Status
	if st.PreviousColor != "" && st.RollbackUntil != nil && in.Now.Before(st.RollbackUntil.Time) {
		p.requeue(st.RollbackUntil.Sub(in.Now))
	}
}

// undo switches traffic back to the previous colour at once: it still runs the
// version asked for. No checks, no freeze window.
func undo(in rolloutInput, p *rolloutPlan, now metav1.Time) {
	st := &p.Status
	from, fromVersion := st.ActiveColor, st.ActiveVersion
	st.ActiveColor, st.PreviousColor = st.PreviousColor, st.ActiveColor
	st.ActiveImage, st.PreviousImage = st.PreviousImage, st.ActiveImage
	st.ActiveVersion, st.PreviousVersion = st.PreviousVersion, st.ActiveVersion
	st.RollbackUntil = &metav1.Time{Time: in.Now.Add(rollbackWindow(in.Spec))}
	st.PromotedAt = &now
	st.Phase = kv1.StorefrontReady
	st.BlockedBy, st.BlockedUntil = "", nil
	p.event(corev1.EventTypeNormal, kv1.ReasonRolledBack, "traffic back on %s (version %s) from %s (version %s)",
		colorValue(st.ActiveColor), st.ActiveVersion, colorValue(from), fromVersion)
	keepPrevious(in, p)
}

// rollout moves the desired version through the preview colour: available, checked,
// promoted (or waiting, or aborted).
func rollout(in rolloutInput, p *rolloutPlan, now metav1.Time) {
	st := &p.Status
	p.ClearPromote = false // a promote asked for early holds until the checks pass
	if st.PreviewImage != in.DesiredImage {
		superseded := st.PreviewVersion
		st.PreviewColor = otherColor(st.ActiveColor)
		st.PreviewImage, st.PreviewVersion = in.DesiredImage, in.DesiredVersion
		st.PreviewStarted = &now
		st.Checks = nil
		st.BlockedBy, st.BlockedUntil = "", nil
		// The preview colour is the one the previous version ran in: the rollback
		// window of the last promotion ends here.
		st.PreviousColor, st.PreviousImage, st.PreviousVersion, st.RollbackUntil = "", "", "", nil
		if superseded != "" {
			p.event(corev1.EventTypeNormal, "PreviewStarted", "version %s supersedes %s in preview colour %s", st.PreviewVersion, superseded, colorValue(st.PreviewColor))
		} else {
			p.event(corev1.EventTypeNormal, "PreviewStarted", "version %s starts in preview colour %s", st.PreviewVersion, colorValue(st.PreviewColor))
		}
	}
	if in.Abort {
		abort(in, p, kv1.ReasonAborted, "aborted by the "+kv1.AnnotationAbort+" annotation")
		return
	}
	if waitForPreview(in, p) {
		return
	}
	if !checksDone(in.Spec, st) {
		st.Phase = kv1.StorefrontPreviewing
		st.BlockedBy = "running pre-promotion checks"
		p.Progressing = condition{metav1.ConditionTrue, kv1.ReasonChecksRunning, st.BlockedBy}
		p.RunChecks = true
		return
	}
	for _, c := range st.Checks {
		if !c.Passed {
			abort(in, p, kv1.ReasonChecksFailed, fmt.Sprintf("check %s failed: %s", c.Name, c.Message))
			return
		}
	}
	if in.Spec.Rollout.Promotion != kv1.PromoteAuto && !in.Promote {
		pause(in, p, kv1.ReasonWaitingForPromote, "waiting for kommerce rollout promote", nil)
		return
	}
	if w := activeFreeze(in.Freeze, in.Now); w != nil { // the promote asked for holds until it ends
		msg := fmt.Sprintf("freeze window %s until %s", w.Name, w.End.UTC().Format(time.RFC3339))
		if w.Reason != "" {
			msg += ": " + w.Reason
		}
		if in.Status.BlockedBy != msg {
			p.event(corev1.EventTypeNormal, "Frozen", "promotion of %s blocked: %s", st.PreviewVersion, msg)
		}
		pause(in, p, kv1.ReasonFrozen, msg, &w.End)
		p.requeue(w.End.Sub(in.Now))
		return
	}
	promote(in, p, now)
}

// waitForPreview keeps the rollout waiting while the preview is not Available,
// and aborts it once the progress deadline has passed. It reports whether the
// rollout waits (or was aborted).
func waitForPreview(in rolloutInput, p *rolloutPlan) bool {
	st := &p.Status
	d := in.Deployments[st.PreviewColor]
	if d.Exists && d.Image == st.PreviewImage && d.Available {
		return false
	}
	deadline := st.PreviewStarted.Add(progressDeadline(in.Spec))
	if !in.Now.Before(deadline) {
		abort(in, p, kv1.ReasonDeadlineExceeded, fmt.Sprintf("preview %s not available after %s: %s",
			apiColorName(st.PreviewColor), progressDeadline(in.Spec), orWaiting(in.PreviewProblem, d)))
		return true
	}
	st.Phase = kv1.StorefrontPreviewing
	st.BlockedBy = fmt.Sprintf("waiting for preview %s to become available (%d/%d ready)", apiColorName(st.PreviewColor), d.Ready, max(d.Replicas, 1))
	if in.PreviewProblem != "" {
		st.BlockedBy += ": " + in.PreviewProblem
	}
	p.Progressing = condition{metav1.ConditionTrue, kv1.ReasonPreviewStarting, st.BlockedBy}
	p.requeue(min(deadline.Sub(in.Now), podProblemPoll))
	return true
}

// podProblemPoll is how often a colour that is not available yet is looked at
// again: the operator does not watch pods, and a crash loop or an image that cannot
// be pulled shows only in their status, which status.blockedBy should name within
// seconds, not at the progress deadline.
const podProblemPoll = 5 * time.Second

func pause(in rolloutInput, p *rolloutPlan, reason, msg string, until *metav1.Time) {
	st := &p.Status
	st.Phase = kv1.StorefrontPaused
	st.BlockedBy = msg
	st.BlockedUntil = nil
	if until != nil {
		u := *until
		st.BlockedUntil = &u
	}
	p.Progressing = condition{metav1.ConditionTrue, reason, msg}
}

// promote switches traffic to the preview colour in one step; the old active colour
// becomes the previous one, kept at full size for the rollback window.
func promote(in rolloutInput, p *rolloutPlan, now metav1.Time) {
	st := &p.Status
	p.ClearPromote = in.Promote
	st.PreviousColor, st.PreviousImage, st.PreviousVersion = st.ActiveColor, st.ActiveImage, st.ActiveVersion
	st.ActiveColor, st.ActiveImage, st.ActiveVersion = st.PreviewColor, st.PreviewImage, st.PreviewVersion
	st.RollbackUntil = &metav1.Time{Time: in.Now.Add(rollbackWindow(in.Spec))}
	st.PromotedAt = &now
	clearPreview(st)
	st.Phase = kv1.StorefrontReady
	st.BlockedBy, st.BlockedUntil = "", nil
	p.event(corev1.EventTypeNormal, kv1.ReasonPromotedReason, "version %s serves all traffic in %s; %s (version %s) is kept until %s",
		st.ActiveVersion, colorValue(st.ActiveColor), colorValue(st.PreviousColor), st.PreviousVersion, st.RollbackUntil.UTC().Format(time.RFC3339))
	keepPrevious(in, p)
}

// abort scales the preview down and leaves the active colour serving.
func abort(in rolloutInput, p *rolloutPlan, reason, msg string) {
	st := &p.Status
	p.ClearPromote = in.Promote
	version := st.PreviewVersion
	st.AbortedImage = st.PreviewImage
	clearPreview(st)
	st.Phase = kv1.StorefrontAborted
	st.BlockedBy = msg
	st.BlockedUntil = nil
	p.Degraded = condition{metav1.ConditionTrue, reason, fmt.Sprintf("rollout of %s aborted: %s", version, msg)}
	typ := corev1.EventTypeWarning
	if reason == kv1.ReasonAborted {
		typ = corev1.EventTypeNormal
	}
	p.event(typ, kv1.ReasonAborted, "rollout of %s aborted: %s", version, msg)
	if reason == kv1.ReasonChecksFailed {
		p.event(corev1.EventTypeWarning, kv1.ReasonChecksFailed, "%s", msg)
	}
}

func clearPreview(st *kv1.StorefrontStatus) {
	st.PreviewColor, st.PreviewImage, st.PreviewVersion = "", "", ""
	st.PreviewStarted = nil
}

// abortedCondition repeats why the last rollout was aborted, from the stored status.
func abortedCondition(st kv1.StorefrontStatus) condition {
	if c := meta.FindStatusCondition(st.Conditions, kv1.StorefrontDegraded); c != nil && c.Status == metav1.ConditionTrue {
		return condition{c.Status, c.Reason, c.Message}
	}
	return condition{metav1.ConditionTrue, kv1.ReasonAborted, "the last rollout was aborted: " + st.BlockedBy}
}

// checksDone reports whether every check has a result from the current preview.
func checksDone(spec kv1.StorefrontSpec, st *kv1.StorefrontStatus) bool {
	want := spec.Rollout.PrePromotionChecks
	if len(st.Checks) != len(want) {
		return false
	}
	for i, c := range want {
		r := st.Checks[i]
		if r.Name != c.Name || r.Time == nil || st.PreviewStarted == nil || r.Time.Before(st.PreviewStarted) {
			return false
		}
	}
	return true
}

// activeFreeze is the freeze window open at now that ends last, or nil.
func activeFreeze(windows []kv1.FreezeWindow, now time.Time) *kv1.FreezeWindow {
	var open *kv1.FreezeWindow
	for i := range windows {
		w := &windows[i]
		if !now.Before(w.Start.Time) && now.Before(w.End.Time) && (open == nil || w.End.After(open.End.Time)) {
			open = w
		}
	}
	return open
}

// colorPlan is what one colour's API Deployment should run.
type colorPlan struct {
	Image string
	// Full: scaled to the active replica count; otherwise to zero.
	Full bool
}

// colorPlans derives what each colour runs from the rollout part of the status:
// the active and preview colours at full size, the previous colour at full size
// until its rollback window ends, any other existing colour scaled to zero (on the
// image it has). A colour never deployed is not created.
func colorPlans(st kv1.StorefrontStatus, observed map[kv1.Color]deployState, now time.Time) map[kv1.Color]colorPlan {
	out := map[kv1.Color]colorPlan{}
	for _, c := range []kv1.Color{kv1.Blue, kv1.Green} {
		if d := observed[c]; d.Exists {
			out[c] = colorPlan{Image: d.Image}
		}
	}
	if st.PreviousColor != "" && st.PreviousImage != "" {
		out[st.PreviousColor] = colorPlan{Image: st.PreviousImage,
			Full: st.RollbackUntil != nil && now.Before(st.RollbackUntil.Time)}
	}
	if st.PreviewColor != "" {
		out[st.PreviewColor] = colorPlan{Image: st.PreviewImage, Full: true}
	}
	if st.ActiveColor != "" && st.ActiveImage != "" {
		out[st.ActiveColor] = colorPlan{Image: st.ActiveImage, Full: true}
	}
	return out
}

// podProblem names the first pod of pods that is failing and why: a container
// waiting for a reason other than starting (ImagePullBackOff, CrashLoopBackOff,
// CreateContainerConfigError...) or restarting. "" when none is.
func podProblem(pods []corev1.Pod) string {
	for _, pod := range pods {
		for _, cs := range pod.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
				msg := fmt.Sprintf("pod %s container %s %s", pod.Name, cs.Name, w.Reason)
				if w.Message != "" {
					msg += ": " + truncate(w.Message, 200)
				}
				return msg
			}
			if t := cs.LastTerminationState.Terminated; t != nil && cs.RestartCount > 0 {
				return fmt.Sprintf("pod %s container %s restarted %d times, last exit %d (%s)", pod.Name, cs.Name, cs.RestartCount, t.ExitCode, t.Reason)
			}
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason != "" {
				return fmt.Sprintf("pod %s %s: %s", pod.Name, c.Reason, truncate(c.Message, 200))
			}
		}
	}
	return ""
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
