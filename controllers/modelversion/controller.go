// Package modelversion reconciles ModelVersions: for each version an inference
// Deployment and Service running `kommerce inference` on its artifact (fetched by
// URI, verified by sha256 and checked against its published tensors before the pod
// turns ready), and the rollout of a model's versions — Direct, Shadow, Canary and
// ABTest — with the model's traffic split written to the status of every version,
// where the Storefront controller reads it. Business-metric verdicts come through
// the Judge seam.
package modelversion

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/internal/k8s"
)

// indexModel indexes ModelVersions by namespace-qualified spec.model, so a pass
// reads its siblings from the cache.
const indexModel = "kommerce.io/model"

// Reconciler reconciles ModelVersions.
type Reconciler struct {
	Client client.Client
	// APIReader reads the inference pods uncached, so the operator does not hold
	// every pod of the cluster in memory; only versions not yet serving read them.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Settings  Settings
	// Judge decides running rollouts on business metrics; nil decides nothing.
	Judge Judge
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// MaxConcurrentReconciles is how many ModelVersions reconcile at once (1 when zero).
	MaxConcurrentReconciles int
}

// Options configure the controller when the operator sets it up.
type Options struct {
	// Image runs `kommerce inference` in the versions' pods.
	Image string
	// Judge decides running rollouts; nil decides nothing.
	Judge                   Judge
	MaxConcurrentReconciles int
}

// Setup registers the ModelVersion controller with mgr.
func Setup(mgr ctrl.Manager, o Options) error {
	r := &Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder(k8s.FieldManager), Settings: Settings{Image: o.Image},
		Judge: o.Judge, MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}
	return r.SetupWithManager(mgr)
}

// +kubebuilder:rbac:groups=kommerce.io,resources=modelversions,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=kommerce.io,resources=modelversions/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one ModelVersion's inference pods in line with its spec and moves
// its rollout on.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	mv := &kv1.ModelVersion{}
	if err := r.Client.Get(ctx, req.NamespacedName, mv); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !mv.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the garbage collector removes the Deployment and Service
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	// Status times have whole seconds; so does the clock, so a pass that stores a
	// time and the next one that reads it back compute the same thing.
	s := &scope{mv: mv, before: mv.DeepCopy(), now: now().UTC().Truncate(time.Second)}
	result, err := r.runPhases(ctx, s)
	summarize(mv)
	if err := errors.Join(err, r.writeStatus(ctx, s)); err != nil {
		return k8s.Result(err)
	}
	if err := r.clearAnnotations(ctx, mv); err != nil {
		return k8s.Result(err)
	}
	return result, nil
}

// writeStatus patches the status subresource when it changed, with the
// resourceVersion the pass started from (a stale read is a conflict and retried,
// not a second announcement), then emits the pass's events.
func (r *Reconciler) writeStatus(ctx context.Context, s *scope) error {
	mv := s.mv
	if equality.Semantic.DeepEqual(s.before.Status, mv.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, mv, client.MergeFromWithOptions(s.before, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("write status: %w", err))
	}
	for _, e := range transitions(s.before.Status.Conditions, mv, s.event) {
		r.Recorder.Eventf(mv, nil, e.Type, e.Reason, "Rollout", "%s", e.Message)
	}
	s.before = mv.DeepCopy()
	return nil
}

// clearAnnotations removes kommerce.io/promote and kommerce.io/abort once the
// rollout has ended: they were acted on, or came too late to mean anything.
func (r *Reconciler) clearAnnotations(ctx context.Context, mv *kv1.ModelVersion) error {
	a := mv.GetAnnotations()
	_, p := a[kv1.AnnotationPromote]
	_, ab := a[kv1.AnnotationAbort]
	if !terminal(mv.Status.Phase) || (!p && !ab) {
		return nil
	}
	patch := client.MergeFrom(mv.DeepCopy())
	delete(a, kv1.AnnotationPromote)
	delete(a, kv1.AnnotationAbort)
	mv.SetAnnotations(a)
	if err := r.Client.Patch(ctx, mv, patch); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("remove acted-on annotations: %w", err))
	}
	return nil
}

// siblings enqueues every version of the changed version's model: a promotion,
// a rollback or a new version changes the split each of them records.
func (r *Reconciler) siblings(ctx context.Context, o client.Object) []reconcile.Request {
	mv, ok := o.(*kv1.ModelVersion)
	if !ok {
		return nil
	}
	var list kv1.ModelVersionList
	if err := r.Client.List(ctx, &list, client.InNamespace(mv.Namespace), client.MatchingFields{indexModel: mv.Spec.Model}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, s := range list.Items {
		if s.Name != mv.Name {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
		}
	}
	return out
}

// SetupWithManager registers the controller: ModelVersions, their siblings, and
// the Deployments and Services they own.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &kv1.ModelVersion{}, indexModel, func(o client.Object) []string {
		return []string{o.(*kv1.ModelVersion).Spec.Model}
	})
	if err != nil {
		return fmt.Errorf("index ModelVersions by model: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("modelversion").
		For(&kv1.ModelVersion{}).
		Watches(&kv1.ModelVersion{}, handler.EnqueueRequestsFromMapFunc(r.siblings)).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)}).
		Complete(r)
}
