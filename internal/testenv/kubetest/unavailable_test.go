package kubetest_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/internal/testenv/kubetest"
)

// childEnv is the environment of a child test process: the parent's without the
// variables that make services required (make test sets them), plus vars.
func childEnv(vars ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CI=") || strings.HasPrefix(kv, "KOMMERCE_TEST_REQUIRE_SERVICES=") || strings.HasPrefix(kv, "KUBEBUILDER_ASSETS=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, vars...)
}

// TestUnavailable runs this test binary again as a child that starts envtest from a
// given KUBEBUILDER_ASSETS and hands the error to Unavailable: missing binaries skip
// the child on a developer's machine and fail it under CI=true or
// KOMMERCE_TEST_REQUIRE_SERVICES=1; binaries that are there but cannot start fail it
// everywhere.
func TestUnavailable(t *testing.T) {
	if os.Getenv("KUBETEST_CHILD") != "" {
		env, _, err := kubetest.Start()
		if err == nil {
			_ = env.Stop()
		}
		kubetest.Unavailable(t, err)
		t.Fatal("envtest started from assets that cannot run")
	}
	empty := t.TempDir()
	broken := t.TempDir() // both binaries present, neither executable
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if err := os.WriteFile(filepath.Join(broken, bin), []byte("not a program"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name     string
		vars     []string
		wantFail bool
		want     string
	}{
		{"missing, developer machine", []string{"KUBEBUILDER_ASSETS=" + empty}, false, "--- SKIP: TestUnavailable"},
		{"missing, CI", []string{"KUBEBUILDER_ASSETS=" + empty, "CI=true"}, true, "envtest is required"},
		{"missing, make test", []string{"KUBEBUILDER_ASSETS=" + empty, "KOMMERCE_TEST_REQUIRE_SERVICES=1"}, true, "envtest is required"},
		{"CI=false is not CI", []string{"KUBEBUILDER_ASSETS=" + empty, "CI=false"}, false, "--- SKIP: TestUnavailable"},
		{"present but broken", []string{"KUBEBUILDER_ASSETS=" + broken}, true, "start envtest from " + broken},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestUnavailable$", "-test.v", "-test.count=1")
			cmd.Env = childEnv(append(tt.vars, "KUBETEST_CHILD=1")...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatal(err)
			}
			if failed := err != nil; failed != tt.wantFail {
				t.Errorf("child failed=%v, want %v", failed, tt.wantFail)
			}
			if tt.wantFail && strings.Contains(string(out), "--- SKIP") {
				t.Errorf("child skipped where it must fail")
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("child output lacks %q", tt.want)
			}
			if t.Failed() {
				t.Logf("child output:\n%s", out)
			}
		})
	}
}

// TestControllerSuiteFailsWithoutEnvtestUnderCI runs the Tenant controller's suite
// the way CI would on a machine without envtest binaries: it must fail, saying why,
// and skip nothing.
func TestControllerSuiteFailsWithoutEnvtestUnderCI(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command runs the controller suite: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), goBin, "test", "-count=1", "-v", "./controllers/tenant")
	cmd.Dir = kubetest.RepoRoot()
	cmd.Env = childEnv("CI=true", "KUBEBUILDER_ASSETS="+t.TempDir())
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("go test ./controllers/tenant with CI=true and no envtest binaries: %v, want a failing exit\n%s", err, out)
	}
	for _, want := range []string{"envtest is required", "--- FAIL", "FAIL\tgithub.com/kommerce/kommerce/controllers/tenant"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Error("a test skipped under CI")
	}
	if t.Failed() {
		t.Logf("go test output:\n%s", out)
	}
}
