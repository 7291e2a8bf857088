package training

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

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
	if err := os.WriteFile(r.Card, []byte(b.String()), 0o644); err != nil {
		return err
	}
	mv, err := j.manifest(r)
	if err != nil {
		return err
	}
	out, err := yaml.Marshal(mv)
	if err != nil {
		return err
	}
	r.Manifest = filepath.Join(j.OutDir, r.Name+"-"+r.Version+".modelversion.yaml")
	return os.WriteFile(r.Manifest, out, 0o644)
}

func orDev(v string) string {
	if v == "" {
		return "dev"
	}
	return v
}

// ModelVersion is the manifest `kommerce train` writes for `kubectl apply`, in the
// shape of the kommerce.io/v1alpha1 ModelVersion resource.
type ModelVersion struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Metadata   ManifestMeta     `json:"metadata"`
	Spec       ModelVersionSpec `json:"spec"`
}

// ManifestMeta is the object metadata of the manifest.
type ManifestMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ModelVersionSpec is the part of the ModelVersion spec training knows.
type ModelVersionSpec struct {
	Purpose  string   `json:"purpose"`
	Artifact Artifact `json:"artifact"`
}

// Artifact locates and describes the ONNX file.
type Artifact struct {
	URI       string        `json:"uri"`
	SHA256    string        `json:"sha256"`
	Opset     int           `json:"opset"`
	Signature SignatureSpec `json:"signature"`
}

// SignatureSpec lists a model's tensors.
type SignatureSpec struct {
	Inputs  []TensorDesc `json:"inputs"`
	Outputs []TensorDesc `json:"outputs"`
}

// TensorDesc is one tensor of the signature; -1 marks a dimension known at run time.
type TensorDesc struct {
	Name     string  `json:"name"`
	DataType string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

func (j Job) manifest(r *Result) (*ModelVersion, error) {
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
	var spec SignatureSpec
	for _, t := range sig.Inputs {
		spec.Inputs = append(spec.Inputs, TensorDesc{t.Name, string(t.DataType), t.Shape})
	}
	for _, t := range sig.Outputs {
		spec.Outputs = append(spec.Outputs, TensorDesc{t.Name, string(t.DataType), t.Shape})
	}
	name := strings.ToLower(r.Name + "-" + strings.ReplaceAll(r.Version, "_", "-"))
	name = strings.ReplaceAll(name, ".", "-")
	return &ModelVersion{
		APIVersion: "kommerce.io/v1alpha1", Kind: "ModelVersion",
		Metadata: ManifestMeta{
			Name: name, Namespace: j.Namespace,
			Labels:      map[string]string{"kommerce.io/model": r.Name, "kommerce.io/purpose": j.Purpose},
			Annotations: map[string]string{"kommerce.io/model-card": filepath.Base(r.Card), "kommerce.io/version": r.Version},
		},
		Spec: ModelVersionSpec{Purpose: j.Purpose, Artifact: Artifact{URI: uri, SHA256: r.SHA256, Opset: onnx.Opset, Signature: spec}},
	}, nil
}
