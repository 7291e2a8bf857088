package storefront_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/internal/sfsettings"
	"github.com/kommerce/kommerce/internal/testenv"
)

func shortName(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

func createNamespace(t *testing.T, k client.Client, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() { _ = k.Delete(context.Background(), ns) })
	return name
}

// tenantOpts shape the Tenant a test stands on.
type tenantOpts struct {
	notReady  bool
	suspend   bool
	namespace string // the tenant's namespace; created when empty
	freeze    []kv1.FreezeWindow
}

// readyTenant creates a Tenant owning one namespace and writes the status the
// Tenant controller would: Ready, with its id, namespaces and identity Secret.
func (o *operator) readyTenant(t *testing.T, opts tenantOpts) (*kv1.Tenant, string) {
	t.Helper()
	ctx := context.Background()
	name := shortName("tn")
	ns := opts.namespace
	if ns == "" {
		ns = createNamespace(t, o.k8s, name+"-shop")
	}
	tn := &kv1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: kv1.TenantSpec{
			Owners:        []kv1.TenantOwner{{Kind: kv1.OwnerGroup, Name: name + "-admins"}},
			Namespaces:    []kv1.NamespaceName{kv1.NamespaceName(ns)},
			Suspend:       opts.suspend,
			FreezeWindows: opts.freeze,
			StripeSecretRef: &kv1.SecretKeyReference{Namespace: ns, Name: "stripe", Key: "secret-key"},
		},
	}
	if err := o.k8s.Create(ctx, tn); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	t.Cleanup(func() { _ = o.k8s.Delete(context.Background(), tn) })
	if !opts.notReady {
		o.setTenantReady(t, tn, ns)
	}
	return tn, ns
}

func (o *operator) setTenantReady(t *testing.T, tn *kv1.Tenant, ns string) {
	t.Helper()
	tn.Status = kv1.TenantStatus{
		ObservedGeneration: tn.Generation,
		Phase:              kv1.TenantPhaseReady,
		Namespaces:         []string{ns},
		TenantID:           "7d3c1a52-0d5e-4f8a-9a3e-5f6b7c8d9e0f",
		IdentitySecret:     "kommerce-identity",
		Conditions: []metav1.Condition{{Type: kv1.ConditionReady, Status: metav1.ConditionTrue, Reason: kv1.ReasonAllPartsReady,
			Message: "ready", LastTransitionTime: metav1.Now(), ObservedGeneration: tn.Generation}},
	}
	if err := o.k8s.Status().Update(context.Background(), tn); err != nil {
		t.Fatalf("write tenant status: %v", err)
	}
}

func newStorefront(ns, tenantName, version string) *kv1.Storefront {
	return &kv1.Storefront{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: kv1.StorefrontSpec{
			TenantRef: kv1.LocalObjectReference{Name: tenantName},
			Version:   version,
			Channels: []kv1.Channel{
				{Name: "de", Currency: "EUR", Locales: []string{"de-DE", "en"}, Hostname: "shop.example.de"},
				{Name: "uk", Currency: "GBP", Locales: []string{"en-GB"}, Hostname: "shop.example.co.uk"},
			},
			API: kv1.StorefrontAPI{Replicas: 2},
			Rollout: kv1.StorefrontRollout{
				Promotion:          kv1.PromoteAuto,
				PrePromotionChecks: []kv1.PrePromotionCheck{{Name: "catalog", Path: "/api/v1/products?limit=1"}, {Name: "health", Path: "/readyz"}},
			},
		},
	}
}

func (o *operator) create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := o.k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// waitStorefront waits until cond holds for the Storefront and returns it.
func (o *operator) waitStorefront(t *testing.T, sf *kv1.Storefront, what string, cond func(*kv1.Storefront) (bool, string)) *kv1.Storefront {
	t.Helper()
	var cur kv1.Storefront
	testenv.Eventually(t, reconcileWait, what, func() (bool, string) {
		if err := o.k8s.Get(context.Background(), client.ObjectKeyFromObject(sf), &cur); err != nil {
			return false, err.Error()
		}
		return cond(&cur)
	})
	return &cur
}

func describe(sf *kv1.Storefront) string {
	var conds []string
	for _, c := range sf.Status.Conditions {
		conds = append(conds, fmt.Sprintf("%s=%s/%s(%s)", c.Type, c.Status, c.Reason, c.Message))
	}
	return fmt.Sprintf("phase %q active %s/%s preview %s/%s previous %s blocked %q conditions %s",
		sf.Status.Phase, sf.Status.ActiveColor, sf.Status.ActiveVersion, sf.Status.PreviewColor, sf.Status.PreviewVersion,
		sf.Status.PreviousColor, sf.Status.BlockedBy, strings.Join(conds, " "))
}

func hasCondition(sf *kv1.Storefront, typ string, status metav1.ConditionStatus, reason string) bool {
	c := meta.FindStatusCondition(sf.Status.Conditions, typ)
	return c != nil && c.Status == status && (reason == "" || c.Reason == reason) && c.ObservedGeneration == sf.Generation
}

func (o *operator) waitPhase(t *testing.T, sf *kv1.Storefront, phase kv1.StorefrontPhase) *kv1.Storefront {
	t.Helper()
	return o.waitStorefront(t, sf, "phase "+string(phase), func(cur *kv1.Storefront) (bool, string) {
		return cur.Status.Phase == phase && cur.Status.ObservedGeneration == cur.Generation, describe(cur)
	})
}

func (o *operator) get(t *testing.T, ns, name string, into client.Object) {
	t.Helper()
	if err := o.k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, into); err != nil {
		t.Fatalf("get %T %s/%s: %v", into, ns, name, err)
	}
}

// markAvailable plays kubelet and the deployment controller, which envtest lacks:
// once the Deployment runs image, its status says every replica is ready.
func (o *operator) markAvailable(t *testing.T, ns, name, image string) {
	t.Helper()
	ctx := context.Background()
	testenv.Eventually(t, reconcileWait, "deployment "+name+" running "+image+" marked available", func() (bool, string) {
		var d appsv1.Deployment
		if err := o.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &d); err != nil {
			return false, err.Error()
		}
		if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
			return false, "image " + got
		}
		n := int32(1)
		if d.Spec.Replicas != nil {
			n = *d.Spec.Replicas
		}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		if err := o.k8s.Status().Update(ctx, &d); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

func replicasOf(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return -1
	}
	return *d.Spec.Replicas
}

func (o *operator) waitReplicas(t *testing.T, ns, name string, want int32) {
	t.Helper()
	testenv.Eventually(t, reconcileWait, fmt.Sprintf("%s scaled to %d", name, want), func() (bool, string) {
		var d appsv1.Deployment
		if err := o.k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &d); err != nil {
			return false, err.Error()
		}
		return replicasOf(&d) == want, fmt.Sprintf("replicas %d", replicasOf(&d))
	})
}

func (o *operator) serviceColor(t *testing.T, ns, name string) string {
	t.Helper()
	var svc corev1.Service
	o.get(t, ns, name, &svc)
	return svc.Spec.Selector["kommerce.io/color"]
}

func (o *operator) waitServiceColor(t *testing.T, ns, name, color string) {
	t.Helper()
	testenv.Eventually(t, reconcileWait, "service "+name+" → "+color, func() (bool, string) {
		var svc corev1.Service
		if err := o.k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &svc); err != nil {
			return false, err.Error()
		}
		return svc.Spec.Selector["kommerce.io/color"] == color, fmt.Sprintf("selector %v", svc.Spec.Selector)
	})
}

// deployFirst creates sf and brings its first version up; it returns the Ready
// Storefront.
func (o *operator) deployFirst(t *testing.T, sf *kv1.Storefront) *kv1.Storefront {
	t.Helper()
	o.create(t, sf)
	o.markAvailable(t, sf.Namespace, "web-api-blue", "kommerce:"+sf.Spec.Version)
	return o.waitStorefront(t, sf, "first version Ready", func(cur *kv1.Storefront) (bool, string) {
		return cur.Status.Phase == kv1.StorefrontReady && hasCondition(cur, kv1.ConditionReady, metav1.ConditionTrue, ""), describe(cur)
	})
}

// setVersion changes spec.version (retrying on conflicts with the operator).
func (o *operator) update(t *testing.T, sf *kv1.Storefront, change func(*kv1.Storefront)) {
	t.Helper()
	testenv.Eventually(t, reconcileWait, "update storefront", func() (bool, string) {
		var cur kv1.Storefront
		if err := o.k8s.Get(context.Background(), client.ObjectKeyFromObject(sf), &cur); err != nil {
			return false, err.Error()
		}
		change(&cur)
		if err := o.k8s.Update(context.Background(), &cur); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

func (o *operator) annotate(t *testing.T, sf *kv1.Storefront, key string) {
	t.Helper()
	o.update(t, sf, func(cur *kv1.Storefront) {
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[key] = "true"
	})
}

func TestStorefrontRefusedTenants(t *testing.T) {
	o := startOperator(t)
	other, _ := o.readyTenant(t, tenantOpts{})
	_, foreignNS := o.readyTenant(t, tenantOpts{})
	notReady, notReadyNS := o.readyTenant(t, tenantOpts{notReady: true})
	suspended, suspendedNS := o.readyTenant(t, tenantOpts{suspend: true})
	missingNS := createNamespace(t, o.k8s, shortName("orphan"))
	tests := []struct {
		name, ns, tenant, reason, message string
	}{
		{"missing tenant", missingNS, "no-such-tenant", kv1.ReasonTenantNotFound, "tenant no-such-tenant does not exist"},
		{"namespace of another tenant", foreignNS, other.Name, kv1.ReasonNamespaceNotTenant, "is not one of tenant"},
		{"tenant not ready", notReadyNS, notReady.Name, kv1.ReasonTenantNotReady, "not provisioned yet"},
		{"suspended tenant", suspendedNS, suspended.Name, kv1.ReasonTenantSuspended, "is suspended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sf := newStorefront(tt.ns, tt.tenant, "1.0.0")
			o.create(t, sf)
			cur := o.waitStorefront(t, sf, "refused with "+tt.reason, func(cur *kv1.Storefront) (bool, string) {
				return hasCondition(cur, kv1.StorefrontDegraded, metav1.ConditionTrue, tt.reason), describe(cur)
			})
			for _, typ := range []string{kv1.StorefrontAvailable, kv1.ConditionReady} {
				if !hasCondition(cur, typ, metav1.ConditionFalse, tt.reason) {
					t.Errorf("%s is not False/%s: %s", typ, tt.reason, describe(cur))
				}
			}
			if c := meta.FindStatusCondition(cur.Status.Conditions, kv1.StorefrontDegraded); !strings.Contains(c.Message, tt.message) {
				t.Errorf("Degraded message %q does not contain %q", c.Message, tt.message)
			}
			if cur.Status.Phase != kv1.StorefrontPending {
				t.Errorf("phase %s, want Pending", cur.Status.Phase)
			}
			var deps appsv1.DeploymentList
			if err := o.k8s.List(context.Background(), &deps, client.InNamespace(tt.ns)); err != nil {
				t.Fatal(err)
			}
			if len(deps.Items) > 0 {
				t.Errorf("%d Deployments deployed for a refused storefront", len(deps.Items))
			}
		})
	}
	t.Run("a tenant created later is picked up", func(t *testing.T) {
		ns := createNamespace(t, o.k8s, shortName("late"))
		name := shortName("late")
		sf := newStorefront(ns, name, "1.0.0")
		o.create(t, sf)
		o.waitStorefront(t, sf, "TenantNotFound", func(cur *kv1.Storefront) (bool, string) {
			return hasCondition(cur, kv1.StorefrontDegraded, metav1.ConditionTrue, kv1.ReasonTenantNotFound), describe(cur)
		})
		tn := &kv1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kv1.TenantSpec{
			Owners: []kv1.TenantOwner{{Kind: kv1.OwnerGroup, Name: "admins"}}, Namespaces: []kv1.NamespaceName{kv1.NamespaceName(ns)}}}
		o.create(t, tn)
		t.Cleanup(func() { _ = o.k8s.Delete(context.Background(), tn) })
		o.setTenantReady(t, tn, ns)
		o.waitPhase(t, sf, kv1.StorefrontDeploying)
	})
}

func TestStorefrontChildren(t *testing.T) {
	o := startOperator(t)
	tn, ns := o.readyTenant(t, tenantOpts{})
	sf := newStorefront(ns, tn.Name, "1.0.0")
	sf.Spec.Search.Synonyms = []kv1.SynonymSet{{Terms: []string{"sneaker", "trainer"}}}
	cur := o.deployFirst(t, sf)

	if cur.Status.SearchIndex != "kommerce-"+tn.Name+"-web" || cur.Status.SettingsConfigMap != "web-settings" ||
		cur.Status.PreviewURL != "http://web-preview."+ns+".svc" ||
		!slices.Equal(cur.Status.URLs, []string{"http://shop.example.de/", "http://shop.example.co.uk/"}) {
		t.Errorf("status fields: index %q configmap %q preview %q urls %v", cur.Status.SearchIndex, cur.Status.SettingsConfigMap, cur.Status.PreviewURL, cur.Status.URLs)
	}
	if cur.Status.ActiveColor != kv1.Blue || cur.Status.ActiveVersion != "1.0.0" || cur.Status.ActiveImage != "kommerce:1.0.0" || cur.Status.ActiveReplicas != 2 {
		t.Errorf("active: %s", describe(cur))
	}
	for _, typ := range []string{kv1.StorefrontAvailable, kv1.StorefrontPromoted, kv1.StorefrontModelsBound} {
		if !hasCondition(cur, typ, metav1.ConditionTrue, "") {
			t.Errorf("%s not True: %s", typ, describe(cur))
		}
	}

	children := map[string]client.Object{
		"web":             &corev1.ServiceAccount{},
		"web-connections": &corev1.Secret{},
		"web-settings":    &corev1.ConfigMap{},
		"web-api-blue":    &appsv1.Deployment{},
		"web-ingest":      &appsv1.Deployment{},
		"web-preview":     &corev1.Service{},
		"web-api":         &policyv1.PodDisruptionBudget{},
		"web-de":          &networkingv1.Ingress{},
		"web-uk":          &networkingv1.Ingress{},
	}
	for name, obj := range children {
		o.get(t, ns, name, obj)
		// envtest runs no garbage collector: that deleting the Storefront removes its
		// children follows from this controller reference.
		ref := metav1.GetControllerOf(obj)
		if ref == nil || ref.UID != cur.UID || ref.Kind != "Storefront" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("%T %s: controller reference %+v, want the Storefront %s", obj, name, ref, cur.UID)
		}
	}
	var policy networkingv1.NetworkPolicy
	o.get(t, ns, "web-api", &policy)
	if from := policy.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]; from != o.dataPlane.Namespace {
		t.Errorf("network policy admits namespace %q, want the operator's %q", from, o.dataPlane.Namespace)
	}

	var conn corev1.Secret
	o.get(t, ns, "web-connections", &conn)
	if _, ok := conn.Data["unrelated"]; ok || string(conn.Data["database-url"]) != "postgres://kommerce:secret@postgres:5432/kommerce" || len(conn.Data) != 4 {
		t.Errorf("connections Secret keys %v", keys(conn.Data))
	}
	var cm corev1.ConfigMap
	o.get(t, ns, "web-settings", &cm)
	var doc sfsettings.Document
	if err := json.Unmarshal([]byte(cm.Data[sfsettings.Key]), &doc); err != nil {
		t.Fatalf("settings document: %v", err)
	}
	if doc.APIVersion != sfsettings.APIVersion || doc.Tenant != tn.Name || doc.Storefront != "web" || doc.SearchIndex != cur.Status.SearchIndex ||
		len(doc.Channels) != 2 || len(doc.Search.Synonyms) != 1 || doc.Inventory.ReservationTTLSeconds != 900 {
		t.Errorf("settings document %+v", doc)
	}

	var api appsv1.Deployment
	o.get(t, ns, "web-api-blue", &api)
	env := map[string]corev1.EnvVar{}
	for _, e := range api.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	if env["KOMMERCE_TENANT"].Value != tn.Name || env["KOMMERCE_STOREFRONT_SETTINGS"].Value != "/etc/kommerce/settings/storefront.json" ||
		env["KOMMERCE_SECRETS_KEY_FILE"].Value == "" || env["KOMMERCE_DATABASE_URL"].ValueFrom.SecretKeyRef.Name != "web-connections" ||
		env["KOMMERCE_STRIPE_SECRET_KEY"].ValueFrom.SecretKeyRef.Name != "stripe" {
		t.Errorf("API env %+v", env)
	}
	for _, m := range api.Spec.Template.Spec.Containers[0].VolumeMounts {
		if m.SubPath != "" {
			t.Errorf("mount %s uses subPath; kubelet would not update it", m.Name)
		}
	}

	t.Run("drift is repaired", func(t *testing.T) {
		ctx := context.Background()
		var svc corev1.Service
		o.get(t, ns, "web", &svc)
		if err := o.k8s.Delete(ctx, &svc); err != nil {
			t.Fatal(err)
		}
		o.waitServiceColor(t, ns, "web", "blue")
		o.get(t, ns, "web-settings", &cm)
		cm.Data[sfsettings.Key] = "{}"
		if err := o.k8s.Update(ctx, &cm); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, reconcileWait, "settings restored", func() (bool, string) {
			var now corev1.ConfigMap
			o.get(t, ns, "web-settings", &now)
			return strings.Contains(now.Data[sfsettings.Key], sfsettings.APIVersion), now.Data[sfsettings.Key]
		})
	})

	t.Run("a spec change reaches the settings", func(t *testing.T) {
		o.update(t, sf, func(cur *kv1.Storefront) { cur.Spec.Checkout.TaxRateBasisPoints = 1900 })
		testenv.Eventually(t, reconcileWait, "tax rate in settings", func() (bool, string) {
			var now corev1.ConfigMap
			o.get(t, ns, "web-settings", &now)
			return strings.Contains(now.Data[sfsettings.Key], `"taxRateBasisPoints": 1900`), now.Data[sfsettings.Key]
		})
	})

	t.Run("a removed channel loses its ingress", func(t *testing.T) {
		o.update(t, sf, func(cur *kv1.Storefront) { cur.Spec.Channels = cur.Spec.Channels[:1] })
		testenv.Eventually(t, reconcileWait, "ingress web-uk deleted", func() (bool, string) {
			err := o.k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "web-uk"}, &networkingv1.Ingress{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestStorefrontRollout(t *testing.T) {
	o := startOperator(t)
	tn, ns := o.readyTenant(t, tenantOpts{})
	sf := o.deployFirst(t, newStorefront(ns, tn.Name, "1.0.0"))

	// Auto promotion: preview green comes up, checks pass, traffic switches.
	o.update(t, sf, func(cur *kv1.Storefront) { cur.Spec.Version = "1.1.0" })
	o.waitStorefront(t, sf, "previewing 1.1.0 in green", func(cur *kv1.Storefront) (bool, string) {
		return cur.Status.Phase == kv1.StorefrontPreviewing && cur.Status.PreviewColor == kv1.Green && cur.Status.PreviewVersion == "1.1.0", describe(cur)
	})
	if c := o.serviceColor(t, ns, "web-preview"); c != "green" {
		t.Errorf("preview Service selects %s", c)
	}
	if c := o.serviceColor(t, ns, "web"); c != "blue" {
		t.Errorf("active Service selects %s during the preview", c)
	}
	o.markAvailable(t, ns, "web-api-green", "kommerce:1.1.0")
	cur := o.waitStorefront(t, sf, "1.1.0 promoted", func(cur *kv1.Storefront) (bool, string) {
		return cur.Status.Phase == kv1.StorefrontReady && cur.Status.ActiveVersion == "1.1.0", describe(cur)
	})
	if cur.Status.ActiveColor != kv1.Green || cur.Status.PreviousColor != kv1.Blue || cur.Status.PreviousVersion != "1.0.0" || cur.Status.RollbackUntil == nil {
		t.Errorf("after promotion: %s", describe(cur))
	}
	if len(cur.Status.Checks) != 2 || !cur.Status.Checks[0].Passed || !cur.Status.Checks[1].Passed {
		t.Errorf("checks %+v", cur.Status.Checks)
	}
	if got := o.checks.requests(); !slices.Contains(got, tn.Name+" /api/v1/products?limit=1") || !slices.Contains(got, tn.Name+" /readyz") {
		t.Errorf("check server saw %v", got)
	}
	if !slices.Contains(o.checker.hosts, "web-preview."+ns+".svc") {
		t.Errorf("checks went to %v, want the preview Service", o.checker.hosts)
	}
	o.waitServiceColor(t, ns, "web", "green")
	var ingest appsv1.Deployment
	o.get(t, ns, "web-ingest", &ingest)
	if img := ingest.Spec.Template.Spec.Containers[0].Image; img != "kommerce:1.1.0" {
		t.Errorf("ingest runs %s after promotion", img)
	}
	o.waitReplicas(t, ns, "web-api-blue", 2) // kept for the rollback window

	// Undo within the window: back to blue at once.
	o.update(t, sf, func(cur *kv1.Storefront) { cur.Spec.Version = "1.0.0" })
	cur = o.waitStorefront(t, sf, "rolled back to blue", func(cur *kv1.Storefront) (bool, string) {
		return cur.Status.Phase == kv1.StorefrontReady && cur.Status.ActiveColor == kv1.Blue && cur.Status.ActiveVersion == "1.0.0", describe(cur)
	})
	o.waitServiceColor(t, ns, "web", "blue")

	// The window ends: the previous colour is scaled to zero.
	o.clock.advance(31 * time.Minute)
	o.update(t, sf, func(cur *kv1.Storefront) { cur.Spec.Ingest.Replicas = ptr(int32(2)) }) // a pass now, not in 30 minutes
	o.waitReplicas(t, ns, "web-api-green", 0)
	o.waitReplicas(t, ns, "web-api-blue", 2)

	// Manual promotion waits for the annotation, which is removed once acted on.
	o.update(t, sf, func(cur *kv1.Storefront) {
		cur.Spec.Version = "1.2.0"
		cur.Spec.Rollout.Promotion = kv1.PromoteManual
	})
	o.markAvailable(t, ns, "web-api-green", "kommerce:1.2.0")
	cur = o.waitPhase(t, sf, kv1.StorefrontPaused)
	if cur.Status.BlockedBy != "waiting for kommerce rollout promote" || cur.Status.ActiveVersion != "1.0.0" {
		t.Errorf("paused: %s", describe(cur))
	}
	o.annotate(t, sf, kv1.AnnotationPromote)
	cur = o.waitStorefront(t, sf, "1.2.0 promoted by annotation", func(cur *kv1.Storefront) (bool, string) {
		_, annotated := cur.Annotations[kv1.AnnotationPromote]
		return cur.Status.Phase == kv1.StorefrontReady && cur.Status.ActiveVersion == "1.2.0" && !annotated, describe(cur)
	})
	o.waitServiceColor(t, ns, "web", "green")
}

func ptr[T any](v T) *T { return &v }
