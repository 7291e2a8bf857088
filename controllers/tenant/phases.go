package tenant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/internal/k8s"
	"github.com/kommerce/kommerce/internal/tenantstore"
)

// blockedRetry is how often a Tenant blocked by something outside its spec (a
// namespace owned by someone else, a database conflict) is looked at again; a change
// of its spec or of the namespace triggers a pass at once anyway.
const blockedRetry = time.Minute

// scope is the state one reconcile pass carries between phases.
type scope struct {
	tenant *kv1.Tenant
	before *kv1.Tenant // as read (or last written), to diff the status against
	log    logr.Logger
	row    *tenantstore.Record // the tenant's database row, once ensured this pass
	// planned is set when this pass planned the row (tenantstore Plan) and recorded
	// the plan in spec.isolation: the id there is known to be this tenant's.
	planned bool
}

// phase is one ordered step and the part condition it owns. A phase that cannot
// complete sets its condition and either returns an error (retried with backoff) or
// a result that stops the pass.
type phase struct {
	condition string
	run       func(*Reconciler, context.Context, *scope) (ctrl.Result, error)
}

// stop is the result of a phase that must end the pass without an error: the
// condition says why, and the Tenant is looked at again after blockedRetry.
var stop = ctrl.Result{RequeueAfter: blockedRetry}

// phases are the steps of a pass in the order Ready summarises their conditions
// in and a user reads them in. runPhases runs them in this order, overlapping those
// that do not depend on one another; the database part is two steps there (the row,
// then recording it in the spec).
var phases = []phase{
	{kv1.TenantNamespacesReady, (*Reconciler).reconcileNamespaces},
	{kv1.TenantQuotaReady, (*Reconciler).reconcileQuota},
	{kv1.TenantNetworkPolicyReady, (*Reconciler).reconcileNetworkPolicy},
	{kv1.TenantRBACReady, (*Reconciler).reconcileRBAC},
	{kv1.TenantDatabaseReady, (*Reconciler).ensureRow},
	{kv1.TenantIdentityReady, (*Reconciler).reconcileIdentity},
}

// runPhases runs the phases in order and stops at the first that does not finish.
// The phases that do not depend on one another overlap, so that a pass costs a few
// API round trips of latency rather than one per object:
//
//  1. namespaces (everything else lives in them), alongside the finalizer (which
//     must be in place before the database row exists) and, in the same patch,
//     the row's planned values in spec.isolation;
//  2. the database row, alongside quota and limit range, network policy, RBAC and,
//     when this pass planned the row, the identity Secret;
//  3. the row's values recorded in spec.isolation if step 1 could not, alongside
//     the identity Secret when it waited for the row.
//
// The identity Secret carries the tenant id, so it is written only once the id is
// known to be this tenant's: planned this pass (Plan read the slug's own row, or
// drew an id no other row has), or confirmed by the row itself. An id the spec
// names and no plan checked — one a user wrote, or one recorded earlier — waits
// for the row, so a Tenant naming another tenant's id never gets a Secret for it.
//
// A phase that runs beside others works on its own copy of the Tenant and hands
// back only the condition (and status fields) it owns; the steps that write the
// Tenant itself (finalizer, isolation) work on the scope's.
func (r *Reconciler) runPhases(ctx context.Context, s *scope) (ctrl.Result, error) {
	if res, err := r.alongside(ctx, s, (*Reconciler).addFinalizer, part{
		phase: phase{kv1.TenantNamespacesReady, (*Reconciler).reconcileNamespaces},
		keep:  func(dst, src *kv1.TenantStatus) { dst.Namespaces = src.Namespaces },
	}); err != nil || !res.IsZero() {
		return res, err
	}
	identity := part{
		phase: phase{kv1.TenantIdentityReady, (*Reconciler).reconcileIdentity},
		keep:  func(dst, src *kv1.TenantStatus) { dst.IdentitySecret = src.IdentitySecret },
	}
	second := []part{
		{phase: phase{kv1.TenantQuotaReady, (*Reconciler).reconcileQuota}},
		{phase: phase{kv1.TenantNetworkPolicyReady, (*Reconciler).reconcileNetworkPolicy}},
		{phase: phase{kv1.TenantRBACReady, (*Reconciler).reconcileRBAC}},
	}
	var third []part
	if s.planned {
		second = append(second, identity)
	} else {
		third = append(third, identity)
	}
	if res, err := r.alongside(ctx, s, (*Reconciler).ensureRow, second...); err != nil || !res.IsZero() {
		return res, err
	}
	return r.alongside(ctx, s, (*Reconciler).recordIsolation, third...)
}

// part is a phase run beside another step on a copy of the Tenant; keep copies
// the status fields it sets besides its condition (nil: none).
type part struct {
	phase
	keep func(dst, src *kv1.TenantStatus)
}

// addFinalizer adds the finalizer that removes the database row, before the row
// is created (the namespaces, owned by the Tenant, need none). For a new Tenant the
// same patch records the row's values in spec.isolation: they are planned first
// (tenantstore Plan: the stored row, or the id and prefixes an insert would give,
// checked against every other tenant's), so the row created next is exactly what
// the spec names and recordIsolation has nothing left to write — one Tenant write
// instead of two. When the plan fails the finalizer is added alone, and the row
// step reports the failure as it would have.
func (r *Reconciler) addFinalizer(ctx context.Context, s *scope) (ctrl.Result, error) {
	t := s.tenant
	if controllerutil.ContainsFinalizer(t, kv1.TenantFinalizer) {
		return ctrl.Result{}, nil
	}
	iso := t.Spec.Isolation
	planned := false
	if !isolationComplete(iso) {
		if rec, err := r.Store.Plan(ctx, desiredRow(t)); err == nil {
			iso, planned = isolationOf(rec), true
		} else {
			s.log.V(1).Info("planning the database row failed; the finalizer is added alone", "tenant", t.Name, "error", err.Error())
		}
	}
	patch := client.MergeFromWithOptions(t.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(t, kv1.TenantFinalizer)
	t.Spec.Isolation = iso
	if err := r.Client.Patch(ctx, t, patch); err != nil {
		return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
	}
	s.before = t.DeepCopy()
	s.planned = planned
	return ctrl.Result{}, nil
}

// isolationComplete reports whether every isolation value is recorded.
func isolationComplete(iso kv1.TenantIsolation) bool {
	return iso.TenantID != "" && iso.TopicPrefix != "" && iso.IndexPrefix != "" && iso.RedisPrefix != ""
}

// isolationOf is the spec.isolation that records rec.
func isolationOf(rec tenantstore.Record) kv1.TenantIsolation {
	return kv1.TenantIsolation{TenantID: rec.ID, TopicPrefix: rec.TopicPrefix, IndexPrefix: rec.IndexPrefix, RedisPrefix: rec.RedisPrefix}
}

// desiredRow is the registry row t asks for.
func desiredRow(t *kv1.Tenant) tenantstore.Desired {
	iso := t.Spec.Isolation
	name := t.Spec.DisplayName
	if name == "" {
		name = t.Name
	}
	return tenantstore.Desired{
		Slug: t.Name, Name: name, Suspended: t.Spec.Suspend,
		ID: iso.TenantID, TopicPrefix: iso.TopicPrefix, IndexPrefix: iso.IndexPrefix, RedisPrefix: iso.RedisPrefix,
	}
}

func wrapPhase(condition string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", condition, err)
}

// alongside runs own on s while each of others runs at the same time on a copy of
// s's Tenant, then takes each other's condition (moved to the Tenant's generation,
// which own may have advanced by writing the spec) and the status fields it keeps.
// It returns every error, and otherwise the first result that stops the pass.
func (r *Reconciler) alongside(ctx context.Context, s *scope, own func(*Reconciler, context.Context, *scope) (ctrl.Result, error), others ...part) (ctrl.Result, error) {
	type outcome struct {
		res ctrl.Result
		err error
		s   *scope
	}
	outs := make([]outcome, len(others))
	var wg sync.WaitGroup
	for i, p := range others {
		c := &scope{tenant: s.tenant.DeepCopy(), before: s.before.DeepCopy(), log: s.log, row: s.row}
		if c.row != nil {
			c.tenant.Spec.Isolation.TenantID = c.row.ID
		}
		wg.Go(func() {
			res, err := p.run(r, ctx, c)
			outs[i] = outcome{res, wrapPhase(p.condition, err), c}
		})
	}
	ownRes, ownErr := own(r, ctx, s)
	wg.Wait()
	t := s.tenant
	errs := []error{ownErr}
	res := ownRes
	for i, p := range others {
		o := outs[i]
		if c := meta.FindStatusCondition(o.s.tenant.Status.Conditions, p.condition); c != nil {
			moved := *c
			moved.ObservedGeneration = t.Generation
			meta.SetStatusCondition(&t.Status.Conditions, moved)
		}
		if p.keep != nil {
			p.keep(&t.Status, &o.s.tenant.Status)
		}
		errs = append(errs, o.err)
		if res.IsZero() {
			res = o.res
		}
	}
	if err := errors.Join(errs...); err != nil {
		return ctrl.Result{}, err
	}
	return res, nil
}

// applyEach applies the objects build makes for every tenant namespace, all at
// once, and records the part's condition.
func (r *Reconciler) applyEach(ctx context.Context, s *scope, cond, what string, build ...func(ns string) runtime.ApplyConfiguration) (ctrl.Result, error) {
	t := s.tenant
	type job struct {
		ns  string
		err error
	}
	jobs := make([]job, 0, len(t.Spec.Namespaces)*len(build))
	for _, ns := range t.Spec.Namespaces {
		for range build {
			jobs = append(jobs, job{ns: string(ns)})
		}
	}
	var wg sync.WaitGroup
	for i := range jobs {
		b := build[i%len(build)]
		wg.Go(func() { jobs[i].err = r.apply(ctx, t, b(jobs[i].ns)) })
	}
	wg.Wait()
	for _, j := range jobs {
		if j.err != nil {
			markFailed(t, cond, kv1.ReasonApplyFailed, fmt.Sprintf("applying the %s in namespace %s failed: %v", what, j.ns, j.err))
			return ctrl.Result{}, fmt.Errorf("apply %s in %s: %w", what, j.ns, j.err)
		}
	}
	markReady(t, cond, fmt.Sprintf("%s in place in %d namespaces", what, len(t.Spec.Namespaces)))
	return ctrl.Result{}, nil
}

// apply writes one object the Tenant owns: created when the cache does not hold
// it (a create costs the API server less than an apply, and a burst of new
// Tenants is bound by the API server's CPU), applied when it drifted or the
// desired state changed, nothing otherwise (k8s.CreateOrApply).
func (r *Reconciler) apply(ctx context.Context, t *kv1.Tenant, desired runtime.ApplyConfiguration) error {
	live := r.Live
	if live == nil {
		live = r.Client
	}
	return k8s.CreateOrApply(ctx, r.Client, live, t, desired)
}

// reconcileNamespaces creates or adopts each namespace, refuses one that belongs to
// another tenant, and deletes namespaces the tenant no longer lists.
func (r *Reconciler) reconcileNamespaces(ctx context.Context, s *scope) (ctrl.Result, error) {
	t := s.tenant
	for _, n := range t.Spec.Namespaces {
		ns := string(n)
		if r.Watched != nil && !r.Watched(ns) {
			markFailed(t, kv1.TenantNamespacesReady, kv1.ReasonNamespaceNotWatched,
				fmt.Sprintf("namespace %s is outside the namespaces this operator watches (--watch-namespaces)", ns))
			return stop, nil
		}
		if reason, msg, err := r.namespaceBlocked(ctx, t, ns); err != nil {
			return ctrl.Result{}, err
		} else if reason != "" {
			markFailed(t, kv1.TenantNamespacesReady, reason, msg)
			return stop, nil
		}
		if err := r.apply(ctx, t, desiredNamespace(t, ns)); err != nil {
			markFailed(t, kv1.TenantNamespacesReady, kv1.ReasonApplyFailed, fmt.Sprintf("applying namespace %s failed: %v", ns, err))
			return ctrl.Result{}, fmt.Errorf("apply namespace %s: %w", ns, err)
		}
	}
	if err := r.releaseNamespaces(ctx, t); err != nil {
		markFailed(t, kv1.TenantNamespacesReady, kv1.ReasonApplyFailed, err.Error())
		return ctrl.Result{}, err
	}
	t.Status.Namespaces = make([]string, len(t.Spec.Namespaces))
	for i, n := range t.Spec.Namespaces {
		t.Status.Namespaces[i] = string(n)
	}
	markReady(t, kv1.TenantNamespacesReady, fmt.Sprintf("%d namespaces: %s", len(t.Status.Namespaces), strings.Join(t.Status.Namespaces, ", ")))
	return ctrl.Result{}, nil
}

// namespaceBlocked says why an existing namespace cannot be used, if it cannot: it
// is labelled for or controlled by another tenant, or it is being deleted.
func (r *Reconciler) namespaceBlocked(ctx context.Context, t *kv1.Tenant, ns string) (reason, message string, err error) {
	var existing corev1.Namespace
	if err := r.Client.Get(ctx, types.NamespacedName{Name: ns}, &existing); apierrors.IsNotFound(err) {
		return "", "", nil
	} else if err != nil {
		return "", "", fmt.Errorf("read namespace %s: %w", ns, err)
	}
	if !existing.DeletionTimestamp.IsZero() {
		return kv1.ReasonNamespaceDeleting, fmt.Sprintf("namespace %s is being deleted; it is recreated once it is gone", ns), nil
	}
	c := metav1.GetControllerOf(&existing)
	switch {
	case c != nil && c.UID == t.UID:
		return "", "", nil // ours: labels someone edited are put back by the apply
	case c != nil:
		return kv1.ReasonNamespaceConflict, fmt.Sprintf("namespace %s is controlled by %s %s (uid %s)", ns, c.Kind, c.Name, c.UID), nil
	}
	if owner := existing.Labels[kv1.TenantLabel]; owner != "" && owner != t.Name {
		return kv1.ReasonNamespaceConflict, fmt.Sprintf("namespace %s belongs to tenant %s", ns, owner), nil
	}
	return "", "", nil
}

// releaseNamespaces deletes the namespaces this Tenant controls but no longer
// lists. The schema refuses such a removal while spec.preventDeletion is true.
func (r *Reconciler) releaseNamespaces(ctx context.Context, t *kv1.Tenant) error {
	var list corev1.NamespaceList
	var byTenant client.ListOption = client.MatchingLabels{kv1.TenantLabel: t.Name}
	if r.namespacesIndexed {
		byTenant = client.MatchingFields{namespaceTenantIndex: t.Name}
	}
	if err := r.Client.List(ctx, &list, byTenant); err != nil {
		return fmt.Errorf("list namespaces of tenant %s: %w", t.Name, err)
	}
	for i := range list.Items {
		ns := &list.Items[i]
		if slices.Contains(t.Spec.Namespaces, kv1.NamespaceName(ns.Name)) || !ns.DeletionTimestamp.IsZero() {
			continue
		}
		if c := metav1.GetControllerOf(ns); c == nil || c.UID != t.UID {
			continue
		}
		if err := r.Client.Delete(ctx, ns, client.Preconditions{UID: &ns.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete namespace %s removed from the tenant: %w", ns.Name, err)
		}
		r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, "NamespaceRemoved", "Delete", "deleted namespace %s, which the tenant no longer lists", ns.Name)
	}
	return nil
}

func (r *Reconciler) reconcileQuota(ctx context.Context, s *scope) (ctrl.Result, error) {
	t := s.tenant
	return r.applyEach(ctx, s, kv1.TenantQuotaReady, "resource quota and limit range",
		func(ns string) runtime.ApplyConfiguration { return desiredQuota(t, ns) },
		func(ns string) runtime.ApplyConfiguration { return desiredLimitRange(t, ns) })
}

func (r *Reconciler) reconcileNetworkPolicy(ctx context.Context, s *scope) (ctrl.Result, error) {
	t := s.tenant
	return r.applyEach(ctx, s, kv1.TenantNetworkPolicyReady, "default-deny network policy", func(ns string) runtime.ApplyConfiguration {
		return desiredNetworkPolicy(t, ns)
	})
}

// reconcileRBAC applies the owners' Role and its RoleBinding at once. The API
// server refuses to bind a Role that does not exist yet unless the binder may
// "bind" it; the operator holds bind on this Role's name alone (the rbac marker on
// Reconcile), so the binding need not wait for the Role.
func (r *Reconciler) reconcileRBAC(ctx context.Context, s *scope) (ctrl.Result, error) {
	t := s.tenant
	return r.applyEach(ctx, s, kv1.TenantRBACReady, "owners' role and role binding",
		func(ns string) runtime.ApplyConfiguration { return desiredRole(t, ns) },
		func(ns string) runtime.ApplyConfiguration { return desiredRoleBinding(t, ns) })
}

// ensureRow upserts the tenant's registry row and keeps it in the scope for
// recordIsolation.
func (r *Reconciler) ensureRow(ctx context.Context, s *scope) (ctrl.Result, error) {
	t := s.tenant
	rec, err := r.Store.Ensure(ctx, desiredRow(t))
	switch {
	case errors.Is(err, tenantstore.ErrConflict), errors.Is(err, tenantstore.ErrInvalid):
		markFailed(t, kv1.TenantDatabaseReady, kv1.ReasonIsolationConflict, err.Error())
		return stop, nil
	case err != nil:
		markFailed(t, kv1.TenantDatabaseReady, kv1.ReasonDatabaseError, "the platform database is unreachable or failed: "+err.Error())
		return ctrl.Result{}, wrapPhase(kv1.TenantDatabaseReady, err)
	}
	s.row = &rec
	return ctrl.Result{}, nil
}

// recordIsolation records the id and prefixes the database row holds in
// spec.isolation, where they become immutable. A new Tenant's were recorded with
// its finalizer (addFinalizer), so this writes only when that plan failed or the
// Tenant had its finalizer before its row.
func (r *Reconciler) recordIsolation(ctx context.Context, s *scope) (ctrl.Result, error) {
	t, rec := s.tenant, s.row
	iso := t.Spec.Isolation
	if iso != isolationOf(*rec) {
		status := t.Status
		patch := client.MergeFrom(t.DeepCopy())
		t.Spec.Isolation = isolationOf(*rec)
		if err := r.Client.Patch(ctx, t, patch); err != nil {
			return ctrl.Result{}, wrapPhase(kv1.TenantDatabaseReady, fmt.Errorf("record isolation settings in spec: %w", err))
		}
		// The patch returns the stored object: the status write of this pass starts
		// from its resourceVersion and stored status, keeps this pass's status, and
		// moves the conditions to the new generation the patch created.
		stored := t.Status
		s.before = t.DeepCopy()
		s.before.Status = stored
		t.Status = status
		for i := range t.Status.Conditions {
			t.Status.Conditions[i].ObservedGeneration = t.Generation
		}
	}
	t.Status.TenantID = rec.ID
	markReady(t, kv1.TenantDatabaseReady, fmt.Sprintf("tenant id %s, topics %s.*, indices %s*, keys %s*", rec.ID, rec.TopicPrefix, rec.IndexPrefix, rec.RedisPrefix))
	return ctrl.Result{}, nil
}

// reconcileIdentity puts the same identity Secret in every namespace: the tenant id
// and a signing key generated once (kept from the oldest valid Secret thereafter).
func (r *Reconciler) reconcileIdentity(ctx context.Context, s *scope) (ctrl.Result, error) {
	t := s.tenant
	var existing []corev1.Secret
	for _, ns := range t.Spec.Namespaces {
		var sec corev1.Secret
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: string(ns), Name: IdentitySecretName}, &sec)
		switch {
		case err == nil:
			existing = append(existing, sec)
		case !apierrors.IsNotFound(err):
			markFailed(t, kv1.TenantIdentityReady, kv1.ReasonApplyFailed, fmt.Sprintf("reading the identity Secret in %s failed: %v", ns, err))
			return ctrl.Result{}, fmt.Errorf("read identity secret in %s: %w", ns, err)
		}
	}
	id, ok := chooseIdentity(t, existing)
	if !ok {
		var err error
		if id, err = newIdentity(r.Rand, ""); err != nil {
			markFailed(t, kv1.TenantIdentityReady, kv1.ReasonApplyFailed, err.Error())
			return ctrl.Result{}, err
		}
		s.log.Info("generated tenant signing key", "tenant", t.Name, "keyID", id.KeyID)
	}
	id.TenantID = t.Spec.Isolation.TenantID
	t.Status.IdentitySecret = IdentitySecretName
	return r.applyEach(ctx, s, kv1.TenantIdentityReady, "identity Secret "+IdentitySecretName, func(ns string) runtime.ApplyConfiguration {
		return desiredIdentitySecret(t, ns, id)
	})
}
