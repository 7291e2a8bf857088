package k8s_test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kommerce/kommerce/internal/k8s"
)

// desiredSettings is a builder: a pure function of the owning resource, tested
// without a cluster. It sets every field the operator owns and nothing else; the
// controller reference and the hash annotation are added by Apply.
func desiredSettings(owner *corev1.ConfigMap) *corev1ac.ConfigMapApplyConfiguration {
	return corev1ac.ConfigMap(owner.Name+"-settings", owner.Namespace).
		WithLabels(map[string]string{"app.kubernetes.io/managed-by": k8s.FieldManager}).
		WithData(map[string]string{"currency": owner.Data["currency"]})
}

// A reconcile phase applies what its builder returns and hands the error to Result,
// so a conflict becomes a quick requeue and anything else a retry with backoff.
func ExampleApply() {
	reconcileSettings := func(ctx context.Context, c client.Client, owner *corev1.ConfigMap) (reconcile.Result, error) {
		if err := k8s.Apply(ctx, c, owner, desiredSettings(owner)); err != nil {
			return k8s.Result(fmt.Errorf("settings of %s: %w", owner.Name, err))
		}
		return reconcile.Result{}, nil
	}
	_ = reconcileSettings
}
