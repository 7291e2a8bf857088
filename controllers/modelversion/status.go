package modelversion

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

// maxMessage bounds what the controller copies from a pod into a condition or
// blockedBy (a termination message holds up to 4 KiB).
const maxMessage = 1024

func clip(s string) string {
	if len(s) > maxMessage {
		return s[:maxMessage-3] + "..."
	}
	return s
}

// setCondition records one condition for the ModelVersion's current generation.
func setCondition(mv *kv1.ModelVersion, typ string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&mv.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: clip(message),
		ObservedGeneration: mv.Generation,
	})
}

// observation is what the pods of a version say this pass.
type observation struct {
	desired, ready int32
	// failure is why the pods refused the artifact ("" when none did).
	failure string
}

// markServing sets ArtifactVerified and Serving from what the pods say. The
// artifact counts as verified only once a pod loaded it: `kommerce inference`
// turns ready after the sha256 and tensor checks pass.
func markServing(mv *kv1.ModelVersion, o observation) {
	mv.Status.ReadyReplicas = o.ready
	switch {
	case o.ready > 0:
		setCondition(mv, kv1.ModelVersionArtifactVerified, metav1.ConditionTrue, kv1.ReasonArtifactLoaded,
			fmt.Sprintf("sha256 %s and the published tensors match; the model is loaded", mv.Spec.Artifact.SHA256[:12]))
		setCondition(mv, kv1.ModelVersionServing, metav1.ConditionTrue, kv1.ReasonArtifactLoaded,
			fmt.Sprintf("%d of %d inference pods have the model loaded", o.ready, o.desired))
	case o.failure != "":
		setCondition(mv, kv1.ModelVersionArtifactVerified, metav1.ConditionFalse, kv1.ReasonArtifactRefused, o.failure)
		setCondition(mv, kv1.ModelVersionServing, metav1.ConditionFalse, kv1.ReasonArtifactRefused, "no inference pod loaded the model: "+o.failure)
	case o.desired == 0:
		setCondition(mv, kv1.ModelVersionServing, metav1.ConditionFalse, kv1.ReasonScaledToZero, "spec.replicas is 0")
		if meta.FindStatusCondition(mv.Status.Conditions, kv1.ModelVersionArtifactVerified) == nil {
			setCondition(mv, kv1.ModelVersionArtifactVerified, metav1.ConditionUnknown, kv1.ReasonScaledToZero, "no pod runs to fetch the artifact")
		}
	default:
		setCondition(mv, kv1.ModelVersionArtifactVerified, metav1.ConditionUnknown, kv1.ReasonLoading, "the inference pods are fetching and checking the artifact")
		setCondition(mv, kv1.ModelVersionServing, metav1.ConditionFalse, kv1.ReasonLoading,
			fmt.Sprintf("0 of %d inference pods have the model loaded", o.desired))
	}
}

// summarize sets Ready: the version's pods serve the verified artifact. Ready says
// nothing about traffic (status.trafficSplit does), so `kubectl wait
// --for=condition=Ready` waits for a loaded model.
func summarize(mv *kv1.ModelVersion) {
	mv.Status.ObservedGeneration = mv.Generation
	for _, typ := range []string{kv1.ModelVersionArtifactVerified, kv1.ModelVersionServing} {
		c := meta.FindStatusCondition(mv.Status.Conditions, typ)
		if c == nil || c.Status != metav1.ConditionTrue {
			reason, msg := kv1.ReasonPartsNotReady, typ+" is not yet known"
			if c != nil {
				reason, msg = c.Reason, typ+": "+c.Message
			}
			setCondition(mv, kv1.ConditionReady, metav1.ConditionFalse, reason, msg)
			return
		}
	}
	setCondition(mv, kv1.ConditionReady, metav1.ConditionTrue, kv1.ReasonAllPartsReady, "the model is loaded and served")
}

// applyState stores a rollout state and the model's split in mv's status.
func applyState(mv *kv1.ModelVersion, s State, sp Split, metrics []kv1.MeasuredMetric) {
	st := &mv.Status
	st.Phase, st.CanaryStep, st.Verdict, st.BlockedBy = s.Phase, s.CanaryStep, s.Verdict, clip(s.BlockedBy)
	st.StartedAt, st.StepStartedAt, st.CompletedAt = stamp(s.StartedAt), stamp(s.StepStartedAt), stamp(s.CompletedAt)
	st.TrafficSplit, st.Split, st.Experiment = sp.Shares, summary(sp.Shares), sp.Experiment
	st.CandidateWeight = weightOf(sp.Shares, mv.Name)
	if metrics != nil {
		st.Metrics = metrics
	}
}

func stamp(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t)
	return &mt
}

func unstamp(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// notice is one Kubernetes Event to emit.
type notice struct {
	Type, Reason, Message string
}

// transitions lists the events of a pass: the rollout's own transition, and the
// Serving condition turning (a version's pods coming up, or going down).
func transitions(before []metav1.Condition, mv *kv1.ModelVersion, e *Event) []notice {
	var out []notice
	if c := meta.FindStatusCondition(mv.Status.Conditions, kv1.ModelVersionServing); c != nil {
		old := meta.FindStatusCondition(before, kv1.ModelVersionServing)
		switch {
		case c.Status == metav1.ConditionTrue && (old == nil || old.Status != metav1.ConditionTrue):
			out = append(out, notice{corev1.EventTypeNormal, "Serving", c.Message})
		case c.Status != metav1.ConditionTrue && old != nil && old.Status == metav1.ConditionTrue:
			out = append(out, notice{corev1.EventTypeWarning, "NotServing", c.Message})
		}
	}
	if e != nil {
		typ := corev1.EventTypeNormal
		if e.Warning {
			typ = corev1.EventTypeWarning
		}
		out = append(out, notice{typ, e.Reason, clip(e.Message)})
	}
	return out
}
