package storefront

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/internal/sfsettings"
)

func testStorefront() *kv1.Storefront {
	return &kv1.Storefront{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme-shop", Name: "web", Generation: 3},
		Spec: kv1.StorefrontSpec{
			TenantRef: kv1.LocalObjectReference{Name: "acme"},
			Version:   "1.4.0",
			Channels:  []kv1.Channel{{Name: "de", Currency: "EUR", Locales: []string{"de-DE"}, Hostname: "shop.acme.de"}},
		},
	}
}

func testWorld(sf *kv1.Storefront) world {
	return world{sf: sf, slug: "acme", identitySecret: "kommerce-identity", repository: "registry.local/kommerce"}
}

// podSpec is the JSON of the Deployment's pod template spec, for plain checks.
type podSpec struct {
	ServiceAccountName            string `json:"serviceAccountName"`
	AutomountServiceAccountToken  *bool  `json:"automountServiceAccountToken"`
	TerminationGracePeriodSeconds int64  `json:"terminationGracePeriodSeconds"`
	Containers                    []struct {
		Image string   `json:"image"`
		Args  []string `json:"args"`
		Env   []struct {
			Name      string          `json:"name"`
			Value     string          `json:"value"`
			ValueFrom json.RawMessage `json:"valueFrom"`
		} `json:"env"`
		VolumeMounts []struct {
			Name      string `json:"name"`
			MountPath string `json:"mountPath"`
			SubPath   string `json:"subPath"`
		} `json:"volumeMounts"`
		SecurityContext struct {
			RunAsUser              int64 `json:"runAsUser"`
			ReadOnlyRootFilesystem bool  `json:"readOnlyRootFilesystem"`
		} `json:"securityContext"`
	} `json:"containers"`
}

type deploymentJSON struct {
	Spec struct {
		Replicas *int32 `json:"replicas"`
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Spec podSpec `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

func decodeDeployment(t *testing.T, v any) deploymentJSON {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var d deploymentJSON
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func envNames(d deploymentJSON) map[string]string {
	out := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		out[e.Name] = e.Value
		if e.ValueFrom != nil {
			out[e.Name] = "from:" + string(e.ValueFrom)
		}
	}
	return out
}

func TestDesiredAPIDeployment(t *testing.T) {
	tests := []struct {
		name     string
		world    func(w *world)
		replicas *int32
		check    func(t *testing.T, d deploymentJSON, env map[string]string)
	}{
		{
			name: "defaults", replicas: ptr(int32(3)),
			check: func(t *testing.T, d deploymentJSON, env map[string]string) {
				want(t, d.Spec.Replicas != nil && *d.Spec.Replicas == 3, "replicas %v", d.Spec.Replicas)
				c := d.Spec.Template.Spec.Containers[0]
				want(t, c.Image == "registry.local/kommerce:1.4.0" && slices.Equal(c.Args, []string{"api"}), "image %s args %v", c.Image, c.Args)
				want(t, env["KOMMERCE_TENANT"] == "acme" && env["KOMMERCE_STOREFRONT_SETTINGS"] == "/etc/kommerce/settings/storefront.json" &&
					env["KOMMERCE_TENANT_KEYS_DIR"] == "/etc/kommerce/tenants" && env["KOMMERCE_DRAIN_DELAY"] == "5s" && env["KOMMERCE_DATA_DIR"] == "/data", "env %v", env)
				_, hasKey := env["KOMMERCE_SECRETS_KEY_FILE"]
				_, hasStripe := env["KOMMERCE_STRIPE_SECRET_KEY"]
				want(t, !hasKey && !hasStripe, "secrets key or stripe without being asked: %v", env)
				want(t, d.Spec.Selector.MatchLabels["kommerce.io/color"] == "green" && d.Spec.Template.Metadata.Labels["app.kubernetes.io/name"] == "kommerce-api", "labels %v", d.Spec.Template.Metadata.Labels)
				want(t, d.Spec.Template.Spec.TerminationGracePeriodSeconds == 45 && !*d.Spec.Template.Spec.AutomountServiceAccountToken, "pod spec %+v", d.Spec.Template.Spec)
				want(t, c.SecurityContext.RunAsUser == 65532 && c.SecurityContext.ReadOnlyRootFilesystem, "security %+v", c.SecurityContext)
				mounts := map[string]string{}
				for _, m := range c.VolumeMounts {
					mounts[m.Name] = m.MountPath
					want(t, m.SubPath == "", "mount %s uses subPath", m.Name)
				}
				want(t, mounts["settings"] == "/etc/kommerce/settings" && mounts["tenant-identity"] == "/etc/kommerce/tenants/acme", "mounts %v", mounts)
			},
		},
		{
			name: "autoscaled: replicas left to the autoscaler",
			check: func(t *testing.T, d deploymentJSON, _ map[string]string) {
				want(t, d.Spec.Replicas == nil, "replicas %v", d.Spec.Replicas)
			},
		},
		{
			name: "secrets key and stripe", replicas: ptr(int32(1)),
			world: func(w *world) {
				w.hasSecretsKey = true
				w.stripe = &kv1.SecretKeyReference{Namespace: "acme-shop", Name: "stripe", Key: "sk"}
			},
			check: func(t *testing.T, _ deploymentJSON, env map[string]string) {
				want(t, env["KOMMERCE_SECRETS_KEY_FILE"] == "/etc/kommerce/secrets-key/secrets-key", "env %v", env)
				want(t, env["KOMMERCE_STRIPE_SECRET_KEY"] == `from:{"secretKeyRef":{"name":"stripe","key":"sk","optional":true}}`, "stripe %s", env["KOMMERCE_STRIPE_SECRET_KEY"])
			},
		},
		{
			name: "object storage from the connections Secret, when it has it", replicas: ptr(int32(1)),
			check: func(t *testing.T, _ deploymentJSON, env map[string]string) {
				want(t, env["KOMMERCE_S3_ENDPOINT"] == `from:{"secretKeyRef":{"name":"web-connections","key":"s3-endpoint","optional":true}}`, "s3 %s", env["KOMMERCE_S3_ENDPOINT"])
				_, smtp := env["KOMMERCE_SMTP_ADDR"]
				want(t, !smtp, "the API does not send e-mail; ingest does: %v", env)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sf := testStorefront()
			w := testWorld(sf)
			if tt.world != nil {
				tt.world(&w)
			}
			d := decodeDeployment(t, desiredAPIDeployment(w, kv1.Green, desiredImage(sf, w.repository), tt.replicas))
			tt.check(t, d, envNames(d))
		})
	}
}

// The ingest pods send the e-mails: SMTP settings from the connections Secret, and
// the secrets key that opens the sealed account tokens when there is one.
func TestDesiredIngestDeployment(t *testing.T) {
	sf := testStorefront()
	w := testWorld(sf)
	w.hasSecretsKey = true
	d := decodeDeployment(t, desiredIngestDeployment(w, desiredImage(sf, w.repository), 1))
	env := envNames(d)
	want(t, env["KOMMERCE_SMTP_ADDR"] == `from:{"secretKeyRef":{"name":"web-connections","key":"smtp-addr","optional":true}}`, "smtp %s", env["KOMMERCE_SMTP_ADDR"])
	want(t, env["KOMMERCE_SECRETS_KEY_FILE"] == "/etc/kommerce/secrets-key/secrets-key", "env %v", env)
	mounts := map[string]string{}
	for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	want(t, mounts["secrets-key"] == "/etc/kommerce/secrets-key" && mounts["data"] == "/data", "mounts %v", mounts)
}

func TestDesiredImage(t *testing.T) {
	sf := testStorefront()
	if got := desiredImage(sf, "kommerce"); got != "kommerce:1.4.0" {
		t.Errorf("default repository: %s", got)
	}
	sf.Spec.Image = "registry.local/acme/kommerce"
	if got := desiredImage(sf, "kommerce"); got != "registry.local/acme/kommerce:1.4.0" {
		t.Errorf("spec.image: %s", got)
	}
}

func TestIndexAlias(t *testing.T) {
	tn := &kv1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "acme"}}
	if got := indexAlias(tn, "web"); got != "kommerce-acme-web" {
		t.Errorf("default prefix: %s", got)
	}
	tn.Spec.Isolation.IndexPrefix = "acme-search"
	if got := indexAlias(tn, "web"); got != "acme-search-web" {
		t.Errorf("chosen prefix: %s", got)
	}
}

func TestRenderSettings(t *testing.T) {
	sf := testStorefront()
	doc := renderSettings(sf, "acme", "kommerce-acme-web", nil)
	if doc.APIVersion != sfsettings.APIVersion || doc.Tenant != "acme" || doc.Storefront != "web" || doc.Generation != 3 || doc.SearchIndex != "kommerce-acme-web" {
		t.Errorf("header %+v", doc)
	}
	if !doc.Search.Autocomplete.Enabled || doc.Search.Autocomplete.MinChars != 2 || doc.Search.Autocomplete.MaxSuggestions != 8 {
		t.Errorf("autocomplete defaults %+v", doc.Search.Autocomplete)
	}
	if doc.Inventory.ReservationTTLSeconds != 900 || doc.Checkout.TaxLabel != "Tax" {
		t.Errorf("defaults %+v %+v", doc.Inventory, doc.Checkout)
	}
	off := false
	free := int64(5000)
	sf.Spec.Search.Autocomplete = kv1.Autocomplete{Enabled: &off, MinChars: 3, MaxSuggestions: 5}
	sf.Spec.Inventory = kv1.InventoryPolicy{ReservationTTL: &metav1.Duration{Duration: 20 * time.Minute}, AllowBackorders: true}
	sf.Spec.Checkout = kv1.StorefrontCheckout{TaxRateBasisPoints: 1900, TaxLabel: "VAT", ShippingAmount: 495, FreeShippingOver: &free}
	sf.Spec.CORS.AllowedOrigins = []string{"https://shop.acme.de"}
	doc = renderSettings(sf, "acme", "a", nil)
	if doc.Search.Autocomplete.Enabled || doc.Inventory.ReservationTTLSeconds != 1200 || !doc.Inventory.AllowBackorders ||
		doc.Checkout.TaxLabel != "VAT" || *doc.Checkout.FreeShippingOver != 5000 || doc.CORS.AllowedOrigins[0] != "https://shop.acme.de" {
		t.Errorf("spec not carried: %+v", doc)
	}
	a, _ := encodeSettings(doc)
	b, _ := encodeSettings(renderSettings(sf, "acme", "a", nil))
	if string(a) != string(b) {
		t.Error("the document is not deterministic")
	}
}

func TestBindModels(t *testing.T) {
	mv := func(name string, phase kv1.ModelVersionPhase, endpoint string, started time.Duration, split ...kv1.TrafficShare) kv1.ModelVersion {
		return kv1.ModelVersion{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       kv1.ModelVersionSpec{Model: "recs-mf", Purpose: kv1.PurposeRecommendations, Artifact: kv1.Artifact{SHA256: name + "-sha"}},
			Status:     kv1.ModelVersionStatus{Phase: phase, Endpoint: endpoint, TrafficSplit: split, StartedAt: at(started)},
		}
	}
	sf := testStorefront()
	sf.Spec.Models = []kv1.ModelBinding{{Purpose: kv1.PurposeRecommendations, Model: "recs-mf"}}
	tests := []struct {
		name      string
		mvs       []kv1.ModelVersion
		wantArms  []string // modelVersion:percent
		wantBound bool
	}{
		{"no versions", nil, nil, false},
		{"one promoted version serves alone", []kv1.ModelVersion{mv("recs-v1", kv1.ModelPromoted, "http://recs-v1:8080", 0)}, []string{"recs-v1:100"}, true},
		{"a version without endpoint is left out", []kv1.ModelVersion{mv("recs-v1", kv1.ModelPromoted, "", 0)}, nil, false},
		{"the split of the latest rollout", []kv1.ModelVersion{
			mv("recs-v1", kv1.ModelPromoted, "http://recs-v1:8080", 0),
			mv("recs-v2", kv1.ModelProgressing, "http://recs-v2:8080", time.Hour,
				kv1.TrafficShare{ModelVersion: "recs-v1", Percent: 90}, kv1.TrafficShare{ModelVersion: "recs-v2", Percent: 10}),
		}, []string{"recs-v1:90", "recs-v2:10"}, true},
		{"only a shadow serves nothing", []kv1.ModelVersion{
			mv("recs-v2", kv1.ModelShadowing, "http://recs-v2:8080", time.Hour, kv1.TrafficShare{ModelVersion: "recs-v2", Percent: 100, Mirrored: true}),
		}, []string{"recs-v2:100"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			models, bound := bindModels(sf, tt.mvs)
			if len(models) != 1 {
				t.Fatalf("models %+v", models)
			}
			var arms []string
			for _, a := range models[0].Arms {
				arms = append(arms, a.ModelVersion+":"+itoa(a.Percent))
				if a.Revision != a.ModelVersion+"-sha" || a.URL == "" {
					t.Errorf("arm %+v", a)
				}
			}
			if !slices.Equal(arms, tt.wantArms) || len(bound) != len(tt.wantArms) {
				t.Errorf("arms %v bound %+v, want %v", arms, bound, tt.wantArms)
			}
			if ok, msg := modelsBound(models); ok != tt.wantBound {
				t.Errorf("modelsBound %t (%s), want %t", ok, msg, tt.wantBound)
			}
		})
	}
	if ok, _ := modelsBound(nil); !ok {
		t.Error("no bindings must count as bound")
	}

	// The arms are served under the model's name (the inference pods load it as
	// spec.model), the experiment is the one the ModelVersion controller judges,
	// and a canary's serving version is the baseline a failing candidate falls
	// back to.
	v2 := mv("recs-v2", kv1.ModelProgressing, "http://recs-v2:8080", time.Hour,
		kv1.TrafficShare{ModelVersion: "recs-v1", Percent: 90}, kv1.TrafficShare{ModelVersion: "recs-v2", Percent: 10})
	v2.Status.Experiment = "recs-v2-5f1c"
	models, _ := bindModels(sf, []kv1.ModelVersion{mv("recs-v1", kv1.ModelPromoted, "http://recs-v1:8080", 0), v2})
	m := models[0]
	if m.Experiment != "recs-v2-5f1c" || m.Arms[0].ModelName != "recs-mf" || !m.Arms[0].Baseline || m.Arms[1].Baseline {
		t.Errorf("canary model %+v: want experiment recs-v2-5f1c, model name recs-mf, recs-v1 the baseline", m)
	}
	// An A/B test names its baseline.
	v2.Spec.Rollout = kv1.ModelRollout{Strategy: kv1.RolloutABTest, ABTest: &kv1.ABTestRollout{Baseline: "recs-v1", StickyBy: kv1.StickySession}}
	models, _ = bindModels(sf, []kv1.ModelVersion{mv("recs-v1", kv1.ModelPromoted, "http://recs-v1:8080", 0), v2})
	if m := models[0]; !m.Arms[0].Baseline || m.Arms[1].Baseline || m.StickyBy != "Session" {
		t.Errorf("A/B model %+v: want recs-v1 the baseline, sticky by session", m)
	}
}

func itoa(n int32) string {
	b, _ := json.Marshal(n)
	return string(b)
}
