package controllers_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/controllers"
	"github.com/kommerce/kommerce/internal/testenv"
	"github.com/kommerce/kommerce/internal/testenv/kubetest"
)

var (
	cfg      *rest.Config
	scheme   = runtime.NewScheme()
	startErr error
)

func TestMain(m *testing.M) {
	_ = clientgoscheme.AddToScheme(scheme)
	_ = kv1.AddToScheme(scheme)
	os.Exit(kubetest.Main(m, func(c *rest.Config, err error) { cfg, startErr = c, err },
		filepath.Join(kubetest.RepoRoot(), "config", "crd", "bases")))
}

// TestReadinessCollector creates a Tenant and two Storefronts in a real API server,
// marks one Storefront Ready, and reads the gauge as Prometheus would.
func TestReadinessCollector(t *testing.T) {
	kubetest.Unavailable(t, startErr)
	ctx := context.Background()
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	name := testenv.Name(t, "t", "-")
	tn := &kv1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kv1.TenantSpec{
		DisplayName: "Tenant " + name, Owners: []kv1.TenantOwner{{Kind: kv1.OwnerGroup, Name: name + "-admins"}},
		Namespaces: []kv1.NamespaceName{kv1.NamespaceName(name + "-shop")},
	}}
	if err := k8s.Create(ctx, tn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), tn) })
	storefront := func(n string) *kv1.Storefront {
		sf := &kv1.Storefront{ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: "default"}, Spec: kv1.StorefrontSpec{
			TenantRef: kv1.LocalObjectReference{Name: name}, Version: "v1.4.0",
			Channels: []kv1.Channel{{Name: "web-eu", Currency: "EUR", Locales: []string{"en"}, Hostname: n + ".shop.example"}},
		}}
		if err := k8s.Create(ctx, sf); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), sf) })
		return sf
	}
	ready, pending := storefront(name+"-ready"), storefront(name+"-pending")
	meta.SetStatusCondition(&ready.Status.Conditions, metav1.Condition{Type: kv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready", Message: "serving"})
	if err := k8s.Status().Update(ctx, ready); err != nil {
		t.Fatal(err)
	}
	meta.SetStatusCondition(&pending.Status.Conditions, metav1.Condition{Type: kv1.ConditionReady, Status: metav1.ConditionFalse, Reason: "Progressing", Message: "rolling out"})
	if err := k8s.Status().Update(ctx, pending); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(controllers.ReadinessCollector{Reader: k8s})
	want := `
# HELP kommerce_operator_resource_ready 1 while a Tenant or Storefront has condition Ready=True, 0 otherwise, by kind, resource_namespace (empty for Tenants) and name.
# TYPE kommerce_operator_resource_ready gauge
kommerce_operator_resource_ready{kind="Storefront",name="` + pending.Name + `",resource_namespace="default"} 0
kommerce_operator_resource_ready{kind="Storefront",name="` + ready.Name + `",resource_namespace="default"} 1
kommerce_operator_resource_ready{kind="Tenant",name="` + name + `",resource_namespace=""} 0
`
	// Other tests' resources may exist in the shared API server: compare ours only.
	got, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var mine []string
	for _, mf := range got {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "name" && strings.HasPrefix(l.GetValue(), name) {
					mine = append(mine, l.GetValue())
				}
			}
		}
	}
	if len(mine) != 3 {
		t.Fatalf("series for %v, want the tenant and its two storefronts", mine)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kommerce_operator_resource_ready"); err != nil {
		t.Error(err)
	}
}
