// Package benchsummary is the one-line contract between the benchmark programs under
// hack/bench and hack/bench/all.sh: each program prints one line per target it
// measures, and all.sh gathers them into the table at the top of docs/benchmarks.md.
//
// A line is tab-separated so that figures may contain spaces and commas:
//
//	BENCHSUMMARY<TAB>target<TAB>goal<TAB>measured<TAB>met|not met
//
// Shell scripts print the same line with printf; Go programs call Line.
package benchsummary

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Prefix starts every summary line.
const Prefix = "BENCHSUMMARY"

// Result is one target as one run measured it.
type Result struct {
	Target   string // what is measured, e.g. "product read, cache hit (Redis)"
	Goal     string // e.g. ">= 0.5x bare"
	Measured string // the figure with its ratio, e.g. "0.57x (14,873 vs 25,787 req/s)"
	Met      bool
}

// Line formats r as a summary line (without the newline). Tabs and newlines in the
// fields become spaces: they would break the line apart.
func Line(r Result) string {
	met := "not met"
	if r.Met {
		met = "met"
	}
	return strings.Join([]string{Prefix, clean(r.Target), clean(r.Goal), clean(r.Measured), met}, "\t")
}

// Print writes r's line to w.
func Print(w io.Writer, r Result) {
	fmt.Fprintln(w, Line(r))
}

func clean(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\t' || r == '\n' || r == '\r' }), " ")
}

// Parse returns the summary lines of a benchmark's output, in order; other lines are
// ignored. A line that starts with the prefix but is malformed is an error: a
// benchmark that meant to report and could not must not vanish from the table.
func Parse(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if !strings.HasPrefix(line, Prefix+"\t") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 || f[1] == "" || f[3] == "" {
			return out, fmt.Errorf("line %d: want %s<TAB>target<TAB>goal<TAB>measured<TAB>met|not met, got %q", n, Prefix, line)
		}
		var met bool
		switch f[4] {
		case "met":
			met = true
		case "not met":
		default:
			return out, fmt.Errorf("line %d: the last field is %q, want \"met\" or \"not met\"", n, f[4])
		}
		out = append(out, Result{Target: f[1], Goal: f[2], Measured: f[3], Met: met})
	}
	return out, sc.Err()
}
