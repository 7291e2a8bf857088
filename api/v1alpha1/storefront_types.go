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
	// timeoutSeconds bounds one attempt of the check.
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=60
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
}

// StorefrontRollout is how a new version replaces the running one: blue-green, i.e.
// a full preview colour, checked, then switched.
type StorefrontRollout struct {
	// promotion is Auto (switch as soon as the checks pass outside freeze windows) or
	// Manual (wait for the annotation kommerce.io/promote=true, which
	// `kommerce rollout promote` sets).
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
	// progressDeadline is how long the preview colour may take to become Available
	// (every replica Ready) before the rollout is aborted, e.g. "10m".
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('2h')",message="progressDeadline must be between 10s and 2h"
	ProgressDeadline *metav1.Duration `json:"progressDeadline,omitempty"`
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

// ModelBinding says which model serves one purpose for this storefront. It names a
// model (ModelVersion.spec.model), not a version: the model's ModelVersions say how
// traffic moves between them (Direct, Shadow, Canary, ABTest), so a traffic split has
// exactly one owner.
type ModelBinding struct {
	// purpose the binding serves.
	// +required
	Purpose ModelPurpose `json:"purpose"`
	// model is the spec.model of the ModelVersions, in the storefront's namespace,
	// that serve the purpose.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Model string `json:"model"`
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

// StorefrontCheckout are the storefront's flat tax and shipping rules. Amounts are
// in minor units of the first channel's currency. When a Storefront manages a shop,
// these replace what PUT /storefronts/{name}/checkout-settings stored in the database.
type StorefrontCheckout struct {
	// taxRateBasisPoints is the tax added to each order, in hundredths of a percent
	// (1900 is 19 %).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	TaxRateBasisPoints int32 `json:"taxRateBasisPoints,omitempty"`
	// taxLabel names the tax on orders, e.g. "VAT".
	// +optional
	// +kubebuilder:default=Tax
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	TaxLabel string `json:"taxLabel,omitempty"`
	// shippingAmount is the flat shipping charge of an order.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100000000000
	ShippingAmount int64 `json:"shippingAmount,omitempty"`
	// freeShippingOver waives shipping for orders whose subtotal reaches it.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100000000000
	FreeShippingOver *int64 `json:"freeShippingOver,omitempty"`
}

// StorefrontCORS says which browser origins may call the API.
type StorefrontCORS struct {
	// allowedOrigins are the exact origins (scheme://host[:port]) browsers may call
	// the API from; empty allows none.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=260
	// +kubebuilder:validation:items:Pattern=`^https?://[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$`
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
}

// StorefrontIngest is the storefront's ingest deployment: the outbox relay and the
// search indexer (`kommerce ingest`).
type StorefrontIngest struct {
	// replicas of the ingest pods; Kafka spreads the partitions between them.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=20
	Replicas *int32 `json:"replicas,omitempty"`
	// resources requested by each ingest container.
	// +optional
	Resources *ComputeResources `json:"resources,omitempty"`
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
	// models binds a model to each purpose; its ModelVersions decide the traffic split.
	// +optional
	// +listType=map
	// +listMapKey=purpose
	// +kubebuilder:validation:MaxItems=3
	Models []ModelBinding `json:"models,omitempty"`
	// inventory is the stock reservation policy.
	// +optional
	// +kubebuilder:default={}
	Inventory InventoryPolicy `json:"inventory,omitempty"`
	// checkout holds tax and shipping.
	// +optional
	// +kubebuilder:default={}
	Checkout StorefrontCheckout `json:"checkout,omitempty"`
	// cors lists the browser origins allowed to call the API.
	// +optional
	CORS StorefrontCORS `json:"cors,omitempty"`
	// ingest is the outbox relay and search indexer deployment.
	// +optional
	// +kubebuilder:default={}
	Ingest StorefrontIngest `json:"ingest,omitempty"`
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
// +kubebuilder:validation:Enum=Pending;Deploying;Previewing;Paused;Promoting;Ready;RollingBack;Aborted;Failed
type StorefrontPhase string

// Storefront phases.
const (
	// StorefrontPending: nothing deployed yet, or refused (the conditions say why).
	StorefrontPending StorefrontPhase = "Pending"
	// StorefrontDeploying: the first version is coming up; nothing serves yet.
	StorefrontDeploying StorefrontPhase = "Deploying"
	// StorefrontPreviewing: a new version runs in the preview colour and its checks run.
	StorefrontPreviewing StorefrontPhase = "Previewing"
	// StorefrontPaused: the preview passed its checks and waits for a manual promote
	// or for a freeze window to end (blockedBy says which).
	StorefrontPaused StorefrontPhase = "Paused"
	// StorefrontPromoting is reserved for a multi-pass switch to the preview colour;
	// the controller switches traffic in one pass today and never reports it.
	StorefrontPromoting StorefrontPhase = "Promoting"
	// StorefrontReady: the desired version serves all traffic.
	StorefrontReady StorefrontPhase = "Ready"
	// StorefrontRollingBack is reserved likewise: an undo switches back in one pass.
	StorefrontRollingBack StorefrontPhase = "RollingBack"
	// StorefrontAborted: the last rollout was aborted; the previous version still
	// serves and blockedBy says why. A new spec.version or spec.image starts over.
	StorefrontAborted StorefrontPhase = "Aborted"
	// StorefrontFailed: the first version never became available.
	StorefrontFailed StorefrontPhase = "Failed"
)

// Annotations a user (or `kommerce rollout`) sets on a Storefront to act on its
// rollout; the controller removes each once it has acted on it.
const (
	// AnnotationPromote ("true") promotes a preview whose checks passed when
	// spec.rollout.promotion is Manual. Freeze windows still apply.
	AnnotationPromote = "kommerce.io/promote"
	// AnnotationAbort ("true") aborts the rollout in progress: the preview colour is
	// scaled down and the active colour keeps serving. Freeze windows never block it.
	AnnotationAbort = "kommerce.io/abort"
)

// CheckResult is the outcome of one pre-promotion check against the preview colour.
type CheckResult struct {
	// name of the check (spec.rollout.prePromotionChecks[].name).
	Name string `json:"name"`
	// passed is true when the answer had the expected status.
	Passed bool `json:"passed"`
	// status is the HTTP status answered (0: no answer).
	// +optional
	Status int32 `json:"status,omitempty"`
	// message says what went wrong, e.g. "want 200, got 500: {\"error\":...}".
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
	// time the check ran.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

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
	// activeImage is the image reference the active colour runs.
	// +optional
	ActiveImage string `json:"activeImage,omitempty"`
	// previewImage is the image reference the preview colour runs.
	// +optional
	PreviewImage string `json:"previewImage,omitempty"`
	// previousColor is the colour that served before the last promotion; it keeps
	// running until rollbackUntil so an undo is instant.
	// +optional
	PreviousColor Color `json:"previousColor,omitempty"`
	// previousVersion is the version previousColor runs.
	// +optional
	PreviousVersion string `json:"previousVersion,omitempty"`
	// previousImage is the image reference previousColor runs.
	// +optional
	PreviousImage string `json:"previousImage,omitempty"`
	// rollbackUntil is when previousColor is scaled to zero.
	// +optional
	RollbackUntil *metav1.Time `json:"rollbackUntil,omitempty"`
	// previewStarted is when the current preview was started; the progress deadline
	// counts from it.
	// +optional
	PreviewStarted *metav1.Time `json:"previewStarted,omitempty"`
	// promotedAt is when traffic last switched colours.
	// +optional
	PromotedAt *metav1.Time `json:"promotedAt,omitempty"`
	// abortedImage is the image reference of the last aborted rollout; it is not
	// tried again until spec.version or spec.image changes.
	// +optional
	AbortedImage string `json:"abortedImage,omitempty"`
	// checks are the results of the pre-promotion checks of the current (or last)
	// preview.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Checks []CheckResult `json:"checks,omitempty"`
	// activeReplicas is how many API pods of the active colour are ready.
	// +optional
	ActiveReplicas int32 `json:"activeReplicas,omitempty"`
	// previewReplicas is how many API pods of the preview colour are ready.
	// +optional
	PreviewReplicas int32 `json:"previewReplicas,omitempty"`
	// searchIndex is the search index alias the storefront serves from.
	// +optional
	SearchIndex string `json:"searchIndex,omitempty"`
	// settingsConfigMap names the ConfigMap the API pods read their settings from.
	// +optional
	SettingsConfigMap string `json:"settingsConfigMap,omitempty"`
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
	// +kubebuilder:validation:MaxLength=1024
	BlockedBy string `json:"blockedBy,omitempty"`
	// blockedUntil is when a freeze window blocking promotion ends.
	// +optional
	BlockedUntil *metav1.Time `json:"blockedUntil,omitempty"`
	// conditions: Available, Progressing, Promoted, Degraded, SearchReady,
	// ModelsBound and Ready.
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
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.activeVersion`
// +kubebuilder:printcolumn:name="Color",type=string,JSONPath=`.status.activeColor`
// +kubebuilder:printcolumn:name="Preview",type=string,JSONPath=`.status.previewVersion`
// +kubebuilder:printcolumn:name="Available",type=string,JSONPath=`.status.conditions[?(@.type=="Available")].status`
// +kubebuilder:printcolumn:name="Blocked By",type=string,JSONPath=`.status.blockedBy`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.urls[0]`,priority=1
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
