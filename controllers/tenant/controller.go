// Package tenant reconciles Tenant resources: for each tenant its namespaces, quota,
// limit range, default-deny network policy, owners' RBAC, data-plane identity Secret
// and its row in the platform database, and a finalizer that removes the row.
package tenant

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/internal/k8s"
	"github.com/kommerce/kommerce/internal/tenantstore"
)

// Reconciler reconciles Tenants.
type Reconciler struct {
	Client   client.Client
	Recorder recorder.EventRecorder
	Store    tenantstore.Store
	// Live reads from the API server itself. Children are created with plain
	// creates, and before one is applied again its managedFields, which the cache
	// does not hold, are read here (see k8s.CreateOrApply). SetupWithManager sets
	// the manager's APIReader when nil; Client is used when still nil, which is
	// right only when Client reads from the API server, not from a cache.
	Live client.Reader
	// Watched reports whether the manager's cache sees a namespace (all namespaces
	// when nil); objects in other namespaces could be written but never read back.
	Watched func(namespace string) bool
	// Rand is the entropy for signing keys; crypto/rand when nil.
	Rand io.Reader
	// MaxConcurrentReconciles is how many Tenants reconcile at once (1 when zero).
	MaxConcurrentReconciles int

	// namespacesIndexed is set by SetupWithManager once the cache indexes
	// namespaces by tenant, so a pass finds a tenant's namespaces without scanning
	// every namespace of the cluster.
	namespacesIndexed bool
	// own holds the versions this reconciler's creates and patches produced, whose
	// watch events start no pass (see ownWrites). SetupWithManager sets it and wraps
	// Client to record them.
	own *ownWrites
}

// namespaceTenantIndex indexes cached namespaces by their kommerce.io/tenant label.
const namespaceTenantIndex = "metadata.labels.kommerce.io/tenant"

// +kubebuilder:rbac:groups=kommerce.io,resources=tenants,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=kommerce.io,resources=tenants/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kommerce.io,resources=tenants/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=resourcequotas;limitranges,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete
//
// Binding the owners' Role in the same round trip as its create (reconcileRBAC):
// without bind the API server checks a new binding against the Role's rules, and
// refuses it while the Role is not there yet. Bind is held on that one name.
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles,verbs=bind,resourceNames=kommerce-tenant-admin
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
//
// What the tenant admin Role grants, which the operator must hold itself to grant it:
// +kubebuilder:rbac:groups="",resources=configmaps;services;persistentvolumeclaims;pods;serviceaccounts,verbs=get;list;watch;create;update;patch;delete;deletecollection
// +kubebuilder:rbac:groups="",resources=secrets,verbs=deletecollection
// +kubebuilder:rbac:groups="",resources=pods/log;events,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;create;update;patch;delete;deletecollection
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=jobs;cronjobs,verbs=get;list;watch;create;update;patch;delete;deletecollection
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete;deletecollection
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;update;patch;delete;deletecollection
// +kubebuilder:rbac:groups=kommerce.io,resources=storefronts;modelversions,verbs=get;list;watch;create;update;patch;delete;deletecollection
// +kubebuilder:rbac:groups=kommerce.io,resources=storefronts/status;modelversions/status,verbs=get;list;watch

// Reconcile brings one Tenant's namespaces, policies, identity and database row in
// line with its spec, or runs its deletion.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	t := &kv1.Tenant{}
	if err := r.Client.Get(ctx, req.NamespacedName, t); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s := &scope{tenant: t, before: t.DeepCopy(), log: log.FromContext(ctx)}

	if !t.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	result, err := r.runPhases(ctx, s)
	summarize(t)
	if err := errors.Join(err, r.writeStatus(ctx, s)); err != nil {
		return k8s.Result(err)
	}
	return result, nil
}

// reconcileDelete removes what lives outside Kubernetes (the database row) and then
// the finalizer; the garbage collector removes the owned objects. A protected
// Tenant stays Terminating with condition DeletionBlocked. The status is written
// once per pass: Deleting, or why removing the row failed.
func (r *Reconciler) reconcileDelete(ctx context.Context, s *scope) (ctrl.Result, error) {
	t := s.tenant
	if !controllerutil.ContainsFinalizer(t, kv1.TenantFinalizer) {
		return ctrl.Result{}, nil
	}
	if t.Spec.PreventDeletion {
		markDeletionBlocked(t)
		return k8s.Result(r.writeStatus(ctx, s))
	}
	markDeleting(t)
	err := r.Store.Delete(ctx, t.Name, t.Spec.Isolation.TenantID)
	if err != nil {
		markFailed(t, kv1.TenantDatabaseReady, kv1.ReasonDatabaseError, "removing the tenant's database row failed: "+err.Error())
		err = fmt.Errorf("delete tenant %s from the platform database: %w", t.Name, err)
	}
	if err := errors.Join(err, r.writeStatus(ctx, s)); err != nil {
		return k8s.Result(err)
	}
	r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, "DatabaseRowDeleted", "Delete", "removed tenant %s from the platform database", t.Name)
	patch := client.MergeFromWithOptions(t.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(t, kv1.TenantFinalizer)
	if err := r.Client.Patch(ctx, t, patch); err != nil {
		return k8s.Result(client.IgnoreNotFound(fmt.Errorf("remove finalizer: %w", err)))
	}
	return ctrl.Result{}, nil
}

// writeStatus writes the status subresource when it changed, and emits an Event
// per condition transition. The write carries the resourceVersion the pass started
// from (or last wrote): a pass that read a stale cached Tenant (its previous status
// write not yet seen) gets a conflict and is retried, instead of writing and
// announcing the same transitions twice.
//
// It is an update of the status subresource, not a patch: with the resourceVersion
// precondition both store exactly this status, and the API server, which takes
// nothing but the status from the request, skips the patch machinery (encoding the
// stored Tenant to JSON and merging the patch into it): 0.7 of the 2.7 ms of
// kube-apiserver CPU a new Tenant's status write cost in hack/bench/operator.sh.
// The Tenant read from the cache has no managedFields; an update without them
// keeps the stored ones.
func (r *Reconciler) writeStatus(ctx context.Context, s *scope) error {
	t := s.tenant
	if equality.Semantic.DeepEqual(s.before.Status, t.Status) {
		return nil
	}
	t.ResourceVersion = s.before.ResourceVersion
	if err := r.Client.Status().Update(ctx, t); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("write status: %w", err))
	}
	for _, e := range transitions(s.before.Status.Conditions, t.Status.Conditions) {
		r.Recorder.Eventf(t, nil, e.Type, e.Reason, "Reconcile", "%s", e.Message)
	}
	s.before = t.DeepCopy()
	return nil
}

// ownedTypes are the kinds a Tenant owns in its namespaces.
func ownedTypes() []client.Object {
	return []client.Object{
		&corev1.ResourceQuota{}, &corev1.LimitRange{}, &networkingv1.NetworkPolicy{},
		&rbacv1.Role{}, &rbacv1.RoleBinding{}, &corev1.Secret{},
	}
}

// CacheByObject restricts the manager's cache for the kinds a Tenant owns to objects
// carrying the tenant label, so the operator does not hold every Secret (or Role) of
// the cluster in memory. Those objects, Tenants and namespaces are cached without
// their managedFields, which nothing here reads (an apply is compared field by
// field with the desired state) and which are often the larger part of an object.
func CacheByObject() map[client.Object]cache.ByObject {
	req, err := labels.NewRequirement(kv1.TenantLabel, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant label key; cannot fail
	}
	sel := labels.NewSelector().Add(*req)
	strip := cache.TransformStripManagedFields()
	out := map[client.Object]cache.ByObject{
		&kv1.Tenant{}:       {Transform: strip},
		&corev1.Namespace{}: {Transform: strip},
	}
	for _, o := range ownedTypes() {
		out[o] = cache.ByObject{Label: sel, Transform: strip}
	}
	return out
}

// specOrLifecycleChanged lets through Tenant updates that need work: a new
// generation (spec), a deletion request or a finalizer change — not the operator's
// own status writes.
var specOrLifecycleChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld, e.ObjectNew
		return o.GetGeneration() != n.GetGeneration() ||
			!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp()) ||
			len(o.GetFinalizers()) != len(n.GetFinalizers())
	},
}

// SetupWithManager registers the controller: Tenants, the namespaces and objects
// they own (so drift is repaired as soon as it happens). The events of the
// reconciler's own creates and patches start no pass (ownWrites): Client is wrapped
// to record them.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Rand == nil {
		r.Rand = rand.Reader
	}
	if r.Live == nil {
		r.Live = mgr.GetAPIReader()
	}
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Namespace{}, namespaceTenantIndex, func(o client.Object) []string {
		if v := o.GetLabels()[kv1.TenantLabel]; v != "" {
			return []string{v}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index namespaces by tenant: %w", err)
	}
	r.namespacesIndexed = true
	r.own = newOwnWrites()
	r.Client = recordingClient{Client: r.Client, own: r.own}
	own := builder.WithPredicates(r.own.predicate())
	b := ctrl.NewControllerManagedBy(mgr).
		Named("tenant").
		For(&kv1.Tenant{}, builder.WithPredicates(r.own.predicate(), specOrLifecycleChanged)).
		Owns(&corev1.Namespace{}, own).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)})
	for _, o := range ownedTypes() {
		b = b.Owns(o, own)
	}
	return b.Complete(r)
}
