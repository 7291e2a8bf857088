// Command testsummary reads `go test -json` from stdin and prints what a reader of a
// CI log needs: the output of failing tests, one line per package (result, time,
// coverage), every smoke test with its result, every skipped test with its reason,
// and totals. It exits 1 when anything failed.
package main

import (
	"bufio"
	"encoding/json"
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

var coverRE = regexp.MustCompile(`coverage: ([0-9.]+% of statements|\[no statements\])`)

func main() {
	coverFile := flag.String("cover", "", "coverage profile written by go test -coverpkg; per-package coverage is computed from it")
	flag.Parse()
	os.Exit(summarize(os.Stdin, os.Stdout, *coverFile))
}

func summarize(in io.Reader, out io.Writer, coverFile string) int {
	pkgs := map[string]*pkgResult{}
	testOut := map[string][]string{}
	var failed, skipped, smoke []string
	passed := 0
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if json.Unmarshal(line, &ev) != nil {
			fmt.Fprintln(out, string(line)) // build errors arrive as plain text
			continue
		}
		p := pkgs[ev.Package]
		if p == nil {
			p = &pkgResult{}
			pkgs[ev.Package] = p
		}
		key := ev.Package + " " + ev.Test
		switch {
		case ev.Action == "output" && ev.Test != "":
			testOut[key] = append(testOut[key], ev.Output)
		case ev.Action == "output":
			p.output = append(p.output, ev.Output)
			if m := coverRE.FindStringSubmatch(ev.Output); m != nil {
				p.coverage = m[1]
			}
		case ev.Test == "" && (ev.Action == "pass" || ev.Action == "fail" || ev.Action == "skip"):
			p.action, p.elapsed = ev.Action, ev.Elapsed
		case ev.Action == "pass":
			passed++
			if strings.HasPrefix(ev.Test, "TestSmoke") && !strings.Contains(ev.Test, "/") {
				smoke = append(smoke, fmt.Sprintf("PASS  %-28s %6.2fs  %s", ev.Test, ev.Elapsed, short(ev.Package)))
			}
		case ev.Action == "fail":
			failed = append(failed, key)
			if strings.HasPrefix(ev.Test, "TestSmoke") && !strings.Contains(ev.Test, "/") {
				smoke = append(smoke, fmt.Sprintf("FAIL  %-28s %6.2fs  %s", ev.Test, ev.Elapsed, short(ev.Package)))
			}
		case ev.Action == "skip":
			skipped = append(skipped, fmt.Sprintf("%s %s: %s", short(ev.Package), ev.Test, reason(testOut[key])))
			if strings.HasPrefix(ev.Test, "TestSmoke") {
				smoke = append(smoke, fmt.Sprintf("SKIP  %-28s         %s", ev.Test, short(ev.Package)))
			}
		}
	}

	for _, key := range failed {
		if lines := testOut[key]; len(lines) > 0 {
			fmt.Fprintf(out, "\n--- output of failed %s\n%s", key, strings.Join(tail(lines, 80), ""))
		}
	}
	names := make([]string, 0, len(pkgs))
	for n := range pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	profile, total := readProfile(coverFile)
	fmt.Fprintf(out, "\n%-7s %-57s %8s  %s\n", "RESULT", "PACKAGE", "TIME", "COVERAGE")
	bad := len(failed) > 0
	for _, n := range names {
		p := pkgs[n]
		action := strings.ToUpper(p.action)
		if action == "SKIP" {
			action = "NOTEST" // go test reports a package without test files as skipped
		}
		if action == "" {
			action, bad = "FAIL", true // the package never finished: build error or panic
		}
		if action == "FAIL" {
			bad = true
			if len(p.output) > 0 && !hasFailedTest(failed, n) {
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
	if len(smoke) > 0 {
		fmt.Fprintf(out, "\nSmoke tests (each against its real service):\n  %s\n", strings.Join(smoke, "\n  "))
	}
	if len(skipped) > 0 {
		fmt.Fprintf(out, "\nSkipped tests (%d):\n  %s\n", len(skipped), strings.Join(skipped, "\n  "))
	}
	fmt.Fprintf(out, "\nTests: %d passed, %d failed, %d skipped\n", passed, len(failed), len(skipped))
	if total.statements > 0 {
		fmt.Fprintf(out, "Total statement coverage (every package's statements, counted across all test binaries): %s\n", total)
	}
	if bad {
		return 1
	}
	return 0
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
