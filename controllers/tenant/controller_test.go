package tenant_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/controllers/tenant"
	"github.com/kommerce/kommerce/internal/tenancy"
	"github.com/kommerce/kommerce/internal/tenantstore"
	"github.com/kommerce/kommerce/internal/testenv"
)

func shortName(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

func newTenant(prefix string, namespaces ...string) *kv1.Tenant {
	name := shortName(prefix)
	if len(namespaces) == 0 {
		namespaces = []string{"shop"}
	}
	tn := &kv1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: kv1.TenantSpec{
			DisplayName: "Tenant " + name,
			Owners:      []kv1.TenantOwner{{Kind: kv1.OwnerGroup, Name: name + "-admins"}},
		},
	}
	for _, ns := range namespaces {
		tn.Spec.Namespaces = append(tn.Spec.Namespaces, kv1.NamespaceName(name+"-"+ns))
	}
	return tn
}

// create creates tn and, when the test ends (before its operator stops), deletes it
// and waits for the finalizer to let it go.
func (o *operator) create(t *testing.T, tn *kv1.Tenant) {
	t.Helper()
	ctx := context.Background()
	if err := o.k8s.Create(ctx, tn); err != nil {
		t.Fatalf("create tenant %s: %v", tn.Name, err)
	}
	t.Cleanup(func() {
		var cur kv1.Tenant
		if err := o.k8s.Get(ctx, types.NamespacedName{Name: tn.Name}, &cur); apierrors.IsNotFound(err) {
			return
		}
		if cur.Spec.PreventDeletion {
			cur.Spec.PreventDeletion = false
			if err := o.k8s.Update(ctx, &cur); err != nil {
				t.Errorf("unprotect %s: %v", tn.Name, err)
			}
		}
		_ = o.k8s.Delete(ctx, &cur)
		testenv.Eventually(t, reconcileWait, "tenant "+tn.Name+" deleted", func() (bool, string) {
			err := o.k8s.Get(ctx, types.NamespacedName{Name: tn.Name}, &cur)
			return apierrors.IsNotFound(err), fmt.Sprintf("still there (finalizers %v): %v", cur.Finalizers, err)
		})
	})
}

func (o *operator) get(t *testing.T, name string) *kv1.Tenant {
	t.Helper()
	var tn kv1.Tenant
	if err := o.k8s.Get(context.Background(), types.NamespacedName{Name: name}, &tn); err != nil {
		t.Fatal(err)
	}
	return &tn
}

// waitCondition waits until the Tenant's condition typ has status and reason for its
// current generation, and returns the Tenant.
func (o *operator) waitCondition(t *testing.T, name, typ string, status metav1.ConditionStatus, reason string) *kv1.Tenant {
	t.Helper()
	var tn kv1.Tenant
	testenv.Eventually(t, reconcileWait, fmt.Sprintf("%s %s=%s/%s", name, typ, status, reason), func() (bool, string) {
		if err := o.k8s.Get(context.Background(), types.NamespacedName{Name: name}, &tn); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(tn.Status.Conditions, typ)
		ok := c != nil && c.Status == status && (reason == "" || c.Reason == reason) && c.ObservedGeneration == tn.Generation
		return ok, fmt.Sprintf("condition is %+v (generation %d)", c, tn.Generation)
	})
	return &tn
}

func (o *operator) waitReady(t *testing.T, name string) *kv1.Tenant {
	t.Helper()
	return o.waitCondition(t, name, kv1.ConditionReady, metav1.ConditionTrue, kv1.ReasonAllPartsReady)
}

// row reads the tenant's registry row the way the operator does.
func (o *operator) row(t *testing.T, slug string) (tenantstore.Record, bool) {
	t.Helper()
	ctx := context.Background()
	tx, err := o.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
		t.Fatal(err)
	}
	var r tenantstore.Record
	err = tx.QueryRow(ctx, "SELECT id, slug, name, status, topic_prefix, index_prefix, redis_prefix FROM tenants WHERE slug = $1", slug).
		Scan(&r.ID, &r.Slug, &r.Name, &r.Status, &r.TopicPrefix, &r.IndexPrefix, &r.RedisPrefix)
	if err != nil {
		return r, false
	}
	return r, true
}

func (o *operator) obj(t *testing.T, ns, name string, into client.Object) {
	t.Helper()
	if err := o.k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, into); err != nil {
		t.Fatalf("get %T %s/%s: %v", into, ns, name, err)
	}
}

// events returns "type/reason" of every Event about the Tenant.
func (o *operator) events(t *testing.T, name string) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := o.k8s.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "Tenant" && e.Regarding.Name == name {
			out = append(out, e.Type+"/"+e.Reason)
		}
	}
	return out
}

func count(items []string, want string) int {
	n := 0
	for _, s := range items {
		if s == want {
			n++
		}
	}
	return n
}

func TestTenantProvisionsEverything(t *testing.T) {
	op := startOperator(t)
	tn := newTenant("acme", "shop", "ml")
	tn.Spec.Owners = append(tn.Spec.Owners, kv1.TenantOwner{Kind: kv1.OwnerServiceAccount, Name: "ci", Namespace: "ci"})
	pods := int32(42)
	tn.Spec.Quota.Pods = &pods
	op.create(t, tn)
	got := op.waitReady(t, tn.Name)

	// Status tells the story.
	wantNS := []string{tn.Name + "-shop", tn.Name + "-ml"}
	if got.Status.Phase != kv1.TenantPhaseReady || !slices.Equal(got.Status.Namespaces, wantNS) ||
		got.Status.NamespaceList != strings.Join(wantNS, ",") || got.Status.ObservedGeneration != got.Generation {
		t.Errorf("status %+v", got.Status)
	}
	for _, c := range []string{kv1.TenantNamespacesReady, kv1.TenantQuotaReady, kv1.TenantNetworkPolicyReady, kv1.TenantRBACReady, kv1.TenantDatabaseReady, kv1.TenantIdentityReady} {
		if !meta.IsStatusConditionTrue(got.Status.Conditions, c) {
			t.Errorf("condition %s not True: %+v", c, meta.FindStatusCondition(got.Status.Conditions, c))
		}
	}
	if !slices.Contains(got.Finalizers, kv1.TenantFinalizer) {
		t.Errorf("finalizers %v", got.Finalizers)
	}

	// The database row exists and its id and default prefixes — those of internal/tenancy,
	// which `kommerce admin create-tenant` gives too — are recorded in the spec.
	row, ok := op.row(t, tn.Name)
	if !ok {
		t.Fatal("no tenants row")
	}
	iso := got.Spec.Isolation
	def := tenancy.DefaultPrefixes(tn.Name)
	if iso.TenantID != row.ID || got.Status.TenantID != row.ID || iso.TopicPrefix != def.Topic ||
		iso.IndexPrefix != def.Index || iso.RedisPrefix != def.Redis || row.Name != tn.Spec.DisplayName {
		t.Errorf("isolation %+v, row %+v", iso, row)
	}

	var firstKey []byte
	for _, ns := range wantNS {
		var n corev1.Namespace
		op.obj(t, "", ns, &n)
		if n.Labels[kv1.TenantLabel] != tn.Name || metav1.GetControllerOf(&n) == nil || metav1.GetControllerOf(&n).UID != got.UID {
			t.Errorf("namespace %s labels %v owner %v", ns, n.Labels, n.OwnerReferences)
		}
		var q corev1.ResourceQuota
		op.obj(t, ns, tenant.QuotaName, &q)
		if p := q.Spec.Hard[corev1.ResourcePods]; p.Cmp(resource.MustParse("42")) != 0 {
			t.Errorf("%s quota pods %v", ns, p)
		}
		if c := q.Spec.Hard[corev1.ResourceRequestsCPU]; c.Cmp(resource.MustParse("8")) != 0 {
			t.Errorf("%s quota requests.cpu %v (default 8)", ns, c)
		}
		var lr corev1.LimitRange
		op.obj(t, ns, tenant.LimitRangeName, &lr)
		if len(lr.Spec.Limits) != 1 || lr.Spec.Limits[0].Default.Memory().String() != "512Mi" {
			t.Errorf("%s limit range %+v", ns, lr.Spec)
		}
		var np networkingv1.NetworkPolicy
		op.obj(t, ns, tenant.NetworkPolicyName, &np)
		if len(np.Spec.Ingress) != 1 || np.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels[kv1.TenantLabel] != tn.Name {
			t.Errorf("%s network policy %+v", ns, np.Spec)
		}
		var rb rbacv1.RoleBinding
		op.obj(t, ns, tenant.RoleBindingName, &rb)
		if len(rb.Subjects) != 2 || rb.Subjects[1].Kind != "ServiceAccount" || rb.Subjects[1].Namespace != "ci" || rb.RoleRef.Name != tenant.RoleName {
			t.Errorf("%s role binding %+v", ns, rb)
		}
		var role rbacv1.Role
		op.obj(t, ns, tenant.RoleName, &role)
		if len(role.Rules) == 0 {
			t.Errorf("%s role has no rules", ns)
		}
		var sec corev1.Secret
		op.obj(t, ns, tenant.IdentitySecretName, &sec)
		if string(sec.Data["tenant-id"]) != row.ID || string(sec.Data["tenant"]) != tn.Name || len(sec.Data["jwt-key-id"]) == 0 ||
			!bytes.HasPrefix(sec.Data["jwt-signing-key"], []byte("-----BEGIN PRIVATE KEY-----")) {
			t.Errorf("%s identity secret %v", ns, sec.Data)
		}
		if firstKey == nil {
			firstKey = sec.Data["jwt-signing-key"]
		} else if !bytes.Equal(firstKey, sec.Data["jwt-signing-key"]) {
			t.Errorf("namespaces got different signing keys")
		}
	}

	// One Ready event, and no new events from passes that change nothing.
	testenv.Eventually(t, reconcileWait, "Ready event", func() (bool, string) {
		n := count(op.events(t, tn.Name), "Normal/Ready")
		return n == 1, fmt.Sprintf("%d Ready events", n)
	})
	before := len(op.events(t, tn.Name))
	// Touch an owned object without changing what the operator manages: the pass it
	// triggers must neither write status nor emit events.
	var q corev1.ResourceQuota
	op.obj(t, wantNS[0], tenant.QuotaName, &q)
	q.Annotations = map[string]string{"touched": "yes"}
	if err := op.k8s.Update(context.Background(), &q); err != nil {
		t.Fatal(err)
	}
	again := op.waitReady(t, tn.Name)
	if after := len(op.events(t, tn.Name)); after != before {
		t.Errorf("a no-op pass emitted events: %d -> %d (%v)", before, after, op.events(t, tn.Name))
	}
	if again.ResourceVersion != got.ResourceVersion {
		t.Errorf("a no-op pass wrote the tenant (resourceVersion %s -> %s)", got.ResourceVersion, again.ResourceVersion)
	}
}

func TestTenantUpdatesFollowTheSpec(t *testing.T) {
	op := startOperator(t)
	ctx := context.Background()
	tn := newTenant("globex", "shop", "ml")
	op.create(t, tn)
	cur := op.waitReady(t, tn.Name)
	var sec corev1.Secret
	op.obj(t, tn.Name+"-shop", tenant.IdentitySecretName, &sec)
	key := sec.Data["jwt-signing-key"]

	pods := int32(7)
	cur.Spec.Quota.Pods = &pods
	cpu := resource.MustParse("4")
	cur.Spec.Limits.Max = &kv1.ComputeResources{CPU: &cpu} // no longer caps memory
	cur.Spec.Owners = []kv1.TenantOwner{{Kind: kv1.OwnerUser, Name: "alice@globex.example"}}
	cur.Spec.Namespaces = []kv1.NamespaceName{kv1.NamespaceName(tn.Name + "-shop"), kv1.NamespaceName(tn.Name + "-search")}
	cur.Spec.DisplayName = "Globex Corporation"
	cur.Spec.Suspend = true
	if err := op.k8s.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	got := op.waitReady(t, tn.Name)
	if got.Status.NamespaceList != tn.Name+"-shop,"+tn.Name+"-search" {
		t.Errorf("namespaces %q", got.Status.NamespaceList)
	}
	var q corev1.ResourceQuota
	op.obj(t, tn.Name+"-shop", tenant.QuotaName, &q)
	if p := q.Spec.Hard[corev1.ResourcePods]; p.Value() != 7 {
		t.Errorf("quota pods %v after update", p)
	}
	var lr corev1.LimitRange
	op.obj(t, tn.Name+"-shop", tenant.LimitRangeName, &lr)
	if max := lr.Spec.Limits[0].Max; len(max) != 1 || max.Cpu().Cmp(cpu) != 0 {
		t.Errorf("limit range max %v after the spec dropped the memory cap, want cpu 4 only", max)
	}
	var rb rbacv1.RoleBinding
	op.obj(t, tn.Name+"-search", tenant.RoleBindingName, &rb)
	if len(rb.Subjects) != 1 || rb.Subjects[0].Kind != "User" || rb.Subjects[0].Name != "alice@globex.example" {
		t.Errorf("role binding subjects %+v", rb.Subjects)
	}
	// The new namespace gets the same signing key; the removed one is deleted.
	op.obj(t, tn.Name+"-search", tenant.IdentitySecretName, &sec)
	if !bytes.Equal(sec.Data["jwt-signing-key"], key) {
		t.Error("a new namespace got a new signing key")
	}
	var removed corev1.Namespace
	op.obj(t, "", tn.Name+"-ml", &removed)
	if removed.DeletionTimestamp.IsZero() {
		t.Errorf("namespace %s, removed from the spec, is not being deleted", removed.Name)
	}
	row, _ := op.row(t, tn.Name)
	if row.Name != "Globex Corporation" || row.Status != "suspended" {
		t.Errorf("row %+v", row)
	}
}

func TestDriftIsRepaired(t *testing.T) {
	op := startOperator(t)
	ctx := context.Background()
	tn := newTenant("initech", "shop", "ml")
	op.create(t, tn)
	op.waitReady(t, tn.Name)
	ns := tn.Name + "-shop"
	var sec corev1.Secret
	op.obj(t, ns, tenant.IdentitySecretName, &sec)
	key, kid := sec.Data["jwt-signing-key"], string(sec.Data["jwt-key-id"])

	tests := []struct {
		name   string
		break_ func(t *testing.T)
		check  func(ctx context.Context) error
	}{
		{"deleted quota comes back",
			func(t *testing.T) {
				if err := op.k8s.Delete(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tenant.QuotaName}}); err != nil {
					t.Fatal(err)
				}
			},
			func(ctx context.Context) error {
				var q corev1.ResourceQuota
				return op.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: tenant.QuotaName}, &q)
			}},
		{"opened network policy is closed again",
			func(t *testing.T) {
				var np networkingv1.NetworkPolicy
				op.obj(t, ns, tenant.NetworkPolicyName, &np)
				np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{}} // allow everything
				if err := op.k8s.Update(ctx, &np); err != nil {
					t.Fatal(err)
				}
			},
			func(ctx context.Context) error {
				var np networkingv1.NetworkPolicy
				if err := op.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: tenant.NetworkPolicyName}, &np); err != nil {
					return err
				}
				if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 2 {
					return fmt.Errorf("ingress %+v", np.Spec.Ingress)
				}
				return nil
			}},
		{"widened role is narrowed again",
			func(t *testing.T) {
				var role rbacv1.Role
				op.obj(t, ns, tenant.RoleName, &role)
				role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"resourcequotas"}, Verbs: []string{"delete"}})
				if err := op.k8s.Update(ctx, &role); err != nil {
					t.Fatal(err)
				}
			},
			func(ctx context.Context) error {
				var role rbacv1.Role
				if err := op.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: tenant.RoleName}, &role); err != nil {
					return err
				}
				for _, r := range role.Rules {
					if slices.Contains(r.Resources, "resourcequotas") && slices.Contains(r.Verbs, "delete") {
						return fmt.Errorf("still grants delete on resourcequotas")
					}
				}
				return nil
			}},
		{"relabelled namespace is labelled back",
			func(t *testing.T) {
				var n corev1.Namespace
				op.obj(t, "", ns, &n)
				n.Labels[kv1.TenantLabel] = "someone-else"
				if err := op.k8s.Update(ctx, &n); err != nil {
					t.Fatal(err)
				}
			},
			func(ctx context.Context) error {
				var n corev1.Namespace
				if err := op.k8s.Get(ctx, types.NamespacedName{Name: ns}, &n); err != nil {
					return err
				}
				if n.Labels[kv1.TenantLabel] != tn.Name {
					return fmt.Errorf("label %q", n.Labels[kv1.TenantLabel])
				}
				return nil
			}},
		{"deleted identity secret comes back with the same key",
			func(t *testing.T) {
				if err := op.k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tenant.IdentitySecretName}}); err != nil {
					t.Fatal(err)
				}
			},
			func(ctx context.Context) error {
				var s corev1.Secret
				if err := op.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: tenant.IdentitySecretName}, &s); err != nil {
					return err
				}
				// The copy in the other namespace keeps the key.
				if !bytes.Equal(s.Data["jwt-signing-key"], key) || string(s.Data["jwt-key-id"]) != kid {
					return fmt.Errorf("key id %s; want the original key %s back", s.Data["jwt-key-id"], kid)
				}
				return nil
			}},
		{"overwritten signing key is restored",
			func(t *testing.T) {
				var s corev1.Secret
				op.obj(t, ns, tenant.IdentitySecretName, &s)
				s.Data["jwt-signing-key"] = []byte("not a key")
				s.Data["tenant-id"] = []byte("00000000-0000-4000-8000-000000000000")
				if err := op.k8s.Update(ctx, &s); err != nil {
					t.Fatal(err)
				}
			},
			func(ctx context.Context) error {
				var s corev1.Secret
				if err := op.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: tenant.IdentitySecretName}, &s); err != nil {
					return err
				}
				if string(s.Data["tenant-id"]) != op.get(t, tn.Name).Spec.Isolation.TenantID {
					return fmt.Errorf("tenant-id %s", s.Data["tenant-id"])
				}
				if !bytes.Equal(s.Data["jwt-signing-key"], key) {
					return fmt.Errorf("signing key %q; want the original back", s.Data["jwt-signing-key"])
				}
				return nil
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.break_(t)
			testenv.Eventually(t, reconcileWait, tt.name, func() (bool, string) {
				err := tt.check(ctx)
				return err == nil, fmt.Sprint(err)
			})
		})
	}
	op.waitReady(t, tn.Name)
}

func TestDeletionProtectionAndFinalizer(t *testing.T) {
	op := startOperator(t)
	ctx := context.Background()
	tn := newTenant("umbrella")
	tn.Spec.PreventDeletion = true
	op.create(t, tn)
	op.waitReady(t, tn.Name)
	if _, ok := op.row(t, tn.Name); !ok {
		t.Fatal("no database row")
	}

	if err := op.k8s.Delete(ctx, op.get(t, tn.Name)); err != nil {
		t.Fatal(err)
	}
	blocked := op.waitCondition(t, tn.Name, kv1.TenantDeletionBlocked, metav1.ConditionTrue, kv1.ReasonDeletionProtected)
	c := meta.FindStatusCondition(blocked.Status.Conditions, kv1.TenantDeletionBlocked)
	if !strings.Contains(c.Message, "spec.preventDeletion is true") || blocked.Status.Phase != kv1.TenantPhaseDeletionBlocked ||
		meta.IsStatusConditionTrue(blocked.Status.Conditions, kv1.ConditionReady) {
		t.Errorf("blocked tenant: phase %s conditions %+v", blocked.Status.Phase, blocked.Status.Conditions)
	}
	if _, ok := op.row(t, tn.Name); !ok {
		t.Error("a protected tenant's database row was deleted")
	}
	testenv.Eventually(t, reconcileWait, "DeletionProtected event", func() (bool, string) {
		evs := op.events(t, tn.Name)
		return count(evs, "Warning/DeletionProtected") == 1, fmt.Sprintf("events %v", evs)
	})

	blocked.Spec.PreventDeletion = false
	if err := op.k8s.Update(ctx, blocked); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, reconcileWait, "tenant gone", func() (bool, string) {
		var cur kv1.Tenant
		err := op.k8s.Get(ctx, types.NamespacedName{Name: tn.Name}, &cur)
		return apierrors.IsNotFound(err), fmt.Sprintf("still there: %v %v", cur.Status.Phase, err)
	})
	if _, ok := op.row(t, tn.Name); ok {
		t.Error("the finalizer left the database row")
	}
}

func TestNamespaceOwnership(t *testing.T) {
	op := startOperator(t)
	ctx := context.Background()
	first := newTenant("first")
	op.create(t, first)
	op.waitReady(t, first.Name)

	// A namespace that exists and belongs to nobody is adopted.
	free := shortName("free")
	if err := op.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: free}}); err != nil {
		t.Fatal(err)
	}
	second := newTenant("second")
	second.Spec.Namespaces = append(second.Spec.Namespaces, kv1.NamespaceName(free))
	op.create(t, second)
	op.waitReady(t, second.Name)
	var n corev1.Namespace
	op.obj(t, "", free, &n)
	if n.Labels[kv1.TenantLabel] != second.Name {
		t.Errorf("adopted namespace labels %v", n.Labels)
	}

	// Another tenant's namespace is refused, and nothing of it changes.
	thief := newTenant("thief")
	thief.Spec.Namespaces = []kv1.NamespaceName{kv1.NamespaceName(first.Name + "-shop")}
	op.create(t, thief)
	got := op.waitCondition(t, thief.Name, kv1.TenantNamespacesReady, metav1.ConditionFalse, kv1.ReasonNamespaceConflict)
	c := meta.FindStatusCondition(got.Status.Conditions, kv1.TenantNamespacesReady)
	if !strings.Contains(c.Message, "controlled by Tenant "+first.Name) {
		t.Errorf("conflict message %q", c.Message)
	}
	if ready := meta.FindStatusCondition(got.Status.Conditions, kv1.ConditionReady); ready == nil || ready.Status != metav1.ConditionFalse || !strings.Contains(ready.Message, "NamespacesReady") {
		t.Errorf("Ready %+v", ready)
	}
	if got.Status.Phase != kv1.TenantPhaseFailed {
		t.Errorf("phase %s", got.Status.Phase)
	}
	op.obj(t, "", first.Name+"-shop", &n)
	if n.Labels[kv1.TenantLabel] != first.Name || len(n.OwnerReferences) != 1 {
		t.Errorf("the refused tenant changed the namespace: %v %v", n.Labels, n.OwnerReferences)
	}
}

func TestIsolationConflictIsReported(t *testing.T) {
	op := startOperator(t)
	first := newTenant("hooli")
	op.create(t, first)
	cur := op.waitReady(t, first.Name)

	copycat := newTenant("copycat")
	copycat.Spec.Isolation.TopicPrefix = cur.Spec.Isolation.TopicPrefix
	op.create(t, copycat)
	got := op.waitCondition(t, copycat.Name, kv1.TenantDatabaseReady, metav1.ConditionFalse, kv1.ReasonIsolationConflict)
	c := meta.FindStatusCondition(got.Status.Conditions, kv1.TenantDatabaseReady)
	if !strings.Contains(c.Message, "topic prefix already belongs to another tenant") {
		t.Errorf("message %q", c.Message)
	}
	if got.Spec.Isolation.TenantID != "" {
		t.Errorf("a conflicting tenant got an id: %s", got.Spec.Isolation.TenantID)
	}
	if _, ok := op.row(t, copycat.Name); ok {
		t.Error("a conflicting tenant got a database row")
	}
	// The Kubernetes isolation is in place even so.
	if !meta.IsStatusConditionTrue(got.Status.Conditions, kv1.TenantNetworkPolicyReady) {
		t.Errorf("network policy not provisioned: %+v", got.Status.Conditions)
	}
	// The identity Secret waits for a row: a tenant whose row is refused gets none.
	var sec corev1.Secret
	err := op.k8s.Get(context.Background(), types.NamespacedName{Namespace: string(copycat.Spec.Namespaces[0]), Name: tenant.IdentitySecretName}, &sec)
	if !apierrors.IsNotFound(err) {
		t.Errorf("identity Secret of a tenant without a row: %v (tenant id %q)", err, sec.Data[tenant.KeyTenantID])
	}
	testenv.Eventually(t, reconcileWait, "IsolationConflict event", func() (bool, string) {
		evs := op.events(t, copycat.Name)
		return count(evs, "Warning/IsolationConflict") == 1, fmt.Sprintf("events %v", evs)
	})
}

func TestInvalidUpdateChangesNothing(t *testing.T) {
	op := startOperator(t)
	ctx := context.Background()
	tn := newTenant("vandelay")
	op.create(t, tn)
	cur := op.waitReady(t, tn.Name)

	bad := cur.DeepCopy()
	bad.Spec.Isolation.TenantID = "7d7c9d1e-2f7a-4a43-9d51-5a1b8f8e2c11"
	bad.Spec.Quota.RequestsCPU = resource.NewQuantity(-1, resource.DecimalSI)
	err := op.k8s.Update(ctx, bad)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "isolation.tenantID is immutable") || !strings.Contains(err.Error(), "quota must not be negative") {
		t.Fatalf("update = %v; want both rejections", err)
	}
	after := op.get(t, tn.Name)
	if after.Generation != cur.Generation || after.Spec.Isolation != cur.Spec.Isolation {
		t.Errorf("rejected update changed the tenant: generation %d -> %d", cur.Generation, after.Generation)
	}
	row, _ := op.row(t, tn.Name)
	if row.ID != cur.Spec.Isolation.TenantID {
		t.Errorf("row id %s, spec %s", row.ID, cur.Spec.Isolation.TenantID)
	}
}

// switchStore sends calls to a database that does not answer while down is set.
type switchStore struct {
	good, broken tenantstore.Store
	down         atomic.Bool
}

func (s *switchStore) pick() tenantstore.Store {
	if s.down.Load() {
		return s.broken
	}
	return s.good
}

func (s *switchStore) Ensure(ctx context.Context, d tenantstore.Desired) (tenantstore.Record, error) {
	return s.pick().Ensure(ctx, d)
}
func (s *switchStore) Plan(ctx context.Context, d tenantstore.Desired) (tenantstore.Record, error) {
	return s.pick().Plan(ctx, d)
}
func (s *switchStore) Delete(ctx context.Context, slug, id string) error {
	return s.pick().Delete(ctx, slug, id)
}
func (s *switchStore) Ping(ctx context.Context) error { return s.pick().Ping(ctx) }

func TestDatabaseOutageIsAConditionNotACrash(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://kommerce:kommerce@127.0.0.1:1/kommerce?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	sw := &switchStore{broken: tenantstore.NewPostgres(pool)}
	sw.down.Store(true)
	op := startOperator(t, func(r *tenant.Reconciler) {
		sw.good = r.Store
		r.Store = sw
	})
	tn := newTenant("outage")
	op.create(t, tn)
	got := op.waitCondition(t, tn.Name, kv1.TenantDatabaseReady, metav1.ConditionFalse, kv1.ReasonDatabaseError)
	if !meta.IsStatusConditionTrue(got.Status.Conditions, kv1.TenantQuotaReady) || got.Status.Phase != kv1.TenantPhaseFailed {
		t.Errorf("phase %s conditions %+v", got.Status.Phase, got.Status.Conditions)
	}
	// When the database is back the retry (with backoff) finishes the tenant.
	sw.down.Store(false)
	got = op.waitReady(t, tn.Name)
	if _, ok := op.row(t, tn.Name); !ok || got.Spec.Isolation.TenantID == "" {
		t.Errorf("no row or id after recovery: %+v", got.Spec.Isolation)
	}
}

func TestUnwatchedNamespaceIsReported(t *testing.T) {
	op := startOperator(t, func(r *tenant.Reconciler) {
		r.Watched = func(ns string) bool { return strings.HasSuffix(ns, "-shop") }
	})
	tn := newTenant("partial", "shop", "ml")
	op.create(t, tn)
	got := op.waitCondition(t, tn.Name, kv1.TenantNamespacesReady, metav1.ConditionFalse, kv1.ReasonNamespaceNotWatched)
	c := meta.FindStatusCondition(got.Status.Conditions, kv1.TenantNamespacesReady)
	if !strings.Contains(c.Message, tn.Name+"-ml is outside the namespaces this operator watches") {
		t.Errorf("message %q", c.Message)
	}
}

// fieldManagers lists an object's field managers as manager/operation.
func fieldManagers(o metav1.Object) []string {
	var out []string
	for _, m := range o.GetManagedFields() {
		out = append(out, m.Manager+"/"+string(m.Operation))
	}
	slices.Sort(out)
	return out
}

// A new Tenant's objects are created with plain creates (an Update entry of the
// operator's field manager); a field an older operator set and this one no longer
// desires is still removed when the object is next applied, and a field someone
// else set is kept.
func TestCreatedObjectsStillLoseFieldsNoLongerDesired(t *testing.T) {
	op := startOperator(t)
	ctx := context.Background()
	tn := newTenant("hooli")
	op.create(t, tn)
	op.waitReady(t, tn.Name)
	ns := string(tn.Spec.Namespaces[0])
	var q corev1.ResourceQuota
	op.obj(t, ns, tenant.QuotaName, &q)
	if m := fieldManagers(&q); !slices.Equal(m, []string{"kommerce-operator/Update"}) {
		t.Fatalf("quota field managers %v, want the create's kommerce-operator/Update", m)
	}
	// Someone else's label: not drift (the operator leaves labels it does not set
	// alone), so no pass writes the quota after it...
	q.Labels["team"] = "payments"
	if err := op.k8s.Update(ctx, &q, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	// ...and what an older operator with another desired state would have left: a
	// hard limit this one does not set, under its own field manager, and another
	// hash. (In the other order the operator may repair the quota between the two
	// updates, and the second fails with a conflict.)
	q.Spec.Hard[corev1.ResourceName("count/configmaps")] = resource.MustParse("7")
	q.Annotations["kommerce.io/desired-hash"] = "0123456789abcdef0123456789abcdef"
	if err := op.k8s.Update(ctx, &q, client.FieldOwner("kommerce-operator")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, reconcileWait, "the limit no longer desired removed", func() (bool, string) {
		var got corev1.ResourceQuota
		if err := op.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: tenant.QuotaName}, &got); err != nil {
			return false, err.Error()
		}
		_, stale := got.Spec.Hard[corev1.ResourceName("count/configmaps")]
		m := fieldManagers(&got)
		return !stale && got.Labels["team"] == "payments" && !slices.Contains(m, "kommerce-operator/Update"),
			fmt.Sprintf("hard %v, labels %v, managers %v", got.Spec.Hard, got.Labels, m)
	})
	op.waitReady(t, tn.Name)
}

// A new Tenant's finalizer and spec.isolation are written by one patch, before its
// row exists: no version of the Tenant carries the finalizer without the isolation
// values, and the row then created is the one the spec names.
func TestFinalizerAndIsolationAreOneWrite(t *testing.T) {
	op := startOperator(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	tn := newTenant("umbrella")
	w, err := wc.Watch(ctx, &kv1.TenantList{}, client.MatchingFields{"metadata.name": tn.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	op.create(t, tn)
	var versions []kv1.Tenant
	for ev := range w.ResultChan() {
		got, ok := ev.Object.(*kv1.Tenant)
		if !ok {
			t.Fatalf("watch event %s: %T", ev.Type, ev.Object)
		}
		versions = append(versions, *got)
		if meta.IsStatusConditionTrue(got.Status.Conditions, kv1.ConditionReady) {
			break
		}
	}
	specWrites := 0
	for i, v := range versions {
		hasFinalizer := slices.Contains(v.Finalizers, kv1.TenantFinalizer)
		if hasFinalizer && (v.Spec.Isolation.TenantID == "" || v.Spec.Isolation.TopicPrefix == "") {
			t.Errorf("version %d has the finalizer without isolation values: %+v", i, v.Spec.Isolation)
		}
		if i > 0 && (hasFinalizer != slices.Contains(versions[i-1].Finalizers, kv1.TenantFinalizer) || v.Generation != versions[i-1].Generation) {
			specWrites++
		}
	}
	if specWrites != 1 {
		t.Errorf("%d writes of the finalizer or spec, want 1 (versions seen: %d)", specWrites, len(versions))
	}
	ready := versions[len(versions)-1]
	row, ok := op.row(t, tn.Name)
	if !ok || row.ID != ready.Spec.Isolation.TenantID || row.TopicPrefix != ready.Spec.Isolation.TopicPrefix ||
		row.IndexPrefix != ready.Spec.Isolation.IndexPrefix || row.RedisPrefix != ready.Spec.Isolation.RedisPrefix {
		t.Errorf("row %+v (found %v), spec.isolation %+v", row, ok, ready.Spec.Isolation)
	}
}

// A Tenant created again for a slug whose row survived (a restore) records the
// stored row's values, not new ones.
func TestRecreatedTenantRecordsTheStoredRow(t *testing.T) {
	op := startOperator(t)
	tn := newTenant("restored")
	stored, err := op.store.Ensure(context.Background(), tenantstore.Desired{Slug: tn.Name, Name: "Restored", TopicPrefix: "restored-topics"})
	if err != nil {
		t.Fatal(err)
	}
	op.create(t, tn)
	got := op.waitReady(t, tn.Name)
	want := kv1.TenantIsolation{TenantID: stored.ID, TopicPrefix: "restored-topics", IndexPrefix: stored.IndexPrefix, RedisPrefix: stored.RedisPrefix}
	if got.Spec.Isolation != want {
		t.Errorf("spec.isolation %+v, want the stored row's %+v", got.Spec.Isolation, want)
	}
}

// ensureCounter counts the row's Ensure calls by slug: one per pass that gets as far
// as the row, which every pass of a healthy Tenant does.
type ensureCounter struct {
	tenantstore.Store
	mu sync.Mutex
	n  map[string]int
}

func (c *ensureCounter) Ensure(ctx context.Context, d tenantstore.Desired) (tenantstore.Record, error) {
	c.mu.Lock()
	c.n[d.Slug]++
	c.mu.Unlock()
	return c.Store.Ensure(ctx, d)
}

func (c *ensureCounter) count(slug string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[slug]
}

// The events of the operator's own writes (the Tenant's finalizer patch, its
// children's creates) start no second pass: a new Tenant is provisioned in one pass
// and a spec change takes one more, each running the row's transaction once. A
// second pass after each create would make it three. One slack pass per two
// Tenants is allowed for an event that comes after its write's registration has
// expired (a very late watch).
func TestOwnWritesStartNoPass(t *testing.T) {
	counter := &ensureCounter{n: map[string]int{}}
	op := startOperator(t, func(r *tenant.Reconciler) {
		counter.Store = r.Store
		r.Store = counter
	})
	ctx := context.Background()
	const n = 4
	tenants := make([]*kv1.Tenant, n)
	for i := range tenants {
		tenants[i] = newTenant("selfless", "shop", "ml")
		op.create(t, tenants[i])
	}
	for _, tn := range tenants {
		cur := op.waitReady(t, tn.Name)
		cur.Spec.DisplayName = "Renamed " + tn.Name
		if err := op.k8s.Update(ctx, cur); err != nil {
			t.Fatal(err)
		}
	}
	passes := 0
	for _, tn := range tenants {
		got := op.waitReady(t, tn.Name)
		if got.Status.ObservedGeneration != got.Generation {
			t.Fatalf("tenant %s observed generation %d of %d", tn.Name, got.Status.ObservedGeneration, got.Generation)
		}
		if row, _ := op.row(t, tn.Name); row.Name != "Renamed "+tn.Name {
			t.Errorf("row name %q after the update", row.Name)
		}
		passes += counter.count(tn.Name)
	}
	if passes > 2*n+n/2 {
		t.Errorf("%d passes (row transactions) for %d new Tenants and one spec change each, want at most %d", passes, n, 2*n+n/2)
	}
	t.Logf("%d passes for %d Tenants", passes, n)
}
