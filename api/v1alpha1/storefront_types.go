package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Channel is one way shoppers reach a storefront: a hostname with its currency and
// languages.
type Channel struct {
	// name identifies the channel, e.g. "web-eu".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
	// currency is the ISO 4217 code prices are shown and charged in, e.g. "EUR".
	// +required
	// +kubebuilder:validation:Pattern=`^[A-Z]{3}$`
	Currency string `json:"currency"`
	// locales are BCP 47 language tags, the first one being the default, e.g. ["de-DE", "en"].
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=35
	// +kubebuilder:validation:items:Pattern=`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`
	Locales []string `json:"locales"`
	// hostname the channel is served on; the API resolves the tenant from it.
	// +required
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$`
	Hostname string `json:"hostname"`
}

// Autoscaling scales the active colour's API pods on CPU.
// +kubebuilder:validation:XValidation:rule="self.minReplicas <= self.maxReplicas",message="autoscaling.minReplicas must not exceed maxReplicas"
type Autoscaling struct {
	// minReplicas is the fewest API pods.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MinReplicas int32 `json:"minReplicas"`
	// maxReplicas is the most API pods.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxReplicas int32 `json:"maxReplicas"`
	// targetCPUUtilizationPercent is the average CPU use (of requests) to keep.
	// +optional
	// +kubebuilder:default=70
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=95
	TargetCPUUtilizationPercent int32 `json:"targetCPUUtilizationPercent,omitempty"`
}

// StorefrontAPI is the storefront's REST API deployment.
type StorefrontAPI struct {
	// replicas of the API when autoscaling is off.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Replicas int32 `json:"replicas,omitempty"`
	// autoscaling, when set, replaces replicas with a HorizontalPodAutoscaler.
	// +optional
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`
	// resources requested by each API container.
	// +optional
	Resources *ComputeResources `json:"resources,omitempty"`
}

// PromotionMode says who promotes the preview colour once its checks pass.
// +kubebuilder:validation:Enum=Auto;Manual
type PromotionMode string

// Promotion modes.
const (
	PromoteAuto   PromotionMode = "Auto"
	PromoteManual PromotionMode = "Manual"
)

// PrePromotionCheck is an HTTP probe run against the preview colour before it gets traffic.
type PrePromotionCheck struct {
	// name of the check, shown in blockedBy when it fails.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// path requested on the preview API, e.g. "/api/v1/products?limit=1".
	// +required
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/`
	Path string `json:"path"`
	// expectStatus is the HTTP status the check expects.
	// +optional
	// +kubebuilder:default=200
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=599
	ExpectStatus int32 `json:"expectStatus,omitempty"`
}

// StorefrontRollout is how a new version replaces the running one: blue-green, i.e.
// a full preview colour, checked, then switched.
type StorefrontRollout struct {
	// promotion is Auto (switch as soon as the checks pass outside freeze windows) or
	// Manual (wait for the annotation kommerce.io/promote=true).
	// +optional
	// +kubebuilder:default=Manual
	Promotion PromotionMode `json:"promotion,omitempty"`
	// prePromotionChecks must all pass against the preview colour before promotion.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	PrePromotionChecks []PrePromotionCheck `json:"prePromotionChecks,omitempty"`
	// rollbackWindow is how long the previous colour is kept after a promotion so a
	// rollback is instant, e.g. "30m".
	// +optional
	// +kubebuilder:default="30m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('168h')",message="rollbackWindow must be between 0s and 168h"
	RollbackWindow *metav1.Duration `json:"rollbackWindow,omitempty"`
}

// SynonymSet is a group of words searched as one, applied at query time.
type SynonymSet struct {
	// terms that mean the same, e.g. ["sneaker", "trainer"].
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=2
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=100
	Terms []string `json:"terms"`
}

// Boost raises the score of matches in one product field.
type Boost struct {
	// field of the product document whose text matches are re-weighed: name,
	// description, brand, attributes (every attribute value) or sku (exact SKU match).
	// +required
	// +kubebuilder:validation:Enum=name;description;brand;sku;attributes
	Field string `json:"field"`
	// weightPercent multiplies the field's score: 100 is neutral, 300 triples it.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	WeightPercent int32 `json:"weightPercent"`
}

// Autocomplete configures search-as-you-type suggestions.
type Autocomplete struct {
	// enabled turns suggestions on.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`
	// minChars is how many characters a shopper types before suggestions appear.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	MinChars int32 `json:"minChars,omitempty"`
	// maxSuggestions is the most suggestions returned.
	// +optional
	// +kubebuilder:default=8
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=50
	MaxSuggestions int32 `json:"maxSuggestions,omitempty"`
}

// StorefrontSearch are search settings applied at query time (no reindex needed).
type StorefrontSearch struct {
	// synonyms are groups of interchangeable terms.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=500
	Synonyms []SynonymSet `json:"synonyms,omitempty"`
	// boosts weigh product fields.
	// +optional
	// +listType=map
	// +listMapKey=field
	// +kubebuilder:validation:MaxItems=6
	Boosts []Boost `json:"boosts,omitempty"`
	// autocomplete configures suggestions.
	// +optional
	// +kubebuilder:default={}
	Autocomplete Autocomplete `json:"autocomplete,omitempty"`
}

// ModelPurpose is what a model is used for.
// +kubebuilder:validation:Enum=Recommendations;Ranking;Fraud
type ModelPurpose string

// Model purposes.
const (
	PurposeRecommendations ModelPurpose = "Recommendations"
	PurposeRanking         ModelPurpose = "Ranking"
	PurposeFraud           ModelPurpose = "Fraud"
)

// StickyKey is what keeps a shopper in the same experiment arm.
// +kubebuilder:validation:Enum=User;Session
type StickyKey string

// Sticky keys.
const (
	StickyUser    StickyKey = "User"
	StickySession StickyKey = "Session"
)

// ExperimentArm is one ModelVersion in an experiment and its share of traffic.
type ExperimentArm struct {
	// modelVersion is the name of a ModelVersion in the storefront's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ModelVersion string `json:"modelVersion"`
	// weight is the arm's percentage of traffic; the weights of all arms sum to 100.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight"`
}

// Experiment splits a purpose's traffic between several ModelVersions.
// +kubebuilder:validation:XValidation:rule="self.arms.map(a, a.weight).sum() == 100",message="experiment arm weights must sum to 100"
type Experiment struct {
	// arms of the experiment.
	// +required
	// +listType=map
	// +listMapKey=modelVersion
	// +kubebuilder:validation:MinItems=2
	// +kubebuilder:validation:MaxItems=5
	Arms []ExperimentArm `json:"arms"`
	// stickyBy keeps a shopper in one arm: per signed-in user or per session.
	// +optional
	// +kubebuilder:default=User
	StickyBy StickyKey `json:"stickyBy,omitempty"`
}

// ModelBinding says which model serves one purpose for this storefront: one
// ModelVersion, or an experiment between several.
// +kubebuilder:validation:XValidation:rule="has(self.modelVersion) != has(self.experiment)",message="set exactly one of modelVersion and experiment"
type ModelBinding struct {
	// purpose the binding serves.
	// +required
	Purpose ModelPurpose `json:"purpose"`
	// modelVersion is the name of a ModelVersion in the storefront's namespace.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ModelVersion string `json:"modelVersion,omitempty"`
	// experiment splits traffic between ModelVersions.
	// +optional
	Experiment *Experiment `json:"experiment,omitempty"`
}

// InventoryPolicy says how stock is held for shoppers.
type InventoryPolicy struct {
	// reservationTTL is how long a checkout holds stock before it is released, e.g. "15m".
	// +optional
	// +kubebuilder:default="15m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="reservationTTL must be between 1m and 24h"
	ReservationTTL *metav1.Duration `json:"reservationTTL,omitempty"`
	// allowBackorders lets shoppers order items that are out of stock.
	// +optional
	AllowBackorders bool `json:"allowBackorders,omitempty"`
}

// StorefrontSpec is one shop of a tenant.
type StorefrontSpec struct {
	// tenantRef names the Tenant owning this storefront; the storefront's namespace
	// must be one of its namespaces. Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="tenantRef is immutable"
	TenantRef LocalObjectReference `json:"tenantRef"`
	// version of kommerce the storefront runs (an image tag). Changing it starts a
	// blue-green rollout.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`
	Version string `json:"version"`
	// image overrides the repository the version is taken from.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	Image string `json:"image,omitempty"`
	// channels are the hostnames, currencies and locales the storefront sells in.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:XValidation:rule="self.all(c, self.exists_one(d, d.hostname == c.hostname))",message="each channel needs its own hostname"
	Channels []Channel `json:"channels"`
	// api is the REST API deployment.
	// +optional
	// +kubebuilder:default={}
	API StorefrontAPI `json:"api,omitempty"`
	// rollout is the blue-green strategy.
	// +optional
	// +kubebuilder:default={}
	Rollout StorefrontRollout `json:"rollout,omitempty"`
	// search holds query-time search settings.
	// +optional
	// +kubebuilder:default={}
	Search StorefrontSearch `json:"search,omitempty"`
	// models binds a ModelVersion (or an experiment) to each purpose.
	// +optional
	// +listType=map
	// +listMapKey=purpose
	// +kubebuilder:validation:MaxItems=3
	Models []ModelBinding `json:"models,omitempty"`
	// inventory is the stock reservation policy.
	// +optional
	// +kubebuilder:default={}
	Inventory InventoryPolicy `json:"inventory,omitempty"`
}

// Color is one of the two deployments a blue-green rollout switches between.
// +kubebuilder:validation:Enum=Blue;Green
type Color string

// Colours.
const (
	Blue  Color = "Blue"
	Green Color = "Green"
)

// StorefrontPhase summarises a Storefront in one word.
// +kubebuilder:validation:Enum=Pending;Deploying;Previewing;Promoting;Ready;RollingBack;Failed
type StorefrontPhase string

// Storefront phases.
const (
	StorefrontPending     StorefrontPhase = "Pending"
	StorefrontDeploying   StorefrontPhase = "Deploying"
	StorefrontPreviewing  StorefrontPhase = "Previewing"
	StorefrontPromoting   StorefrontPhase = "Promoting"
	StorefrontReady       StorefrontPhase = "Ready"
	StorefrontRollingBack StorefrontPhase = "RollingBack"
	StorefrontFailed      StorefrontPhase = "Failed"
)

// BoundModel is the model revision that actually serves a purpose (or an arm).
type BoundModel struct {
	// purpose served.
	Purpose ModelPurpose `json:"purpose"`
	// modelVersion serving it.
	// +kubebuilder:validation:MaxLength=253
	ModelVersion string `json:"modelVersion"`
	// revision is the artifact sha256 that is loaded.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Revision string `json:"revision,omitempty"`
	// weight is the share of traffic in percent.
	// +optional
	Weight int32 `json:"weight,omitempty"`
}

// StorefrontStatus is what the Storefront controller observed.
type StorefrontStatus struct {
	// observedGeneration is the metadata.generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// phase summarises the rollout state.
	// +optional
	Phase StorefrontPhase `json:"phase,omitempty"`
	// activeColor receives shopper traffic.
	// +optional
	ActiveColor Color `json:"activeColor,omitempty"`
	// activeVersion is the version the active colour runs.
	// +optional
	ActiveVersion string `json:"activeVersion,omitempty"`
	// previewColor runs the next version during a rollout.
	// +optional
	PreviewColor Color `json:"previewColor,omitempty"`
	// previewVersion is the version the preview colour runs.
	// +optional
	PreviewVersion string `json:"previewVersion,omitempty"`
	// urls the storefront answers on, one per channel.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	URLs []string `json:"urls,omitempty"`
	// previewURL reaches the preview colour directly, for checks and people.
	// +optional
	PreviewURL string `json:"previewURL,omitempty"`
	// boundModels are the model revisions serving each purpose.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=15
	BoundModels []BoundModel `json:"boundModels,omitempty"`
	// blockedBy says in words what a rollout waits for, e.g. "freeze window
	// black-friday until 2026-11-30T00:00:00Z" or "check health failed: 503".
	// +optional
	BlockedBy string `json:"blockedBy,omitempty"`
	// conditions: APIReady, SearchReady, ModelsBound and Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Storefront is one shop of a tenant: its API deployment (blue-green), channels,
// search settings, model bindings and inventory policy. It lives in one of the
// tenant's namespaces.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=sf,categories=kommerce
// +kubebuilder:printcolumn:name="Tenant",type=string,JSONPath=`.spec.tenantRef.name`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.activeColor`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Blocked By",type=string,JSONPath=`.status.blockedBy`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Storefront struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired storefront.
	// +required
	Spec StorefrontSpec `json:"spec"`
	// status is what the operator observed.
	// +optional
	Status StorefrontStatus `json:"status,omitempty"`
}

// StorefrontList is a list of Storefronts.
// +kubebuilder:object:root=true
type StorefrontList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Storefront `json:"items"`
}

func init() {
	register(&Storefront{}, &StorefrontList{})
}
