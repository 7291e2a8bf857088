// Command summarize rewrites the summary table at the top of docs/benchmarks.md from
// the benchmarks hack/bench/all.sh just ran. Its input is all.sh's manifest, one line
// per benchmark:
//
//	name<TAB>command<TAB>exit code<TAB>seconds<TAB>log file
//
// Each log is read for its BENCHSUMMARY lines (package benchsummary). The table is
// written between the document's markers; the rest of the document is untouched.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/kommerce/kommerce/hack/bench/benchsummary"
)

func main() {
	doc := flag.String("doc", "docs/benchmarks.md", "the document whose summary table is rewritten")
	header := flag.String("header", "", "the paragraph above the table")
	when := flag.String("when", "", "when and on which commit this run measured, shown on each of its rows")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: summarize [-doc FILE] [-header TEXT] [-when TEXT] MANIFEST\n\n"+
			"Rewrites the summary table of FILE from the benchmark runs listed in MANIFEST\n"+
			"(name, command, exit code, seconds, log file; tab-separated). Rows of benchmarks\n"+
			"not in MANIFEST are kept as they are.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*doc, *header, *when, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "summarize:", err)
		os.Exit(1)
	}
}

func run(docFile, header, when, manifest string) error {
	runs, err := readManifest(manifest)
	if err != nil {
		return err
	}
	doc, err := os.ReadFile(docFile) //nolint:gosec // a document of this repository, named by the caller
	if err != nil {
		return err
	}
	rows := benchsummary.Merge(benchsummary.Block(string(doc)), runs, benchsummary.Rows(runs, when))
	out, err := benchsummary.Splice(string(doc), benchsummary.Table(header, rows))
	if err != nil {
		return fmt.Errorf("%s: %w", docFile, err)
	}
	if err := os.WriteFile(docFile, []byte(out), 0o644); err != nil { //nolint:gosec // a document, world-readable like the rest of the tree
		return err
	}
	met, total := 0, 0
	for _, r := range runs {
		for _, res := range r.Results {
			if res.Goal == "" {
				continue // a figure without a target
			}
			total++
			if res.Met {
				met++
			}
		}
	}
	fmt.Printf("summarize: %s: %d benchmarks, %d targets, %d met\n", docFile, len(runs), total, met)
	return nil
}

func readManifest(file string) ([]benchsummary.Run, error) {
	f, err := os.Open(file) //nolint:gosec // all.sh's own manifest
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var runs []benchsummary.Run
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 5 {
			return nil, fmt.Errorf("%s:%d: want name, command, exit code, seconds, log (tab-separated), got %q", file, n, sc.Text())
		}
		exit, err1 := strconv.Atoi(fields[2])
		secs, err2 := strconv.Atoi(fields[3])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s:%d: exit code and seconds must be integers: %q", file, n, sc.Text())
		}
		r := benchsummary.Run{Name: fields[0], Command: fields[1], Exit: exit, Seconds: secs}
		if log, err := os.Open(fields[4]); err != nil { //nolint:gosec // a log all.sh wrote
			r.Err = err
		} else {
			r.Results, r.Err = benchsummary.Parse(log)
			log.Close()
		}
		runs = append(runs, r)
	}
	return runs, sc.Err()
}
