package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	profile := filepath.Join(t.TempDir(), "cover.out")
	// Block a.go:1 is run by package b's binary only; it still counts as covered.
	err := os.WriteFile(profile, []byte(`mode: atomic
example.com/m/a/a.go:1.1,2.1 3 0
example.com/m/a/a.go:1.1,2.1 3 5
example.com/m/a/a.go:3.1,4.1 1 0
example.com/m/b/b.go:1.1,2.1 4 1
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	events := strings.Join([]string{
		`{"Action":"run","Package":"example.com/m/a","Test":"TestSmokeThing"}`,
		`{"Action":"pass","Package":"example.com/m/a","Test":"TestSmokeThing","Elapsed":0.5}`,
		`{"Action":"output","Package":"example.com/m/a","Test":"TestSkipped","Output":"    x_test.go:9: redis is not reachable\n"}`,
		`{"Action":"skip","Package":"example.com/m/a","Test":"TestSkipped"}`,
		`{"Action":"pass","Package":"example.com/m/a","Elapsed":1}`,
		`{"Action":"output","Package":"example.com/m/b","Test":"TestBroken","Output":"    b_test.go:3: boom\n"}`,
		`{"Action":"fail","Package":"example.com/m/b","Test":"TestBroken"}`,
		`{"Action":"fail","Package":"example.com/m/b","Elapsed":2}`,
		`{"Action":"skip","Package":"example.com/m/c","Elapsed":0}`, // no test files
	}, "\n")
	var out bytes.Buffer
	code := summarize(strings.NewReader(events), &out, profile)
	got := out.String()
	if code != 1 {
		t.Errorf("exit %d with a failing test, want 1", code)
	}
	for _, want := range []string{
		"boom",                    // failing test output shown
		"PASS  TestSmokeThing",    // smoke test listed
		"redis is not reachable",  // skip reason shown
		"75.0% of statements",     // package a: 3 of 4 statements
		"100.0% of statements",    // package b
		"NOTEST  example.com/m/c", // a package without tests is not reported as skipped
		"1 passed, 1 failed, 1 skipped",
		"(every package's statements, counted across all test binaries): 87.5% of statements",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
}
