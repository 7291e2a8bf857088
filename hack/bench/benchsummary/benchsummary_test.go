package benchsummary

import (
	"errors"
	"strings"
	"testing"
)

func TestLineRoundTrip(t *testing.T) {
	in := []Result{
		{Target: "product read, cache hit (Redis)", Goal: ">= 0.5x bare", Measured: "0.57x (14,873 vs 25,787 req/s)", Met: true},
		{Target: "tabs\tand\nnewlines", Goal: "", Measured: "1 | 2", Met: false},
	}
	var out strings.Builder
	out.WriteString("some other output\nBENCHSUMMARYnot a tab\n")
	for _, r := range in {
		Print(&out, r)
	}
	got, err := Parse(strings.NewReader(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{in[0], {Target: "tabs and newlines", Measured: "1 | 2"}}
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseRefusesMalformed(t *testing.T) {
	for _, line := range []string{
		"BENCHSUMMARY\ttarget\tgoal\tmeasured",             // four fields
		"BENCHSUMMARY\ttarget\tgoal\tmeasured\tyes",        // not met|not met
		"BENCHSUMMARY\t\tgoal\tmeasured\tmet",              // no target
		"BENCHSUMMARY\ttarget\tgoal\t\tmet",                // no figure
		"BENCHSUMMARY\ttarget\tgoal\tmeasured\tmet\textra", // six fields
	} {
		if _, err := Parse(strings.NewReader("x\n" + line + "\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: err %v, want one naming line 2", line, err)
		}
	}
}

func TestTable(t *testing.T) {
	runs := []Run{
		{Name: "api", Command: "BENCH_SHORT=1 hack/bench/api.sh", Results: []Result{
			{Target: "product read", Goal: ">= 0.5x", Measured: "0.61x", Met: true},
			{Target: "list | 20", Goal: ">= 0.5x", Measured: "0.42x"},
			{Target: "import rows/s", Measured: "2,681 rows/s", Met: true},
		}},
		{Name: "ingest", Command: "hack/bench/ingest.sh", Exit: 2, Seconds: 31},
		{Name: "search", Command: "hack/bench/search.sh"},
		{Name: "jobs", Command: "hack/bench/jobs.sh", Err: errors.New("line 3: bad")},
	}
	got := Table("Last run: now.", Rows(runs, "today, abc123"))
	for _, w := range []string{
		"Last run: now.\n\n| Target | Goal |",
		"| product read | >= 0.5x | 0.61x | **met** | `BENCH_SHORT=1 hack/bench/api.sh` | today, abc123 |",
		`| list \| 20 | >= 0.5x | 0.42x | not met |`,
		"| import rows/s | — (a figure, no target) | 2,681 rows/s | — |",
		"| ingest | — | **the benchmark failed** (exit 2 after 31 s)",
		"| search | — | **printed no summary line** | not met |",
		"| jobs | — | **unreadable summary**: line 3: bad | not met |",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("table lacks %q:\n%s", w, got)
		}
	}
}

// TestMerge: a partial run (all.sh --only) replaces the rows of the benchmarks it ran,
// in place, keeps the others, and appends benchmarks new to the table.
func TestMerge(t *testing.T) {
	first := []Run{
		{Command: "a.sh", Results: []Result{{Target: "a1", Measured: "1"}, {Target: "a2 | x", Measured: "2"}}},
		{Command: "b.sh", Results: []Result{{Target: "b1", Measured: "1"}}},
		{Command: "c.sh", Results: []Result{{Target: "c1", Measured: "1"}}},
	}
	old := Table("h", Rows(first, "monday"))
	second := []Run{
		{Command: "a.sh", Results: []Result{{Target: "a1", Measured: "10"}}},
		{Command: "d.sh", Results: []Result{{Target: "d1", Measured: "4"}}},
	}
	got := Merge(old, second, Rows(second, "tuesday"))
	var targets []string
	for _, r := range got {
		f := strings.Fields(r) // "|", target, ..., when, "|"
		targets = append(targets, f[1]+"@"+f[len(f)-2])
	}
	want := []string{"a1@tuesday", "b1@monday", "c1@monday", "d1@tuesday"}
	if strings.Join(targets, " ") != strings.Join(want, " ") {
		t.Errorf("merged rows %v, want %v:\n%s", targets, want, strings.Join(got, "\n"))
	}
	if all := Merge("", first, Rows(first, "x")); len(all) != 4 {
		t.Errorf("merge into an empty table: %d rows, want 4", len(all))
	}
}

func TestSplice(t *testing.T) {
	doc := "# Benchmarks\n\nIntro line one\nline two.\n\n## Product reads\n\ntext\n"
	first, err := Splice(doc, "TABLE 1\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Benchmarks\n\nIntro line one\nline two.\n\n" + Begin + "\nTABLE 1\n" + End + "\n\n## Product reads\n\ntext\n"
	if first != want {
		t.Fatalf("first splice:\n%s\nwant:\n%s", first, want)
	}
	second, err := Splice(first, "TABLE 2")
	if err != nil {
		t.Fatal(err)
	}
	if want2 := strings.Replace(want, "TABLE 1", "TABLE 2", 1); second != want2 {
		t.Fatalf("second splice:\n%s\nwant:\n%s", second, want2)
	}
	if _, err := Splice(End+"\n"+Begin+"\n", "T"); err == nil {
		t.Error("markers out of order: no error")
	}
	if _, err := Splice("x\n"+Begin+"\n", "T"); err == nil {
		t.Error("end marker missing: no error")
	}
	if got, _ := Splice("# Title only\n", "T"); got != "# Title only\n\n"+Begin+"\nT\n"+End+"\n" {
		t.Errorf("title only: %q", got)
	}
}
