// Command testsummary reads `go test -json` from stdin and prints what a reader of a
// CI log needs: the output of failing tests, one line per package (result, time,
// coverage), every smoke test and end-to-end script with its result, every skipped
// test with its reason, and, as the very last line, the totals
// "Tests: N passed, N failed, N skipped". It exits 1 when anything failed, and with
// -strict also when a test skipped that the allow-list does not name: a run that is
// required to exercise every service must not pass by skipping.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

type event struct {
	Time    time.Time
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

type pkgResult struct {
	action   string
	elapsed  float64
	coverage string
	output   []string
}

// options are the command's flags.
type options struct {
	coverFile string // -coverpkg profile; per-package coverage is computed from it
	e2eFile   string // results of the end-to-end scripts, see readE2E
	strict    bool   // a skipped test not in allowed fails the run
	allowed   map[string]string
}

var coverRE = regexp.MustCompile(`coverage: ([0-9.]+% of statements|\[no statements\])`)

// e2ePackage is the package name the end-to-end scripts are reported under.
const e2ePackage = "hack/e2e"

func main() {
	var o options
	var allowFile string
	flag.StringVar(&o.coverFile, "cover", "", "coverage profile written by go test -coverpkg; per-package coverage is computed from it")
	flag.StringVar(&o.e2eFile, "e2e", "", "results of the end-to-end scripts, one line each: <script> <exit code> <seconds> <log file>; each script counts as one test")
	flag.BoolVar(&o.strict, "strict", false, "fail the run when a test skipped that the -allowed-skips file does not name (set by hack/test.sh)")
	flag.StringVar(&allowFile, "allowed-skips", "hack/testsummary/allowed-skips.txt", "the tests that may skip under -strict, each with a comment saying why")
	flag.Parse()
	if o.strict {
		var err error
		if o.allowed, err = readAllowList(allowFile); err != nil {
			fmt.Fprintf(os.Stderr, "testsummary: %v\n", err)
			os.Exit(2)
		}
	}
	os.Exit(summarize(os.Stdin, os.Stdout, o))
}

// results is what one run produced: go test's events and the end-to-end scripts.
type results struct {
	pkgs    map[string]*pkgResult
	testOut map[string][]string
	failed  []string // "<package> <test>"
	skipped []skip
	smoke   []string
	e2e     []string
	passed  int
}

type skip struct{ pkg, test, reason string }

func summarize(in io.Reader, out io.Writer, o options) int {
	r := &results{pkgs: map[string]*pkgResult{}, testOut: map[string][]string{}}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if json.Unmarshal(line, &ev) != nil {
			fmt.Fprintln(out, string(line)) // build errors arrive as plain text
			continue
		}
		if strings.HasPrefix(ev.Action, "build-") {
			fmt.Fprint(out, ev.Output) // build-output: a compiler error, shown as it is
			continue
		}
		r.add(ev)
	}
	bad := false
	if o.e2eFile != "" {
		if err := r.addE2E(o.e2eFile); err != nil {
			fmt.Fprintf(out, "testsummary: end-to-end results: %v\n", err)
			bad = true
		}
	}
	if r.print(out, o) {
		bad = true
	}
	if bad {
		return 1
	}
	return 0
}

// add counts one go test event.
func (r *results) add(ev event) {
	p := r.pkgs[ev.Package]
	if p == nil {
		p = &pkgResult{}
		r.pkgs[ev.Package] = p
	}
	key := ev.Package + " " + ev.Test
	smoke := strings.HasPrefix(ev.Test, "TestSmoke") && !strings.Contains(ev.Test, "/")
	switch {
	case ev.Action == "output" && ev.Test != "":
		r.testOut[key] = append(r.testOut[key], ev.Output)
	case ev.Action == "output":
		p.output = append(p.output, ev.Output)
		if m := coverRE.FindStringSubmatch(ev.Output); m != nil {
			p.coverage = m[1]
		}
	case ev.Test == "" && (ev.Action == "pass" || ev.Action == "fail" || ev.Action == "skip"):
		p.action, p.elapsed = ev.Action, ev.Elapsed
	case ev.Action == "pass":
		r.passed++
		if smoke {
			r.smoke = append(r.smoke, fmt.Sprintf("PASS  %-28s %6.2fs  %s", ev.Test, ev.Elapsed, short(ev.Package)))
		}
	case ev.Action == "fail":
		r.failed = append(r.failed, key)
		if smoke {
			r.smoke = append(r.smoke, fmt.Sprintf("FAIL  %-28s %6.2fs  %s", ev.Test, ev.Elapsed, short(ev.Package)))
		}
	case ev.Action == "skip":
		r.skipped = append(r.skipped, skip{short(ev.Package), ev.Test, reason(r.testOut[key])})
		if smoke {
			r.smoke = append(r.smoke, fmt.Sprintf("SKIP  %-28s         %s", ev.Test, short(ev.Package)))
		}
	}
}

// print writes the summary, the totals line last, and reports whether the run failed.
func (r *results) print(out io.Writer, o options) bool {
	for _, key := range r.failed {
		if lines := r.testOut[key]; len(lines) > 0 {
			fmt.Fprintf(out, "\n--- output of failed %s\n%s", key, strings.Join(tail(lines, 80), ""))
		}
	}
	names := make([]string, 0, len(r.pkgs))
	for n := range r.pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	profile, total := readProfile(o.coverFile)
	fmt.Fprintf(out, "\n%-7s %-57s %8s  %s\n", "RESULT", "PACKAGE", "TIME", "COVERAGE")
	bad := len(r.failed) > 0
	for _, n := range names {
		p := r.pkgs[n]
		action := strings.ToUpper(p.action)
		if action == "SKIP" {
			action = "NOTEST" // go test reports a package without test files as skipped
		}
		if action == "" {
			action, bad = "FAIL", true // the package never finished: build error or panic
		}
		if action == "FAIL" {
			bad = true
			if len(p.output) > 0 && !hasFailedTest(r.failed, n) {
				fmt.Fprintf(out, "--- output of %s\n%s", n, strings.Join(tail(p.output, 40), ""))
			}
		}
		cov := p.coverage
		if c, ok := profile[n]; ok {
			cov = c.String()
		}
		if cov == "" {
			cov = "-"
		}
		fmt.Fprintf(out, "%-7s %-57s %7.1fs  %s\n", action, short(n), p.elapsed, cov)
	}
	if len(r.smoke) > 0 {
		fmt.Fprintf(out, "\nSmoke tests (each against its real service):\n  %s\n", strings.Join(r.smoke, "\n  "))
	}
	if len(r.e2e) > 0 {
		fmt.Fprintf(out, "\nEnd-to-end scripts (%s, each one test):\n  %s\n", e2ePackage, strings.Join(r.e2e, "\n  "))
	}
	if r.printSkips(out, o) {
		bad = true
	}
	// The CI log keeps only the end of the output, and the package table pushes the
	// failures' output above out of it: each failure's last lines are repeated here.
	for _, key := range r.failed {
		if lines := r.testOut[key]; len(lines) > 0 {
			fmt.Fprintf(out, "\n--- end of failed %s\n%s", key, strings.Join(clip(tail(lines, 12), 240), ""))
		}
	}
	if total.statements > 0 {
		fmt.Fprintf(out, "\nTotal statement coverage (every package's statements, counted across all test binaries): %s\n", total)
	}
	fmt.Fprintf(out, "\nTests: %d passed, %d failed, %d skipped\n", r.passed, len(r.failed), len(r.skipped))
	return bad
}

// printSkips lists the skipped tests; under -strict it reports whether one is
// missing from the allow-list.
func (r *results) printSkips(out io.Writer, o options) bool {
	if len(r.skipped) == 0 {
		return false
	}
	var lines, refused []string
	for _, s := range r.skipped {
		line := fmt.Sprintf("%s %s: %s", s.pkg, s.test, s.reason)
		if why, ok := o.allowed[s.pkg+" "+s.test]; ok {
			line += " (allowed: " + why + ")"
		} else if o.strict {
			line += " (NOT ALLOWED)"
			refused = append(refused, s.pkg+" "+s.test)
		}
		lines = append(lines, line)
	}
	fmt.Fprintf(out, "\nSkipped tests (%d):\n  %s\n", len(r.skipped), strings.Join(lines, "\n  "))
	if len(refused) == 0 {
		return false
	}
	fmt.Fprintf(out, "\n%d skipped test(s) fail this run: under CI=true and make test a test must run, or be named\n"+
		"with a comment saying why in the allow-list (hack/testsummary/allowed-skips.txt):\n  %s\n",
		len(refused), strings.Join(refused, "\n  "))
	return true
}

// addE2E counts each end-to-end script as one test of package hack/e2e. The file has
// one line per script that ran: "<script> <exit code> <seconds> <log file>"; a
// failed script's log tail is shown like a failed test's output.
func (r *results) addE2E(file string) error {
	raw, err := os.ReadFile(file) //nolint:gosec // the path is hack/test.sh's own
	if err != nil {
		return err
	}
	p := &pkgResult{action: "pass"}
	for i, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 {
			return fmt.Errorf("%s:%d: want <script> <exit code> <seconds> <log file>, got %q", file, i+1, line)
		}
		code, err1 := strconv.Atoi(f[1])
		secs, err2 := strconv.ParseFloat(f[2], 64)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("%s:%d: %w", file, i+1, err)
		}
		name := path.Base(f[0])
		key := e2ePackage + " " + name
		p.elapsed += secs
		if code == 0 {
			r.passed++
			r.e2e = append(r.e2e, fmt.Sprintf("PASS  %-28s %6.0fs", name, secs))
			continue
		}
		p.action = "fail"
		r.failed = append(r.failed, key)
		r.e2e = append(r.e2e, fmt.Sprintf("FAIL  %-28s %6.0fs  exit %d, log %s", name, secs, code, f[3]))
		if log, err := os.ReadFile(f[3]); err == nil { //nolint:gosec // the log hack/test.sh wrote
			r.testOut[key] = strings.SplitAfter(string(log), "\n")
		}
	}
	r.pkgs[e2ePackage] = p
	return nil
}

// readAllowList reads the tests that may skip under -strict: lines "<package> <test>",
// each with a comment saying why, on the lines directly above it or after a # on the
// same line. An entry without one is an error, so the list cannot grow unexplained.
func readAllowList(file string) (map[string]string, error) {
	raw, err := os.ReadFile(file) //nolint:gosec // a file of this repository
	if err != nil {
		return nil, fmt.Errorf("allow-list of skipped tests: %w", err)
	}
	allowed := map[string]string{}
	var comment []string
	for i, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			comment = nil
		case strings.HasPrefix(line, "#"):
			comment = append(comment, strings.TrimSpace(strings.TrimPrefix(line, "#")))
		default:
			entry, why, _ := strings.Cut(line, "#")
			f := strings.Fields(entry)
			if len(f) != 2 {
				return nil, fmt.Errorf("%s:%d: want <package> <test>, got %q", file, i+1, line)
			}
			why = strings.TrimSpace(why)
			if why == "" {
				why = strings.Join(comment, " ")
			}
			if why == "" {
				return nil, fmt.Errorf("%s:%d: %s %s has no comment saying why it may skip", file, i+1, f[0], f[1])
			}
			allowed[f[0]+" "+f[1]] = why
			comment = nil
		}
	}
	return allowed, nil
}

func hasFailedTest(failed []string, pkg string) bool {
	for _, f := range failed {
		if strings.HasPrefix(f, pkg+" ") {
			return true
		}
	}
	return false
}

func short(pkg string) string { return strings.TrimPrefix(pkg, "github.com/kommerce/kommerce/") }

func reason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "---") && !strings.HasPrefix(l, "===") {
			return l
		}
	}
	return "no reason given"
}

func tail(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

// coverage counts statements of one package.
type coverage struct{ statements, covered int }

func (c coverage) String() string {
	if c.statements == 0 {
		return "[no statements]"
	}
	return fmt.Sprintf("%.1f%% of statements", 100*float64(c.covered)/float64(c.statements))
}

// readProfile computes per-package coverage from a -coverpkg profile. A block is
// listed once per test binary that instruments it; it counts as covered when any
// binary ran it, so code exercised only by another package's black-box tests counts.
func readProfile(file string) (map[string]coverage, coverage) {
	var total coverage
	if file == "" {
		return nil, total
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, total
	}
	defer f.Close()
	type block struct {
		stmts int
		hit   bool
	}
	blocks := map[string]*block{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "mode:") {
			continue
		}
		// file.go:12.3,14.5 2 1
		fields := strings.Fields(line)
		if len(fields) != 3 {
			continue
		}
		stmts, err1 := strconv.Atoi(fields[1])
		count, err2 := strconv.Atoi(fields[2])
		if err1 != nil || err2 != nil {
			continue
		}
		b := blocks[fields[0]]
		if b == nil {
			b = &block{stmts: stmts}
			blocks[fields[0]] = b
		}
		b.hit = b.hit || count > 0
	}
	pkgs := map[string]coverage{}
	for key, b := range blocks {
		pkg := path.Dir(key[:strings.LastIndexByte(key, ':')])
		c := pkgs[pkg]
		c.statements += b.stmts
		total.statements += b.stmts
		if b.hit {
			c.covered += b.stmts
			total.covered += b.stmts
		}
		pkgs[pkg] = c
	}
	return pkgs, total
}

// clip shortens each line to at most n bytes, keeping its newline, so one long log
// line cannot take the whole of the CI log's end.
func clip(lines []string, n int) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) > n {
			l = l[:n] + "…\n"
		}
		out[i] = l
	}
	return out
}
