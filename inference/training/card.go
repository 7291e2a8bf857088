package training

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/inference/onnx"
)

// cardData is what the model card and the manifest say.
type cardData struct {
	Job        Job
	Result     *Result
	Dataset    *Dataset
	Cutoff     time.Time
	TrainRows  int
	TestRows   int
	Method     string
	Evaluation string
	MetricRows [][]string // metric, model, baseline
	Baseline   string
	Inputs     []string
	Outputs    []string
	Extra      string
}

func (j Job) writeCardAndManifest(c cardData) error {
	r := c.Result
	var b strings.Builder
	fmt.Fprintf(&b, "# Model card: %s version %s\n\n", r.Name, r.Version)
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| purpose | %s |\n| trained | %s by kommerce %s |\n", j.Purpose, j.Now().UTC().Format(time.RFC3339), orDev(j.Producer))
	fmt.Fprintf(&b, "| artifact | `%s` (ONNX opset %d) |\n| sha256 | `%s` |\n", filepath.Base(r.ONNX), onnx.Opset, r.SHA256)
	fmt.Fprintf(&b, "| data | %s |\n", c.Dataset.Description)
	fmt.Fprintf(&b, "| data window | %s to %s |\n", c.Dataset.From.UTC().Format(time.RFC3339), c.Dataset.To.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "| hold-out from | %s (train %d rows, test %d rows) |\n\n", c.Cutoff.UTC().Format(time.RFC3339), c.TrainRows, c.TestRows)
	fmt.Fprintf(&b, "## Method\n\n%s\n\n## Evaluation\n\n%s\n\n", c.Method, c.Evaluation)
	fmt.Fprintf(&b, "| metric | this model | baseline: %s |\n|---|---|---|\n", c.Baseline)
	for _, row := range c.MetricRows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", row[0], row[1], row[2])
	}
	fmt.Fprintf(&b, "\n## Feature schema\n\nInputs:\n\n")
	for _, in := range c.Inputs {
		fmt.Fprintf(&b, "- %s\n", in)
	}
	fmt.Fprintf(&b, "\nOutputs:\n\n")
	for _, out := range c.Outputs {
		fmt.Fprintf(&b, "- %s\n", out)
	}
	if c.Extra != "" {
		fmt.Fprintf(&b, "\n%s\n", c.Extra)
	}
	fmt.Fprintf(&b, "\n## Limits\n\nOffline metrics on past data; the experiment the ModelVersion runs decides on conversion and revenue. "+
		"Scores are not calibrated across versions.\n")
	r.Card = filepath.Join(j.OutDir, r.Name+"-"+r.Version+".card.md")
	if err := os.WriteFile(r.Card, []byte(b.String()), 0o644); err != nil { //nolint:gosec // published artefacts, readable by the publishing tools
		return err
	}
	mv, err := j.manifest(r)
	if err != nil {
		return err
	}
	out, err := manifestYAML(mv)
	if err != nil {
		return err
	}
	r.Manifest = filepath.Join(j.OutDir, r.Name+"-"+r.Version+".modelversion.yaml")
	return os.WriteFile(r.Manifest, out, 0o644) //nolint:gosec // published artefacts, readable by the publishing tools
}

func orDev(v string) string {
	if v == "" {
		return "dev"
	}
	return v
}

// manifest builds the kommerce.io/v1alpha1 ModelVersion of the written model.
func (j Job) manifest(r *Result) (*v1alpha1.ModelVersion, error) {
	sig, _, err := signatureOf(r.ONNX)
	if err != nil {
		return nil, err
	}
	uri := ""
	if j.ArtifactBase != "" {
		uri = strings.TrimRight(j.ArtifactBase, "/") + "/" + url.PathEscape(filepath.Base(r.ONNX))
	} else {
		abs, err := filepath.Abs(r.ONNX)
		if err != nil {
			return nil, err
		}
		uri = (&url.URL{Scheme: "file", Path: abs}).String()
	}
	art := v1alpha1.Artifact{URI: uri, SHA256: r.SHA256, Opset: onnx.Opset}
	for _, t := range sig.Inputs {
		art.Inputs = append(art.Inputs, v1alpha1.TensorSpec{Name: t.Name, DataType: v1alpha1.TensorDataType(t.DataType), Shape: t.Shape})
	}
	for _, t := range sig.Outputs {
		art.Outputs = append(art.Outputs, v1alpha1.TensorSpec{Name: t.Name, DataType: v1alpha1.TensorDataType(t.DataType), Shape: t.Shape})
	}
	purpose := v1alpha1.PurposeRecommendations
	if j.Purpose == PurposeFraud {
		purpose = v1alpha1.PurposeFraud
	}
	name := strings.ToLower(r.Name + "-" + r.Version)
	name = strings.NewReplacer("_", "-", ".", "-").Replace(name)
	return &v1alpha1.ModelVersion{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ModelVersion"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: j.Namespace,
			Labels:      map[string]string{"kommerce.io/model": r.Name, "kommerce.io/purpose": j.Purpose},
			Annotations: map[string]string{"kommerce.io/model-card": filepath.Base(r.Card), "kommerce.io/version": r.Version},
		},
		Spec: v1alpha1.ModelVersionSpec{Model: r.Name, Purpose: purpose, Artifact: art},
	}, nil
}

// manifestYAML renders the manifest without the server-set fields (status,
// creationTimestamp) that a typed object would otherwise print as empty.
func manifestYAML(mv *v1alpha1.ModelVersion) ([]byte, error) {
	b, err := json.Marshal(mv)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	if spec, ok := m["spec"].(map[string]any); ok {
		// An unset rollout serialises as empty objects; leave it to the defaults.
		if ro, ok := spec["rollout"].(map[string]any); ok {
			empty := true
			for _, v := range ro {
				if m, isMap := v.(map[string]any); !isMap || len(m) > 0 {
					empty = false
				}
			}
			if empty {
				delete(spec, "rollout")
			}
		}
	}
	return yaml.Marshal(m)
}
