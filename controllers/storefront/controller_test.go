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
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
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
			Owners:          []kv1.TenantOwner{{Kind: kv1.OwnerGroup, Name: name + "-admins"}},
			Namespaces:      []kv1.NamespaceName{kv1.NamespaceName(ns)},
			Suspend:         opts.suspend,
			FreezeWindows:   opts.freeze,
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
// once the Deployment runs image, its status says every replica is ready. It also
// plays the EndpointSlice controller for the preview Service, which now routes to
// this Deployment's pods: the controller runs no check before that.
func (o *operator) markAvailable(t *testing.T, ns, name, image string) {
	t.Helper()
	ctx := context.Background()
	defer o.routePreview(t, ns, name)
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

// setContainerStatuses writes a pod's container statuses the way kubelet would.
// The operator may annotate a new API pod (the settings hash) at any moment, so
// the write is retried on a fresh read when it conflicts.
func (o *operator) setContainerStatuses(t *testing.T, pod *corev1.Pod, statuses ...corev1.ContainerStatus) {
	t.Helper()
	ctx := context.Background()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := o.k8s.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		pod.Status.ContainerStatuses = statuses
		return o.k8s.Status().Update(ctx, pod)
	})
	if err != nil {
		t.Fatalf("write status of pod %s: %v", pod.Name, err)
	}
}

// routePreview writes the preview Service's EndpointSlice with one ready endpoint,
// a pod of the API Deployment deploy (named as a ReplicaSet's pods are).
func (o *operator) routePreview(t *testing.T, ns, deploy string) {
	t.Helper()
	sfName := deploy[:strings.Index(deploy, "-api-")]
	ready := true
	want := discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: sfName + "-preview-test", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: sfName + "-preview"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.9"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: deploy + "-5d4f8b7c9-x2k4q"}}},
	}
	ctx := context.Background()
	var got discoveryv1.EndpointSlice
	err := o.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: want.Name}, &got)
	switch {
	case apierrors.IsNotFound(err):
		err = o.k8s.Create(ctx, &want)
	case err == nil:
		got.Endpoints = want.Endpoints
		err = o.k8s.Update(ctx, &got)
	}
	if err != nil {
		t.Fatalf("route the preview Service to %s: %v", deploy, err)
	}
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

// eventReasons lists the reasons of the Events about the Storefront.
func (o *operator) eventReasons(t *testing.T, sf *kv1.Storefront) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := o.k8s.List(context.Background(), &list, client.InNamespace(sf.Namespace)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "Storefront" && e.Regarding.Name == sf.Name {
			out = append(out, e.Reason)
		}
	}
	return out
}

func (o *operator) waitEvent(t *testing.T, sf *kv1.Storefront, reason string) {
	t.Helper()
	testenv.Eventually(t, reconcileWait, "event "+reason, func() (bool, string) {
		got := o.eventReasons(t, sf)
		return slices.Contains(got, reason), fmt.Sprint(got)
	})
}

func TestStorefrontRolloutRefused(t *testing.T) {
	o := startOperator(t)

	t.Run("a failing check aborts", func(t *testing.T) {
		tn, ns := o.readyTenant(t, tenantOpts{})
		sf := o.deployFirst(t, newStorefront(ns, tn.Name, "1.0.0"))
		o.checks.answer("/readyz", 503)
		t.Cleanup(func() { o.checks.answer("/readyz", 200) })
		o.update(t, sf, func(cur *kv1.Storefront) { cur.Spec.Version = "1.1.0" })
		o.markAvailable(t, ns, "web-api-green", "kommerce:1.1.0")
		cur := o.waitPhase(t, sf, kv1.StorefrontAborted)
		if !strings.HasPrefix(cur.Status.BlockedBy, "check health failed: want 200, got 503: ") || cur.Status.AbortedImage != "kommerce:1.1.0" ||
			cur.Status.ActiveVersion != "1.0.0" || cur.Status.PreviewColor != "" {
			t.Errorf("aborted: %s", describe(cur))
		}
		if !hasCondition(cur, kv1.StorefrontDegraded, metav1.ConditionTrue, kv1.ReasonChecksFailed) || !hasCondition(cur, kv1.StorefrontAvailable, metav1.ConditionTrue, "") {
			t.Errorf("conditions: %s", describe(cur))
		}
		o.waitReplicas(t, ns, "web-api-green", 0)
		if c := o.serviceColor(t, ns, "web"); c != "blue" {
			t.Errorf("active Service moved to %s", c)
		}
		o.waitEvent(t, sf, kv1.ReasonChecksFailed)
	})

	t.Run("a preview that never becomes available is aborted at the deadline, naming the pod", func(t *testing.T) {
		tn, ns := o.readyTenant(t, tenantOpts{})
		sf := o.deployFirst(t, newStorefront(ns, tn.Name, "1.0.0"))
		o.update(t, sf, func(cur *kv1.Storefront) { cur.Spec.Version = "9.9.9-missing" })
		o.waitPhase(t, sf, kv1.StorefrontPreviewing)
		// The pod kubelet would have made, failing to pull its image.
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-api-green-7f9c-x2x4q",
				Labels: map[string]string{"kommerce.io/storefront": "web", "app.kubernetes.io/name": "kommerce-api", "kommerce.io/color": "green"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "kommerce:9.9.9-missing"}}},
		}
		o.create(t, pod)
		o.setContainerStatuses(t, pod, corev1.ContainerStatus{Name: "api", Image: "kommerce:9.9.9-missing",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "kommerce:9.9.9-missing"`}}})
		o.clock.advance(11 * time.Minute)
		o.annotate(t, sf, "example.com/nudge") // a pass now rather than at the deadline's requeue
		cur := o.waitPhase(t, sf, kv1.StorefrontAborted)
		if !strings.Contains(cur.Status.BlockedBy, "web-api-green-7f9c-x2x4q") || !strings.Contains(cur.Status.BlockedBy, "ImagePullBackOff") ||
			!hasCondition(cur, kv1.StorefrontDegraded, metav1.ConditionTrue, kv1.ReasonDeadlineExceeded) {
			t.Errorf("aborted: %s", describe(cur))
		}
		o.waitReplicas(t, ns, "web-api-green", 0)
	})

	t.Run("a freeze window blocks promotion; abort still works", func(t *testing.T) {
		now := time.Now()
		end := metav1.NewTime(now.Add(48 * time.Hour).Truncate(time.Second))
		tn, ns := o.readyTenant(t, tenantOpts{freeze: []kv1.FreezeWindow{{Name: "black-friday", Start: metav1.NewTime(now.Add(-time.Hour)), End: end, Reason: "peak sales"}}})
		sf := o.deployFirst(t, newStorefront(ns, tn.Name, "1.0.0"))
		o.update(t, sf, func(cur *kv1.Storefront) { cur.Spec.Version = "1.1.0" })
		o.markAvailable(t, ns, "web-api-green", "kommerce:1.1.0")
		cur := o.waitPhase(t, sf, kv1.StorefrontPaused)
		wantBlocked := "freeze window black-friday until " + end.UTC().Format(time.RFC3339) + ": peak sales"
		if cur.Status.BlockedBy != wantBlocked || cur.Status.BlockedUntil == nil || !cur.Status.BlockedUntil.Equal(&end) || cur.Status.ActiveVersion != "1.0.0" {
			t.Errorf("frozen: %s (until %v), want %q", describe(cur), cur.Status.BlockedUntil, wantBlocked)
		}
		o.waitEvent(t, sf, "Frozen")
		o.annotate(t, sf, kv1.AnnotationAbort)
		cur = o.waitStorefront(t, sf, "aborted by annotation", func(cur *kv1.Storefront) (bool, string) {
			_, annotated := cur.Annotations[kv1.AnnotationAbort]
			return cur.Status.Phase == kv1.StorefrontAborted && !annotated, describe(cur)
		})
		if !hasCondition(cur, kv1.StorefrontDegraded, metav1.ConditionTrue, kv1.ReasonAborted) || cur.Status.ActiveVersion != "1.0.0" {
			t.Errorf("aborted: %s", describe(cur))
		}
		o.waitReplicas(t, ns, "web-api-green", 0)
	})
}

// TestStorefrontOperatorRestart stops the operator while a rollout waits for a
// manual promote and starts a new one: it resumes from the status, and the
// promotion happens once.
func TestStorefrontOperatorRestart(t *testing.T) {
	o := startOperator(t)
	tn, ns := o.readyTenant(t, tenantOpts{})
	sf := newStorefront(ns, tn.Name, "1.0.0")
	sf.Spec.Rollout.Promotion = kv1.PromoteManual
	o.deployFirst(t, sf)
	o.update(t, sf, func(cur *kv1.Storefront) { cur.Spec.Version = "1.1.0" })
	o.markAvailable(t, ns, "web-api-green", "kommerce:1.1.0")
	paused := o.waitPhase(t, sf, kv1.StorefrontPaused)
	o.stop()

	o2 := startOperator(t)
	o2.annotate(t, sf, kv1.AnnotationPromote)
	cur := o2.waitStorefront(t, sf, "promoted after the restart", func(cur *kv1.Storefront) (bool, string) {
		return cur.Status.Phase == kv1.StorefrontReady && cur.Status.ActiveVersion == "1.1.0", describe(cur)
	})
	if cur.Status.PreviewStarted != nil || !cur.Status.PromotedAt.After(paused.Status.PreviewStarted.Time.Add(-time.Second)) || cur.Status.PreviousVersion != "1.0.0" {
		t.Errorf("after restart: %s", describe(cur))
	}
	o2.waitServiceColor(t, ns, "web", "green")
	// Further passes (a spec change that starts no rollout) promote nothing again.
	o2.update(t, sf, func(cur *kv1.Storefront) { cur.Spec.Checkout.TaxRateBasisPoints = 700 })
	o2.waitStorefront(t, sf, "observed the change", func(cur *kv1.Storefront) (bool, string) {
		return cur.Status.ObservedGeneration == cur.Generation && cur.Status.Phase == kv1.StorefrontReady, describe(cur)
	})
	n := 0
	for _, r := range o2.eventReasons(t, sf) {
		if r == kv1.ReasonPromotedReason {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d Promoted events, want 1", n)
	}
	if got := o2.eventReasons(t, sf); slices.Contains(got, "ChecksPassed") && strings.Count(strings.Join(got, ","), "PreviewStarted") != 1 {
		t.Errorf("events %v", got)
	}
}

// TestStorefrontAutoscaledRollout: the preview starts at the autoscaler's minimum,
// and after the promotion its replica count is handed to the autoscaler intact
// (not reset to the API server's default of 1), which now targets it.
func TestStorefrontAutoscaledRollout(t *testing.T) {
	o := startOperator(t)
	tn, ns := o.readyTenant(t, tenantOpts{})
	sf := newStorefront(ns, tn.Name, "1.0.0")
	sf.Spec.API.Autoscaling = &kv1.Autoscaling{MinReplicas: 3, MaxReplicas: 5}
	o.deployFirst(t, sf)
	var hpa autoscalingv2.HorizontalPodAutoscaler
	o.get(t, ns, "web", &hpa)
	if hpa.Spec.ScaleTargetRef.Name != "web-api-blue" || hpa.Spec.MaxReplicas != 5 {
		t.Errorf("autoscaler %+v", hpa.Spec)
	}
	o.update(t, sf, func(cur *kv1.Storefront) { cur.Spec.Version = "1.1.0" })
	o.waitReplicas(t, ns, "web-api-green", 3)
	o.markAvailable(t, ns, "web-api-green", "kommerce:1.1.0")
	o.waitStorefront(t, sf, "1.1.0 promoted", func(cur *kv1.Storefront) (bool, string) {
		return cur.Status.Phase == kv1.StorefrontReady && cur.Status.ActiveColor == kv1.Green, describe(cur)
	})
	testenv.Eventually(t, reconcileWait, "autoscaler on green", func() (bool, string) {
		o.get(t, ns, "web", &hpa)
		return hpa.Spec.ScaleTargetRef.Name == "web-api-green", hpa.Spec.ScaleTargetRef.Name
	})
	var green appsv1.Deployment
	o.get(t, ns, "web-api-green", &green)
	if replicasOf(&green) != 3 {
		t.Errorf("green has %d replicas after the hand-over, want 3", replicasOf(&green))
	}
	t.Run("autoscaling removed: the autoscaler goes", func(t *testing.T) {
		o.update(t, sf, func(cur *kv1.Storefront) { cur.Spec.API.Autoscaling = nil })
		testenv.Eventually(t, reconcileWait, "autoscaler deleted", func() (bool, string) {
			err := o.k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "web"}, &autoscalingv2.HorizontalPodAutoscaler{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
		o.waitReplicas(t, ns, "web-api-green", 2)
	})
}

// TestStorefrontDeletion deletes a Storefront mid-rollout: it goes at once (no
// finalizer holds it; nothing outside Kubernetes is cleaned up), and everything it
// made carries its controller reference, which is what lets the garbage collector
// (absent in envtest) remove them.
func TestStorefrontDeletion(t *testing.T) {
	o := startOperator(t)
	tn, ns := o.readyTenant(t, tenantOpts{})
	sf := o.deployFirst(t, newStorefront(ns, tn.Name, "1.0.0"))
	o.update(t, sf, func(cur *kv1.Storefront) { cur.Spec.Version = "1.1.0" })
	o.waitPhase(t, sf, kv1.StorefrontPreviewing)
	var deps appsv1.DeploymentList
	if err := o.k8s.List(context.Background(), &deps, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(deps.Items) != 3 {
		t.Fatalf("%d Deployments, want blue, green and ingest", len(deps.Items))
	}
	for i := range deps.Items {
		if ref := metav1.GetControllerOf(&deps.Items[i]); ref == nil || ref.UID != sf.UID {
			t.Errorf("%s: controller %+v", deps.Items[i].Name, ref)
		}
	}
	if err := o.k8s.Delete(context.Background(), sf); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, reconcileWait, "storefront gone", func() (bool, string) {
		err := o.k8s.Get(context.Background(), client.ObjectKeyFromObject(sf), &kv1.Storefront{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// TestStorefrontActivePodsFailing: a crash-looping pod of the serving colour makes
// the Storefront Degraded (reason PodsFailing, naming the pod) while it stays
// Available on the pods that are ready.
func TestStorefrontActivePodsFailing(t *testing.T) {
	o := startOperator(t)
	tn, ns := o.readyTenant(t, tenantOpts{})
	sf := o.deployFirst(t, newStorefront(ns, tn.Name, "1.0.0"))
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-api-blue-5d8f-abcde",
			Labels: map[string]string{"kommerce.io/storefront": "web", "app.kubernetes.io/name": "kommerce-api", "kommerce.io/color": "blue"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "kommerce:1.0.0"}}},
	}
	o.create(t, pod)
	o.setContainerStatuses(t, pod, corev1.ContainerStatus{Name: "api", Image: "kommerce:1.0.0", RestartCount: 4,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 1m20s"}}})
	var blue appsv1.Deployment
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		o.get(t, ns, "web-api-blue", &blue)
		blue.Status.ReadyReplicas, blue.Status.AvailableReplicas = 1, 1
		return o.k8s.Status().Update(ctx, &blue)
	})
	if err != nil {
		t.Fatal(err)
	}
	cur := o.waitStorefront(t, sf, "Degraded PodsFailing", func(cur *kv1.Storefront) (bool, string) {
		return hasCondition(cur, kv1.StorefrontDegraded, metav1.ConditionTrue, kv1.ReasonPodsFailing), describe(cur)
	})
	c := meta.FindStatusCondition(cur.Status.Conditions, kv1.StorefrontDegraded)
	if !strings.Contains(c.Message, "web-api-blue-5d8f-abcde") || !strings.Contains(c.Message, "CrashLoopBackOff") || !strings.Contains(c.Message, "1/2") {
		t.Errorf("Degraded message %q", c.Message)
	}
	if !hasCondition(cur, kv1.StorefrontAvailable, metav1.ConditionTrue, "") || !hasCondition(cur, kv1.ConditionReady, metav1.ConditionFalse, kv1.ReasonPodsFailing) {
		t.Errorf("conditions: %s", describe(cur))
	}
}

// TestStorefrontTenantSuspended suspends the tenant of a running storefront: its API
// and ingest are scaled to zero and the status says why; resuming brings them back.
func TestStorefrontTenantSuspended(t *testing.T) {
	o := startOperator(t)
	tn, ns := o.readyTenant(t, tenantOpts{})
	sf := o.deployFirst(t, newStorefront(ns, tn.Name, "1.0.0"))
	setSuspend := func(v bool) {
		testenv.Eventually(t, reconcileWait, fmt.Sprintf("tenant suspend=%t", v), func() (bool, string) {
			var cur kv1.Tenant
			if err := o.k8s.Get(context.Background(), types.NamespacedName{Name: tn.Name}, &cur); err != nil {
				return false, err.Error()
			}
			cur.Spec.Suspend = v
			if err := o.k8s.Update(context.Background(), &cur); err != nil {
				return false, err.Error()
			}
			return true, ""
		})
	}
	setSuspend(true)
	cur := o.waitStorefront(t, sf, "TenantSuspended", func(cur *kv1.Storefront) (bool, string) {
		return hasCondition(cur, kv1.StorefrontDegraded, metav1.ConditionTrue, kv1.ReasonTenantSuspended), describe(cur)
	})
	if !hasCondition(cur, kv1.StorefrontAvailable, metav1.ConditionFalse, kv1.ReasonTenantSuspended) || cur.Status.Phase != kv1.StorefrontPending {
		t.Errorf("suspended: %s", describe(cur))
	}
	o.waitReplicas(t, ns, "web-api-blue", 0)
	o.waitReplicas(t, ns, "web-ingest", 0)
	setSuspend(false)
	o.waitReplicas(t, ns, "web-api-blue", 2)
	o.waitReplicas(t, ns, "web-ingest", 1)
	o.waitStorefront(t, sf, "Ready again", func(cur *kv1.Storefront) (bool, string) {
		return cur.Status.Phase == kv1.StorefrontReady && hasCondition(cur, kv1.ConditionReady, metav1.ConditionTrue, ""), describe(cur)
	})
}

// A settings change reaches the running API pods at once: the ConfigMap changes and
// each pod is annotated with the new document's hash (the kubelet refreshes a pod's
// ConfigMap volume when the pod changes), without touching the pod template.
func TestSettingsChangeNudgesPods(t *testing.T) {
	o := startOperator(t)
	tn, ns := o.readyTenant(t, tenantOpts{})
	sf := o.deployFirst(t, newStorefront(ns, tn.Name, "1.0.0"))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-api-blue-5d8f-nudge",
			Labels: map[string]string{"kommerce.io/storefront": "web", "app.kubernetes.io/name": "kommerce-api", "kommerce.io/color": "blue"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "kommerce:1.0.0"}}},
	}
	o.create(t, pod)
	hashOf := func() string {
		var p corev1.Pod
		o.get(t, ns, pod.Name, &p)
		return p.Annotations["kommerce.io/settings-hash"]
	}
	o.annotate(t, sf, "example.com/nudge") // a pass that sees the new pod
	var first string
	testenv.Eventually(t, reconcileWait, "the pod annotated with the settings hash", func() (bool, string) {
		first = hashOf()
		return first != "", "no annotation yet"
	})
	var blue appsv1.Deployment
	o.get(t, ns, "web-api-blue", &blue)
	template := blue.Spec.Template.DeepCopy()

	o.update(t, sf, func(cur *kv1.Storefront) {
		cur.Spec.Search.Synonyms = append(cur.Spec.Search.Synonyms, kv1.SynonymSet{Terms: []string{"mug", "cup"}})
	})
	testenv.Eventually(t, reconcileWait, "a new hash after the settings change", func() (bool, string) {
		h := hashOf()
		return h != "" && h != first, "hash " + h
	})
	o.get(t, ns, "web-api-blue", &blue)
	if !equality.Semantic.DeepEqual(template, &blue.Spec.Template) {
		t.Error("a settings change touched the pod template (a rollout)")
	}
}
