// Package storefront reconciles Storefront resources: for each storefront of a
// tenant its settings ConfigMap, API Deployments in two colours with a blue-green
// rollout between them, ingest Deployment, Services, autoscaler, disruption budget,
// Ingresses, ServiceAccount, connection Secret and network policy.
//
// The rollout's memory is the Storefront's status and the Deployments, nothing
// else: a restarted operator decides from them what it decided before.
package storefront

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/internal/k8s"
	"github.com/kommerce/kommerce/internal/tenantstore"
)

// ReasonDataPlaneNotConfigured: the operator was started without a data-plane
// Secret (KOMMERCE_DATA_PLANE_SECRET), or it lacks database-url.
const ReasonDataPlaneNotConfigured = "DataPlaneNotConfigured"

// ReasonHostnameConflict: a channel's hostname belongs to another tenant's
// storefront (or the database refuses it); nothing new is deployed.
const ReasonHostnameConflict = "HostnameConflict"

// DefaultRepository is the image repository of storefronts without spec.image when
// the operator is given none.
const DefaultRepository = "kommerce"

// Reconciler reconciles Storefronts.
type Reconciler struct {
	Client client.Client
	// Hosts registers the channels' hostnames of each storefront in the platform
	// database (nil: not registered).
	Hosts tenantstore.HostStore
	// APIReader reads what the cache does not hold: the data-plane Secret and the
	// preview pods.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	// Checker runs the pre-promotion checks; HTTPChecker when nil.
	Checker Checker
	// CheckAttempts is how often a check with the wrong answer is tried before it
	// fails the rollout, CheckRetryDelay apart (3 attempts 2s apart when zero).
	CheckAttempts   int
	CheckRetryDelay time.Duration
	// DataPlaneSecret is the Secret whose connection settings every storefront
	// copies; storefronts report DataPlaneNotConfigured when it is empty.
	DataPlaneSecret types.NamespacedName
	// Repository is the image repository when spec.image is empty (DefaultRepository
	// when empty).
	Repository string
	// OperatorNamespace is allowed to reach the API pods (for the checks); no
	// NetworkPolicy is written when it is empty.
	OperatorNamespace string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxConcurrentReconciles is how many Storefronts reconcile at once (1 when zero).
	MaxConcurrentReconciles int
}

// +kubebuilder:rbac:groups=kommerce.io,resources=storefronts,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=kommerce.io,resources=storefronts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kommerce.io,resources=tenants,verbs=get;list;watch
// +kubebuilder:rbac:groups=kommerce.io,resources=modelversions,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps;secrets;services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses;networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one Storefront's children in line with its spec and moves its
// rollout one step.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sf := &kv1.Storefront{}
	if err := r.Client.Get(ctx, req.NamespacedName, sf); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !sf.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the garbage collector removes what it owns
	}
	s := &scope{sf: sf, before: sf.DeepCopy(), log: log.FromContext(ctx), now: r.now()}
	result, err := r.run(ctx, s)
	if s.stale {
		return result, err
	}
	summarize(s)
	if err := errors.Join(err, r.writeStatus(ctx, s)); err != nil {
		return k8s.Result(err)
	}
	if err := r.clearAnnotations(ctx, s); err != nil {
		return k8s.Result(err)
	}
	return result, nil
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// writeStatus patches the status subresource when it changed, with the
// resourceVersion the pass started from (a pass that read a stale Storefront gets
// a conflict and is retried, so nothing is promoted or announced twice), then
// emits the pass's Events.
func (r *Reconciler) writeStatus(ctx context.Context, s *scope) error {
	sf := s.sf
	if equality.Semantic.DeepEqual(s.before.Status, sf.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, sf, client.MergeFromWithOptions(s.before, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("write status: %w", err))
	}
	for _, e := range s.events {
		r.Recorder.Eventf(sf, nil, e.Type, e.Reason, "Reconcile", "%s", e.Message)
	}
	s.before = sf.DeepCopy()
	return nil
}

// clearAnnotations removes the promote and abort annotations the pass acted on,
// once its status is stored.
func (r *Reconciler) clearAnnotations(ctx context.Context, s *scope) error {
	if !s.clearPromote && !s.clearAbort {
		return nil
	}
	sf := s.sf
	patch := client.MergeFrom(sf.DeepCopy())
	if s.clearPromote {
		delete(sf.Annotations, kv1.AnnotationPromote)
	}
	if s.clearAbort {
		delete(sf.Annotations, kv1.AnnotationAbort)
	}
	if err := r.Client.Patch(ctx, sf, patch); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("remove rollout annotations: %w", err))
	}
	return nil
}

// ownedTypes are the kinds a Storefront owns.
func ownedTypes() []client.Object {
	return []client.Object{
		&corev1.ServiceAccount{}, &corev1.Secret{}, &corev1.ConfigMap{}, &corev1.Service{},
		&appsv1.Deployment{}, &autoscalingv2.HorizontalPodAutoscaler{}, &policyv1.PodDisruptionBudget{},
		&networkingv1.Ingress{}, &networkingv1.NetworkPolicy{},
	}
}

// CacheByObject restricts the manager's cache for the kinds a Storefront owns to
// objects labelled app.kubernetes.io/managed-by=kommerce-operator, so the operator
// does not hold every Deployment or ConfigMap of the cluster in memory. Every
// object the operator creates carries that label, whichever controller made it, so
// other controllers can share the selector. Secrets and NetworkPolicies are left
// out: the Tenant controller restricts them to its tenant label, which a
// Storefront's children carry too. Merge it with tenant.CacheByObject.
func CacheByObject() map[client.Object]cache.ByObject {
	sel := labels.SelectorFromSet(labels.Set{labelManagedBy: managerName})
	out := map[client.Object]cache.ByObject{}
	for _, o := range []client.Object{
		&corev1.ServiceAccount{}, &corev1.ConfigMap{}, &corev1.Service{}, &appsv1.Deployment{},
		&autoscalingv2.HorizontalPodAutoscaler{}, &policyv1.PodDisruptionBudget{}, &networkingv1.Ingress{},
	} {
		out[o] = cache.ByObject{Label: sel}
	}
	return out
}

// tenantRefIndex indexes Storefronts by spec.tenantRef.name.
const tenantRefIndex = "spec.tenantRef.name"

// SetupWithManager registers the controller: Storefronts (spec and annotation
// changes), what they own, their Tenants and the ModelVersions of their models.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Checker == nil {
		r.Checker = HTTPChecker{}
	}
	if r.Repository == "" {
		r.Repository = DefaultRepository
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &kv1.Storefront{}, tenantRefIndex, func(o client.Object) []string {
		return []string{o.(*kv1.Storefront).Spec.TenantRef.Name}
	}); err != nil {
		return fmt.Errorf("index storefronts by tenant: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("storefront").
		For(&kv1.Storefront{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&kv1.Tenant{}, handler.EnqueueRequestsFromMapFunc(r.storefrontsOfTenant)).
		Watches(&kv1.ModelVersion{}, handler.EnqueueRequestsFromMapFunc(r.storefrontsOfModel)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)})
	for _, o := range ownedTypes() {
		b = b.Owns(o)
	}
	return b.Complete(r)
}

func (r *Reconciler) storefrontsOfTenant(ctx context.Context, o client.Object) []reconcile.Request {
	var list kv1.StorefrontList
	if err := r.Client.List(ctx, &list, client.MatchingFields{tenantRefIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "list storefronts of tenant", "tenant", o.GetName())
		return nil
	}
	return requests(list.Items, func(*kv1.Storefront) bool { return true })
}

func (r *Reconciler) storefrontsOfModel(ctx context.Context, o client.Object) []reconcile.Request {
	mv, ok := o.(*kv1.ModelVersion)
	if !ok {
		return nil
	}
	var list kv1.StorefrontList
	if err := r.Client.List(ctx, &list, client.InNamespace(mv.Namespace)); err != nil {
		log.FromContext(ctx).Error(err, "list storefronts of model", "model", mv.Spec.Model)
		return nil
	}
	return requests(list.Items, func(sf *kv1.Storefront) bool {
		for _, b := range sf.Spec.Models {
			if b.Model == mv.Spec.Model {
				return true
			}
		}
		return false
	})
}

func requests(items []kv1.Storefront, keep func(*kv1.Storefront) bool) []reconcile.Request {
	var out []reconcile.Request
	for i := range items {
		if keep(&items[i]) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&items[i])})
		}
	}
	return out
}
