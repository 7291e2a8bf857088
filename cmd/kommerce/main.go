// Command kommerce is the one binary of the platform: the operator, the API server,
// the ingest pipeline, the inference server, offline training, migrations, admin
// bootstrap and an all-in-one dev mode are its subcommands (see `kommerce --help`).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}
