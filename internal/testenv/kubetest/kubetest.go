// Package kubetest starts a real kube-apiserver and etcd (controller-runtime's envtest)
// from the binaries hack/envtest.sh builds. Controller packages start one per package
// in TestMain and give each test its own namespace; each test hands Start's error to
// Unavailable, which skips only where services are not required.
package kubetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kommerce/kommerce/internal/testenv"
)

// ErrNoAssets means the envtest binaries are not built. Only [Unavailable] decides
// what it means for a test: a skip on a developer's machine, a failure under CI=true
// or make test.
var ErrNoAssets = errors.New("envtest binaries not found; build them with: hack/services.sh up envtest")

// Assets returns the folder holding kube-apiserver and etcd: KUBEBUILDER_ASSETS when
// set, otherwise the newest build under ~/.cache/kommerce/envtest. A folder that lacks
// either binary is ErrNoAssets too, so an empty KUBEBUILDER_ASSETS reads as what it
// is rather than as a failed start.
func Assets() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		cache := os.Getenv("KOMMERCE_CACHE_DIR")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "kommerce")
		}
		dirs, _ := filepath.Glob(filepath.Join(cache, "envtest", "*", "kube-apiserver"))
		if len(dirs) == 0 {
			return "", ErrNoAssets
		}
		dir = filepath.Dir(dirs[len(dirs)-1])
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("%s in %s: %w", bin, dir, ErrNoAssets)
		}
	}
	return dir, nil
}

// Start starts an API server with the CRDs found in crdDirs installed. Missing
// binaries are reported as ErrNoAssets (wrapped); callers hand any error to
// [Unavailable], which skips or fails the test.
func Start(crdDirs ...string) (*envtest.Environment, *rest.Config, error) {
	assets, err := Assets()
	if err != nil {
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

// Main is the body of a test package's TestMain that shares one API server among
// its tests: it starts the server with crdDirs, hands its config — or the start
// error, for the tests to give to [Unavailable] — to ready, runs the tests, stops
// the server and returns the exit code for os.Exit.
func Main(m *testing.M, ready func(*rest.Config, error), crdDirs ...string) int {
	env, cfg, err := Start(crdDirs...)
	ready(cfg, err)
	code := m.Run()
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
		}
	}
	return code
}

// Unavailable ends t when Start returned err (it returns at once when err is nil).
// Missing binaries skip the test on a developer's machine; under CI=true or
// KOMMERCE_TEST_REQUIRE_SERVICES=1 (make test) they fail it, as does every other
// start error: a suite must never pass by skipping where it is required to run.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, ErrNoAssets) && !testenv.Required() {
		t.Skip(err)
	}
	if errors.Is(err, ErrNoAssets) {
		t.Fatalf("envtest is required (CI=true or KOMMERCE_TEST_REQUIRE_SERVICES is set): %v", err)
	}
	t.Fatal(err)
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
