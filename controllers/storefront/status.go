package storefront

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

func setCondition(sf *kv1.Storefront, typ string, c condition) {
	meta.SetStatusCondition(&sf.Status.Conditions, metav1.Condition{
		Type: typ, Status: c.Status, Reason: c.Reason, Message: c.Message, ObservedGeneration: sf.Generation,
	})
}

// summarize fills the observed fields and the conditions of the pass.
func summarize(s *scope) {
	sf := s.sf
	sf.Status.ObservedGeneration = sf.Generation
	if s.refusal != nil {
		summarizeRefused(s)
		return
	}
	if s.tenant == nil || s.observed == nil {
		return // an error before anything was observed: keep what the status says
	}
	sf.Status.URLs = channelURLs(sf)
	sf.Status.PreviewURL = previewURL(sf)
	setCondition(sf, kv1.StorefrontModelsBound, s.models)
	setCondition(sf, kv1.StorefrontSearchReady, condition{metav1.ConditionUnknown, "NotVerified",
		fmt.Sprintf("the API and ingest use index alias %s; the operator does not check the search engine (ingest creates the index)", sf.Status.SearchIndex)})
	if s.suspended {
		msg := fmt.Sprintf("tenant %s is suspended: the API and ingest are scaled to zero", s.tenant.Name)
		sf.Status.Phase = kv1.StorefrontPending
		sf.Status.ActiveReplicas, sf.Status.PreviewReplicas = 0, 0
		setCondition(sf, kv1.StorefrontAvailable, condition{metav1.ConditionFalse, kv1.ReasonTenantSuspended, msg})
		setCondition(sf, kv1.StorefrontDegraded, condition{metav1.ConditionTrue, kv1.ReasonTenantSuspended, msg})
		setCondition(sf, kv1.ConditionReady, condition{metav1.ConditionFalse, kv1.ReasonTenantSuspended, msg})
		return
	}
	if s.plan == nil {
		return
	}
	st := &sf.Status
	active := s.observed[st.ActiveColor]
	st.ActiveReplicas = active.Ready
	st.PreviewReplicas = 0
	if st.PreviewColor != "" {
		st.PreviewReplicas = s.observed[st.PreviewColor].Ready
	}
	available := condition{metav1.ConditionFalse, kv1.ReasonUnavailable, fmt.Sprintf("no API pod of the active colour %s is ready", colorValue(st.ActiveColor))}
	if active.Ready > 0 && st.PromotedAt != nil {
		available = condition{metav1.ConditionTrue, kv1.ReasonAsExpected,
			fmt.Sprintf("%d API pods of %s (version %s) ready", active.Ready, colorValue(st.ActiveColor), st.ActiveVersion)}
	}
	setCondition(sf, kv1.StorefrontAvailable, available)
	setCondition(sf, kv1.StorefrontProgressing, s.plan.Progressing)
	degraded := s.plan.Degraded
	if available.Status != metav1.ConditionTrue && st.PromotedAt != nil && degraded.Status != metav1.ConditionTrue {
		degraded = condition{metav1.ConditionTrue, kv1.ReasonUnavailable, available.Message}
	}
	setCondition(sf, kv1.StorefrontDegraded, degraded)
	promoted := condition{metav1.ConditionFalse, string(st.Phase), "version " + sf.Spec.Version + " does not serve yet"}
	if st.BlockedBy != "" {
		promoted.Message += ": " + st.BlockedBy
	}
	if st.Phase == kv1.StorefrontReady && st.ActiveVersion == sf.Spec.Version && st.PromotedAt != nil {
		promoted = condition{metav1.ConditionTrue, kv1.ReasonPromotedReason, fmt.Sprintf("version %s serves all traffic from %s", st.ActiveVersion, colorValue(st.ActiveColor))}
	}
	setCondition(sf, kv1.StorefrontPromoted, promoted)
	ready := condition{metav1.ConditionTrue, kv1.ReasonAsExpected, fmt.Sprintf("version %s serves all traffic", st.ActiveVersion)}
	switch {
	case available.Status != metav1.ConditionTrue:
		ready = condition{metav1.ConditionFalse, available.Reason, available.Message}
	case degraded.Status == metav1.ConditionTrue:
		ready = condition{metav1.ConditionFalse, degraded.Reason, degraded.Message}
	case promoted.Status != metav1.ConditionTrue:
		ready = condition{metav1.ConditionFalse, promoted.Reason, promoted.Message}
	}
	setCondition(sf, kv1.ConditionReady, ready)
}

// summarizeRefused says why nothing is deployed: Available and Ready False, Degraded
// True, all with the refusal's reason.
func summarizeRefused(s *scope) {
	sf, r := s.sf, s.refusal
	if sf.Status.ActiveImage == "" {
		sf.Status.Phase = kv1.StorefrontPending
	}
	setCondition(sf, kv1.StorefrontAvailable, condition{metav1.ConditionFalse, r.Reason, r.Message})
	setCondition(sf, kv1.StorefrontDegraded, condition{metav1.ConditionTrue, r.Reason, r.Message})
	setCondition(sf, kv1.ConditionReady, condition{metav1.ConditionFalse, r.Reason, r.Message})
	if meta.FindStatusCondition(sf.Status.Conditions, kv1.StorefrontProgressing) == nil {
		setCondition(sf, kv1.StorefrontProgressing, condition{metav1.ConditionFalse, r.Reason, "nothing is deployed: " + r.Message})
	}
	if meta.FindStatusCondition(sf.Status.Conditions, kv1.StorefrontPromoted) == nil {
		setCondition(sf, kv1.StorefrontPromoted, condition{metav1.ConditionFalse, r.Reason, r.Message})
	}
}
