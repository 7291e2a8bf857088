package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
	code := summarize(strings.NewReader(events), &out, options{coverFile: profile})
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

var totalsRE = regexp.MustCompile(`^Tests: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$`)

// lastLine returns the summary's last line and checks it is the only totals line.
func lastLine(t *testing.T, out string) string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "Tests:") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d totals lines, want 1:\n%s", n, out)
	}
	return lines[len(lines)-1]
}

// e2eResults writes what hack/test.sh records for each end-to-end script: the
// script's log and one results line.
func e2eResults(t *testing.T, scripts ...string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	for _, s := range scripts { // "name code"
		name, code, _ := strings.Cut(s, " ")
		log := filepath.Join(dir, name+".log")
		if err := os.WriteFile(log, []byte("starting "+name+"\n"+name+": the last thing it said\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "hack/e2e/%s %s 42 %s\n", name, code, log)
	}
	file := filepath.Join(dir, "e2e.txt")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

const (
	passEvent = `{"Action":"pass","Package":"example.com/m/a","Test":"TestA","Elapsed":0.1}
{"Action":"pass","Package":"example.com/m/a","Elapsed":0.2}
`
	skipEvent = `{"Action":"output","Package":"example.com/m/a","Test":"TestS","Output":"    a_test.go:9: kafka is not reachable\n"}
{"Action":"skip","Package":"example.com/m/a","Test":"TestS"}
`
)

// TestRunResult: the exit code, the totals and the end-to-end scripts, with the
// totals line always last, whatever failed.
func TestRunResult(t *testing.T) {
	for _, tt := range []struct {
		name    string
		events  string
		e2e     []string // "script code"; nil: no -e2e
		strict  bool
		allowed map[string]string
		code    int
		totals  string
		want    []string
	}{
		{name: "all passed", events: passEvent, code: 0, totals: "Tests: 1 passed, 0 failed, 0 skipped"},
		{name: "scripts count as tests", events: passEvent, e2e: []string{"api-run.sh 0", "operator.sh 0"}, code: 0,
			totals: "Tests: 3 passed, 0 failed, 0 skipped", want: []string{"PASS    hack/e2e", "PASS  api-run.sh", "PASS  operator.sh"}},
		{name: "a failed script fails the run and shows its log", events: passEvent, e2e: []string{"api-run.sh 0", "schemathesis.sh 1"}, code: 1,
			totals: "Tests: 2 passed, 1 failed, 0 skipped",
			want: []string{"FAIL    hack/e2e", "FAIL  schemathesis.sh", "exit 1", "--- output of failed hack/e2e schemathesis.sh", "schemathesis.sh: the last thing it said",
				"--- end of failed hack/e2e schemathesis.sh\nstarting schemathesis.sh\nschemathesis.sh: the last thing it said\n\nTests:"}},
		{name: "a skip is fine outside CI", events: passEvent + skipEvent, code: 0,
			totals: "Tests: 1 passed, 0 failed, 1 skipped", want: []string{"kafka is not reachable"}},
		{name: "a skip fails a strict run", events: passEvent + skipEvent, strict: true, code: 1,
			totals: "Tests: 1 passed, 0 failed, 1 skipped", want: []string{"(NOT ALLOWED)", "1 skipped test(s) fail this run", "\n  example.com/m/a TestS\n"}},
		{name: "an allowed skip passes a strict run", events: passEvent + skipEvent, strict: true,
			allowed: map[string]string{"example.com/m/a TestS": "needs a GPU"}, code: 0,
			totals: "Tests: 1 passed, 0 failed, 1 skipped", want: []string{"(allowed: needs a GPU)"}},
		{name: "the allow-list names a test exactly", events: passEvent + skipEvent, strict: true,
			allowed: map[string]string{"example.com/m/a TestS/sub": "needs a GPU"}, code: 1,
			totals: "Tests: 1 passed, 0 failed, 1 skipped", want: []string{"(NOT ALLOWED)"}},
		{name: "a package that never finished", events: `{"Action":"start","Package":"example.com/m/x"}` + "\n" + "x.go:1: syntax error\n", code: 1,
			totals: "Tests: 0 passed, 0 failed, 0 skipped", want: []string{"x.go:1: syntax error", "FAIL    example.com/m/x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := options{strict: tt.strict, allowed: tt.allowed}
			if tt.e2e != nil {
				o.e2eFile = e2eResults(t, tt.e2e...)
			}
			var out bytes.Buffer
			code := summarize(strings.NewReader(tt.events), &out, o)
			got := out.String()
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			if last := lastLine(t, got); last != tt.totals || !totalsRE.MatchString(last) {
				t.Errorf("last line %q, want %q", last, tt.totals)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("summary lacks %q", w)
				}
			}
			if t.Failed() {
				t.Logf("summary:\n%s", got)
			}
		})
	}
}

// TestBrokenE2EResults: results that cannot be read fail the run, still ending with
// the totals.
func TestBrokenE2EResults(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "e2e.txt")
	if err := os.WriteFile(bad, []byte("hack/e2e/x.sh zero 1 /dev/null\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, file := range map[string]string{"missing": filepath.Join(t.TempDir(), "none.txt"), "malformed": bad} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if code := summarize(strings.NewReader(passEvent), &out, options{e2eFile: file}); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if !strings.Contains(out.String(), "end-to-end results") {
				t.Errorf("no word about the results:\n%s", out.String())
			}
			if last := lastLine(t, out.String()); !totalsRE.MatchString(last) {
				t.Errorf("last line %q", last)
			}
		})
	}
}

func TestReadAllowList(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		want       map[string]string
		err        string
	}{
		{"header only", "# the list\n#\n# nothing yet\n", map[string]string{}, ""},
		{"comment above", "# header\n\n# needs a GPU,\n# which CI lacks\ninference/x TestGPU\n",
			map[string]string{"inference/x TestGPU": "needs a GPU, which CI lacks"}, ""},
		{"comment on the line", "inference/x TestGPU/sub   # needs a GPU\n", map[string]string{"inference/x TestGPU/sub": "needs a GPU"}, ""},
		{"one comment, one entry", "# needs a GPU\ninference/x TestA\ninference/x TestB\n", nil, ":3: inference/x TestB has no comment"},
		{"a blank line parts a comment from the entry", "# needs a GPU\n\ninference/x TestA\n", nil, ":3: inference/x TestA has no comment"},
		{"no test", "# why\ninference/x\n", nil, ":2: want <package> <test>"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "allowed.txt")
			if err := os.WriteFile(file, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readAllowList(file)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRepositoryAllowList: the list hack/test.sh uses reads, every entry explained.
func TestRepositoryAllowList(t *testing.T) {
	if _, err := readAllowList("allowed-skips.txt"); err != nil {
		t.Fatal(err)
	}
}
