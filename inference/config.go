package inference

import (
	"fmt"
	"os"
	"regexp"

	"sigs.k8s.io/yaml"
)

// ModelConfig is one model version the server should serve.
type ModelConfig struct {
	// Name is the model name in OIP paths, e.g. "recs-mf".
	Name string `json:"name"`
	// Version is the version in OIP paths, e.g. "3".
	Version string `json:"version"`
	// URI is a file path, file://, http:// or https:// URL of the ONNX file.
	URI string `json:"uri"`
	// SHA256 of the file, required: a file that does not match is refused.
	SHA256 string `json:"sha256"`
	// Runtime names the runtime ("onnxruntime" or "go"); empty means the default.
	Runtime string `json:"runtime,omitempty"`
	// Default marks the version served by paths without /versions/{v}; without it
	// the last listed version of a model is the default.
	Default bool `json:"default,omitempty"`
	// Inputs and Outputs, when set, are the tensors the file must declare (a
	// ModelVersion's spec.artifact): a graph whose tensors differ is refused at
	// load, so a model published with the wrong signature never takes a request.
	Inputs  []ExpectedTensor `json:"inputs,omitempty"`
	Outputs []ExpectedTensor `json:"outputs,omitempty"`
}

// ExpectedTensor is one tensor a model must declare, spelled as a ModelVersion's
// spec.artifact spells it. A dimension of -1 accepts any dimension of the graph.
type ExpectedTensor struct {
	Name     string  `json:"name"`
	DataType string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// Config is the model list the server serves; a changed file is applied as a whole
// and atomically.
type Config struct {
	Models []ModelConfig `json:"models"`
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$`)
	versionRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,62})?$`)
	sha256RE  = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

// Validate checks names, versions, checksums and duplicates.
func (c Config) Validate() error {
	seen := map[string]bool{}
	defaults := map[string]int{}
	for i, m := range c.Models {
		if !nameRE.MatchString(m.Name) {
			return fmt.Errorf("models[%d].name %q: use lowercase letters, digits, '.', '_' or '-', at most 64", i, m.Name)
		}
		if !versionRE.MatchString(m.Version) {
			return fmt.Errorf("models[%d].version %q: use letters, digits, '.', '_' or '-', at most 64", i, m.Version)
		}
		if m.URI == "" {
			return fmt.Errorf("models[%d] (%s/%s): uri is required", i, m.Name, m.Version)
		}
		if !sha256RE.MatchString(m.SHA256) {
			return fmt.Errorf("models[%d] (%s/%s): sha256 must be 64 hex digits", i, m.Name, m.Version)
		}
		key := m.Name + "/" + m.Version
		if seen[key] {
			return fmt.Errorf("models[%d]: %s version %s is listed twice", i, m.Name, m.Version)
		}
		seen[key] = true
		if m.Default {
			defaults[m.Name]++
			if defaults[m.Name] > 1 {
				return fmt.Errorf("models[%d]: %s has more than one default version", i, m.Name)
			}
		}
	}
	return nil
}

// ReadConfig reads and validates a YAML or JSON model list.
func ReadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read model config: %w", err)
	}
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return Config{}, fmt.Errorf("model config %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("model config %s: %w", path, err)
	}
	return c, nil
}
