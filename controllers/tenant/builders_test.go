package tenant

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

func qty(s string) *resource.Quantity { v := resource.MustParse(s); return &v }
func i32(v int32) *int32              { return &v }

func testTenant() *kv1.Tenant {
	return &kv1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: "acme", UID: "uid-acme", Generation: 3},
		Spec: kv1.TenantSpec{
			Owners: []kv1.TenantOwner{
				{Kind: kv1.OwnerGroup, Name: "acme-admins"},
				{Kind: kv1.OwnerServiceAccount, Name: "deployer", Namespace: "ci"},
			},
			Namespaces: []kv1.NamespaceName{"acme-shop", "acme-ml"},
			Network:    kv1.TenantNetwork{IngressNamespaces: []kv1.NamespaceName{"ingress-nginx"}},
		},
	}
}

// Every child carries the tenant label: the operator's cache holds only labelled
// objects, and the network policy selects the tenant's namespaces by it. (The
// controller reference is added by k8s.Apply.)
func TestChildrenAreLabelled(t *testing.T) {
	tn := testTenant()
	children := map[string]map[string]string{
		"namespace":     desiredNamespace(tn, "acme-shop").Labels,
		"quota":         desiredQuota(tn, "acme-shop").Labels,
		"limitrange":    desiredLimitRange(tn, "acme-shop").Labels,
		"networkpolicy": desiredNetworkPolicy(tn, "acme-shop").Labels,
		"role":          desiredRole(tn, "acme-shop").Labels,
		"rolebinding":   desiredRoleBinding(tn, "acme-shop").Labels,
		"secret":        desiredIdentitySecret(tn, "acme-shop", identity{TenantID: "id", KeyID: "k", PrivateKeyPEM: []byte("pem")}).Labels,
	}
	for name, labels := range children {
		t.Run(name, func(t *testing.T) {
			if labels[kv1.TenantLabel] != "acme" || labels[labelManagedBy] != managerName {
				t.Errorf("labels %v", labels)
			}
		})
	}
}

func TestDesiredQuota(t *testing.T) {
	tests := []struct {
		name  string
		quota kv1.TenantQuota
		want  corev1.ResourceList
	}{
		{"nothing set limits nothing", kv1.TenantQuota{}, corev1.ResourceList{}},
		{"every field", kv1.TenantQuota{
			RequestsCPU: qty("8"), RequestsMemory: qty("16Gi"), LimitsCPU: qty("16"), LimitsMemory: qty("32Gi"),
			Storage: qty("100Gi"), Pods: i32(100), Services: i32(20), PersistentVolumeClaims: i32(0),
		}, corev1.ResourceList{
			"requests.cpu": resource.MustParse("8"), "requests.memory": resource.MustParse("16Gi"),
			"limits.cpu": resource.MustParse("16"), "limits.memory": resource.MustParse("32Gi"),
			"requests.storage": resource.MustParse("100Gi"), "pods": resource.MustParse("100"),
			"services": resource.MustParse("20"), "persistentvolumeclaims": resource.MustParse("0"),
		}},
		{"only pods", kv1.TenantQuota{Pods: i32(5)}, corev1.ResourceList{"pods": resource.MustParse("5")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := testTenant()
			tn.Spec.Quota = tt.quota
			got := desiredQuota(tn, "acme-shop")
			if *got.Name != QuotaName || *got.Namespace != "acme-shop" {
				t.Errorf("name %s/%s", *got.Namespace, *got.Name)
			}
			hard := *got.Spec.Hard
			if len(hard) != len(tt.want) {
				t.Fatalf("hard = %v, want %v", hard, tt.want)
			}
			for k, v := range tt.want {
				if g, ok := hard[k]; !ok || g.Cmp(v) != 0 {
					t.Errorf("hard[%s] = %v, want %v", k, hard[k], v)
				}
			}
		})
	}
}

func TestDesiredLimitRange(t *testing.T) {
	tn := testTenant()
	tn.Spec.Limits = kv1.TenantLimits{
		DefaultRequest: &kv1.ComputeResources{CPU: qty("100m"), Memory: qty("128Mi")},
		DefaultLimit:   &kv1.ComputeResources{CPU: qty("1")},
	}
	got := desiredLimitRange(tn, "acme-ml")
	if len(got.Spec.Limits) != 1 {
		t.Fatalf("%d limit items", len(got.Spec.Limits))
	}
	item := got.Spec.Limits[0]
	if *item.Type != corev1.LimitTypeContainer {
		t.Errorf("type %s", *item.Type)
	}
	if r := (*item.DefaultRequest)[corev1.ResourceMemory]; r.Cmp(resource.MustParse("128Mi")) != 0 {
		t.Errorf("default request memory %v", r)
	}
	if _, has := (*item.Default)[corev1.ResourceMemory]; has {
		t.Errorf("unset default memory limit was filled in: %v", *item.Default)
	}
	if item.Max != nil {
		t.Errorf("unset max was filled in: %v", *item.Max)
	}
}

func TestDesiredNetworkPolicy(t *testing.T) {
	tests := []struct {
		name       string
		egress     []string
		wantTypes  []networkingv1.PolicyType
		wantEgress int
	}{
		{"ingress only", nil, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, 0},
		{"restricted egress", []string{"10.0.0.0/8", "192.168.1.10/32"}, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := testTenant()
			tn.Spec.Network.EgressCIDRs = tt.egress
			spec := desiredNetworkPolicy(tn, "acme-shop").Spec
			if len(spec.PodSelector.MatchLabels) != 0 || len(spec.PodSelector.MatchExpressions) != 0 {
				t.Errorf("policy must select every pod, selects %+v", spec.PodSelector)
			}
			if !slices.Equal(spec.PolicyTypes, tt.wantTypes) {
				t.Errorf("policy types %v, want %v", spec.PolicyTypes, tt.wantTypes)
			}
			if len(spec.Ingress) != 1 || len(spec.Ingress[0].From) != 2 {
				t.Fatalf("ingress %+v; want one rule from the tenant and the ingress namespace", spec.Ingress)
			}
			from := spec.Ingress[0].From
			if from[0].NamespaceSelector.MatchLabels[kv1.TenantLabel] != "acme" ||
				from[1].NamespaceSelector.MatchLabels[namespaceLabel] != "ingress-nginx" {
				t.Errorf("ingress peers %+v %+v", from[0].NamespaceSelector, from[1].NamespaceSelector)
			}
			if len(spec.Ingress[0].Ports) != 0 {
				t.Errorf("ingress restricted to ports %v", spec.Ingress[0].Ports)
			}
			if len(spec.Egress) != tt.wantEgress {
				t.Fatalf("%d egress rules, want %d", len(spec.Egress), tt.wantEgress)
			}
			if tt.wantEgress > 0 {
				var cidrs []string
				for _, p := range spec.Egress[0].To {
					if p.IPBlock != nil {
						cidrs = append(cidrs, *p.IPBlock.CIDR)
					}
				}
				if !slices.Equal(cidrs, tt.egress) {
					t.Errorf("egress CIDRs %v, want %v", cidrs, tt.egress)
				}
				if len(spec.Egress[1].Ports) != 2 || spec.Egress[1].Ports[0].Port.IntValue() != 53 {
					t.Errorf("DNS rule %+v", spec.Egress[1])
				}
			}
		})
	}
}

func TestDesiredRoleBinding(t *testing.T) {
	rb := desiredRoleBinding(testTenant(), "acme-shop")
	if *rb.RoleRef.Kind != "Role" || *rb.RoleRef.Name != RoleName {
		t.Errorf("role ref %+v", rb.RoleRef)
	}
	if len(rb.Subjects) != 2 {
		t.Fatalf("%d subjects", len(rb.Subjects))
	}
	g, sa := rb.Subjects[0], rb.Subjects[1]
	if *g.Kind != "Group" || *g.Name != "acme-admins" || *g.APIGroup != "rbac.authorization.k8s.io" || g.Namespace != nil {
		t.Errorf("group subject %+v", g)
	}
	if *sa.Kind != "ServiceAccount" || *sa.Name != "deployer" || *sa.Namespace != "ci" || sa.APIGroup != nil {
		t.Errorf("service account subject %+v", sa)
	}
}

// Owners run workloads but cannot loosen their own isolation.
func TestTenantAdminCannotChangeIsolation(t *testing.T) {
	guarded := []string{"resourcequotas", "limitranges", "networkpolicies", "roles", "rolebindings", "namespaces"}
	for _, r := range tenantAdminRules() {
		for _, res := range r.Resources {
			if !slices.Contains(guarded, res) {
				continue
			}
			for _, v := range r.Verbs {
				if v != "get" && v != "list" && v != "watch" {
					t.Errorf("owners may %s %s", v, res)
				}
			}
		}
	}
}

func TestIdentityRoundTrip(t *testing.T) {
	id, err := newIdentity(rand.Reader, "0b6f1a52-6c1e-4a43-9d51-5a1b8f8e2c11")
	if err != nil {
		t.Fatal(err)
	}
	sec := desiredIdentitySecret(testTenant(), "acme-shop", id)
	if *sec.Type != corev1.SecretTypeOpaque || *sec.Name != "kommerce-identity" {
		t.Errorf("secret %s type %s", *sec.Name, *sec.Type)
	}
	keys := []string{}
	for k := range sec.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"jwt-key-id", "jwt-signing-key", "tenant", "tenant-id"}) {
		t.Errorf("keys %v", keys)
	}
	if string(sec.Data["tenant"]) != "acme" || string(sec.Data["tenant-id"]) != id.TenantID || len(id.KeyID) != 24 {
		t.Errorf("data tenant=%s tenant-id=%s kid=%q", sec.Data["tenant"], sec.Data["tenant-id"], id.KeyID)
	}
	parsed, err := parseIdentity(&corev1.Secret{Data: sec.Data})
	if err != nil {
		t.Fatal(err)
	}
	if parsed.KeyID != id.KeyID || !bytes.Equal(parsed.PrivateKeyPEM, id.PrivateKeyPEM) {
		t.Errorf("parsed %+v", parsed)
	}
	other, _ := newIdentity(rand.Reader, "")
	if bytes.Equal(other.PrivateKeyPEM, id.PrivateKeyPEM) || other.KeyID == id.KeyID {
		t.Error("two generated identities are equal")
	}
}

func TestParseIdentityRejectsUnusableSecrets(t *testing.T) {
	good, _ := newIdentity(rand.Reader, "x")
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	tests := []struct {
		name string
		data map[string][]byte
	}{
		{"empty", nil},
		{"no key id", map[string][]byte{KeyJWTSignKey: good.PrivateKeyPEM}},
		{"not PEM", map[string][]byte{KeyJWTKeyID: []byte("k"), KeyJWTSignKey: []byte("hello")}},
		{"wrong PEM type", map[string][]byte{KeyJWTKeyID: []byte("k"), KeyJWTSignKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}})}},
		{"garbage DER", map[string][]byte{KeyJWTKeyID: []byte("k"), KeyJWTSignKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})}},
		{"RSA key", map[string][]byte{KeyJWTKeyID: []byte("k"), KeyJWTSignKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseIdentity(&corev1.Secret{Data: tt.data}); err == nil {
				t.Error("accepted an unusable identity")
			}
		})
	}
}

func TestChooseIdentity(t *testing.T) {
	tn := testTenant()
	a, _ := newIdentity(rand.Reader, "")
	b, _ := newIdentity(rand.Reader, "")
	secret := func(ns string, age time.Duration, tenant string, id identity) corev1.Secret {
		return corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: ns, Name: IdentitySecretName, Labels: map[string]string{kv1.TenantLabel: tenant},
				CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(-age)),
			},
			Data: map[string][]byte{KeyJWTKeyID: []byte(id.KeyID), KeyJWTSignKey: id.PrivateKeyPEM},
		}
	}
	broken := identity{KeyID: "broken", PrivateKeyPEM: []byte("x")}
	tests := []struct {
		name    string
		secrets []corev1.Secret
		want    string // key id; "" = none
	}{
		{"none", nil, ""},
		{"oldest wins", []corev1.Secret{secret("acme-ml", time.Hour, "acme", b), secret("acme-shop", 2*time.Hour, "acme", a)}, a.KeyID},
		{"broken oldest is skipped", []corev1.Secret{secret("acme-shop", 2*time.Hour, "acme", broken), secret("acme-ml", time.Hour, "acme", b)}, b.KeyID},
		{"another tenant's secret is ignored", []corev1.Secret{secret("acme-shop", 2*time.Hour, "globex", a)}, ""},
		{"same age: namespace order", []corev1.Secret{secret("acme-shop", time.Hour, "acme", a), secret("acme-ml", time.Hour, "acme", b)}, b.KeyID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := chooseIdentity(tn, tt.secrets)
			if ok != (tt.want != "") || got.KeyID != tt.want {
				t.Errorf("chose %q (%v), want %q", got.KeyID, ok, tt.want)
			}
		})
	}
}
