package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TensorDataType is an element type of the Open Inference Protocol.
// +kubebuilder:validation:Enum=BOOL;INT8;INT16;INT32;INT64;UINT8;UINT16;UINT32;UINT64;FP16;FP32;FP64;BYTES
type TensorDataType string

// TensorSpec is one named input or output of a model.
type TensorSpec struct {
	// name of the tensor in the ONNX graph.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`
	// datatype of the elements.
	// +required
	DataType TensorDataType `json:"datatype"`
	// shape of the tensor; -1 marks a dynamic dimension (usually the batch).
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:Minimum=-1
	Shape []int64 `json:"shape"`
}

// Artifact is the published ONNX file of a ModelVersion. It never changes: a new
// model is a new ModelVersion.
type Artifact struct {
	// uri the operator downloads the model from (http://, https://, s3://, gs://, oci://
	// or file://). Plain http:// is for an artifact store inside the cluster: the
	// download is checked against sha256 whatever the scheme.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^(https?|s3|gs|oci|file)://[^\s]+$`
	URI string `json:"uri"`
	// sha256 of the file, 64 lowercase hex characters; the download is refused when it
	// does not match.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-f0-9]{64}$`
	// +kubebuilder:validation:MinLength=64
	// +kubebuilder:validation:MaxLength=64
	SHA256 string `json:"sha256"`
	// opset is the ONNX operator set version the model was exported with.
	// +required
	// +kubebuilder:validation:Minimum=7
	// +kubebuilder:validation:Maximum=30
	Opset int32 `json:"opset"`
	// inputs the model expects.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Inputs []TensorSpec `json:"inputs"`
	// outputs the model produces.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Outputs []TensorSpec `json:"outputs"`
}

// RolloutStrategy is how a ModelVersion takes traffic from the one serving now.
// +kubebuilder:validation:Enum=Shadow;Canary;ABTest;Direct
type RolloutStrategy string

// Rollout strategies.
const (
	// RolloutShadow mirrors traffic to the candidate without using its answers.
	RolloutShadow RolloutStrategy = "Shadow"
	// RolloutCanary moves traffic in steps while technical criteria hold.
	RolloutCanary RolloutStrategy = "Canary"
	// RolloutABTest splits traffic stickily and judges on business metrics.
	RolloutABTest RolloutStrategy = "ABTest"
	// RolloutDirect switches all traffic at once.
	RolloutDirect RolloutStrategy = "Direct"
)

// ShadowRollout mirrors a share of requests to the candidate.
type ShadowRollout struct {
	// mirrorPercent of requests copied to the candidate.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MirrorPercent int32 `json:"mirrorPercent,omitempty"`
	// duration of the shadow phase, e.g. "1h".
	// +required
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('720h')",message="shadow duration must be between 1m and 720h"
	Duration metav1.Duration `json:"duration"`
}

// CanaryStep is one traffic level of a canary rollout.
type CanaryStep struct {
	// weight is the candidate's share of traffic in percent during the step.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight"`
	// pause is how long the step lasts while criteria are checked, e.g. "10m".
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('168h')",message="pause must be between 0s and 168h"
	Pause *metav1.Duration `json:"pause,omitempty"`
}

// CanaryRollout raises the candidate's traffic step by step.
// +kubebuilder:validation:XValidation:rule="self.steps.map(s, s.weight).isSorted() && self.steps.all(s, self.steps.exists_one(t, t.weight == s.weight))",message="canary step weights must increase"
// +kubebuilder:validation:XValidation:rule="self.steps[size(self.steps) - 1].weight == 100",message="the last canary step must send 100 percent of traffic"
type CanaryRollout struct {
	// steps in order; weights increase and the last one is 100.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	Steps []CanaryStep `json:"steps"`
}

// ABTestRollout splits traffic between the candidate and a baseline, sticky per
// shopper, and judges on the success criteria.
// +kubebuilder:validation:XValidation:rule="self.candidateWeight + self.baselineWeight == 100",message="candidateWeight and baselineWeight must sum to 100"
type ABTestRollout struct {
	// baseline is the ModelVersion the candidate is compared with: another version of
	// the same model, in the same namespace, which must be the one serving the model
	// when the test starts.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Baseline string `json:"baseline"`
	// candidateWeight is this ModelVersion's share of traffic in percent.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=99
	CandidateWeight int32 `json:"candidateWeight"`
	// baselineWeight is the baseline's share of traffic in percent.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=99
	BaselineWeight int32 `json:"baselineWeight"`
	// stickyBy keeps a shopper in one arm: per signed-in user or per session.
	// +optional
	// +kubebuilder:default=User
	StickyBy StickyKey `json:"stickyBy,omitempty"`
	// maxDuration ends the test as Inconclusive if no verdict is reached, e.g. "336h".
	// +optional
	// +kubebuilder:default="336h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h') && duration(self) <= duration('2160h')",message="maxDuration must be between 1h and 2160h"
	MaxDuration *metav1.Duration `json:"maxDuration,omitempty"`
}

// BusinessMetric is a shopper outcome attributed to an experiment arm.
// +kubebuilder:validation:Enum=ConversionRate;RevenuePerVisitor;AverageOrderValue;ClickThroughRate
type BusinessMetric string

// Business metrics.
const (
	MetricConversionRate    BusinessMetric = "ConversionRate"
	MetricRevenuePerVisitor BusinessMetric = "RevenuePerVisitor"
	MetricAverageOrderValue BusinessMetric = "AverageOrderValue"
	MetricClickThroughRate  BusinessMetric = "ClickThroughRate"
)

// BusinessCriterion requires a minimum relative lift of a business metric over the baseline.
type BusinessCriterion struct {
	// metric judged.
	// +required
	Metric BusinessMetric `json:"metric"`
	// minLiftPercent is the smallest relative improvement over the baseline that
	// counts as success; 0 means "not worse", negative values tolerate a loss.
	// +required
	// +kubebuilder:validation:Minimum=-50
	// +kubebuilder:validation:Maximum=1000
	MinLiftPercent int32 `json:"minLiftPercent"`
}

// SuccessCriteria decide promotion.
type SuccessCriteria struct {
	// maxLatencyP99 is the highest acceptable 99th percentile inference latency, e.g. "20ms".
	// +optional
	// +kubebuilder:default="50ms"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('10s')",message="maxLatencyP99 must be between 0s (exclusive) and 10s"
	MaxLatencyP99 *metav1.Duration `json:"maxLatencyP99,omitempty"`
	// maxErrorRatePerMille is the highest acceptable share of failed inference calls,
	// in thousandths (5 = 0.5%).
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	MaxErrorRatePerMille *int32 `json:"maxErrorRatePerMille,omitempty"`
	// business criteria, judged against the baseline in an A/B test.
	// +optional
	// +listType=map
	// +listMapKey=metric
	// +kubebuilder:validation:MaxItems=4
	Business []BusinessCriterion `json:"business,omitempty"`
	// confidencePercent is the statistical confidence a verdict needs.
	// +optional
	// +kubebuilder:default=95
	// +kubebuilder:validation:Minimum=80
	// +kubebuilder:validation:Maximum=99
	ConfidencePercent int32 `json:"confidencePercent,omitempty"`
	// minSamples is the fewest exposures per arm before any verdict.
	// +optional
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=100000000
	MinSamples int64 `json:"minSamples,omitempty"`
}

// RollbackTriggers end a rollout at once, whatever the success criteria say.
type RollbackTriggers struct {
	// errorRatePerMille above which the candidate is rolled back (in thousandths).
	// +optional
	// +kubebuilder:default=50
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	ErrorRatePerMille *int32 `json:"errorRatePerMille,omitempty"`
	// latencyP99 above which the candidate is rolled back, e.g. "200ms".
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('60s')",message="latencyP99 must be between 0s (exclusive) and 60s"
	LatencyP99 *metav1.Duration `json:"latencyP99,omitempty"`
	// businessDropPercent is a relative loss of any business criterion metric that
	// rolls back without waiting for full confidence.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	BusinessDropPercent *int32 `json:"businessDropPercent,omitempty"`
}

// ModelRollout is how the ModelVersion replaces the one serving its model now. It
// is the one place a traffic split is declared (a Storefront only names the model),
// so each strategy takes exactly its own settings block: a block for another
// strategy would be a second, silently ignored, description of the split.
// +kubebuilder:validation:XValidation:rule="!has(self.strategy) || self.strategy != 'Shadow' || has(self.shadow)",message="strategy Shadow needs the shadow settings"
// +kubebuilder:validation:XValidation:rule="!has(self.strategy) || self.strategy != 'Canary' || has(self.canary)",message="strategy Canary needs the canary settings"
// +kubebuilder:validation:XValidation:rule="!has(self.strategy) || self.strategy != 'ABTest' || has(self.abTest)",message="strategy ABTest needs the abTest settings"
// +kubebuilder:validation:XValidation:rule="!has(self.shadow) || (has(self.strategy) && self.strategy == 'Shadow')",message="shadow settings are only allowed with strategy Shadow"
// +kubebuilder:validation:XValidation:rule="!has(self.canary) || (has(self.strategy) && self.strategy == 'Canary')",message="canary settings are only allowed with strategy Canary"
// +kubebuilder:validation:XValidation:rule="!has(self.abTest) || (has(self.strategy) && self.strategy == 'ABTest')",message="abTest settings are only allowed with strategy ABTest"
type ModelRollout struct {
	// strategy is Shadow, Canary, ABTest or Direct. Left out, the version rolls out
	// as a Canary of 10%, 50%, then 100% of traffic, ten minutes each (and then
	// takes no settings block); each strategy written out needs its own block.
	// +optional
	Strategy RolloutStrategy `json:"strategy,omitempty"`
	// shadow settings, required with strategy Shadow and refused with any other.
	// +optional
	Shadow *ShadowRollout `json:"shadow,omitempty"`
	// canary settings, required with strategy Canary and refused with any other.
	// +optional
	Canary *CanaryRollout `json:"canary,omitempty"`
	// abTest settings, required with strategy ABTest and refused with any other.
	// +optional
	ABTest *ABTestRollout `json:"abTest,omitempty"`
	// successCriteria decide promotion.
	// +optional
	// +kubebuilder:default={}
	SuccessCriteria SuccessCriteria `json:"successCriteria,omitempty"`
	// autoPromote promotes as soon as the criteria are met (outside freeze windows);
	// otherwise the rollout waits for the annotation kommerce.io/promote=true.
	// +optional
	AutoPromote bool `json:"autoPromote,omitempty"`
	// rollbackOn are triggers that roll back at once.
	// +optional
	// +kubebuilder:default={}
	RollbackOn RollbackTriggers `json:"rollbackOn,omitempty"`
}

// ModelVersionSpec is one published version of a model.
type ModelVersionSpec struct {
	// model is the name of the model family this version belongs to, e.g. "recs-mf". Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="model is immutable"
	Model string `json:"model"`
	// purpose the model serves. Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="purpose is immutable"
	Purpose ModelPurpose `json:"purpose"`
	// artifact is the ONNX file. Its sha256 is immutable: publish a new ModelVersion instead.
	// +required
	// +kubebuilder:validation:XValidation:rule="self.sha256 == oldSelf.sha256",message="artifact.sha256 is immutable; publish a new ModelVersion instead"
	// +kubebuilder:validation:XValidation:rule="self.uri == oldSelf.uri",message="artifact.uri is immutable; publish a new ModelVersion instead"
	Artifact Artifact `json:"artifact"`
	// replicas of the inference pods serving this version.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=50
	Replicas int32 `json:"replicas,omitempty"`
	// resources requested by each inference container.
	// +optional
	// +kubebuilder:default={cpu: "500m", memory: "512Mi"}
	Resources *ComputeResources `json:"resources,omitempty"`
	// rollout is how the version takes traffic from the version serving the model
	// now. Default: a Canary of 10%, 50%, then 100%, ten minutes each.
	// +optional
	// +kubebuilder:default={}
	Rollout ModelRollout `json:"rollout,omitempty"`
}

// ModelVersionPhase is where a ModelVersion's rollout stands.
// +kubebuilder:validation:Enum=Pending;Shadowing;Progressing;Inconclusive;Promoted;RolledBack;Failed
type ModelVersionPhase string

// ModelVersion phases.
const (
	ModelPending      ModelVersionPhase = "Pending"
	ModelShadowing    ModelVersionPhase = "Shadowing"
	ModelProgressing  ModelVersionPhase = "Progressing"
	ModelInconclusive ModelVersionPhase = "Inconclusive"
	ModelPromoted     ModelVersionPhase = "Promoted"
	ModelRolledBack   ModelVersionPhase = "RolledBack"
	ModelFailed       ModelVersionPhase = "Failed"
)

// TrafficShare is one ModelVersion's part of its purpose's traffic.
type TrafficShare struct {
	// modelVersion receiving the traffic.
	// +kubebuilder:validation:MaxLength=253
	ModelVersion string `json:"modelVersion"`
	// percent of requests it answers.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Percent int32 `json:"percent"`
	// mirrored is true for a shadow copy whose answers are not used.
	// +optional
	Mirrored bool `json:"mirrored,omitempty"`
}

// Verdict is the judgement on one metric.
// +kubebuilder:validation:Enum=Pending;Better;NoWorse;Worse;Inconclusive
type Verdict string

// Verdicts.
const (
	VerdictPending      Verdict = "Pending"
	VerdictBetter       Verdict = "Better"
	VerdictNoWorse      Verdict = "NoWorse"
	VerdictWorse        Verdict = "Worse"
	VerdictInconclusive Verdict = "Inconclusive"
)

// MeasuredMetric is a metric value for the candidate and the baseline, with the
// confidence interval of their difference. Decimal values are strings so they survive
// JSON exactly.
type MeasuredMetric struct {
	// name of the metric: a business metric, LatencyP99 or ErrorRate.
	// +kubebuilder:validation:MaxLength=64
	Name string `json:"name"`
	// candidate is the value measured for this ModelVersion.
	// +optional
	Candidate string `json:"candidate,omitempty"`
	// baseline is the value measured for the baseline.
	// +optional
	Baseline string `json:"baseline,omitempty"`
	// liftPercent is the relative difference candidate vs baseline.
	// +optional
	LiftPercent string `json:"liftPercent,omitempty"`
	// intervalLow and intervalHigh bound liftPercent at confidencePercent.
	// +optional
	IntervalLow string `json:"intervalLow,omitempty"`
	// intervalHigh is the upper bound of liftPercent.
	// +optional
	IntervalHigh string `json:"intervalHigh,omitempty"`
	// confidencePercent of the interval.
	// +optional
	ConfidencePercent int32 `json:"confidencePercent,omitempty"`
	// samples counted per arm (the smaller of the two).
	// +optional
	Samples int64 `json:"samples,omitempty"`
	// verdict on the metric.
	// +optional
	Verdict Verdict `json:"verdict,omitempty"`
}

// ModelVersionStatus is what the ModelVersion controller observed.
type ModelVersionStatus struct {
	// observedGeneration is the metadata.generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// phase: Pending, Shadowing, Progressing, Inconclusive, Promoted, RolledBack or Failed.
	// +optional
	Phase ModelVersionPhase `json:"phase,omitempty"`
	// trafficSplit is how the model's traffic is divided right now. Every
	// ModelVersion of a model carries the same split; the Storefront controller
	// renders it into the settings of each storefront bound to the model.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=6
	TrafficSplit []TrafficShare `json:"trafficSplit,omitempty"`
	// split summarises trafficSplit for the SPLIT column, e.g.
	// "recs-mf-v1=50 recs-mf-v2=50" or "recs-mf-v1=100 recs-mf-v3~20" (~ is a mirror).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Split string `json:"split,omitempty"`
	// experiment identifies the split while more than one version takes part in it
	// (a canary, shadow or A/B test): the API hashes it with the shopper's id for a
	// sticky arm and writes it into exposure events. It is the same on every version
	// of the model and changes whenever a new rollout starts, so a new experiment
	// reshuffles shoppers. Empty while one version serves alone.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Experiment string `json:"experiment,omitempty"`
	// verdict is the overall judgement of this version's rollout: Pending while it
	// runs, Better or NoWorse when its criteria promoted it, Worse when they rolled it
	// back, Inconclusive when maxDuration passed without a verdict; empty for a
	// version promoted or aborted without one (Direct, a person's annotation).
	// +optional
	Verdict Verdict `json:"verdict,omitempty"`
	// candidateWeight is this version's share of traffic, for the TRAFFIC column.
	// +optional
	CandidateWeight int32 `json:"candidateWeight,omitempty"`
	// canaryStep is the index of the current canary step.
	// +optional
	CanaryStep int32 `json:"canaryStep,omitempty"`
	// stepStartedAt is when the current canary step began; its pause counts from it.
	// +optional
	StepStartedAt *metav1.Time `json:"stepStartedAt,omitempty"`
	// readyReplicas is how many inference pods have the artifact loaded.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// metrics measured so far, with their confidence.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	Metrics []MeasuredMetric `json:"metrics,omitempty"`
	// endpoint is the inference URL serving this version.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// blockedBy says in words what the rollout waits for.
	// +optional
	BlockedBy string `json:"blockedBy,omitempty"`
	// startedAt is when the rollout began.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// completedAt is when it was promoted, rolled back or failed.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// conditions: ArtifactVerified, Serving and Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ModelVersion is one published version of an ONNX model, and how it rolls out
// against the version serving its purpose now (shadow, canary or A/B test judged on
// business metrics).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=mv,categories=kommerce
// +kubebuilder:validation:XValidation:rule="!has(self.spec.rollout) || !has(self.spec.rollout.abTest) || self.spec.rollout.abTest.baseline != self.metadata.name",message="spec.rollout.abTest.baseline names this ModelVersion itself; name the version it is compared with"
// +kubebuilder:printcolumn:name="Model",type=string,JSONPath=`.spec.model`
// +kubebuilder:printcolumn:name="Purpose",type=string,JSONPath=`.spec.purpose`,priority=1
// +kubebuilder:printcolumn:name="Strategy",type=string,JSONPath=`.spec.rollout.strategy`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Traffic",type=integer,JSONPath=`.status.candidateWeight`
// +kubebuilder:printcolumn:name="Split",type=string,JSONPath=`.status.split`
// +kubebuilder:printcolumn:name="Verdict",type=string,JSONPath=`.status.verdict`
// +kubebuilder:printcolumn:name="Lift",type=string,JSONPath=`.status.metrics[0].liftPercent`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Blocked By",type=string,JSONPath=`.status.blockedBy`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ModelVersion struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the published version and its rollout.
	// +required
	Spec ModelVersionSpec `json:"spec"`
	// status is what the operator observed.
	// +optional
	Status ModelVersionStatus `json:"status,omitempty"`
}

// ModelVersion condition reasons (the condition types are in conditions.go).
const (
	// ReasonArtifactLoaded: the inference pods fetched the artifact, matched its
	// sha256 and tensors, and loaded it.
	ReasonArtifactLoaded = "ArtifactLoaded"
	// ReasonArtifactRefused: an inference pod refused the artifact (unreachable,
	// checksum, corrupt file, tensors that differ from spec.artifact); the message
	// is the pod's own reason.
	ReasonArtifactRefused = "ArtifactRefused"
	// ReasonLoading: the inference pods are starting or fetching the artifact.
	ReasonLoading = "Loading"
	// ReasonScaledToZero: spec.replicas is 0, so nothing serves the version.
	ReasonScaledToZero = "ScaledToZero"
)

// ModelVersionList is a list of ModelVersions.
// +kubebuilder:object:root=true
type ModelVersionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ModelVersion `json:"items"`
}

func init() {
	register(&ModelVersion{}, &ModelVersionList{})
}
