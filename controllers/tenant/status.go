package tenant

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

// setCondition records one condition for the Tenant's current generation. The
// transition time only moves when the status changes.
func setCondition(t *kv1.Tenant, typ string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&t.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: message,
		ObservedGeneration: t.Generation,
	})
}

func markReady(t *kv1.Tenant, typ, message string) {
	setCondition(t, typ, metav1.ConditionTrue, kv1.ReasonProvisioned, message)
}

func markFailed(t *kv1.Tenant, typ, reason, message string) {
	setCondition(t, typ, metav1.ConditionFalse, reason, message)
}

// summarize sets Ready and the phase from the phases' conditions: Ready is True only
// when every part is True for the current generation; otherwise it repeats the
// first part that is not, so `kubectl wait` failures and `kubectl get` say why.
func summarize(t *kv1.Tenant) {
	t.Status.ObservedGeneration = t.Generation
	t.Status.NamespaceList = strings.Join(t.Status.Namespaces, ",")
	for _, p := range phases {
		typ := p.condition
		c := meta.FindStatusCondition(t.Status.Conditions, typ)
		switch {
		case c == nil || c.ObservedGeneration != t.Generation:
			setCondition(t, kv1.ConditionReady, metav1.ConditionFalse, kv1.ReasonProvisioning, typ+" is not yet reconciled")
			t.Status.Phase = kv1.TenantPhaseProvisioning
			return
		case c.Status != metav1.ConditionTrue:
			setCondition(t, kv1.ConditionReady, metav1.ConditionFalse, kv1.ReasonPartsNotReady, fmt.Sprintf("%s: %s", typ, c.Message))
			t.Status.Phase = kv1.TenantPhaseFailed
			if c.Status == metav1.ConditionUnknown || c.Reason == kv1.ReasonWaiting {
				t.Status.Phase = kv1.TenantPhaseProvisioning
			}
			return
		}
	}
	setCondition(t, kv1.ConditionReady, metav1.ConditionTrue, kv1.ReasonAllPartsReady, "every part of the tenant is provisioned")
	t.Status.Phase = kv1.TenantPhaseReady
}

// markDeletionBlocked records why a deletion does not proceed.
func markDeletionBlocked(t *kv1.Tenant) {
	msg := "deletion is blocked because spec.preventDeletion is true; set it to false to delete the tenant, its namespaces and its data"
	setCondition(t, kv1.TenantDeletionBlocked, metav1.ConditionTrue, kv1.ReasonDeletionProtected, msg)
	setCondition(t, kv1.ConditionReady, metav1.ConditionFalse, kv1.ReasonDeletionProtected, msg)
	t.Status.Phase = kv1.TenantPhaseDeletionBlocked
	t.Status.ObservedGeneration = t.Generation
}

// markDeleting records that the finalizer is cleaning up.
func markDeleting(t *kv1.Tenant) {
	meta.RemoveStatusCondition(&t.Status.Conditions, kv1.TenantDeletionBlocked)
	setCondition(t, kv1.ConditionReady, metav1.ConditionFalse, kv1.ReasonDeleting, "the tenant is being deleted")
	t.Status.Phase = kv1.TenantPhaseDeleting
	t.Status.ObservedGeneration = t.Generation
}

// notice is one Kubernetes Event to emit.
type notice struct {
	Type, Reason, Message string
}

// transitions lists the events for conditions whose status changed between before
// and after: Ready itself, a part that broke or recovered, and a deletion that
// became blocked. Nothing is emitted for a pass that changed nothing,
// so a healthy tenant does not fill the event log.
func transitions(before, after []metav1.Condition) []notice {
	var out []notice
	for _, c := range after {
		old := meta.FindStatusCondition(before, c.Type)
		if old != nil && old.Status == c.Status && old.Reason == c.Reason {
			continue
		}
		if old == nil && c.Status != metav1.ConditionTrue && c.Reason == kv1.ReasonProvisioning {
			continue // the first "not yet" of a new tenant is not news
		}
		switch {
		case c.Type == kv1.TenantDeletionBlocked && c.Status == metav1.ConditionTrue:
			out = append(out, notice{corev1.EventTypeWarning, c.Reason, c.Message})
		case c.Type == kv1.ConditionReady && c.Status == metav1.ConditionTrue:
			out = append(out, notice{corev1.EventTypeNormal, c.Type, c.Message})
		case c.Status == metav1.ConditionTrue:
			// A part coming back is news; a part of a new tenant becoming ready is
			// told by the one Ready event.
			if old != nil && old.Status == metav1.ConditionFalse {
				out = append(out, notice{corev1.EventTypeNormal, c.Type, c.Message})
			}
		case c.Type != kv1.ConditionReady:
			out = append(out, notice{corev1.EventTypeWarning, c.Reason, c.Type + ": " + c.Message})
		}
	}
	return out
}
