package testenv

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Chromium is a headless Chromium (hack/services.sh up chromium) for tests that
// check a page as a browser renders it.
type Chromium struct {
	bin string
	dir string
}

// NewChromium finds the browser named by KOMMERCE_TEST_CHROMIUM (else chromium on
// PATH); a missing one skips or fails the test like any other service.
func NewChromium(t testing.TB) *Chromium {
	t.Helper()
	bin := os.Getenv("KOMMERCE_TEST_CHROMIUM")
	if bin == "" {
		bin, _ = exec.LookPath("chromium")
	}
	if bin == "" {
		Unavailable(t, "chromium", "PATH", errors.New("no chromium binary"))
	}
	return &Chromium{bin: bin, dir: t.TempDir()}
}

// run starts the browser headless on url with extra flags and returns its stdout.
// Each run gets its own profile directory, so runs never share state.
func (c *Chromium) run(t testing.TB, url string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	profile, err := os.MkdirTemp(c.dir, "profile-")
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir=" + profile}, extra...)
	cmd := exec.CommandContext(ctx, c.bin, append(args, url)...) //nolint:gosec // the test's own browser and URL
	var stderr SyncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, stderr.String())
	}
	return out
}

// DOM loads url and returns the document as the browser built it.
func (c *Chromium) DOM(t testing.TB, url string) string {
	t.Helper()
	return string(c.run(t, url, "--dump-dom"))
}

// Screenshot renders url at width×height into a PNG under the test's temporary
// directory (or KOMMERCE_TEST_OUT when set, so it outlives the test) and returns
// its path.
func (c *Chromium) Screenshot(t testing.TB, url string, width, height int) string {
	t.Helper()
	dir := c.dir
	if out := os.Getenv("KOMMERCE_TEST_OUT"); out != "" {
		dir = out
	}
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // test artefacts
		t.Fatal(err)
	}
	path := filepath.Join(dir, Name(t, "screenshot", "-")+".png")
	c.run(t, url, "--screenshot="+path, "--hide-scrollbars", "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height))
	fi, err := os.Stat(path)
	if err != nil || fi.Size() == 0 {
		t.Fatalf("chromium wrote no screenshot of %s: %v", url, err)
	}
	return path
}
