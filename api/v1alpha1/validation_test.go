package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/internal/testenv/kubetest"
)

// The API server with the generated CRDs is the validator under test: these tests
// send invalid objects to a real kube-apiserver and check that it refuses them with a
// message a user can act on.

var (
	k8s      client.Client
	startErr error
)

func TestMain(m *testing.M) {
	os.Exit(kubetest.Main(m, func(cfg *rest.Config, err error) {
		if err != nil {
			startErr = err
			return
		}
		scheme := runtime.NewScheme()
		_ = clientgoscheme.AddToScheme(scheme)
		_ = kv1.AddToScheme(scheme)
		k8s, startErr = client.New(cfg, client.Options{Scheme: scheme})
	}, filepath.Join(kubetest.RepoRoot(), "config", "crd", "bases")))
}

func apiServer(t *testing.T) client.Client {
	t.Helper()
	kubetest.Unavailable(t, startErr)
	return k8s
}

var seq int

// uniqueName gives each object its own name so cases never collide.
func uniqueName(prefix string) string {
	seq++
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%100000, seq)
}

func q(s string) *resource.Quantity { v := resource.MustParse(s); return &v }

func validTenant() *kv1.Tenant {
	name := uniqueName("t")
	return &kv1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: kv1.TenantSpec{
			Owners:     []kv1.TenantOwner{{Kind: kv1.OwnerUser, Name: "ops@acme.example"}},
			Namespaces: []kv1.NamespaceName{kv1.NamespaceName(name + "-shop")},
		},
	}
}

func validStorefront() *kv1.Storefront {
	return &kv1.Storefront{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("sf"), Namespace: "default"},
		Spec: kv1.StorefrontSpec{
			TenantRef: kv1.LocalObjectReference{Name: "acme"},
			Version:   "v1.4.0",
			Channels: []kv1.Channel{
				{Name: "web-eu", Currency: "EUR", Locales: []string{"de-DE", "en"}, Hostname: "shop.acme.example"},
			},
			Models: []kv1.ModelBinding{
				{Purpose: kv1.PurposeRecommendations, Model: "recs-mf"},
			},
		},
	}
}

func validModelVersion() *kv1.ModelVersion {
	return &kv1.ModelVersion{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("mv"), Namespace: "default"},
		Spec: kv1.ModelVersionSpec{
			Model:   "recs-mf",
			Purpose: kv1.PurposeRecommendations,
			Artifact: kv1.Artifact{
				URI:     "https://models.acme.example/recs-mf/2.onnx",
				SHA256:  strings.Repeat("ab", 32),
				Opset:   17,
				Inputs:  []kv1.TensorSpec{{Name: "user", DataType: "INT64", Shape: []int64{-1, 1}}},
				Outputs: []kv1.TensorSpec{{Name: "scores", DataType: "FP32", Shape: []int64{-1, 500}}},
			},
			Rollout: kv1.ModelRollout{
				Strategy: kv1.RolloutCanary,
				Canary:   &kv1.CanaryRollout{Steps: []kv1.CanaryStep{{Weight: 10}, {Weight: 50}, {Weight: 100}}},
			},
		},
	}
}

// wantRejected checks err is an Invalid error from the API server whose message
// contains every fragment.
func wantRejected(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the API server accepted the object; want a rejection mentioning %q", fragments)
	}
	if !apierrors.IsInvalid(err) {
		t.Fatalf("error %v is not an Invalid (422) rejection", err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("rejection %q does not mention %q", err.Error(), f)
		}
	}
}

func TestValidObjectsAreAccepted(t *testing.T) {
	c := apiServer(t)
	ctx := context.Background()
	for _, obj := range []client.Object{validTenant(), validStorefront(), validModelVersion()} {
		if err := c.Create(ctx, obj); err != nil {
			t.Errorf("create valid %T: %v", obj, err)
		}
	}
	// Defaults are filled in by the schema.
	tn := validTenant()
	if err := c.Create(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if tn.Spec.Quota.Pods == nil || *tn.Spec.Quota.Pods != 100 || tn.Spec.Limits.DefaultLimit == nil ||
		len(tn.Spec.Network.IngressNamespaces) != 1 || tn.Spec.Network.IngressNamespaces[0] != "ingress-nginx" {
		t.Errorf("defaults not applied: quota %+v limits %+v network %+v", tn.Spec.Quota, tn.Spec.Limits, tn.Spec.Network)
	}
}

func TestSamplesAreValid(t *testing.T) {
	c := apiServer(t)
	files, _ := filepath.Glob(filepath.Join(kubetest.RepoRoot(), "config", "samples", "*.yaml"))
	if len(files) < 3 {
		t.Fatalf("found %d sample files, want a Tenant, a Storefront and two ModelVersions", len(files))
	}
	kinds := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
		for {
			var u map[string]any
			if err := dec.Decode(&u); err != nil {
				break
			}
			if len(u) == 0 {
				continue
			}
			obj := &unstructured.Unstructured{Object: u}
			kinds[obj.GetKind()]++
			if obj.GetNamespace() != "" {
				// The sample's namespace is the tenant's and does not exist here; the
				// schema check is the same in any namespace.
				obj.SetNamespace("default")
			}
			// Dry-run: the samples must pass validation without changing the cluster.
			if err := c.Create(context.Background(), obj, client.DryRunAll); err != nil {
				t.Errorf("%s: %s %s rejected: %v", filepath.Base(f), obj.GetKind(), obj.GetName(), err)
			}
		}
	}
	if kinds["Tenant"] < 1 || kinds["Storefront"] < 1 || kinds["ModelVersion"] < 2 {
		t.Errorf("samples hold %v; want at least 1 Tenant, 1 Storefront, 2 ModelVersions", kinds)
	}
}

func TestTenantRejections(t *testing.T) {
	c := apiServer(t)
	tests := []struct {
		name   string
		mutate func(*kv1.Tenant)
		want   []string
	}{
		{"missing owners", func(tn *kv1.Tenant) { tn.Spec.Owners = []kv1.TenantOwner{} },
			[]string{"spec.owners", "at least 1 item"}},
		{"too many owners", func(tn *kv1.Tenant) {
			tn.Spec.Owners = nil
			for i := range 33 {
				tn.Spec.Owners = append(tn.Spec.Owners, kv1.TenantOwner{Kind: kv1.OwnerUser, Name: fmt.Sprintf("u%d", i)})
			}
		}, []string{"spec.owners", "must have at most 32 items"}},
		{"service account owner without namespace", func(tn *kv1.Tenant) {
			tn.Spec.Owners = []kv1.TenantOwner{{Kind: kv1.OwnerServiceAccount, Name: "deployer"}}
		}, []string{"namespace is required for a ServiceAccount owner"}},
		{"unknown owner kind", func(tn *kv1.Tenant) { tn.Spec.Owners[0].Kind = "Robot" },
			[]string{"spec.owners[0].kind", `supported values: "User", "Group", "ServiceAccount"`}},
		{"negative cpu quota", func(tn *kv1.Tenant) { tn.Spec.Quota.RequestsCPU = q("-2") },
			[]string{"spec.quota.requestsCPU", "quota must not be negative"}},
		{"negative pod quota", func(tn *kv1.Tenant) { p := int32(-1); tn.Spec.Quota.Pods = &p },
			[]string{"spec.quota.pods", "should be greater than or equal to 0"}},
		{"default request above default limit", func(tn *kv1.Tenant) {
			tn.Spec.Limits.DefaultRequest = &kv1.ComputeResources{CPU: q("2")}
			tn.Spec.Limits.DefaultLimit = &kv1.ComputeResources{CPU: q("500m")}
		}, []string{"defaultRequest.cpu must not exceed defaultLimit.cpu"}},
		{"system namespace", func(tn *kv1.Tenant) { tn.Spec.Namespaces = []kv1.NamespaceName{"kube-system"} },
			[]string{"system namespaces (default, kube-*, kommerce-system) cannot belong to a tenant"}},
		{"duplicate namespaces", func(tn *kv1.Tenant) { tn.Spec.Namespaces = append(tn.Spec.Namespaces, tn.Spec.Namespaces[0]) },
			[]string{"spec.namespaces[1]", "Duplicate value"}},
		{"too many namespaces", func(tn *kv1.Tenant) {
			for i := range 16 {
				tn.Spec.Namespaces = append(tn.Spec.Namespaces, kv1.NamespaceName(fmt.Sprintf("extra-%d", i)))
			}
		}, []string{"spec.namespaces", "must have at most 16 items"}},
		{"uppercase namespace", func(tn *kv1.Tenant) { tn.Spec.Namespaces = []kv1.NamespaceName{"Shop"} },
			[]string{"spec.namespaces[0]", "should match"}},
		{"bad topic prefix", func(tn *kv1.Tenant) { tn.Spec.Isolation.TopicPrefix = "Kommerce/Acme" },
			[]string{"spec.isolation.topicPrefix", "should match"}},
		{"bad redis prefix", func(tn *kv1.Tenant) { tn.Spec.Isolation.RedisPrefix = "k acme" },
			[]string{"spec.isolation.redisPrefix", "should match"}},
		{"tenant id not a uuid", func(tn *kv1.Tenant) { tn.Spec.Isolation.TenantID = "acme" },
			[]string{"spec.isolation.tenantID", "should match"}},
		{"bad egress cidr", func(tn *kv1.Tenant) { tn.Spec.Network.EgressCIDRs = []string{"10.0.0.300/8"} },
			[]string{"egressCIDRs entries must be CIDRs"}},
		{"freeze window ends before it starts", func(tn *kv1.Tenant) {
			start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
			tn.Spec.FreezeWindows = []kv1.FreezeWindow{{Name: "black-friday", Start: metav1.NewTime(start), End: metav1.NewTime(start.Add(-time.Hour))}}
		}, []string{"a freeze window must end after it starts"}},
		{"stripe secret outside the tenant", func(tn *kv1.Tenant) {
			tn.Spec.StripeSecretRef = &kv1.SecretKeyReference{Namespace: "other", Name: "stripe", Key: "secret-key"}
		}, []string{"stripeSecretRef.namespace must be one of the tenant's namespaces"}},
		{"name with a dot", func(tn *kv1.Tenant) { tn.Name = "acme.example" },
			[]string{"a Tenant name is a DNS label of at most 40 characters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := validTenant()
			tt.mutate(tn)
			wantRejected(t, c.Create(context.Background(), tn), tt.want...)
		})
	}
}

func TestTenantImmutableFields(t *testing.T) {
	c := apiServer(t)
	tests := []struct {
		name   string
		setup  func(*kv1.Tenant)
		mutate func(*kv1.Tenant)
		want   []string
	}{
		{"tenant id changed",
			func(tn *kv1.Tenant) { tn.Spec.Isolation.TenantID = "0b6f1a52-6c1e-4a43-9d51-5a1b8f8e2c11" },
			func(tn *kv1.Tenant) { tn.Spec.Isolation.TenantID = "7d7c9d1e-2f7a-4a43-9d51-5a1b8f8e2c11" },
			[]string{"isolation.tenantID is immutable once set"}},
		{"topic prefix removed",
			func(tn *kv1.Tenant) { tn.Spec.Isolation.TopicPrefix = "kommerce.acme" },
			func(tn *kv1.Tenant) { tn.Spec.Isolation.TopicPrefix = "" },
			[]string{"isolation.topicPrefix is immutable once set"}},
		{"index prefix changed",
			func(tn *kv1.Tenant) { tn.Spec.Isolation.IndexPrefix = "kommerce-acme" },
			func(tn *kv1.Tenant) { tn.Spec.Isolation.IndexPrefix = "kommerce-other" },
			[]string{"isolation.indexPrefix is immutable once set"}},
		{"namespace removed while protected",
			func(tn *kv1.Tenant) {
				tn.Spec.PreventDeletion = true
				tn.Spec.Namespaces = append(tn.Spec.Namespaces, kv1.NamespaceName(tn.Name+"-ml"))
			},
			func(tn *kv1.Tenant) { tn.Spec.Namespaces = tn.Spec.Namespaces[:1] },
			[]string{"namespaces cannot be removed while preventDeletion is true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			tn := validTenant()
			tt.setup(tn)
			if err := c.Create(ctx, tn); err != nil {
				t.Fatalf("create: %v", err)
			}
			tt.mutate(tn)
			wantRejected(t, c.Update(ctx, tn), tt.want...)
		})
	}
	t.Run("an unset prefix may be set once", func(t *testing.T) {
		ctx := context.Background()
		tn := validTenant()
		if err := c.Create(ctx, tn); err != nil {
			t.Fatal(err)
		}
		tn.Spec.Isolation.RedisPrefix = "k:" + tn.Name + ":"
		if err := c.Update(ctx, tn); err != nil {
			t.Fatalf("setting an unset prefix was refused: %v", err)
		}
	})
}

func TestStorefrontRejections(t *testing.T) {
	c := apiServer(t)
	tests := []struct {
		name   string
		mutate func(*kv1.Storefront)
		want   []string
	}{
		{"model name that is not a DNS label", func(sf *kv1.Storefront) { sf.Spec.Models[0].Model = "Recs_MF" },
			[]string{"spec.models[0].model"}},
		{"a purpose bound twice", func(sf *kv1.Storefront) {
			sf.Spec.Models = append(sf.Spec.Models, kv1.ModelBinding{Purpose: kv1.PurposeRecommendations, Model: "other"})
		}, []string{"Duplicate value"}},
		{"progress deadline too short", func(sf *kv1.Storefront) { sf.Spec.Rollout.ProgressDeadline = &metav1.Duration{Duration: time.Second} },
			[]string{"progressDeadline must be between 10s and 2h"}},
		{"tax rate over 100 percent", func(sf *kv1.Storefront) { sf.Spec.Checkout.TaxRateBasisPoints = 10001 },
			[]string{"spec.checkout.taxRateBasisPoints"}},
		{"CORS origin with a path", func(sf *kv1.Storefront) { sf.Spec.CORS.AllowedOrigins = []string{"https://shop.example/app"} },
			[]string{"spec.cors.allowedOrigins[0]"}},
		{"two channels on one hostname", func(sf *kv1.Storefront) {
			ch := sf.Spec.Channels[0]
			ch.Name = "web-uk"
			sf.Spec.Channels = append(sf.Spec.Channels, ch)
		}, []string{"each channel needs its own hostname"}},
		{"lowercase currency", func(sf *kv1.Storefront) { sf.Spec.Channels[0].Currency = "eur" },
			[]string{"spec.channels[0].currency", "should match"}},
		{"no channel", func(sf *kv1.Storefront) { sf.Spec.Channels = []kv1.Channel{} },
			[]string{"spec.channels", "at least 1 item"}},
		{"reservation ttl too short", func(sf *kv1.Storefront) {
			sf.Spec.Inventory.ReservationTTL = &metav1.Duration{Duration: 5 * time.Second}
		}, []string{"reservationTTL must be between 1m and 24h"}},
		{"autoscaling min above max", func(sf *kv1.Storefront) {
			sf.Spec.API.Autoscaling = &kv1.Autoscaling{MinReplicas: 5, MaxReplicas: 2}
		}, []string{"autoscaling.minReplicas must not exceed maxReplicas"}},
		{"boost of a field search does not match (category names are not searched)", func(sf *kv1.Storefront) {
			sf.Spec.Search.Boosts = []kv1.Boost{{Field: "category", WeightPercent: 200}}
		}, []string{"spec.search.boosts[0].field", `supported values: "name", "description", "brand", "sku", "attributes"`}},
		{"too many synonyms in a set", func(sf *kv1.Storefront) {
			var terms []string
			for i := range 33 {
				terms = append(terms, fmt.Sprintf("term%d", i))
			}
			sf.Spec.Search.Synonyms = []kv1.SynonymSet{{Terms: terms}}
		}, []string{"spec.search.synonyms[0].terms", "must have at most 32 items"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sf := validStorefront()
			tt.mutate(sf)
			wantRejected(t, c.Create(context.Background(), sf), tt.want...)
		})
	}
	t.Run("tenant reference changed", func(t *testing.T) {
		ctx := context.Background()
		sf := validStorefront()
		if err := c.Create(ctx, sf); err != nil {
			t.Fatal(err)
		}
		sf.Spec.TenantRef.Name = "globex"
		wantRejected(t, c.Update(ctx, sf), "tenantRef is immutable")
	})
}

func TestModelVersionRejections(t *testing.T) {
	c := apiServer(t)
	tests := []struct {
		name   string
		mutate func(*kv1.ModelVersion)
		want   []string
	}{
		{"short sha256", func(mv *kv1.ModelVersion) { mv.Spec.Artifact.SHA256 = strings.Repeat("a", 63) },
			[]string{"spec.artifact.sha256"}},
		{"uppercase sha256", func(mv *kv1.ModelVersion) { mv.Spec.Artifact.SHA256 = strings.Repeat("AB", 32) },
			[]string{"spec.artifact.sha256", "should match"}},
		{"artifact uri without scheme", func(mv *kv1.ModelVersion) { mv.Spec.Artifact.URI = "models/recs.onnx" },
			[]string{"spec.artifact.uri", "should match"}},
		{"canary not ending at 100", func(mv *kv1.ModelVersion) {
			mv.Spec.Rollout.Canary.Steps = []kv1.CanaryStep{{Weight: 10}, {Weight: 50}}
		}, []string{"the last canary step must send 100 percent of traffic"}},
		{"canary weights decreasing", func(mv *kv1.ModelVersion) {
			mv.Spec.Rollout.Canary.Steps = []kv1.CanaryStep{{Weight: 50}, {Weight: 10}, {Weight: 100}}
		}, []string{"canary step weights must increase"}},
		{"a/b weights not summing to 100", func(mv *kv1.ModelVersion) {
			mv.Spec.Rollout = kv1.ModelRollout{Strategy: kv1.RolloutABTest, ABTest: &kv1.ABTestRollout{Baseline: "recs-v1", CandidateWeight: 60, BaselineWeight: 30}}
		}, []string{"candidateWeight and baselineWeight must sum to 100"}},
		{"a/b strategy without settings", func(mv *kv1.ModelVersion) {
			mv.Spec.Rollout = kv1.ModelRollout{Strategy: kv1.RolloutABTest}
		}, []string{"strategy ABTest needs the abTest settings"}},
		{"shadow strategy without settings", func(mv *kv1.ModelVersion) {
			mv.Spec.Rollout = kv1.ModelRollout{Strategy: kv1.RolloutShadow}
		}, []string{"strategy Shadow needs the shadow settings"}},
		{"canary strategy without settings", func(mv *kv1.ModelVersion) {
			mv.Spec.Rollout = kv1.ModelRollout{Strategy: kv1.RolloutCanary}
		}, []string{"strategy Canary needs the canary settings"}},
		{"canary settings without a strategy", func(mv *kv1.ModelVersion) {
			mv.Spec.Rollout.Strategy = ""
		}, []string{"canary settings are only allowed with strategy Canary"}},
		{"canary settings beside an a/b test", func(mv *kv1.ModelVersion) {
			mv.Spec.Rollout.Strategy = kv1.RolloutABTest
			mv.Spec.Rollout.ABTest = &kv1.ABTestRollout{Baseline: "recs-v1", CandidateWeight: 50, BaselineWeight: 50}
		}, []string{"canary settings are only allowed with strategy Canary"}},
		{"a/b settings beside a canary", func(mv *kv1.ModelVersion) {
			mv.Spec.Rollout.ABTest = &kv1.ABTestRollout{Baseline: "recs-v1", CandidateWeight: 50, BaselineWeight: 50}
		}, []string{"abTest settings are only allowed with strategy ABTest"}},
		{"shadow settings with a direct rollout", func(mv *kv1.ModelVersion) {
			mv.Spec.Rollout = kv1.ModelRollout{Strategy: kv1.RolloutDirect,
				Shadow: &kv1.ShadowRollout{Duration: metav1.Duration{Duration: time.Hour}}}
		}, []string{"shadow settings are only allowed with strategy Shadow"}},
		{"a/b baseline naming the version itself", func(mv *kv1.ModelVersion) {
			mv.Spec.Rollout = kv1.ModelRollout{Strategy: kv1.RolloutABTest,
				ABTest: &kv1.ABTestRollout{Baseline: mv.Name, CandidateWeight: 50, BaselineWeight: 50}}
		}, []string{"spec.rollout.abTest.baseline names this ModelVersion itself"}},
		{"unknown purpose", func(mv *kv1.ModelVersion) { mv.Spec.Purpose = "Pricing" },
			[]string{"spec.purpose", `supported values: "Recommendations", "Ranking", "Fraud"`}},
		{"confidence out of range", func(mv *kv1.ModelVersion) { mv.Spec.Rollout.SuccessCriteria.ConfidencePercent = 100 },
			[]string{"spec.rollout.successCriteria.confidencePercent", "less than or equal to 99"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mv := validModelVersion()
			tt.mutate(mv)
			wantRejected(t, c.Create(context.Background(), mv), tt.want...)
		})
	}
	t.Run("an http artifact uri (a store inside the cluster) is accepted", func(t *testing.T) {
		mv := validModelVersion()
		mv.Spec.Artifact.URI = "http://artifacts.shop.svc.cluster.local:8000/recs-mf-v1.onnx"
		if err := c.Create(context.Background(), mv); err != nil {
			t.Fatalf("an http:// artifact uri was refused: %v", err)
		}
	})
	t.Run("a left-out strategy takes no settings block", func(t *testing.T) {
		mv := validModelVersion()
		mv.Spec.Rollout = kv1.ModelRollout{AutoPromote: true}
		if err := c.Create(context.Background(), mv); err != nil {
			t.Fatalf("a rollout without strategy (the default canary) was refused: %v", err)
		}
		if mv.Spec.Rollout.Canary != nil || mv.Spec.Rollout.SuccessCriteria.ConfidencePercent != 95 {
			t.Fatalf("defaulted rollout = %+v", mv.Spec.Rollout)
		}
	})
	immutable := []struct {
		name   string
		mutate func(*kv1.ModelVersion)
		want   string
	}{
		{"sha256 changed", func(mv *kv1.ModelVersion) { mv.Spec.Artifact.SHA256 = strings.Repeat("cd", 32) },
			"artifact.sha256 is immutable; publish a new ModelVersion instead"},
		{"purpose changed", func(mv *kv1.ModelVersion) { mv.Spec.Purpose = kv1.PurposeRanking }, "purpose is immutable"},
	}
	for _, tt := range immutable {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			mv := validModelVersion()
			if err := c.Create(ctx, mv); err != nil {
				t.Fatal(err)
			}
			tt.mutate(mv)
			wantRejected(t, c.Update(ctx, mv), tt.want)
		})
	}
}

// TestDeletionProtectionPolicy installs config/policy and checks the API server itself
// refuses to delete a protected Tenant, and lets an unprotected one go.
func TestDeletionProtectionPolicy(t *testing.T) {
	c := apiServer(t)
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(kubetest.RepoRoot(), "config", "policy", "tenant_deletion_protection.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
	for {
		var u map[string]any
		if err := dec.Decode(&u); err != nil {
			break
		}
		if err := c.Create(ctx, &unstructured.Unstructured{Object: u}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("install policy: %v", err)
		}
	}
	tn := validTenant()
	tn.Spec.PreventDeletion = true
	if err := c.Create(ctx, tn); err != nil {
		t.Fatal(err)
	}
	// The API server compiles a new policy in the background; wait until it answers.
	var last error
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		last = c.Delete(ctx, tn, client.DryRunAll)
		return last != nil, nil
	})
	if err != nil {
		t.Fatalf("a protected tenant could still be deleted: %v", last)
	}
	if !apierrors.IsForbidden(last) || !strings.Contains(last.Error(), "has spec.preventDeletion: true; set it to false before deleting it") {
		t.Fatalf("refusal %v; want Forbidden with the policy's message", last)
	}
	t.Logf("refusal: %v", last)
	if err := c.Delete(ctx, tn); err == nil {
		t.Fatal("deleted a protected tenant")
	}
	tn.Spec.PreventDeletion = false
	if err := c.Update(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, tn); err != nil {
		t.Fatalf("an unprotected tenant cannot be deleted: %v", err)
	}
}
