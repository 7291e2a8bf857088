package storefront

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/internal/k8s"
	"github.com/kommerce/kommerce/internal/tenantstore"
)

// refusedRetry is how often a refused Storefront is looked at again; a change of
// its Tenant triggers a pass at once anyway.
const refusedRetry = time.Minute

// scope is the state one reconcile pass carries.
type scope struct {
	sf     *kv1.Storefront
	before *kv1.Storefront
	log    logr.Logger
	now    time.Time

	tenant *kv1.Tenant
	// refusal, when set, is why nothing (more) is deployed.
	refusal *condition
	// suspended: the tenant is suspended and the storefront scaled to zero.
	suspended bool
	// plan is the rollout decision of the pass (nil when refused).
	plan     *rolloutPlan
	observed map[kv1.Color]deployState
	models   condition
	events   []notice
	// activeProblem names a failing pod of the serving colour.
	activeProblem string
	// desired is the image spec.version and spec.image ask for.
	desired string
	// stale: the cached Storefront is older than the API server's; the pass does
	// nothing and is retried.
	stale bool

	clearPromote, clearAbort bool
}

// refuse records why the Storefront cannot be deployed and stops the pass.
func (s *scope) refuse(reason, format string, args ...any) (ctrl.Result, error) {
	msg := fmt.Sprintf(format, args...)
	s.refusal = &condition{metav1.ConditionFalse, reason, msg}
	if c := meta.FindStatusCondition(s.sf.Status.Conditions, kv1.StorefrontDegraded); c == nil || c.Reason != reason {
		s.events = append(s.events, notice{corev1.EventTypeWarning, reason, msg})
	}
	return ctrl.Result{RequeueAfter: refusedRetry}, nil
}

// run is one pass: the tenant check, the children, the rollout step.
func (r *Reconciler) run(ctx context.Context, s *scope) (ctrl.Result, error) {
	if res, err := r.checkTenant(ctx, s); err != nil || s.refusal != nil {
		return res, err
	}
	source, res, err := r.readDataPlane(ctx, s)
	if err != nil || s.refusal != nil {
		return res, err
	}
	if res, err := r.registerHosts(ctx, s); err != nil || s.refusal != nil {
		return res, err
	}
	sf, t := s.sf, s.tenant
	w := world{
		sf: sf, slug: t.Name, identitySecret: t.Status.IdentitySecret,
		hasSecretsKey: len(source[KeySecretsKey]) > 0, repository: r.Repository,
		operatorNamespace: r.OperatorNamespace,
	}
	if ref := t.Spec.StripeSecretRef; ref != nil && ref.Namespace == sf.Namespace {
		w.stripe = ref
	}
	if err := r.apply(ctx, sf, desiredServiceAccount(w), desiredConnections(w, source)); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.applySettings(ctx, s, w); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.observe(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	if s.suspended {
		return ctrl.Result{}, r.scaleDown(ctx, s, w)
	}
	plan, err := r.decide(ctx, s)
	if err != nil || s.stale {
		return ctrl.Result{RequeueAfter: k8s.ConflictRetry}, err
	}
	s.plan = &plan
	s.events = append(s.events, plan.Events...)
	s.clearPromote, s.clearAbort = plan.ClearPromote, plan.ClearAbort
	copyRollout(&sf.Status, &plan.Status)
	if err := r.applyWorkloads(ctx, s, w); err != nil {
		// Not all of the step happened: the status keeps describing the state before
		// it, and the next pass decides (and announces) it again.
		copyRollout(&sf.Status, &s.before.Status)
		s.plan, s.events, s.clearPromote, s.clearAbort = nil, nil, false, false
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: plan.RequeueAfter}, nil
}

// copyRollout copies the rollout part of a plan's status into the Storefront's.
func copyRollout(dst, src *kv1.StorefrontStatus) {
	dst.Phase = src.Phase
	dst.ActiveColor, dst.ActiveImage, dst.ActiveVersion = src.ActiveColor, src.ActiveImage, src.ActiveVersion
	dst.PreviewColor, dst.PreviewImage, dst.PreviewVersion = src.PreviewColor, src.PreviewImage, src.PreviewVersion
	dst.PreviousColor, dst.PreviousImage, dst.PreviousVersion = src.PreviousColor, src.PreviousImage, src.PreviousVersion
	dst.RollbackUntil, dst.PreviewStarted, dst.PromotedAt = src.RollbackUntil, src.PreviewStarted, src.PromotedAt
	dst.AbortedImage, dst.Checks = src.AbortedImage, src.Checks
	// status.blockedBy holds at most 1024 characters; a longer one would make the
	// API server refuse the whole status write.
	dst.BlockedBy, dst.BlockedUntil = truncate(src.BlockedBy, 1000), src.BlockedUntil
}

// checkTenant refuses a Storefront whose tenant is missing, not ready, or does not
// own its namespace; it notes a suspended tenant.
func (r *Reconciler) checkTenant(ctx context.Context, s *scope) (ctrl.Result, error) {
	sf := s.sf
	name := sf.Spec.TenantRef.Name
	t := &kv1.Tenant{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: name}, t); apierrors.IsNotFound(err) {
		return s.refuse(kv1.ReasonTenantNotFound, "tenant %s does not exist", name)
	} else if err != nil {
		return ctrl.Result{}, fmt.Errorf("read tenant %s: %w", name, err)
	}
	s.tenant = t
	if !slices.Contains(t.Spec.Namespaces, kv1.NamespaceName(sf.Namespace)) {
		return s.refuse(kv1.ReasonNamespaceNotTenant, "namespace %s is not one of tenant %s's namespaces", sf.Namespace, name)
	}
	ready := meta.IsStatusConditionTrue(t.Status.Conditions, kv1.ConditionReady)
	if !ready || t.Status.TenantID == "" || t.Status.IdentitySecret == "" || !slices.Contains(t.Status.Namespaces, sf.Namespace) {
		why := "it is not Ready"
		if c := meta.FindStatusCondition(t.Status.Conditions, kv1.ConditionReady); c != nil && c.Message != "" {
			why += ": " + c.Message
		}
		return s.refuse(kv1.ReasonTenantNotReady, "tenant %s is not provisioned yet (%s)", name, why)
	}
	if t.Spec.Suspend {
		if sf.Status.ActiveImage == "" {
			return s.refuse(kv1.ReasonTenantSuspended, "tenant %s is suspended; nothing is deployed", name)
		}
		s.suspended = true
	}
	return ctrl.Result{}, nil
}

// registerHosts maps the channels' hostnames to this storefront in the platform
// database: the ingest pipeline indexes a tenant's products into the search index of
// each storefront it finds there, and the API pods search this storefront's. Without
// Hosts (tests without a database) nothing is registered.
func (r *Reconciler) registerHosts(ctx context.Context, s *scope) (ctrl.Result, error) {
	if r.Hosts == nil {
		return ctrl.Result{}, nil
	}
	hosts := make([]string, 0, len(s.sf.Spec.Channels))
	for _, ch := range s.sf.Spec.Channels {
		hosts = append(hosts, ch.Hostname)
	}
	err := r.Hosts.SetStorefrontHosts(ctx, s.tenant.Status.TenantID, s.sf.Name, hosts)
	if errors.Is(err, tenantstore.ErrConflict) || errors.Is(err, tenantstore.ErrInvalid) {
		return s.refuse(ReasonHostnameConflict, "a channel's hostname cannot be registered: %v", err)
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("register the channels' hostnames: %w", err)
	}
	return ctrl.Result{}, nil
}

// readDataPlane reads the operator's data-plane Secret (uncached: the cache holds
// only the operator's own Secrets).
func (r *Reconciler) readDataPlane(ctx context.Context, s *scope) (map[string][]byte, ctrl.Result, error) {
	if r.DataPlaneSecret.Name == "" {
		res, err := s.refuse(ReasonDataPlaneNotConfigured, "the operator has no data-plane Secret (KOMMERCE_DATA_PLANE_SECRET; the chart's dataPlane.existingSecret)")
		return nil, res, err
	}
	var sec corev1.Secret
	if err := r.APIReader.Get(ctx, r.DataPlaneSecret, &sec); apierrors.IsNotFound(err) {
		res, err := s.refuse(ReasonDataPlaneNotConfigured, "the data-plane Secret %s does not exist", r.DataPlaneSecret)
		return nil, res, err
	} else if err != nil {
		return nil, ctrl.Result{}, fmt.Errorf("read data-plane secret %s: %w", r.DataPlaneSecret, err)
	}
	if len(sec.Data[KeyDatabaseURL]) == 0 {
		res, err := s.refuse(ReasonDataPlaneNotConfigured, "the data-plane Secret %s has no %s key", r.DataPlaneSecret, KeyDatabaseURL)
		return nil, res, err
	}
	return sec.Data, ctrl.Result{}, nil
}

// apply server-side applies each desired object, owned by sf.
func (r *Reconciler) apply(ctx context.Context, sf *kv1.Storefront, desired ...runtime.ApplyConfiguration) error {
	for _, d := range desired {
		if err := k8s.Apply(ctx, r.Client, sf, d); err != nil {
			return err
		}
	}
	return nil
}

// applySettings renders the settings document with the bound models and applies
// the ConfigMap.
func (r *Reconciler) applySettings(ctx context.Context, s *scope, w world) error {
	sf := s.sf
	var mvs kv1.ModelVersionList
	if len(sf.Spec.Models) > 0 {
		if err := r.Client.List(ctx, &mvs, client.InNamespace(sf.Namespace)); err != nil {
			return fmt.Errorf("list model versions: %w", err)
		}
	}
	models, bound := bindModels(sf, mvs.Items)
	alias := indexAlias(s.tenant, sf.Name)
	doc, err := encodeSettings(renderSettings(sf, w.slug, alias, models))
	if err != nil {
		return err
	}
	if err := r.apply(ctx, sf, desiredSettings(w, doc)); err != nil {
		return err
	}
	if err := r.nudgePods(ctx, sf, doc); err != nil {
		return err
	}
	sf.Status.SearchIndex = alias
	sf.Status.SettingsConfigMap = settingsName(sf)
	sf.Status.BoundModels = bound
	if ok, msg := modelsBound(models); ok {
		s.models = condition{metav1.ConditionTrue, kv1.ReasonAsExpected, msg}
	} else {
		s.models = condition{metav1.ConditionFalse, kv1.ReasonWaiting, msg}
	}
	return nil
}

// AnnotationSettingsHash on an API pod is the hash of the settings document the
// operator last told it about.
const AnnotationSettingsHash = "kommerce.io/settings-hash"

// nudgePods annotates the storefront's API pods with the hash of a changed settings
// document. The kubelet refreshes a mounted ConfigMap only on its periodic pod sync
// (about a minute), but at once when the pod itself changes; the annotation is that
// change, so `kubectl edit storefront` is live within seconds. The pod template is
// not touched: that would be a rollout. Pods are read uncached and only patched when
// their annotation differs.
func (r *Reconciler) nudgePods(ctx context.Context, sf *kv1.Storefront, doc []byte) error {
	sum := sha256.Sum256(doc)
	hash := hex.EncodeToString(sum[:8])
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(sf.Namespace), client.MatchingLabels{StorefrontLabel: sf.Name, labelName: apiAppName}); err != nil {
		return fmt.Errorf("list API pods: %w", err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Annotations[AnnotationSettingsHash] == hash || !p.DeletionTimestamp.IsZero() {
			continue
		}
		patch := client.MergeFrom(p.DeepCopy())
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[AnnotationSettingsHash] = hash
		if err := r.Client.Patch(ctx, p, patch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("annotate pod %s with the settings hash: %w", p.Name, err)
		}
	}
	return nil
}

// observe reads the colours' API Deployments.
func (r *Reconciler) observe(ctx context.Context, s *scope) error {
	s.observed = map[kv1.Color]deployState{}
	for _, c := range []kv1.Color{kv1.Blue, kv1.Green} {
		var d appsv1.Deployment
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: s.sf.Namespace, Name: apiName(s.sf, c)}, &d)
		if apierrors.IsNotFound(err) {
			continue
		} else if err != nil {
			return fmt.Errorf("read deployment %s: %w", apiName(s.sf, c), err)
		}
		s.observed[c] = observeDeployment(&d)
	}
	return nil
}

// observeDeployment summarises a Deployment: its image and whether its current
// template is rolled out with every replica ready.
func observeDeployment(d *appsv1.Deployment) deployState {
	st := deployState{Exists: true, Replicas: 1, Ready: d.Status.ReadyReplicas}
	if d.Spec.Replicas != nil {
		st.Replicas = *d.Spec.Replicas
	}
	if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
		st.Image = cs[0].Image
	}
	st.Available = st.Replicas > 0 &&
		d.Status.ObservedGeneration >= d.Generation &&
		d.Status.UpdatedReplicas >= st.Replicas &&
		d.Status.ReadyReplicas >= st.Replicas &&
		d.Status.AvailableReplicas >= st.Replicas
	return st
}

// decide runs the rollout decision, and the checks when it asks for them.
func (r *Reconciler) decide(ctx context.Context, s *scope) (rolloutPlan, error) {
	sf := s.sf
	s.desired = desiredImage(sf, r.Repository)
	in := rolloutInput{
		Spec: sf.Spec, DesiredImage: s.desired, DesiredVersion: sf.Spec.Version,
		Status: sf.Status, Deployments: s.observed,
		Promote: sf.Annotations[kv1.AnnotationPromote] == "true", Abort: sf.Annotations[kv1.AnnotationAbort] == "true",
		Freeze: s.tenant.Spec.FreezeWindows, Now: s.now,
	}
	if err := r.readProblems(ctx, s, &in); err != nil {
		return rolloutPlan{}, err
	}
	plan := decide(in)
	if plan.RunChecks || switches(sf.Status, plan.Status) {
		if fresh, err := r.fresh(ctx, sf); err != nil || !fresh {
			s.stale = true
			return plan, err
		}
	}
	if !plan.RunChecks {
		return plan, nil
	}
	if ok, why, err := r.previewRouted(ctx, sf, plan.Status.PreviewColor); err != nil || !ok {
		// Nothing is decided this pass: the checks must reach the preview, and only it.
		s.log.V(1).Info("pre-promotion checks wait for the preview Service", "reason", why)
		s.stale = true
		return plan, err
	}
	retry := defaultCheckRetry
	if r.CheckAttempts > 0 {
		retry = checkRetry{Attempts: r.CheckAttempts, Delay: r.CheckRetryDelay}
	}
	results := runChecks(ctx, r.Checker, retry, sf, s.tenant.Name, r.now)
	if err := ctx.Err(); err != nil {
		// The operator is stopping (a leader handing over): an answer cut short is
		// not the preview's, so nothing is decided and the next leader checks again.
		s.stale = true
		return plan, fmt.Errorf("pre-promotion checks interrupted: %w", err)
	}
	in.Status = plan.Status
	in.Status.Checks = results
	next := decide(in)
	next.Events = append(plan.Events, next.Events...)
	if next.Status.Phase != kv1.StorefrontAborted {
		next.Events = append(next.Events, notice{corev1.EventTypeNormal, "ChecksPassed",
			fmt.Sprintf("%d pre-promotion checks passed against %s", len(results), plan.Status.PreviewVersion)})
	}
	return next, nil
}

// readProblems names failing pods of the colour a rollout waits for (blue on the
// first deploy, the preview, always the colour not serving, during a rollout) and
// of the serving colour when some of its pods are not ready. Pods are read only
// then, uncached.
func (r *Reconciler) readProblems(ctx context.Context, s *scope, in *rolloutInput) error {
	sf := s.sf
	var waiting kv1.Color
	switch st := sf.Status; {
	case st.ActiveImage == "" || st.PromotedAt == nil:
		waiting = kv1.Blue
	case in.DesiredImage != st.ActiveImage && in.DesiredImage != st.AbortedImage:
		waiting = otherColor(st.ActiveColor)
	}
	if d := s.observed[waiting]; waiting != "" && d.Exists && !d.Available {
		problem, err := r.podProblem(ctx, sf, waiting)
		if err != nil {
			return err
		}
		in.PreviewProblem = problem
	}
	if d := s.observed[sf.Status.ActiveColor]; sf.Status.PromotedAt != nil && d.Exists && d.Ready < d.Replicas {
		problem, err := r.podProblem(ctx, sf, sf.Status.ActiveColor)
		if err != nil {
			return err
		}
		s.activeProblem = problem
	}
	return nil
}

// switches reports whether a plan moves traffic or ends a rollout: what a pass
// working from an outdated Storefront must not do a second time.
func switches(before, after kv1.StorefrontStatus) bool {
	return before.ActiveColor != after.ActiveColor || before.ActiveImage != after.ActiveImage ||
		(after.AbortedImage != "" && after.AbortedImage != before.AbortedImage)
}

// fresh reports whether sf, as read from the cache, is what the API server holds.
// A pass that read a Storefront whose last status write the cache has not seen yet
// would otherwise run the checks or switch traffic a second time before its own
// status write is refused.
func (r *Reconciler) fresh(ctx context.Context, sf *kv1.Storefront) (bool, error) {
	var cur kv1.Storefront
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(sf), &cur); err != nil {
		return false, client.IgnoreNotFound(fmt.Errorf("read storefront: %w", err))
	}
	return cur.ResourceVersion == sf.ResourceVersion, nil
}

// podProblem lists the pods of a colour (uncached) and names one that fails.
func (r *Reconciler) podProblem(ctx context.Context, sf *kv1.Storefront, c kv1.Color) (string, error) {
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(sf.Namespace), client.MatchingLabels(apiSelector(sf, c))); err != nil {
		return "", fmt.Errorf("list pods of %s: %w", apiName(sf, c), err)
	}
	return podProblem(pods.Items), nil
}

// fullReplicas is the API replica count of a serving colour: spec.api.replicas, or
// with autoscaling what the autoscaler keeps the active colour at.
func fullReplicas(sf *kv1.Storefront, active deployState) int32 {
	if a := sf.Spec.API.Autoscaling; a != nil {
		return min(max(active.Replicas, a.MinReplicas), a.MaxReplicas)
	}
	if sf.Spec.API.Replicas > 0 {
		return sf.Spec.API.Replicas
	}
	return 2
}

// applyWorkloads applies the colours, ingest, Services, autoscaler, budget,
// Ingresses and policy the plan asks for. Deployments go first: traffic moves
// (Services) only to a colour that is already up.
func (r *Reconciler) applyWorkloads(ctx context.Context, s *scope, w world) error {
	sf, st := s.sf, s.plan.Status
	full := fullReplicas(sf, s.observed[st.ActiveColor])
	for c, cp := range colorPlans(st, s.observed, s.now) {
		var replicas *int32
		switch {
		case !cp.Full:
			replicas = ptr(int32(0))
		case c == st.ActiveColor && sf.Spec.API.Autoscaling != nil:
			replicas = nil // the autoscaler's
			if err := r.handOverReplicas(ctx, sf, c); err != nil {
				return err
			}
		default:
			replicas = ptr(full)
		}
		if err := r.apply(ctx, sf, desiredAPIDeployment(w, c, cp.Image, replicas)); err != nil {
			return err
		}
	}
	preview := st.PreviewColor
	if preview == "" {
		preview = st.ActiveColor
	}
	if err := r.apply(ctx, sf,
		desiredIngestDeployment(w, st.ActiveImage, ingestReplicas(sf)),
		desiredService(w, sf.Name, st.ActiveColor),
		desiredService(w, previewName(sf), preview),
		desiredPDB(w, st.ActiveColor),
	); err != nil {
		return err
	}
	if sf.Spec.API.Autoscaling != nil {
		if err := r.apply(ctx, sf, desiredHPA(w, st.ActiveColor)); err != nil {
			return err
		}
	} else if err := r.deleteOwned(ctx, sf, &autoscalingv2.HorizontalPodAutoscaler{}, sf.Name); err != nil {
		return err
	}
	if w.operatorNamespace != "" {
		if err := r.apply(ctx, sf, desiredNetworkPolicy(w)); err != nil {
			return err
		}
	}
	return r.applyIngresses(ctx, s, w)
}

// replicasManager holds a Deployment's spec.replicas between the operator letting
// go of it and the autoscaler taking it.
const replicasManager = "kommerce-operator-replicas"

// handOverReplicas lets the autoscaler have the replica count of a colour the
// operator scaled itself (a promoted preview). Were the operator simply to stop
// applying spec.replicas, the API server would drop the field it alone owned and
// default it to 1; so another field manager first applies the current count, and
// the field outlives the operator's release of it.
func (r *Reconciler) handOverReplicas(ctx context.Context, sf *kv1.Storefront, c kv1.Color) error {
	var d appsv1.Deployment
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: sf.Namespace, Name: apiName(sf, c)}, &d); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read deployment %s: %w", d.Name, err)
	}
	if d.Spec.Replicas == nil || !ownsReplicas(&d, k8s.FieldManager) {
		return nil
	}
	hold := appsv1ac.Deployment(d.Name, d.Namespace).WithSpec(appsv1ac.DeploymentSpec().WithReplicas(*d.Spec.Replicas))
	if err := r.Client.Apply(ctx, hold, client.FieldOwner(replicasManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("hand the replicas of %s over to the autoscaler: %w", d.Name, err)
	}
	return nil
}

// ownsReplicas reports whether manager applied d's spec.replicas.
func ownsReplicas(d *appsv1.Deployment, manager string) bool {
	for _, mf := range d.ManagedFields {
		if mf.Manager != manager || mf.Operation != metav1.ManagedFieldsOperationApply || mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]map[string]any
		if json.Unmarshal(mf.FieldsV1.Raw, &fields) == nil {
			if _, ok := fields["f:spec"]["f:replicas"]; ok {
				return true
			}
		}
	}
	return false
}

// applyIngresses applies one Ingress per channel and deletes those of channels
// that are gone.
func (r *Reconciler) applyIngresses(ctx context.Context, s *scope, w world) error {
	sf := s.sf
	want := map[string]bool{}
	for _, ch := range sf.Spec.Channels {
		want[ingressName(sf, ch)] = true
		if err := r.apply(ctx, sf, desiredIngress(w, ch)); err != nil {
			return err
		}
	}
	var list networkingv1.IngressList
	if err := r.Client.List(ctx, &list, client.InNamespace(sf.Namespace), client.MatchingLabels{StorefrontLabel: sf.Name}); err != nil {
		return fmt.Errorf("list ingresses: %w", err)
	}
	for i := range list.Items {
		if ing := &list.Items[i]; !want[ing.Name] && metav1.IsControlledBy(ing, sf) {
			if err := r.Client.Delete(ctx, ing); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("delete ingress %s of a removed channel: %w", ing.Name, err)
			}
		}
	}
	return nil
}

// deleteOwned deletes the object name of obj's kind when sf controls it.
func (r *Reconciler) deleteOwned(ctx context.Context, sf *kv1.Storefront, obj client.Object, name string) error {
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: sf.Namespace, Name: name}, obj); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read %T %s: %w", obj, name, err)
	}
	if !metav1.IsControlledBy(obj, sf) {
		return nil
	}
	if err := r.Client.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete %T %s: %w", obj, name, err)
	}
	return nil
}

// scaleDown scales every API colour and the ingest to zero for a suspended tenant
// and removes the autoscaler (which would scale them back up). Nothing else changes.
func (r *Reconciler) scaleDown(ctx context.Context, s *scope, w world) error {
	sf := s.sf
	for c, d := range s.observed {
		if err := r.apply(ctx, sf, desiredAPIDeployment(w, c, d.Image, ptr(int32(0)))); err != nil {
			return err
		}
	}
	if sf.Status.ActiveImage != "" {
		if err := r.apply(ctx, sf, desiredIngestDeployment(w, sf.Status.ActiveImage, 0)); err != nil {
			return err
		}
	}
	return r.deleteOwned(ctx, sf, &autoscalingv2.HorizontalPodAutoscaler{}, sf.Name)
}

func ptr[T any](v T) *T { return &v }
