package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	apiLog := write("api.log", "noise\nBENCHSUMMARY\tproduct read\t>= 0.5x\t0.61x\tmet\n")
	badLog := write("bad.log", "BENCHSUMMARY\tonly\tthree\n")
	manifest := write("manifest", strings.Join([]string{
		"api\tBENCH_SHORT=1 hack/bench/api.sh\t0\t40\t" + apiLog,
		"ingest\thack/bench/ingest.sh\t1\t12\t" + filepath.Join(dir, "missing.log"),
		"bad\thack/bench/bad.sh\t0\t1\t" + badLog,
		"",
	}, "\n"))
	doc := write("benchmarks.md", "# Benchmarks\n\nIntro.\n\n## API\n")
	if err := run(doc, "Run of today.", "today", manifest); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, w := range []string{
		"Intro.\n\n<!-- benchsummary:begin",
		"Run of today.",
		"| product read | >= 0.5x | 0.61x | **met** | `BENCH_SHORT=1 hack/bench/api.sh` | today |",
		"| ingest | — | **the benchmark failed** (exit 1 after 12 s)",
		"| bad | — | **unreadable summary**: line 1:",
		"<!-- benchsummary:end -->\n\n## API\n",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("document lacks %q:\n%s", w, got)
		}
	}
}

func TestReadManifestRefusesBadLines(t *testing.T) {
	dir := t.TempDir()
	for _, line := range []string{"api\tcmd\t0\t1", "api\tcmd\tzero\t1\tlog"} {
		p := filepath.Join(dir, "m")
		if err := os.WriteFile(p, []byte(line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := readManifest(p); err == nil {
			t.Errorf("%q: no error", line)
		}
	}
}
