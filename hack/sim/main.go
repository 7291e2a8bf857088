// Command sim proves the experiment statistics by simulation: seeded A/A experiments
// and planted lifts and drops, each looked at after every batch of visitors, run
// through internal/experiment.Judge exactly as the ModelVersion controller calls it.
// It prints the false-positive rate with its 95 % Wilson interval, the power at the
// sample size the method states, and the runtime. The output is deterministic for a
// given -seed and -runs.
//
//	go run ./hack/sim [-runs 1000] [-seed 15]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/kommerce/kommerce/internal/experiment"
	"github.com/kommerce/kommerce/internal/experiment/simulation"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	runs := fs.Int("runs", 1000, "experiments per scenario")
	seed := fs.Uint64("seed", 15, "random seed")
	batch := fs.Int64("batch", 1000, "visitors per arm between two looks")
	if err := fs.Parse(args); err != nil {
		return err
	}
	began := time.Now()
	fmt.Fprintf(stdout, "seed %d, %d runs per scenario, a look after every %d visitors per arm, 95%% confidence, minSamples %d\n\n",
		*seed, *runs, *batch, experiment.DefaultMinSamples)
	for _, f := range simulation.Families() {
		if err := ctx.Err(); err != nil {
			return err
		}
		f.Measure(*runs, *batch, *seed).Print(stdout, f)
	}
	fmt.Fprintf(stdout, "total runtime %s\n", time.Since(began).Round(100*time.Millisecond))
	return nil
}
