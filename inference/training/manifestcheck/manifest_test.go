package manifestcheck_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kommerce/kommerce/inference/internal/modeltest"
	"github.com/kommerce/kommerce/inference/training"
	"github.com/kommerce/kommerce/internal/testenv/kubetest"
)

func TestManifestsApplyToTheAPIServer(t *testing.T) {
	env, cfg, err := kubetest.Start(filepath.Join(kubetest.RepoRoot(), "config", "crd", "bases"))
	kubetest.Unavailable(t, err)
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, purpose := range []string{training.PurposeRecommendations, training.PurposeFraud} {
		res, err := training.Job{Purpose: purpose, Source: modeltest.Small, OutDir: dir, Version: "20260101",
			ArtifactBase: "https://models.example.com/acme"}.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(res.Manifest)
		if err != nil {
			t.Fatal(err)
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(raw, &obj.Object); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(context.Background(), obj); err != nil {
			t.Fatalf("%s manifest refused by the API server: %v\n%s", purpose, err, raw)
		}
		// The schema is really checked: the same manifest with a malformed sha256
		// is refused.
		bad := &unstructured.Unstructured{}
		_ = yaml.Unmarshal(raw, &bad.Object)
		bad.SetName(bad.GetName() + "-bad")
		_ = unstructured.SetNestedField(bad.Object, "not-a-checksum", "spec", "artifact", "sha256")
		if err := c.Create(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "sha256") {
			t.Fatalf("a manifest with a bad sha256 was not refused: %v", err)
		}
	}
}
