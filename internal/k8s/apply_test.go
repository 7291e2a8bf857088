package k8s_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kommerce/kommerce/internal/k8s"
	"github.com/kommerce/kommerce/internal/testenv/kubetest"
)

// One real kube-apiserver for the package; each test works in its own namespace.

var (
	cfg      *rest.Config
	startErr error
)

func TestMain(m *testing.M) {
	os.Exit(kubetest.Main(m, func(c *rest.Config, err error) { cfg, startErr = c, err }))
}

// fixture is a namespace of the test's own, an owner object in it, and a client
// that counts the applies it sends.
type fixture struct {
	c       client.Client
	ns      string
	owner   *corev1.ConfigMap
	applies atomic.Int32
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	if startErr != nil {
		kubetest.Unavailable(t, startErr)
	}
	direct, err := client.NewWithWatch(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{}
	f.c = interceptor.NewClient(direct, interceptor.Funcs{
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			f.applies.Add(1)
			return c.Apply(ctx, obj, opts...)
		},
	})
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "k8s-apply-"}}
	if err := direct.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = direct.Delete(context.Background(), ns) })
	f.ns = ns.Name
	f.owner = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner", Namespace: f.ns}}
	if err := direct.Create(ctx, f.owner); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) get(t *testing.T, name string) *corev1.ConfigMap {
	t.Helper()
	var cm corev1.ConfigMap
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, &cm); err != nil {
		t.Fatalf("read configmap %s: %v", name, err)
	}
	return &cm
}

func (f *fixture) desired(name string, data map[string]string) *corev1ac.ConfigMapApplyConfiguration {
	return corev1ac.ConfigMap(name, f.ns).WithLabels(map[string]string{"app": "shop"}).WithData(data)
}

func TestApplyCreatesWithTheFieldManagerAndController(t *testing.T) {
	f := newFixture(t)
	if err := k8s.Apply(context.Background(), f.c, f.owner, f.desired("settings", map[string]string{"currency": "EUR"})); err != nil {
		t.Fatal(err)
	}
	got := f.get(t, "settings")
	if got.Data["currency"] != "EUR" || got.Labels["app"] != "shop" {
		t.Errorf("created %v %v", got.Labels, got.Data)
	}
	ref := metav1.GetControllerOf(got)
	if ref == nil || ref.UID != f.owner.UID || ref.Kind != "ConfigMap" || ref.APIVersion != "v1" || ref.Name != "owner" ||
		ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion || len(got.OwnerReferences) != 1 {
		t.Errorf("owner references %+v, want one controller reference to %s", got.OwnerReferences, f.owner.UID)
	}
	var managers []string
	for _, m := range got.ManagedFields {
		managers = append(managers, fmt.Sprintf("%s/%s", m.Manager, m.Operation))
	}
	if len(managers) != 1 || managers[0] != k8s.FieldManager+"/Apply" {
		t.Errorf("field managers %v, want only %s/Apply", managers, k8s.FieldManager)
	}
}

func TestReapplyingTheSameStateWritesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := k8s.Apply(ctx, f.c, f.owner, f.desired("settings", map[string]string{"currency": "EUR"})); err != nil {
		t.Fatal(err)
	}
	before := f.get(t, "settings").ResourceVersion
	f.applies.Store(0)
	for range 3 {
		if err := k8s.Apply(ctx, f.c, f.owner, f.desired("settings", map[string]string{"currency": "EUR"})); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.applies.Load(); n != 0 {
		t.Errorf("%d applies sent for an unchanged object, want 0", n)
	}
	if after := f.get(t, "settings").ResourceVersion; after != before {
		t.Errorf("resourceVersion %s -> %s: the object was written", before, after)
	}
	// A changed desired state is sent, so the check above could fail.
	if err := k8s.Apply(ctx, f.c, f.owner, f.desired("settings", map[string]string{"currency": "USD"})); err != nil {
		t.Fatal(err)
	}
	if n := f.applies.Load(); n != 1 || f.get(t, "settings").Data["currency"] != "USD" {
		t.Errorf("after a change: %d applies, data %v", n, f.get(t, "settings").Data)
	}
}

func TestDriftIsRestoredAndOthersFieldsKept(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	desired := func() *corev1ac.ConfigMapApplyConfiguration {
		return f.desired("settings", map[string]string{"currency": "EUR", "locale": "de-DE"})
	}
	if err := k8s.Apply(ctx, f.c, f.owner, desired()); err != nil {
		t.Fatal(err)
	}
	// Someone edits the object: changes a field the operator owns, adds a label.
	cm := f.get(t, "settings")
	cm.Data["currency"] = "GBP"
	cm.Labels["team"] = "payments"
	if err := f.c.Update(ctx, cm, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Apply(ctx, f.c, f.owner, desired()); err != nil {
		t.Fatal(err)
	}
	got := f.get(t, "settings")
	if got.Data["currency"] != "EUR" || got.Data["locale"] != "de-DE" {
		t.Errorf("data %v: the drifted field was not restored", got.Data)
	}
	if got.Labels["team"] != "payments" {
		t.Errorf("labels %v: the label someone else added was removed", got.Labels)
	}
	// A field the operator stops setting is removed.
	if err := k8s.Apply(ctx, f.c, f.owner, f.desired("settings", map[string]string{"currency": "EUR"})); err != nil {
		t.Fatal(err)
	}
	if got := f.get(t, "settings"); len(got.Data) != 1 {
		t.Errorf("data %v: the field no longer desired is still there", got.Data)
	}
}

func TestAStaleWriteIsARequeueableConflict(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := k8s.Apply(ctx, f.c, f.owner, f.desired("settings", map[string]string{"currency": "EUR"})); err != nil {
		t.Fatal(err)
	}
	stale := f.get(t, "settings").ResourceVersion
	cm := f.get(t, "settings")
	cm.Data["currency"] = "GBP"
	if err := f.c.Update(ctx, cm, client.FieldOwner("someone-else")); err != nil {
		t.Fatal(err)
	}
	// Applied on top of the version it was computed from, which is gone.
	err := k8s.Apply(ctx, f.c, f.owner, f.desired("settings", map[string]string{"currency": "USD"}).WithResourceVersion(stale))
	if !apierrors.IsConflict(err) {
		t.Fatalf("err = %v, want a conflict", err)
	}
	res, rerr := k8s.Result(err)
	if rerr != nil || res.RequeueAfter != k8s.ConflictRetry {
		t.Errorf("Result = %+v, %v; want a requeue after %v and no error", res, rerr, k8s.ConflictRetry)
	}
	if got := f.get(t, "settings").Data["currency"]; got != "GBP" {
		t.Errorf("currency %s: the stale apply was written", got)
	}
}

func TestAnInvalidOwnerWritesNothing(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	err := k8s.Apply(context.Background(), f.c, other.owner, f.desired("settings", map[string]string{"currency": "EUR"}))
	if !errors.Is(err, k8s.ErrInvalidOwner) {
		t.Fatalf("err = %v, want ErrInvalidOwner", err)
	}
	var cm corev1.ConfigMap
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "settings"}, &cm); !apierrors.IsNotFound(err) {
		t.Errorf("get = %v, want not found", err)
	}
}

// The kinds the controllers apply, built the way their builders build them: after
// one apply, the next is recognised as changing nothing, although the API server
// fills in defaults (a Deployment's strategy, a Service's cluster IP, a container's
// pull policy) and normalises quantities.
func TestEveryKindIsRecognisedAsUnchanged(t *testing.T) {
	f := newFixture(t)
	labels := map[string]string{"app": "shop"}
	container := corev1ac.Container().WithName("api").WithImage("kommerce:dev").
		WithPorts(corev1ac.ContainerPort().WithName("http").WithContainerPort(8080)).
		WithResources(corev1ac.ResourceRequirements().WithRequests(corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")}))
	kinds := map[string]runtime.ApplyConfiguration{
		"resource quota": corev1ac.ResourceQuota("quota", f.ns).WithLabels(labels).
			WithSpec(corev1ac.ResourceQuotaSpec().WithHard(corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")})),
		"limit range": corev1ac.LimitRange("limits", f.ns).WithLabels(labels).
			WithSpec(corev1ac.LimitRangeSpec().WithLimits(corev1ac.LimitRangeItem().WithType(corev1.LimitTypeContainer).
				WithDefault(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}))),
		"network policy": networkingv1ac.NetworkPolicy("deny", f.ns).WithLabels(labels).
			WithSpec(networkingv1ac.NetworkPolicySpec().WithPodSelector(metav1ac.LabelSelector()).
				WithPolicyTypes(networkingv1.PolicyTypeIngress).
				WithIngress(networkingv1ac.NetworkPolicyIngressRule().WithFrom(networkingv1ac.NetworkPolicyPeer().
					WithNamespaceSelector(metav1ac.LabelSelector().WithMatchLabels(labels))))),
		"role": rbacv1ac.Role("admin", f.ns).WithLabels(labels).
			WithRules(rbacv1ac.PolicyRule().WithAPIGroups("").WithResources("configmaps").WithVerbs("get", "list")),
		"role binding": rbacv1ac.RoleBinding("admins", f.ns).WithLabels(labels).
			WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup("rbac.authorization.k8s.io").WithKind("Role").WithName("admin")).
			WithSubjects(rbacv1ac.Subject().WithKind("Group").WithName("admins").WithAPIGroup("rbac.authorization.k8s.io")),
		"secret": corev1ac.Secret("identity", f.ns).WithLabels(labels).WithType(corev1.SecretTypeOpaque).
			WithData(map[string][]byte{"key": []byte("value")}),
		"service": corev1ac.Service("api", f.ns).WithLabels(labels).
			WithSpec(corev1ac.ServiceSpec().WithSelector(labels).
				WithPorts(corev1ac.ServicePort().WithName("http").WithPort(80).WithTargetPort(intstr.FromString("http")))),
		"deployment": appsv1ac.Deployment("api", f.ns).WithLabels(labels).
			WithSpec(appsv1ac.DeploymentSpec().WithReplicas(2).
				WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).
				WithTemplate(corev1ac.PodTemplateSpec().WithLabels(labels).
					WithSpec(corev1ac.PodSpec().WithContainers(container)))),
	}
	ctx := context.Background()
	for kind, desired := range kinds {
		t.Run(kind, func(t *testing.T) {
			if err := k8s.Apply(ctx, f.c, f.owner, desired); err != nil {
				t.Fatal(err)
			}
			f.applies.Store(0)
			if err := k8s.Apply(ctx, f.c, f.owner, desired); err != nil {
				t.Fatal(err)
			}
			if n := f.applies.Load(); n != 0 {
				t.Errorf("%d applies sent for an unchanged %s, want 0", n, kind)
			}
		})
	}
}
