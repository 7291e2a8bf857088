package modelversion_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/controllers/modelversion"
	"github.com/kommerce/kommerce/internal/testenv"
)

func newMV(name string, r kv1.ModelRollout) *kv1.ModelVersion {
	return &kv1.ModelVersion{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: kv1.ModelVersionSpec{
			Model: "recs-mf", Purpose: kv1.PurposeRecommendations, Replicas: 1,
			Artifact: kv1.Artifact{
				URI:     "https://models.acme.example/recs-mf/" + name + ".onnx",
				SHA256:  strings.Repeat("ab", 32),
				Opset:   13,
				Inputs:  []kv1.TensorSpec{{Name: "items", DataType: "INT64", Shape: []int64{-1, -1}}},
				Outputs: []kv1.TensorSpec{{Name: "scores", DataType: "FP32", Shape: []int64{-1, 20}}},
			},
			Rollout: r,
		},
	}
}

// create creates mv in the test's namespace.
func (o *operator) create(t *testing.T, mv *kv1.ModelVersion) {
	t.Helper()
	mv.Namespace = o.ns
	if err := o.k8s.Create(context.Background(), mv); err != nil {
		t.Fatalf("create ModelVersion %s: %v", mv.Name, err)
	}
}

func (o *operator) get(t *testing.T, name string) *kv1.ModelVersion {
	t.Helper()
	var mv kv1.ModelVersion
	if err := o.k8s.Get(context.Background(), types.NamespacedName{Namespace: o.ns, Name: name}, &mv); err != nil {
		t.Fatal(err)
	}
	return &mv
}

// wait waits until cond holds for the ModelVersion and returns it.
func (o *operator) wait(t *testing.T, name, what string, cond func(*kv1.ModelVersion) bool) *kv1.ModelVersion {
	t.Helper()
	var mv kv1.ModelVersion
	testenv.Eventually(t, reconcileWait, name+": "+what, func() (bool, string) {
		if err := o.k8s.Get(context.Background(), types.NamespacedName{Namespace: o.ns, Name: name}, &mv); err != nil {
			return false, err.Error()
		}
		return cond(&mv), fmt.Sprintf("phase %q split %q blockedBy %q conditions %v", mv.Status.Phase, mv.Status.Split, mv.Status.BlockedBy, mv.Status.Conditions)
	})
	return &mv
}

func phaseSplit(phase kv1.ModelVersionPhase, split string) func(*kv1.ModelVersion) bool {
	return func(mv *kv1.ModelVersion) bool { return mv.Status.Phase == phase && mv.Status.Split == split }
}

// podsReady plays the Deployment controller and kubelet: n pods of the version
// have loaded the model.
func (o *operator) podsReady(t *testing.T, name string, n int32) {
	t.Helper()
	var dep appsv1.Deployment
	testenv.Eventually(t, reconcileWait, "Deployment of "+name, func() (bool, string) {
		err := o.k8s.Get(context.Background(), types.NamespacedName{Namespace: o.ns, Name: modelversion.InferenceName(name)}, &dep)
		return err == nil, fmt.Sprint(err)
	})
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
	if err := o.k8s.Status().Update(context.Background(), &dep); err != nil {
		t.Fatalf("set Deployment status: %v", err)
	}
}

// podRefuses plays the kubelet for a pod whose `kommerce inference` refused the
// artifact: its container ended with status 1 and msg as termination message.
func (o *operator) podRefuses(t *testing.T, name, msg string) {
	t.Helper()
	ctx := context.Background()
	var dep appsv1.Deployment
	testenv.Eventually(t, reconcileWait, "Deployment of "+name, func() (bool, string) {
		err := o.k8s.Get(ctx, types.NamespacedName{Namespace: o.ns, Name: modelversion.InferenceName(name)}, &dep)
		return err == nil, fmt.Sprint(err)
	})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: modelversion.InferenceName(name) + "-x1", Namespace: o.ns, Labels: dep.Spec.Template.Labels},
		Spec:       dep.Spec.Template.Spec,
	}
	if err := o.k8s.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: modelversion.ContainerName, Image: dep.Spec.Template.Spec.Containers[0].Image, RestartCount: 3,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 1, Reason: "Error", Message: msg}},
	}}}
	if err := o.k8s.Status().Update(ctx, pod); err != nil {
		t.Fatalf("set pod status: %v", err)
	}
}

// poke makes the operator look at a version again (after the test moved its clock).
func (o *operator) poke(t *testing.T, name string) {
	t.Helper()
	mv := o.get(t, name)
	if mv.Annotations == nil {
		mv.Annotations = map[string]string{}
	}
	mv.Annotations["test/poke"] = time.Now().Format(time.RFC3339Nano)
	if err := o.k8s.Update(context.Background(), mv); err != nil && !apierrors.IsConflict(err) {
		t.Fatal(err)
	}
}

func (o *operator) annotate(t *testing.T, name, key string) {
	t.Helper()
	mv := o.get(t, name)
	mv.Annotations = map[string]string{key: "true"}
	if err := o.k8s.Update(context.Background(), mv); err != nil {
		t.Fatal(err)
	}
}

// events returns "type/reason" of every Event about the ModelVersion.
func (o *operator) events(t *testing.T, name string) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := o.k8s.List(context.Background(), &list, client.InNamespace(o.ns)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "ModelVersion" && e.Regarding.Name == name {
			out = append(out, e.Type+"/"+e.Reason)
		}
	}
	return out
}

func (o *operator) waitEvent(t *testing.T, name, want string) {
	t.Helper()
	testenv.Eventually(t, reconcileWait, name+" event "+want, func() (bool, string) {
		ev := o.events(t, name)
		return slices.Contains(ev, want), fmt.Sprint(ev)
	})
}

// TestDirectThenABTestDecidedByTheJudge: a first version is served and promoted as
// soon as its pods load it; a candidate A/B tested against it splits the traffic
// 30/70 on both versions' status, with one experiment id, and is promoted when the
// judge says so — the split then moves to it.
func TestModelVersionDirectThenABTestDecidedByTheJudge(t *testing.T) {
	o := startOperator(t, true)
	o.create(t, newMV("recs-v1", kv1.ModelRollout{Strategy: kv1.RolloutDirect}))

	mv := o.wait(t, "recs-v1", "pending while its pods load", func(mv *kv1.ModelVersion) bool {
		return mv.Status.Phase == kv1.ModelPending && meta.IsStatusConditionFalse(mv.Status.Conditions, kv1.ConditionReady)
	})
	if !strings.Contains(mv.Status.BlockedBy, "waiting for the inference pods to load the artifact") || len(mv.Status.TrafficSplit) != 0 {
		t.Fatalf("a version whose pods load has blockedBy %q and split %v", mv.Status.BlockedBy, mv.Status.TrafficSplit)
	}
	var dep appsv1.Deployment
	if err := o.k8s.Get(context.Background(), types.NamespacedName{Namespace: o.ns, Name: "recs-v1-inference"}, &dep); err != nil {
		t.Fatal(err)
	}
	if c := metav1.GetControllerOf(&dep); c == nil || c.Kind != "ModelVersion" || c.Name != "recs-v1" {
		t.Fatalf("Deployment controller reference %+v", c)
	}
	var svc corev1.Service
	if err := o.k8s.Get(context.Background(), types.NamespacedName{Namespace: o.ns, Name: "recs-v1-inference"}, &svc); err != nil {
		t.Fatalf("inference Service: %v", err)
	}
	if want := fmt.Sprintf("http://recs-v1-inference.%s.svc:8081", o.ns); mv.Status.Endpoint != want {
		t.Fatalf("endpoint %q; want %q", mv.Status.Endpoint, want)
	}

	o.podsReady(t, "recs-v1", 1)
	mv = o.wait(t, "recs-v1", "promoted and serving alone", phaseSplit(kv1.ModelPromoted, "recs-v1=100"))
	if !meta.IsStatusConditionTrue(mv.Status.Conditions, kv1.ConditionReady) || !meta.IsStatusConditionTrue(mv.Status.Conditions, kv1.ModelVersionArtifactVerified) ||
		mv.Status.CandidateWeight != 100 || mv.Status.Experiment != "" {
		t.Fatalf("status %+v", mv.Status)
	}
	o.waitEvent(t, "recs-v1", "Normal/Promoted")

	o.create(t, newMV("recs-v2", kv1.ModelRollout{Strategy: kv1.RolloutABTest, AutoPromote: true,
		ABTest: &kv1.ABTestRollout{Baseline: "recs-v1", CandidateWeight: 30, BaselineWeight: 70}}))
	o.wait(t, "recs-v2", "pending while its pods load", func(mv *kv1.ModelVersion) bool { return mv.Status.Phase == kv1.ModelPending })
	o.podsReady(t, "recs-v2", 1)
	v2 := o.wait(t, "recs-v2", "A/B testing", phaseSplit(kv1.ModelProgressing, "recs-v1=70 recs-v2=30"))
	v1 := o.wait(t, "recs-v1", "recording the A/B split", phaseSplit(kv1.ModelPromoted, "recs-v1=70 recs-v2=30"))
	if v2.Status.Experiment == "" || v1.Status.Experiment != v2.Status.Experiment || v2.Status.CandidateWeight != 30 || v1.Status.CandidateWeight != 70 {
		t.Fatalf("experiment %q / %q, weights %d / %d", v1.Status.Experiment, v2.Status.Experiment, v1.Status.CandidateWeight, v2.Status.CandidateWeight)
	}
	trial, ok := o.judge.last()
	if !ok || trial.Experiment != v2.Status.Experiment || trial.Baseline != "recs-v1" || trial.Candidate != "recs-v2" || trial.CandidatePercent != 30 {
		t.Fatalf("the judge was asked %+v (asked: %v)", trial, ok)
	}

	o.judge.set(modelversion.Decision{Action: modelversion.ActionPromote, Verdict: kv1.VerdictBetter, Reason: "conversion +6.0%",
		Metrics: []kv1.MeasuredMetric{{Name: "ConversionRate", LiftPercent: "6.0", Samples: 12000, Verdict: kv1.VerdictBetter}}})
	o.poke(t, "recs-v2")
	v2 = o.wait(t, "recs-v2", "promoted by the judge", phaseSplit(kv1.ModelPromoted, "recs-v2=100"))
	if v2.Status.Verdict != kv1.VerdictBetter || len(v2.Status.Metrics) != 1 || v2.Status.CompletedAt == nil {
		t.Fatalf("status after promotion %+v", v2.Status)
	}
	o.wait(t, "recs-v1", "superseded", phaseSplit(kv1.ModelPromoted, "recs-v2=100"))
	o.waitEvent(t, "recs-v2", "Normal/ABTestStarted")
	o.waitEvent(t, "recs-v2", "Normal/Promoted")
}

// TestRefusedArtifactFailsAndGetsNoTraffic: a candidate whose pods refuse the
// artifact is Failed with the pods' own reason and never enters the split; one
// whose URI no pod can fetch fails without pods.
func TestModelVersionRefusedArtifactFailsAndGetsNoTraffic(t *testing.T) {
	o := startOperator(t, false)
	o.create(t, newMV("recs-v1", kv1.ModelRollout{Strategy: kv1.RolloutDirect}))
	o.podsReady(t, "recs-v1", 1)
	o.wait(t, "recs-v1", "serving", phaseSplit(kv1.ModelPromoted, "recs-v1=100"))

	o.create(t, newMV("recs-v2", kv1.ModelRollout{Strategy: kv1.RolloutDirect}))
	reason := `recs-mf version recs-v2: model file https://models.acme.example/recs-mf/recs-v2.onnx has sha256 0f3c, the config says abab; refused`
	o.podRefuses(t, "recs-v2", reason)
	mv := o.wait(t, "recs-v2", "failed", phaseSplit(kv1.ModelFailed, "recs-v1=100"))
	c := meta.FindStatusCondition(mv.Status.Conditions, kv1.ModelVersionArtifactVerified)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != kv1.ReasonArtifactRefused || !strings.Contains(c.Message, "has sha256 0f3c") {
		t.Fatalf("ArtifactVerified = %+v", c)
	}
	if !strings.Contains(mv.Status.BlockedBy, "has sha256 0f3c") || mv.Status.CandidateWeight != 0 ||
		!meta.IsStatusConditionFalse(mv.Status.Conditions, kv1.ConditionReady) {
		t.Fatalf("status %+v", mv.Status)
	}
	o.waitEvent(t, "recs-v2", "Warning/Failed")
	o.wait(t, "recs-v1", "still serving alone", phaseSplit(kv1.ModelPromoted, "recs-v1=100"))

	bad := newMV("recs-v3", kv1.ModelRollout{Strategy: kv1.RolloutDirect})
	bad.Spec.Artifact.URI = "s3://models/recs-mf/3.onnx"
	o.create(t, bad)
	mv = o.wait(t, "recs-v3", "failed", phaseSplit(kv1.ModelFailed, "recs-v1=100"))
	if !strings.Contains(mv.Status.BlockedBy, `artifact uri scheme "s3" cannot be fetched`) {
		t.Fatalf("blockedBy %q", mv.Status.BlockedBy)
	}
	var dep appsv1.Deployment
	if err := o.k8s.Get(context.Background(), types.NamespacedName{Namespace: o.ns, Name: modelversion.InferenceName("recs-v3")}, &dep); !apierrors.IsNotFound(err) {
		t.Fatalf("a Deployment was made for an artifact no pod can fetch: %v", err)
	}

	// The artifact server was only down: a later try of recs-v2's pods loads the
	// file, and its rollout starts over (Direct: it takes the traffic).
	o.podsReady(t, "recs-v2", 1)
	o.wait(t, "recs-v2", "recovered and promoted", phaseSplit(kv1.ModelPromoted, "recs-v2=100"))
	o.wait(t, "recs-v1", "superseded", phaseSplit(kv1.ModelPromoted, "recs-v2=100"))
}

// TestModelVersionCandidateDownMidExperiment: while an A/B test runs, the
// candidate's pods go down; its share goes back to the baseline on every version,
// the test keeps running, and the share returns with the pods.
func TestModelVersionCandidateDownMidExperiment(t *testing.T) {
	o := startOperator(t, false)
	o.create(t, newMV("recs-v1", kv1.ModelRollout{Strategy: kv1.RolloutDirect}))
	o.podsReady(t, "recs-v1", 1)
	o.wait(t, "recs-v1", "serving", phaseSplit(kv1.ModelPromoted, "recs-v1=100"))
	o.create(t, newMV("recs-v2", kv1.ModelRollout{Strategy: kv1.RolloutABTest,
		ABTest: &kv1.ABTestRollout{Baseline: "recs-v1", CandidateWeight: 50, BaselineWeight: 50}}))
	o.podsReady(t, "recs-v2", 1)
	o.wait(t, "recs-v1", "A/B split", phaseSplit(kv1.ModelPromoted, "recs-v1=50 recs-v2=50"))

	o.podsReady(t, "recs-v2", 0)
	mv := o.wait(t, "recs-v2", "out of the split, still testing", phaseSplit(kv1.ModelProgressing, "recs-v1=100"))
	if !strings.Contains(mv.Status.BlockedBy, "no inference pod of the candidate is ready") || mv.Status.CandidateWeight != 0 {
		t.Fatalf("status %+v", mv.Status)
	}
	o.wait(t, "recs-v1", "all traffic back", phaseSplit(kv1.ModelPromoted, "recs-v1=100"))
	o.waitEvent(t, "recs-v2", "Warning/NotServing")

	o.podsReady(t, "recs-v2", 1)
	o.wait(t, "recs-v1", "A/B split again", phaseSplit(kv1.ModelPromoted, "recs-v1=50 recs-v2=50"))
}

// TestCanaryMovesOnTheClock: a canary takes 10 %, then 50 %, then all of the traffic
// as its pauses elapse, and is promoted after the last one; a shadow behind it
// mirrors without answering and is aborted by the annotation.
func TestModelVersionCanaryMovesOnTheClock(t *testing.T) {
	o := startOperator(t, false)
	o.create(t, newMV("recs-v1", kv1.ModelRollout{Strategy: kv1.RolloutDirect}))
	o.podsReady(t, "recs-v1", 1)
	o.wait(t, "recs-v1", "serving", phaseSplit(kv1.ModelPromoted, "recs-v1=100"))

	pause := &metav1.Duration{Duration: 10 * time.Minute}
	o.create(t, newMV("recs-v2", kv1.ModelRollout{Strategy: kv1.RolloutCanary, AutoPromote: true, Canary: &kv1.CanaryRollout{
		Steps: []kv1.CanaryStep{{Weight: 10, Pause: pause}, {Weight: 50, Pause: pause}, {Weight: 100, Pause: pause}}}}))
	o.podsReady(t, "recs-v2", 1)
	o.wait(t, "recs-v2", "first step", phaseSplit(kv1.ModelProgressing, "recs-v1=90 recs-v2=10"))
	o.wait(t, "recs-v1", "first step", phaseSplit(kv1.ModelPromoted, "recs-v1=90 recs-v2=10"))

	// (That a step holds until its pause elapsed is TestModelVersionAdvance's.)
	o.clock.Add(10 * time.Minute)
	o.poke(t, "recs-v2")
	mv := o.wait(t, "recs-v2", "second step", phaseSplit(kv1.ModelProgressing, "recs-v1=50 recs-v2=50"))
	if mv.Status.CanaryStep != 1 {
		t.Fatalf("canaryStep %d", mv.Status.CanaryStep)
	}
	o.clock.Add(10 * time.Minute)
	o.poke(t, "recs-v2")
	o.wait(t, "recs-v2", "last step", phaseSplit(kv1.ModelProgressing, "recs-v2=100"))
	o.clock.Add(10 * time.Minute)
	o.poke(t, "recs-v2")
	o.wait(t, "recs-v2", "promoted", phaseSplit(kv1.ModelPromoted, "recs-v2=100"))
	o.wait(t, "recs-v1", "superseded", phaseSplit(kv1.ModelPromoted, "recs-v2=100"))

	o.create(t, newMV("recs-v3", kv1.ModelRollout{Strategy: kv1.RolloutShadow,
		Shadow: &kv1.ShadowRollout{MirrorPercent: 25, Duration: metav1.Duration{Duration: time.Hour}}}))
	o.podsReady(t, "recs-v3", 1)
	mv = o.wait(t, "recs-v3", "shadowing", phaseSplit(kv1.ModelShadowing, "recs-v2=100 recs-v3~25"))
	if mv.Status.CandidateWeight != 0 || !mv.Status.TrafficSplit[1].Mirrored {
		t.Fatalf("a shadow answers: %+v", mv.Status.TrafficSplit)
	}
	o.annotate(t, "recs-v3", kv1.AnnotationAbort)
	o.wait(t, "recs-v3", "aborted", phaseSplit(kv1.ModelRolledBack, "recs-v2=100"))
	testenv.Eventually(t, reconcileWait, "abort annotation removed", func() (bool, string) {
		a := o.get(t, "recs-v3").Annotations
		_, still := a[kv1.AnnotationAbort]
		return !still, fmt.Sprint(a)
	})
	o.waitEvent(t, "recs-v3", "Warning/RolledBack")
}
