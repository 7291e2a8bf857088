// Package kubetest starts a real kube-apiserver and etcd (controller-runtime's envtest)
// from the binaries hack/envtest.sh builds. Controller packages start one per package
// in TestMain and give each test its own namespace.
package kubetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kommerce/kommerce/internal/testenv"
)

// ErrNoAssets means the envtest binaries are not built and not required.
var ErrNoAssets = errors.New("envtest binaries not found; build them with: hack/services.sh up envtest")

// Assets returns the folder holding kube-apiserver and etcd: KUBEBUILDER_ASSETS when
// set, otherwise the newest build under ~/.cache/kommerce/envtest.
func Assets() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cache := os.Getenv("KOMMERCE_CACHE_DIR")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "kommerce")
	}
	dirs, _ := filepath.Glob(filepath.Join(cache, "envtest", "*", "kube-apiserver"))
	if len(dirs) == 0 {
		return "", ErrNoAssets
	}
	return filepath.Dir(dirs[len(dirs)-1]), nil
}

// Start starts an API server with the CRDs found in crdDirs installed. It returns
// ErrNoAssets (wrapped) when the binaries are missing and services are not required,
// so TestMain can skip the package; under CI=true it returns a plain error instead.
func Start(crdDirs ...string) (*envtest.Environment, *rest.Config, error) {
	assets, err := Assets()
	if err != nil {
		if testenv.Required() {
			return nil, nil, fmt.Errorf("envtest is required (CI): %w", err)
		}
		return nil, nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     crdDirs,
		ErrorIfCRDPathMissing: len(crdDirs) > 0,
	}
	cfg, err := env.Start()
	if err != nil {
		// Start may fail after the processes are up (e.g. a CRD the API server
		// refuses); stop them so they do not outlive the test binary.
		_ = env.Stop()
		return nil, nil, fmt.Errorf("start envtest from %s: %w", assets, err)
	}
	return env, cfg, nil
}

// RepoRoot returns the repository root, for locating config/crd/bases from a test.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	for range 6 {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		dir = filepath.Dir(dir)
	}
	out, _ := exec.Command("go", "env", "GOMOD").Output()
	return filepath.Dir(strings.TrimSpace(string(out)))
}
