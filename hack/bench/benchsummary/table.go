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

// Rows renders the runs as Markdown table rows, one per result, each stamped with
// when (the run's time and commit). A benchmark that failed or reported nothing
// still gets a row, so a broken benchmark shows in the table instead of silently
// dropping its targets.
func Rows(runs []Run, when string) []string {
	var rows []string
	row := func(target, goal, measured, met, command string) {
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s | %s | %s |", cell(target), cell(goal), cell(measured), met,
			"`"+strings.ReplaceAll(command, "`", "'")+"`", cell(when)))
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
	return rows
}

// Merge puts the rows of this run in place of the rows an earlier table has for the
// same commands, keeping the rows of benchmarks not run this time (all.sh --only):
// the table is always the latest figure of every benchmark, each row saying when it
// was measured. Commands new to the table go last.
func Merge(old string, runs []Run, rows []string) []string {
	fresh := map[string][]string{}
	var order []string
	for _, r := range rows {
		c := command(r)
		if _, ok := fresh[c]; !ok {
			order = append(order, c)
		}
		fresh[c] = append(fresh[c], r)
	}
	for _, r := range runs { // a run always has rows; this keeps Merge honest if not
		c := "`" + strings.ReplaceAll(r.Command, "`", "'") + "`"
		if _, ok := fresh[c]; !ok {
			fresh[c] = nil
			order = append(order, c)
		}
	}
	var out []string
	done := map[string]bool{}
	for _, line := range strings.Split(old, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| Target |") {
			continue
		}
		c := command(line)
		if _, ok := fresh[c]; !ok {
			out = append(out, line)
			continue
		}
		if !done[c] {
			out = append(out, fresh[c]...)
			done[c] = true
		}
	}
	for _, c := range order {
		if !done[c] {
			out = append(out, fresh[c]...)
		}
	}
	return out
}

// command is the Command cell of a row (the fifth; cells split on unescaped pipes).
func command(row string) string {
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(row); i++ {
		switch {
		case row[i] == '\\' && i+1 < len(row) && row[i+1] == '|':
			cur.WriteString(`\|`)
			i++
		case row[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(row[i])
		}
	}
	// cells[0] is the empty text before the first pipe.
	if len(cells) > 5 {
		return cells[5]
	}
	return ""
}

// Table is the header paragraph and the rows under the table's column names.
func Table(header string, rows []string) string {
	var b strings.Builder
	b.WriteString(header)
	b.WriteString("\n\n| Target | Goal | Latest short run | Met | Command | Measured |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		b.WriteString(r)
		b.WriteString("\n")
	}
	return b.String()
}

// Block returns what doc has between the markers ("" without them).
func Block(doc string) string {
	b, e := strings.Index(doc, Begin), strings.Index(doc, End)
	if b < 0 || e < b {
		return ""
	}
	return doc[b+len(Begin) : e]
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
