package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TenantLabel is the label every object the operator creates for a tenant carries,
// with the Tenant's name as value: `kubectl get ns,quota -l kommerce.io/tenant=acme`.
const TenantLabel = "kommerce.io/tenant"

// TenantFinalizer holds a Tenant until its row in the platform database is removed.
const TenantFinalizer = "kommerce.io/tenant-cleanup"

// OwnerKind says what kind of subject a tenant owner is.
// +kubebuilder:validation:Enum=User;Group;ServiceAccount
type OwnerKind string

// Owner kinds, as in RBAC subjects.
const (
	OwnerUser           OwnerKind = "User"
	OwnerGroup          OwnerKind = "Group"
	OwnerServiceAccount OwnerKind = "ServiceAccount"
)

// TenantOwner is a subject that gets admin rights in the tenant's namespaces (and only there).
// +kubebuilder:validation:XValidation:rule="self.kind == 'ServiceAccount' ? has(self.namespace) : !has(self.namespace)",message="namespace is required for a ServiceAccount owner and not allowed for User or Group"
type TenantOwner struct {
	// kind of subject: User, Group or ServiceAccount.
	// +required
	Kind OwnerKind `json:"kind"`
	// name of the user, group or service account, as the cluster's authenticator
	// reports it (e.g. an e-mail address or an OIDC group).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// namespace of a ServiceAccount owner.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// NamespaceName is a namespace a tenant uses. System namespaces are refused.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
// +kubebuilder:validation:XValidation:rule="!self.startsWith('kube-') && !(self in ['default', 'kommerce-system'])",message="system namespaces (default, kube-*, kommerce-system) cannot belong to a tenant"
type NamespaceName string

// TenantQuota is the ResourceQuota put in each of the tenant's namespaces.
type TenantQuota struct {
	// requestsCPU caps the sum of CPU requests in one namespace.
	// +optional
	// +kubebuilder:default="8"
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isLessThan(quantity('0'))",message="quota must not be negative"
	RequestsCPU *resource.Quantity `json:"requestsCPU,omitempty"`
	// requestsMemory caps the sum of memory requests in one namespace.
	// +optional
	// +kubebuilder:default="16Gi"
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isLessThan(quantity('0'))",message="quota must not be negative"
	RequestsMemory *resource.Quantity `json:"requestsMemory,omitempty"`
	// limitsCPU caps the sum of CPU limits in one namespace.
	// +optional
	// +kubebuilder:default="16"
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isLessThan(quantity('0'))",message="quota must not be negative"
	LimitsCPU *resource.Quantity `json:"limitsCPU,omitempty"`
	// limitsMemory caps the sum of memory limits in one namespace.
	// +optional
	// +kubebuilder:default="32Gi"
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isLessThan(quantity('0'))",message="quota must not be negative"
	LimitsMemory *resource.Quantity `json:"limitsMemory,omitempty"`
	// storage caps the sum of persistent volume claim requests in one namespace.
	// +optional
	// +kubebuilder:default="100Gi"
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isLessThan(quantity('0'))",message="quota must not be negative"
	Storage *resource.Quantity `json:"storage,omitempty"`
	// pods is the most pods one namespace may hold.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	Pods *int32 `json:"pods,omitempty"`
	// services is the most Services one namespace may hold.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Services *int32 `json:"services,omitempty"`
	// persistentVolumeClaims is the most claims one namespace may hold.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	PersistentVolumeClaims *int32 `json:"persistentVolumeClaims,omitempty"`
}

// TenantLimits is the LimitRange put in each namespace: what a container gets when it
// asks for nothing, and the most it may ask for.
// +kubebuilder:validation:XValidation:rule="!has(self.defaultRequest) || !has(self.defaultLimit) || !has(self.defaultRequest.cpu) || !has(self.defaultLimit.cpu) || !quantity(string(self.defaultLimit.cpu)).isLessThan(quantity(string(self.defaultRequest.cpu)))",message="defaultRequest.cpu must not exceed defaultLimit.cpu"
// +kubebuilder:validation:XValidation:rule="!has(self.defaultRequest) || !has(self.defaultLimit) || !has(self.defaultRequest.memory) || !has(self.defaultLimit.memory) || !quantity(string(self.defaultLimit.memory)).isLessThan(quantity(string(self.defaultRequest.memory)))",message="defaultRequest.memory must not exceed defaultLimit.memory"
// +kubebuilder:validation:XValidation:rule="!has(self.defaultLimit) || !has(self.max) || !has(self.defaultLimit.cpu) || !has(self.max.cpu) || !quantity(string(self.max.cpu)).isLessThan(quantity(string(self.defaultLimit.cpu)))",message="defaultLimit.cpu must not exceed max.cpu"
// +kubebuilder:validation:XValidation:rule="!has(self.defaultLimit) || !has(self.max) || !has(self.defaultLimit.memory) || !has(self.max.memory) || !quantity(string(self.max.memory)).isLessThan(quantity(string(self.defaultLimit.memory)))",message="defaultLimit.memory must not exceed max.memory"
type TenantLimits struct {
	// defaultRequest is the request given to a container that sets none.
	// +optional
	// +kubebuilder:default={cpu: "100m", memory: "128Mi"}
	DefaultRequest *ComputeResources `json:"defaultRequest,omitempty"`
	// defaultLimit is the limit given to a container that sets none.
	// +optional
	// +kubebuilder:default={cpu: "1", memory: "512Mi"}
	DefaultLimit *ComputeResources `json:"defaultLimit,omitempty"`
	// max is the largest limit one container may set.
	// +optional
	// +kubebuilder:default={cpu: "4", memory: "8Gi"}
	Max *ComputeResources `json:"max,omitempty"`
}

// TenantNetwork shapes the tenant's default-deny NetworkPolicy.
type TenantNetwork struct {
	// ingressNamespaces are the namespaces (by name) whose pods may open connections
	// into the tenant, typically where the ingress controller runs. Traffic between
	// the tenant's own namespaces is always allowed; everything else is denied.
	// +optional
	// +listType=set
	// +kubebuilder:default={"ingress-nginx"}
	// +kubebuilder:validation:MaxItems=8
	IngressNamespaces []NamespaceName `json:"ingressNamespaces,omitempty"`
	// egressCIDRs, when set, also restricts outgoing traffic: pods may then reach only
	// the tenant's namespaces, cluster DNS and these networks (PostgreSQL, Kafka,
	// Redis, Elasticsearch, payment providers). Empty leaves egress open.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:items:XValidation:rule="isCIDR(self)",message="egressCIDRs entries must be CIDRs such as 10.0.0.0/8"
	EgressCIDRs []string `json:"egressCIDRs,omitempty"`
}

// TenantIsolation names the tenant's slices of the shared data services. Every value
// is fixed once set: the operator fills in the ones left empty on the first
// reconcile (from the platform database, or the defaults) and the API server refuses
// any later change, because data already lives under these names.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.tenantID) || (has(self.tenantID) && self.tenantID == oldSelf.tenantID)",message="isolation.tenantID is immutable once set"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.topicPrefix) || (has(self.topicPrefix) && self.topicPrefix == oldSelf.topicPrefix)",message="isolation.topicPrefix is immutable once set"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.indexPrefix) || (has(self.indexPrefix) && self.indexPrefix == oldSelf.indexPrefix)",message="isolation.indexPrefix is immutable once set"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.redisPrefix) || (has(self.redisPrefix) && self.redisPrefix == oldSelf.redisPrefix)",message="isolation.redisPrefix is immutable once set"
type TenantIsolation struct {
	// tenantID is the tenant's id in PostgreSQL: the tenant_id column of every row and
	// the key of row-level security. A UUID; assigned by the database when empty.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`
	// +kubebuilder:validation:MaxLength=36
	TenantID string `json:"tenantID,omitempty"`
	// topicPrefix starts every Kafka topic of the tenant (`<topicPrefix>.<stream>`).
	// Default: `kommerce.<tenant name>`.
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9._-]{0,99}$`
	// +kubebuilder:validation:MaxLength=100
	TopicPrefix string `json:"topicPrefix,omitempty"`
	// indexPrefix starts every search index of the tenant. Default: `kommerce-<tenant name>`.
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9_-]{0,99}$`
	// +kubebuilder:validation:MaxLength=100
	IndexPrefix string `json:"indexPrefix,omitempty"`
	// redisPrefix starts every Redis key of the tenant. Default: `k:<tenant name>:`.
	// +optional
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9:._-]{1,100}$`
	// +kubebuilder:validation:MaxLength=100
	RedisPrefix string `json:"redisPrefix,omitempty"`
}

// InferenceBudget bounds what the tenant's models may consume. When it is spent,
// recommendations fall back to popularity instead of failing.
type InferenceBudget struct {
	// maxReplicas is the most inference pods all of the tenant's ModelVersions may run together.
	// +optional
	// +kubebuilder:default=4
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=200
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`
	// requestsPerSecond is the most inference calls per second the API makes for the tenant.
	// +optional
	// +kubebuilder:default=200
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100000
	RequestsPerSecond *int32 `json:"requestsPerSecond,omitempty"`
	// resources caps the total CPU and memory of the tenant's inference pods.
	// +optional
	Resources *ComputeResources `json:"resources,omitempty"`
}

// FreezeWindow is a period in which rollouts may not promote; rollbacks are always allowed.
// +kubebuilder:validation:XValidation:rule="self.end > self.start",message="a freeze window must end after it starts"
type FreezeWindow struct {
	// name identifies the window, e.g. "black-friday".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// start of the window (RFC 3339).
	// +required
	Start metav1.Time `json:"start"`
	// end of the window (RFC 3339), after start.
	// +required
	End metav1.Time `json:"end"`
	// reason is shown in a Storefront's or ModelVersion's blockedBy while the window is open.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Reason string `json:"reason,omitempty"`
}

// TenantSpec is what the platform team asks for one tenant.
// +kubebuilder:validation:XValidation:rule="!has(self.stripeSecretRef) || self.namespaces.exists(n, n == self.stripeSecretRef.namespace)",message="stripeSecretRef.namespace must be one of the tenant's namespaces"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.preventDeletion) || !oldSelf.preventDeletion || oldSelf.namespaces.all(n, n in self.namespaces)",message="namespaces cannot be removed while preventDeletion is true"
type TenantSpec struct {
	// displayName is the tenant's human-readable name, stored in the platform database.
	// Defaults to the Tenant's name.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	DisplayName string `json:"displayName,omitempty"`
	// owners get admin rights inside the tenant's namespaces (and nowhere else).
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Owners []TenantOwner `json:"owners"`
	// namespaces the tenant uses. The operator creates them (or adopts existing ones
	// that belong to no other tenant), labels them kommerce.io/tenant=<name> and puts
	// the quota, limits, network policy, RBAC and identity Secret in each.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Namespaces []NamespaceName `json:"namespaces"`
	// quota is the ResourceQuota of each namespace.
	// +optional
	// +kubebuilder:default={}
	Quota TenantQuota `json:"quota,omitempty"`
	// limits is the LimitRange of each namespace.
	// +optional
	// +kubebuilder:default={}
	Limits TenantLimits `json:"limits,omitempty"`
	// network shapes the default-deny NetworkPolicy of each namespace.
	// +optional
	// +kubebuilder:default={}
	Network TenantNetwork `json:"network,omitempty"`
	// isolation names the tenant's slices of PostgreSQL, Kafka, search and Redis.
	// +optional
	// +kubebuilder:default={}
	Isolation TenantIsolation `json:"isolation,omitempty"`
	// stripeSecretRef points at the Secret key holding the tenant's Stripe secret key.
	// +optional
	StripeSecretRef *SecretKeyReference `json:"stripeSecretRef,omitempty"`
	// inferenceBudget bounds the tenant's model serving.
	// +optional
	InferenceBudget *InferenceBudget `json:"inferenceBudget,omitempty"`
	// freezeWindows are periods in which no rollout promotes (rollbacks still happen).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	FreezeWindows []FreezeWindow `json:"freezeWindows,omitempty"`
	// suspend marks the tenant suspended in the platform database; the data plane
	// reads that status. Kubernetes objects are left in place.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
	// preventDeletion, when true, holds a deletion of the Tenant (and the removal of
	// namespaces from the list): the Tenant stays Terminating with condition
	// DeletionBlocked until this is set to false.
	// +optional
	PreventDeletion bool `json:"preventDeletion,omitempty"`
}

// TenantPhase summarises a Tenant's state in one word for `kubectl get`.
// +kubebuilder:validation:Enum=Pending;Provisioning;Ready;Failed;DeletionBlocked;Deleting
type TenantPhase string

// Tenant phases.
const (
	TenantPhasePending         TenantPhase = "Pending"
	TenantPhaseProvisioning    TenantPhase = "Provisioning"
	TenantPhaseReady           TenantPhase = "Ready"
	TenantPhaseFailed          TenantPhase = "Failed"
	TenantPhaseDeletionBlocked TenantPhase = "DeletionBlocked"
	TenantPhaseDeleting        TenantPhase = "Deleting"
)

// TenantStatus is what the operator observed and did for a Tenant.
type TenantStatus struct {
	// observedGeneration is the metadata.generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// phase summarises the conditions: Pending, Provisioning, Ready, Failed,
	// DeletionBlocked or Deleting.
	// +optional
	Phase TenantPhase `json:"phase,omitempty"`
	// namespaces the tenant owns right now.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	Namespaces []string `json:"namespaces,omitempty"`
	// namespaceList is namespaces joined with commas, for the NAMESPACES column.
	// +optional
	NamespaceList string `json:"namespaceList,omitempty"`
	// tenantID is the tenant's id in the platform database.
	// +optional
	TenantID string `json:"tenantID,omitempty"`
	// identitySecret is the name of the Secret holding the tenant's data-plane
	// identity (tenant id and JWT signing key) in each namespace.
	// +optional
	IdentitySecret string `json:"identitySecret,omitempty"`
	// conditions: NamespacesReady, QuotaReady, NetworkPolicyReady, RBACReady,
	// DatabaseReady, IdentityReady, DeletionBlocked and Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Tenant is one customer of the platform: its namespaces, quotas, network isolation,
// owners, data isolation prefixes and identity. Cluster-scoped; a platform team
// creates it, the tenant's owners then work inside its namespaces.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=tn,categories=kommerce
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Namespaces",type=string,JSONPath=`.status.namespaceList`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Tenant ID",type=string,JSONPath=`.spec.isolation.tenantID`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$')",message="a Tenant name is a DNS label of at most 40 characters (lowercase letters, digits, '-'), because it becomes part of topic, index and key prefixes"
type Tenant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired tenant.
	// +required
	Spec TenantSpec `json:"spec"`
	// status is what the operator observed.
	// +optional
	Status TenantStatus `json:"status,omitempty"`
}

// TenantList is a list of Tenants.
// +kubebuilder:object:root=true
type TenantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Tenant `json:"items"`
}

func init() {
	register(&Tenant{}, &TenantList{})
}
