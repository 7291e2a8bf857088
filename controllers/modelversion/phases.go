package modelversion

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/internal/k8s"
)

// loadingPoll is how often a version whose pods have not loaded the artifact is
// looked at: a crash-looping pod changes no Deployment field the watch would see.
// A version whose pods refused the artifact is looked at every failedPoll, in case
// they load it on a later try (an artifact server that was down).
//
// A running rollout with a Judge is judged again every judgePoll: its always-valid
// sequential tests may be looked at as often as one likes, and a guardrail should
// roll a broken candidate back within seconds, not at the end of the experiment.
const (
	loadingPoll = 10 * time.Second
	failedPoll  = time.Minute
	judgePoll   = 10 * time.Second
)

// scope is the state one reconcile pass carries between phases.
type scope struct {
	mv     *kv1.ModelVersion
	before *kv1.ModelVersion
	now    time.Time
	obs    observation
	event  *Event
}

// runPhases runs the steps of a pass in order: the inference workload, what its
// pods say, then the rollout. The rollout runs even when the workload cannot be
// applied (a refused artifact must still fail the version and leave the split).
func (r *Reconciler) runPhases(ctx context.Context, s *scope) (ctrl.Result, error) {
	if err := r.reconcileWorkload(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.observe(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	return r.reconcileRollout(ctx, s)
}

// reconcileWorkload applies the version's Deployment and Service, unless its
// artifact URI is one no pod could fetch.
func (r *Reconciler) reconcileWorkload(ctx context.Context, s *scope) error {
	mv := s.mv
	if err := fetchable(mv.Spec.Artifact.URI); err != nil {
		s.obs = observation{desired: mv.Spec.Replicas, failure: err.Error()}
		return nil
	}
	if err := k8s.Apply(ctx, r.Client, mv, desiredDeployment(mv, r.Settings)); err != nil {
		setCondition(mv, kv1.ModelVersionServing, metav1.ConditionFalse, kv1.ReasonApplyFailed, "applying the inference Deployment failed: "+err.Error())
		return fmt.Errorf("apply inference deployment: %w", err)
	}
	if err := k8s.Apply(ctx, r.Client, mv, desiredService(mv)); err != nil {
		setCondition(mv, kv1.ModelVersionServing, metav1.ConditionFalse, kv1.ReasonApplyFailed, "applying the inference Service failed: "+err.Error())
		return fmt.Errorf("apply inference service: %w", err)
	}
	mv.Status.Endpoint = Endpoint(mv)
	return nil
}

// observe reads the Deployment's ready pods and, while none is ready, the pods'
// own account of why.
func (r *Reconciler) observe(ctx context.Context, s *scope) error {
	mv := s.mv
	if s.obs.failure != "" {
		markServing(mv, s.obs)
		return nil
	}
	s.obs = observation{desired: mv.Spec.Replicas}
	var dep appsv1.Deployment
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: mv.Namespace, Name: InferenceName(mv.Name)}, &dep)
	switch {
	case apierrors.IsNotFound(err): // just applied; the cache has not seen it yet
	case err != nil:
		return fmt.Errorf("read inference deployment: %w", err)
	default:
		s.obs.ready = dep.Status.ReadyReplicas
	}
	if s.obs.ready == 0 && s.obs.desired > 0 {
		var pods corev1.PodList
		if err := r.APIReader.List(ctx, &pods, client.InNamespace(mv.Namespace), client.MatchingLabels(selectorLabels(mv))); err != nil {
			return fmt.Errorf("list inference pods: %w", err)
		}
		s.obs.failure = loadFailure(pods.Items)
	}
	markServing(mv, s.obs)
	return nil
}

// reconcileRollout moves this version's rollout on and records the model's split.
func (r *Reconciler) reconcileRollout(ctx context.Context, s *scope) (ctrl.Result, error) {
	mv := s.mv
	var list kv1.ModelVersionList
	if err := r.Client.List(ctx, &list, client.InNamespace(mv.Namespace), client.MatchingFields{indexModel: mv.Spec.Model}); err != nil {
		return ctrl.Result{}, fmt.Errorf("list the model's versions: %w", err)
	}
	self := versionOf(mv)
	self.Serving, self.LoadFailure = s.obs.ready > 0, s.obs.failure
	var others []Version
	for i := range list.Items {
		if o := &list.Items[i]; o.Name != mv.Name && o.DeletionTimestamp.IsZero() {
			others = append(others, versionOf(o))
		}
	}
	d, err := r.judge(ctx, mv, self, others)
	if err != nil {
		return ctrl.Result{}, err
	}
	st := advance(self, others, s.now, d)
	self.Phase, self.StartedAt, self.CanaryStep = st.Phase, st.StartedAt, st.CanaryStep
	applyState(mv, st, split(append(others, self)), d.Metrics)
	s.event = st.Event
	after := requeue(st, self.Serving, mv.Spec.Replicas)
	if r.Judge != nil && running(st.Phase) {
		after = judgeAgain(after)
	}
	return ctrl.Result{RequeueAfter: after}, nil
}

// judgeAgain caps the wait of a running rollout at judgePoll: the aggregates the
// Judge reads change with every shopper, not with any object the controller
// watches, so without it an A/B test would be judged only when it starts and when
// its maxDuration ends, and never promoted or rolled back in between.
func judgeAgain(after time.Duration) time.Duration {
	if after == 0 || after > judgePoll {
		return judgePoll
	}
	return after
}

// judge asks the Judge about this version's running rollout, if it runs and there
// is a Judge.
func (r *Reconciler) judge(ctx context.Context, mv *kv1.ModelVersion, self Version, others []Version) (Decision, error) {
	if r.Judge == nil || !running(self.Phase) {
		return NoDecision, nil
	}
	sp := split(append(others, self))
	d, err := r.Judge.Judge(ctx, Trial{
		Namespace: mv.Namespace, Model: mv.Spec.Model, Purpose: mv.Spec.Purpose,
		Experiment: sp.Experiment, Candidate: mv.Name, Baseline: sp.Baseline,
		Strategy: self.Rollout.Strategy, CandidatePercent: weightOf(sp.Shares, mv.Name), StartedAt: self.StartedAt,
		Criteria: self.Rollout.SuccessCriteria, RollbackOn: self.Rollout.RollbackOn,
	})
	if err != nil {
		return NoDecision, fmt.Errorf("judge experiment %s: %w", sp.Experiment, err)
	}
	return d, nil
}

// versionOf is a ModelVersion as the rollout logic sees it, from its stored status.
func versionOf(mv *kv1.ModelVersion) Version {
	st := mv.Status
	v := Version{
		Name: mv.Name, UID: string(mv.UID), Created: mv.CreationTimestamp.UTC(),
		Rollout: effectiveRollout(mv.Spec.Rollout),
		Phase:   st.Phase, StartedAt: unstamp(st.StartedAt), StepStartedAt: unstamp(st.StepStartedAt),
		CompletedAt: unstamp(st.CompletedAt), CanaryStep: st.CanaryStep, Verdict: st.Verdict,
		Serving: meta.IsStatusConditionTrue(st.Conditions, kv1.ModelVersionServing),
		Promote: mv.Annotations[kv1.AnnotationPromote] == "true",
		Abort:   mv.Annotations[kv1.AnnotationAbort] == "true",
	}
	if st.Phase == kv1.ModelFailed {
		v.LoadFailure = st.BlockedBy
	}
	return v
}

// requeue is when to look at a version again by the clock: when its rollout's pause
// or duration ends, and meanwhile every loadingPoll (failedPoll once Failed) while
// its pods do not serve.
func requeue(st State, serving bool, replicas int32) time.Duration {
	after := st.RequeueAfter
	if serving || replicas == 0 || terminal(st.Phase) {
		return after
	}
	poll := loadingPoll
	if st.Phase == kv1.ModelFailed {
		poll = failedPoll
	}
	if after == 0 || after > poll {
		after = poll
	}
	return after
}
