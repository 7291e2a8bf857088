package tenant_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kommerce/kommerce/controllers/tenant"
	"github.com/kommerce/kommerce/internal/testenv"
	"github.com/kommerce/kommerce/internal/testenv/kubetest"
)

// asOperatorRole returns the suite's API server as a user holding exactly the
// ClusterRole the operator ships (config/rbac/role.yaml, generated from the rbac
// markers), and that user's client. The grant is removed when the test ends.
func asOperatorRole(t *testing.T) (*rest.Config, client.Client) {
	t.Helper()
	ctx := context.Background()
	admin, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(kubetest.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(raw, &role); err != nil {
		t.Fatalf("config/rbac/role.yaml: %v", err)
	}
	if len(role.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml holds no rules")
	}
	user := shortName("kommerce-operator")
	role.ObjectMeta = metav1.ObjectMeta{Name: user}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	for _, o := range []client.Object{&role, binding} {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Delete(context.Background(), o) })
	}
	as := rest.CopyConfig(cfg)
	as.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(as, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return as, c
}

// The owners' RoleBinding is created alongside its Role, so it may reach the API
// server first. The operator's ClusterRole must let it bind that Role before the
// Role exists, and no other Role: one not there yet is refused, and one whose rules
// the operator does not hold is forbidden.
func TestOperatorRoleBindsOnlyTheOwnersRoleAheadOfIt(t *testing.T) {
	kubetest.Unavailable(t, startErr)
	ctx := context.Background()
	_, op := asOperatorRole(t)
	admin, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: shortName("bind")}}
	if err := op.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = op.Delete(context.Background(), ns) })
	wide := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "wide"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}},
	}
	if err := admin.Create(ctx, wide); err != nil {
		t.Fatal(err)
	}
	bind := func(name, role string) error {
		return op.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "owners"}},
		})
	}
	if err := bind("owners", tenant.RoleName); err != nil {
		t.Fatalf("binding role %s, not created yet, as the operator: %v", tenant.RoleName, err)
	}
	if err := bind("absent", "some-other-role"); err == nil {
		t.Error("the operator bound a role that does not exist and is not the owners'")
	}
	if err := bind("wide", wide.Name); !apierrors.IsForbidden(err) {
		t.Errorf("binding a role with rules the operator lacks = %v; want forbidden", err)
	}
}

// The whole Tenant controller under the operator's ClusterRole instead of a
// cluster administrator: every part provisioned, and no pass refused on the way
// (a refused write would leave a Warning event).
func TestTenantProvisionsUnderTheOperatorRole(t *testing.T) {
	kubetest.Unavailable(t, startErr)
	as, _ := asOperatorRole(t)
	op := startOperatorAs(t, as)
	tn := newTenant("least", "shop", "ml")
	op.create(t, tn)
	op.waitReady(t, tn.Name)
	for _, ns := range tn.Spec.Namespaces {
		var rb rbacv1.RoleBinding
		op.obj(t, string(ns), tenant.RoleBindingName, &rb)
		var role rbacv1.Role
		op.obj(t, string(ns), tenant.RoleName, &role)
	}
	// Events are sent after the status write that announces them; once the Ready
	// one is in, a refused pass before it would have left its Warning too.
	var evs []string
	testenv.Eventually(t, reconcileWait, "Ready event", func() (bool, string) {
		evs = op.events(t, tn.Name)
		return count(evs, "Normal/Ready") >= 1, fmt.Sprintf("events %v", evs)
	})
	for _, e := range evs {
		if strings.HasPrefix(e, corev1.EventTypeWarning+"/") {
			t.Errorf("event %s under the operator's role", e)
		}
	}
}
