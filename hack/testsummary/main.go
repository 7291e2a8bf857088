// Command testsummary reads `go test -json` from stdin and prints what a reader of a
// CI log needs: the output of failing tests, one line per package (result, time,
// coverage), every smoke test with its result, every skipped test with its reason,
// and totals. It exits 1 when anything failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
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
	os.Exit(summarize(os.Stdin, os.Stdout))
}

func summarize(in io.Reader, out io.Writer) int {
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
	fmt.Fprintf(out, "\n%-6s %-58s %8s  %s\n", "RESULT", "PACKAGE", "TIME", "COVERAGE")
	bad := len(failed) > 0
	for _, n := range names {
		p := pkgs[n]
		action := strings.ToUpper(p.action)
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
		if cov == "" {
			cov = "-"
		}
		fmt.Fprintf(out, "%-6s %-58s %7.1fs  %s\n", action, short(n), p.elapsed, cov)
	}
	if len(smoke) > 0 {
		fmt.Fprintf(out, "\nSmoke tests (each against its real service):\n  %s\n", strings.Join(smoke, "\n  "))
	}
	if len(skipped) > 0 {
		fmt.Fprintf(out, "\nSkipped tests (%d):\n  %s\n", len(skipped), strings.Join(skipped, "\n  "))
	}
	fmt.Fprintf(out, "\nTests: %d passed, %d failed, %d skipped\n", passed, len(failed), len(skipped))
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
