package v1alpha1

import "k8s.io/apimachinery/pkg/api/resource"

// Condition types shared by every kind. Each kind also has its own per-part types
// below; Ready always summarises them so `kubectl wait --for=condition=Ready` works.
const (
	// ConditionReady is True when every part of the resource is provisioned and
	// healthy for the current generation.
	ConditionReady = "Ready"
)

// Tenant condition types, one per provisioned part.
const (
	// TenantNamespacesReady is True when every namespace in spec.namespaces exists,
	// carries the tenant's labels and belongs to this tenant.
	TenantNamespacesReady = "NamespacesReady"
	// TenantQuotaReady is True when the ResourceQuota and LimitRange are in place in
	// every namespace.
	TenantQuotaReady = "QuotaReady"
	// TenantNetworkPolicyReady is True when the default-deny NetworkPolicy is in
	// place in every namespace.
	TenantNetworkPolicyReady = "NetworkPolicyReady"
	// TenantRBACReady is True when the owners' Role and RoleBinding are in place in
	// every namespace.
	TenantRBACReady = "RBACReady"
	// TenantDatabaseReady is True when the tenant's row in the platform database
	// matches the spec.
	TenantDatabaseReady = "DatabaseReady"
	// TenantIdentityReady is True when the data-plane identity Secret is in place in
	// every namespace.
	TenantIdentityReady = "IdentityReady"
	// TenantDeletionBlocked is True while a deletion waits because
	// spec.preventDeletion is set.
	TenantDeletionBlocked = "DeletionBlocked"
)

// Storefront condition types (controllers/storefront sets them).
const (
	// StorefrontAvailable is True when the active colour's API pods serve traffic
	// (at least one ready, all of them once the colour is first up).
	StorefrontAvailable = "Available"
	// StorefrontProgressing is True while a rollout is under way (a preview colour is
	// coming up, checked, waiting or being promoted).
	StorefrontProgressing = "Progressing"
	// StorefrontPromoted is True when the desired version and image serve all traffic.
	StorefrontPromoted = "Promoted"
	// StorefrontDegraded is True when something needs a person: a refused tenant, an
	// aborted rollout, crash-looping or unpullable pods.
	StorefrontDegraded = "Degraded"
	// StorefrontSearchReady is True when the storefront's search index is built and
	// aliased.
	StorefrontSearchReady = "SearchReady"
	// StorefrontModelsBound is True when every model binding points at a ready
	// ModelVersion.
	StorefrontModelsBound = "ModelsBound"
)

// ModelVersion condition types; the ModelVersion controller (a later issue) sets them.
const (
	// ModelVersionArtifactVerified is True when the artifact was downloaded and its
	// sha256 matched spec.artifact.sha256.
	ModelVersionArtifactVerified = "ArtifactVerified"
	// ModelVersionServing is True when the inference pods have the model loaded.
	ModelVersionServing = "Serving"
)

// Condition reasons. They are CamelCase words a user can grep for in
// `kubectl describe` and alert on.
const (
	ReasonProvisioned         = "Provisioned"
	ReasonProvisioning        = "Provisioning"
	ReasonApplyFailed         = "ApplyFailed"
	ReasonNamespaceConflict   = "NamespaceConflict"
	ReasonNamespaceNotWatched = "NamespaceNotWatched"
	ReasonNamespaceDeleting   = "NamespaceTerminating"
	ReasonIsolationConflict   = "IsolationConflict"
	ReasonDatabaseError       = "DatabaseError"
	ReasonWaiting             = "Waiting"
	ReasonDeletionProtected   = "DeletionProtected"
	ReasonDeleting            = "Deleting"
	ReasonPartsNotReady       = "PartsNotReady"
	ReasonAllPartsReady       = "AllPartsReady"
	// Storefront reasons.
	ReasonTenantNotFound     = "TenantNotFound"
	ReasonTenantSuspended    = "TenantSuspended"
	ReasonTenantNotReady     = "TenantNotReady"
	ReasonNamespaceNotTenant = "NamespaceNotOfTenant"
	ReasonPreviewStarting    = "PreviewStarting"
	ReasonChecksRunning      = "ChecksRunning"
	ReasonChecksFailed       = "CheckFailed"
	ReasonDeadlineExceeded   = "ProgressDeadlineExceeded"
	ReasonWaitingForPromote  = "WaitingForPromotion"
	ReasonFrozen             = "FreezeWindow"
	ReasonPromotedReason     = "Promoted"
	ReasonAborted            = "Aborted"
	ReasonRolledBack         = "RolledBack"
	ReasonPodsFailing        = "PodsFailing"
	ReasonAsExpected         = "AsExpected"
	ReasonUnavailable        = "Unavailable"
)

// LocalObjectReference names an object in the same namespace as the referrer.
type LocalObjectReference struct {
	// name of the referenced object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SecretKeyReference selects one key of a Secret in a namespace the tenant owns.
type SecretKeyReference struct {
	// namespace of the Secret; it must be one of the tenant's namespaces.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// key inside the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// ComputeResources is a compact CPU/memory pair used for requests, limits and budgets.
type ComputeResources struct {
	// cpu in Kubernetes quantity notation, e.g. "500m" or "2".
	// +optional
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isLessThan(quantity('0'))",message="cpu must not be negative"
	CPU *resource.Quantity `json:"cpu,omitempty"`
	// memory in Kubernetes quantity notation, e.g. "256Mi" or "2Gi".
	// +optional
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isLessThan(quantity('0'))",message="memory must not be negative"
	Memory *resource.Quantity `json:"memory,omitempty"`
}
