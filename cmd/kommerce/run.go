package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/kommerce/kommerce/internal/config"
)

// env is what a subcommand may touch of the outside world; tests pass their own.
type env struct {
	args   []string // arguments after the subcommand name
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env) error
}

// commands lists every subcommand, in the order `kommerce --help` shows them. Each
// one lives in its own file (operator.go, api.go, ...).
var commands = []command{
	{"operator", "run the Kubernetes operator (the Tenant controller; Storefront and ModelVersion are validated only)", runOperator},
	{"api", "serve the commerce REST API (/api/v1)", runAPI},
	{"ingest", "relay the outbox to Kafka and run the search indexer", runIngest},
	{"inference", "serve ONNX models over the Open Inference Protocol (KServe v2 REST)", runInference},
	{"train", "learn a model from platform data, export ONNX and a ModelVersion manifest", runTrain},
	{"rollout", "show, promote, abort or undo a Storefront's blue-green rollout (kubectl can do the same)", runRollout},
	{"migrate", "apply, roll back or list PostgreSQL schema migrations", runMigrate},
	{"admin", "bootstrap without a cluster: create tenants and users, rotate keys", runAdmin},
	{"dev", "everything in one process on embedded defaults, with a demo catalog", runDev},
	{"version", "print the version of this binary", runVersion},
}

// run is the whole program behind main, with its dependencies passed in.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		usage(stderr)
		return config.Usagef("no subcommand given")
	}
	name := args[1]
	switch name {
	case "-h", "--help", "help":
		usage(stdout)
		return nil
	case "--version":
		name = "version"
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(ctx, &env{args: args[2:], getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr})
		}
	}
	return config.Usagef("unknown subcommand %q; run kommerce --help for the list", name)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "kommerce - Kubernetes-native commerce platform\n\nUsage: kommerce <subcommand> [flags]\n\nSubcommands:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nEvery flag can also be set with its KOMMERCE_* variable; see kommerce <subcommand> --help.")
	fmt.Fprintln(w, "api, ingest, inference and dev export OpenTelemetry traces when OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/observability.md).")
}

// exitCode maps an error to the process status: 0 success or --help, 2 bad usage or
// configuration (and features not built yet), 1 anything else.
func exitCode(err error, stderr io.Writer) int {
	var usageErr *config.UsageError
	switch {
	case err == nil, errors.Is(err, config.ErrHelp):
		return 0
	case errors.As(err, &usageErr):
		fmt.Fprintf(stderr, "kommerce: %s\n", usageErr.Msg)
		return 2
	default:
		fmt.Fprintf(stderr, "kommerce: %s\n", strings.TrimSpace(err.Error()))
		return 1
	}
}
