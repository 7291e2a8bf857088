package tenant

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

func TestSummarize(t *testing.T) {
	allTrue := func(tn *kv1.Tenant) {
		for _, p := range phases {
			markReady(tn, p.condition, "ok")
		}
	}
	tests := []struct {
		name       string
		setup      func(*kv1.Tenant)
		wantReady  metav1.ConditionStatus
		wantPhase  kv1.TenantPhase
		wantReason string
		wantInMsg  string
	}{
		{"new tenant", func(*kv1.Tenant) {}, metav1.ConditionFalse, kv1.TenantPhaseProvisioning, kv1.ReasonProvisioning, "NamespacesReady"},
		{"every part ready", allTrue, metav1.ConditionTrue, kv1.TenantPhaseReady, kv1.ReasonAllPartsReady, ""},
		{"one part failed", func(tn *kv1.Tenant) {
			allTrue(tn)
			markFailed(tn, kv1.TenantDatabaseReady, kv1.ReasonIsolationConflict, "topic prefix taken")
		}, metav1.ConditionFalse, kv1.TenantPhaseFailed, kv1.ReasonPartsNotReady, "DatabaseReady: topic prefix taken"},
		{"a part from an older generation", func(tn *kv1.Tenant) {
			allTrue(tn)
			tn.Generation++
			for _, p := range phases[1:] {
				markReady(tn, p.condition, "ok")
			}
		}, metav1.ConditionFalse, kv1.TenantPhaseProvisioning, kv1.ReasonProvisioning, "NamespacesReady is not yet reconciled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := testTenant()
			tn.Status.Namespaces = []string{"acme-shop", "acme-ml"}
			tt.setup(tn)
			summarize(tn)
			ready := meta.FindStatusCondition(tn.Status.Conditions, kv1.ConditionReady)
			if ready == nil || ready.Status != tt.wantReady || ready.Reason != tt.wantReason || !strings.Contains(ready.Message, tt.wantInMsg) {
				t.Errorf("Ready = %+v; want %s/%s containing %q", ready, tt.wantReady, tt.wantReason, tt.wantInMsg)
			}
			if tn.Status.Phase != tt.wantPhase {
				t.Errorf("phase %s, want %s", tn.Status.Phase, tt.wantPhase)
			}
			if tn.Status.ObservedGeneration != tn.Generation || tn.Status.NamespaceList != "acme-shop,acme-ml" {
				t.Errorf("observedGeneration %d namespaceList %q", tn.Status.ObservedGeneration, tn.Status.NamespaceList)
			}
		})
	}
}

func TestSetConditionKeepsTransitionTime(t *testing.T) {
	tn := testTenant()
	markReady(tn, kv1.TenantQuotaReady, "first")
	first := meta.FindStatusCondition(tn.Status.Conditions, kv1.TenantQuotaReady).LastTransitionTime
	first.Time = first.Add(-60e9)
	tn.Status.Conditions[0].LastTransitionTime = first
	markReady(tn, kv1.TenantQuotaReady, "again")
	if got := meta.FindStatusCondition(tn.Status.Conditions, kv1.TenantQuotaReady); !got.LastTransitionTime.Equal(&first) || got.Message != "again" {
		t.Errorf("a repeated True moved the transition time or kept the old message: %+v", got)
	}
}

func TestDeletionConditions(t *testing.T) {
	tn := testTenant()
	tn.Generation = 7
	markDeletionBlocked(tn)
	if tn.Status.ObservedGeneration != 7 {
		t.Errorf("observedGeneration %d, want 7", tn.Status.ObservedGeneration)
	}
	blocked := meta.FindStatusCondition(tn.Status.Conditions, kv1.TenantDeletionBlocked)
	if blocked == nil || blocked.Status != metav1.ConditionTrue || !strings.Contains(blocked.Message, "spec.preventDeletion is true") ||
		tn.Status.Phase != kv1.TenantPhaseDeletionBlocked || meta.IsStatusConditionTrue(tn.Status.Conditions, kv1.ConditionReady) {
		t.Fatalf("blocked: %+v phase %s", tn.Status.Conditions, tn.Status.Phase)
	}
	markDeleting(tn)
	if meta.FindStatusCondition(tn.Status.Conditions, kv1.TenantDeletionBlocked) != nil || tn.Status.Phase != kv1.TenantPhaseDeleting {
		t.Fatalf("deleting: %+v phase %s", tn.Status.Conditions, tn.Status.Phase)
	}
}

func TestTransitions(t *testing.T) {
	cond := func(typ string, s metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: "m"}
	}
	tests := []struct {
		name          string
		before, after []metav1.Condition
		want          []string // type/reason of each event
	}{
		{"nothing changed", []metav1.Condition{cond("QuotaReady", "True", "Provisioned")}, []metav1.Condition{cond("QuotaReady", "True", "Provisioned")}, nil},
		{"first pass of a new tenant", nil, []metav1.Condition{cond("Ready", "False", "Provisioning")}, nil},
		{"part of a new tenant became ready", nil, []metav1.Condition{cond("QuotaReady", "True", "Provisioned")}, nil},
		{"part recovered", []metav1.Condition{cond("DatabaseReady", "False", "DatabaseError")}, []metav1.Condition{cond("DatabaseReady", "True", "Provisioned")}, []string{"Normal/DatabaseReady"}},
		{"part broke", []metav1.Condition{cond("DatabaseReady", "True", "Provisioned")}, []metav1.Condition{cond("DatabaseReady", "False", "DatabaseError")}, []string{"Warning/DatabaseError"}},
		{"ready", []metav1.Condition{cond("Ready", "False", "Provisioning")}, []metav1.Condition{cond("Ready", "True", "AllPartsReady")}, []string{"Normal/Ready"}},
		{"ready lost is told by the part", []metav1.Condition{cond("Ready", "True", "AllPartsReady")}, []metav1.Condition{cond("Ready", "False", "PartsNotReady")}, nil},
		{"deletion blocked", nil, []metav1.Condition{cond("DeletionBlocked", "True", "DeletionProtected")}, []string{"Warning/DeletionProtected"}},
		{"reason changed", []metav1.Condition{cond("NamespacesReady", "False", "NamespaceConflict")}, []metav1.Condition{cond("NamespacesReady", "False", "NamespaceTerminating")}, []string{"Warning/NamespaceTerminating"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range transitions(tt.before, tt.after) {
				got = append(got, e.Type+"/"+e.Reason)
				if e.Type != corev1.EventTypeNormal && e.Type != corev1.EventTypeWarning {
					t.Errorf("event type %q", e.Type)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("events %v, want %v", got, tt.want)
			}
		})
	}
}
