package tenant

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

// Names of the objects the operator puts in each tenant namespace. The identity
// Secret's name and keys are a contract with the API server, which reads them.
const (
	QuotaName          = "kommerce-tenant"
	LimitRangeName     = "kommerce-tenant"
	NetworkPolicyName  = "kommerce-tenant-isolation"
	RoleName           = "kommerce-tenant-admin"
	RoleBindingName    = "kommerce-tenant-admins"
	IdentitySecretName = "kommerce-identity" //nolint:gosec // the name of a Secret, not a credential

	// Keys of the identity Secret.
	KeyTenantID   = "tenant-id"
	KeyTenant     = "tenant"
	KeyJWTKeyID   = "jwt-key-id"
	KeyJWTSignKey = "jwt-signing-key"
)

// Common labels. managed-by lets the operator's cache hold only its own Secrets.
const (
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelPartOf    = "app.kubernetes.io/part-of"
	managerName    = "kommerce-operator"
	namespaceLabel = "kubernetes.io/metadata.name"
)

// tenantLabels are put on every object a tenant owns. The controller reference to
// the Tenant is added by k8s.Apply.
func tenantLabels(t *kv1.Tenant) map[string]string {
	return map[string]string{
		kv1.TenantLabel: t.Name,
		labelManagedBy:  managerName,
		labelPartOf:     "kommerce",
	}
}

func desiredNamespace(t *kv1.Tenant, ns string) *corev1ac.NamespaceApplyConfiguration {
	return corev1ac.Namespace(ns).
		WithLabels(tenantLabels(t))
}

// desiredQuota caps what one namespace of the tenant may consume. Unset values are
// left out, so the quota does not limit them.
func desiredQuota(t *kv1.Tenant, ns string) *corev1ac.ResourceQuotaApplyConfiguration {
	q := t.Spec.Quota
	hard := corev1.ResourceList{}
	put := func(name corev1.ResourceName, v *resource.Quantity) {
		if v != nil {
			hard[name] = *v
		}
	}
	count := func(name corev1.ResourceName, v *int32) {
		if v != nil {
			hard[name] = *resource.NewQuantity(int64(*v), resource.DecimalSI)
		}
	}
	put(corev1.ResourceRequestsCPU, q.RequestsCPU)
	put(corev1.ResourceRequestsMemory, q.RequestsMemory)
	put(corev1.ResourceLimitsCPU, q.LimitsCPU)
	put(corev1.ResourceLimitsMemory, q.LimitsMemory)
	put(corev1.ResourceRequestsStorage, q.Storage)
	count(corev1.ResourcePods, q.Pods)
	count(corev1.ResourceServices, q.Services)
	count(corev1.ResourcePersistentVolumeClaims, q.PersistentVolumeClaims)
	return corev1ac.ResourceQuota(QuotaName, ns).
		WithLabels(tenantLabels(t)).
		WithSpec(corev1ac.ResourceQuotaSpec().WithHard(hard))
}

func resourceList(c *kv1.ComputeResources) corev1.ResourceList {
	if c == nil {
		return nil
	}
	l := corev1.ResourceList{}
	if c.CPU != nil {
		l[corev1.ResourceCPU] = *c.CPU
	}
	if c.Memory != nil {
		l[corev1.ResourceMemory] = *c.Memory
	}
	if len(l) == 0 {
		return nil
	}
	return l
}

// desiredLimitRange gives containers that ask for nothing a sensible request and
// limit (a quota on requests refuses pods without them otherwise) and caps the rest.
func desiredLimitRange(t *kv1.Tenant, ns string) *corev1ac.LimitRangeApplyConfiguration {
	item := corev1ac.LimitRangeItem().WithType(corev1.LimitTypeContainer)
	if l := resourceList(t.Spec.Limits.DefaultRequest); l != nil {
		item.WithDefaultRequest(l)
	}
	if l := resourceList(t.Spec.Limits.DefaultLimit); l != nil {
		item.WithDefault(l)
	}
	if l := resourceList(t.Spec.Limits.Max); l != nil {
		item.WithMax(l)
	}
	return corev1ac.LimitRange(LimitRangeName, ns).
		WithLabels(tenantLabels(t)).
		WithSpec(corev1ac.LimitRangeSpec().WithLimits(item))
}

// tenantPeer selects every namespace of the tenant by its label. Tenant owners have
// no rights on namespaces themselves, so they cannot label another namespace into
// their tenant.
func tenantPeer(t *kv1.Tenant) *networkingv1ac.NetworkPolicyPeerApplyConfiguration {
	return networkingv1ac.NetworkPolicyPeer().WithNamespaceSelector(
		metav1ac.LabelSelector().WithMatchLabels(map[string]string{kv1.TenantLabel: t.Name}))
}

func namespacePeer(name string) *networkingv1ac.NetworkPolicyPeerApplyConfiguration {
	return networkingv1ac.NetworkPolicyPeer().WithNamespaceSelector(
		metav1ac.LabelSelector().WithMatchLabels(map[string]string{namespaceLabel: name}))
}

// desiredNetworkPolicy denies all traffic into the namespace except from the
// tenant's own namespaces and the ingress namespaces. With egressCIDRs set it also
// denies outgoing traffic except to the tenant, cluster DNS and those networks.
func desiredNetworkPolicy(t *kv1.Tenant, ns string) *networkingv1ac.NetworkPolicyApplyConfiguration {
	from := []*networkingv1ac.NetworkPolicyPeerApplyConfiguration{tenantPeer(t)}
	for _, in := range t.Spec.Network.IngressNamespaces {
		from = append(from, namespacePeer(string(in)))
	}
	spec := networkingv1ac.NetworkPolicySpec().
		WithPodSelector(metav1ac.LabelSelector()).
		WithPolicyTypes(networkingv1.PolicyTypeIngress).
		WithIngress(networkingv1ac.NetworkPolicyIngressRule().WithFrom(from...))
	if len(t.Spec.Network.EgressCIDRs) > 0 {
		to := []*networkingv1ac.NetworkPolicyPeerApplyConfiguration{tenantPeer(t)}
		for _, cidr := range t.Spec.Network.EgressCIDRs {
			to = append(to, networkingv1ac.NetworkPolicyPeer().WithIPBlock(networkingv1ac.IPBlock().WithCIDR(cidr)))
		}
		dns := intstr.FromInt32(53)
		spec.WithPolicyTypes(networkingv1.PolicyTypeEgress).WithEgress(
			networkingv1ac.NetworkPolicyEgressRule().WithTo(to...),
			networkingv1ac.NetworkPolicyEgressRule().
				WithTo(namespacePeer("kube-system")).
				WithPorts(
					networkingv1ac.NetworkPolicyPort().WithProtocol(corev1.ProtocolUDP).WithPort(dns),
					networkingv1ac.NetworkPolicyPort().WithProtocol(corev1.ProtocolTCP).WithPort(dns),
				),
		)
	}
	return networkingv1ac.NetworkPolicy(NetworkPolicyName, ns).
		WithLabels(tenantLabels(t)).
		WithSpec(spec)
}

// tenantAdminRules is what a tenant's owners may do inside their namespaces: run and
// configure workloads and the kommerce resources, but only read the quota, limits and
// network policy that isolate them. The operator holds each of these rights itself
// (see the RBAC markers in controller.go), which Kubernetes requires for granting them.
func tenantAdminRules() []*rbacv1ac.PolicyRuleApplyConfiguration {
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	read := []string{"get", "list", "watch"}
	rule := func(group string, verbs []string, resources ...string) *rbacv1ac.PolicyRuleApplyConfiguration {
		return rbacv1ac.PolicyRule().WithAPIGroups(group).WithResources(resources...).WithVerbs(verbs...)
	}
	return []*rbacv1ac.PolicyRuleApplyConfiguration{
		rule("", all, "configmaps", "secrets", "services", "persistentvolumeclaims", "pods", "serviceaccounts"),
		rule("", read, "pods/log", "events", "resourcequotas", "limitranges"),
		rule("apps", all, "deployments", "statefulsets"),
		rule("apps", read, "replicasets"),
		rule("batch", all, "jobs", "cronjobs"),
		rule("autoscaling", all, "horizontalpodautoscalers"),
		rule("networking.k8s.io", all, "ingresses"),
		rule("networking.k8s.io", read, "networkpolicies"),
		rule("kommerce.io", all, "storefronts", "modelversions"),
		rule("kommerce.io", read, "storefronts/status", "modelversions/status"),
	}
}

func desiredRole(t *kv1.Tenant, ns string) *rbacv1ac.RoleApplyConfiguration {
	return rbacv1ac.Role(RoleName, ns).
		WithLabels(tenantLabels(t)).
		WithRules(tenantAdminRules()...)
}

func desiredRoleBinding(t *kv1.Tenant, ns string) *rbacv1ac.RoleBindingApplyConfiguration {
	subjects := make([]*rbacv1ac.SubjectApplyConfiguration, 0, len(t.Spec.Owners))
	for _, o := range t.Spec.Owners {
		s := rbacv1ac.Subject().WithKind(string(o.Kind)).WithName(o.Name)
		if o.Kind == kv1.OwnerServiceAccount {
			s.WithNamespace(o.Namespace)
		} else {
			s.WithAPIGroup(rbacv1.GroupName)
		}
		subjects = append(subjects, s)
	}
	return rbacv1ac.RoleBinding(RoleBindingName, ns).
		WithLabels(tenantLabels(t)).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("Role").WithName(RoleName)).
		WithSubjects(subjects...)
}

// identity is the tenant's data-plane identity: its database id and the Ed25519 key
// the API signs access tokens with.
type identity struct {
	TenantID      string
	KeyID         string
	PrivateKeyPEM []byte
}

func desiredIdentitySecret(t *kv1.Tenant, ns string, id identity) *corev1ac.SecretApplyConfiguration {
	return corev1ac.Secret(IdentitySecretName, ns).
		WithLabels(tenantLabels(t)).
		WithType(corev1.SecretTypeOpaque).
		WithData(map[string][]byte{
			KeyTenantID:   []byte(id.TenantID),
			KeyTenant:     []byte(t.Name),
			KeyJWTKeyID:   []byte(id.KeyID),
			KeyJWTSignKey: id.PrivateKeyPEM,
		})
}
