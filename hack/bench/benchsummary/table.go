package benchsummary

import (
	"fmt"
	"strings"
)

// Markers delimit the generated table in docs/benchmarks.md; everything between them
// is replaced on every run, everything outside is left alone.
const (
	Begin = "<!-- benchsummary:begin: hack/bench/all.sh writes this table; change the benchmarks, not the table -->"
	End   = "<!-- benchsummary:end -->"
)

// Run is one benchmark script as all.sh ran it.
type Run struct {
	Name    string // e.g. "api"
	Command string // the command line all.sh ran, e.g. "BENCH_SHORT=1 hack/bench/api.sh"
	Exit    int
	Seconds int
	Results []Result
	Err     error // the output could not be parsed
}

// Table renders the runs as a Markdown table, one row per result. A benchmark that
// failed or reported nothing still gets a row, so a broken benchmark shows in the
// table instead of silently dropping its targets.
func Table(header string, runs []Run) string {
	var b strings.Builder
	b.WriteString(header)
	b.WriteString("\n\n| Target | Goal | Today (short run) | Met | Command |\n|---|---|---|---|---|\n")
	row := func(target, goal, measured, met, command string) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", cell(target), cell(goal), cell(measured), met, "`"+strings.ReplaceAll(command, "`", "'")+"`")
	}
	for _, r := range runs {
		switch {
		case r.Exit != 0:
			row(r.Name, "—", fmt.Sprintf("**the benchmark failed** (exit %d after %d s); its log is in all.sh's output folder", r.Exit, r.Seconds), "not met", r.Command)
			continue
		case r.Err != nil:
			row(r.Name, "—", "**unreadable summary**: "+r.Err.Error(), "not met", r.Command)
			continue
		case len(r.Results) == 0:
			row(r.Name, "—", "**printed no summary line**", "not met", r.Command)
			continue
		}
		for _, res := range r.Results {
			met := "not met"
			if res.Met {
				met = "**met**"
			}
			goal := res.Goal
			if goal == "" {
				// A figure the issues ask for without a target (a throughput to
				// know, an overhead to watch): nothing to meet.
				goal, met = "— (a figure, no target)", "—"
			}
			row(res.Target, goal, res.Measured, met, r.Command)
		}
	}
	return b.String()
}

// cell keeps a value inside its Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// Splice puts table between the markers of doc. Without markers, the table goes
// right after the document's first paragraph under its title, markers included, so
// the next run finds them. Markers out of order are an error: guessing could eat
// the document.
func Splice(doc, table string) (string, error) {
	block := Begin + "\n" + strings.TrimRight(table, "\n") + "\n" + End
	b, e := strings.Index(doc, Begin), strings.Index(doc, End)
	switch {
	case b >= 0 && e > b:
		return doc[:b] + block + doc[e+len(End):], nil
	case b >= 0 || e >= 0:
		return "", fmt.Errorf("the markers %q and %q are missing one or out of order", Begin, End)
	}
	// After the first blank line that follows some text below the title.
	lines := strings.SplitAfter(doc, "\n")
	seenText := false
	for i, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case i == 0 || strings.HasPrefix(t, "#"):
		case t != "":
			seenText = true
		case seenText:
			return strings.Join(lines[:i+1], "") + block + "\n\n" + strings.Join(lines[i+1:], ""), nil
		}
	}
	return strings.TrimRight(doc, "\n") + "\n\n" + block + "\n", nil
}
