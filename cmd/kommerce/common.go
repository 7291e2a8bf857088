package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/kommerce/kommerce/internal/config"
	"github.com/kommerce/kommerce/internal/logging"
	"github.com/kommerce/kommerce/internal/server"
	"github.com/kommerce/kommerce/internal/tracing"
)

// logConfig is the logging settings every subcommand has.
type logConfig struct {
	level  string
	format string
}

func (c *logConfig) register(set *config.Set) {
	set.String(&c.level, "log-level", "KOMMERCE_LOG_LEVEL", "info", "minimum level of log lines", config.Enum(logging.Levels...))
	set.String(&c.format, "log-format", "KOMMERCE_LOG_FORMAT", "json", "log line format", config.Enum(logging.Formats...))
}

func (c *logConfig) logger(w io.Writer) *slog.Logger { return logging.New(w, c.level, c.format) }

// Default listen addresses, one port per server, so that every kommerce server can run
// beside the others on one machine: `make run` (kommerce dev, the API) and then
// `kommerce operator`, as docs/operator.md suggests, must both start.
const (
	defaultAPIAddr             = ":8080" // kommerce api and kommerce dev (the same server)
	defaultInferenceAddr       = ":8081"
	defaultIngestAddr          = ":8082"
	defaultOperatorMetricsAddr = ":8083"
	defaultOperatorProbeAddr   = ":8084"
	defaultOperatorReportAddr  = ":8085"
)

// serverConfig is the settings every HTTP server subcommand shares.
type serverConfig struct {
	logConfig
	addr            string
	drainDelay      time.Duration
	shutdownTimeout time.Duration
	pprofAddr       string
}

func (c *serverConfig) register(set *config.Set, defaultAddr string) {
	c.logConfig.register(set)
	set.String(&c.addr, "http-addr", "KOMMERCE_HTTP_ADDR", defaultAddr, "listen address of the HTTP server", config.Check(config.HostPort))
	set.Duration(&c.drainDelay, "drain-delay", "KOMMERCE_DRAIN_DELAY", 0, "time /readyz reports draining before the listener closes (set ~5s in clusters)")
	set.Duration(&c.shutdownTimeout, "shutdown-timeout", "KOMMERCE_SHUTDOWN_TIMEOUT", 15*time.Second, "how long in-flight requests may finish after SIGTERM")
	set.String(&c.pprofAddr, "pprof-addr", "KOMMERCE_PPROF_ADDR", "0", "listen address of Go's /debug/pprof endpoints, on a listener of their own (0 turns them off; keep them off public addresses)", config.Check(listenAddrOrOff))
}

// startProfiling opens --pprof-addr (see startProfiling); call the result at exit.
func (c *serverConfig) startProfiling(log *slog.Logger) (func(), error) {
	return startProfiling(c.pprofAddr, log)
}

func (c *serverConfig) options(name string, log *slog.Logger) server.Options {
	return server.Options{
		Name: name, Addr: c.addr, Logger: log, Registry: server.NewRegistry(),
		DrainDelay: c.drainDelay, ShutdownTimeout: c.shutdownTimeout,
	}
}

// pingCheck adapts a Ping method to a readiness check.
func pingCheck(name string, ping func(context.Context) error) server.Check {
	return server.Check{Name: name, Fn: ping}
}

// startTracing turns OpenTelemetry tracing on when the standard OTEL_* variables ask
// for it (an OTLP endpoint; docs/observability.md), names the service
// "kommerce-<name>" unless OTEL_SERVICE_NAME does. Outgoing calls to Stripe and the
// inference server join traces through the transport their clients are built with
// (tracing.Transport); no process-wide setting is changed. It returns the provider
// (nil when tracing is off) and the function that flushes it at exit.
func startTracing(e *env, name string, log *slog.Logger) (*tracing.Provider, func(), error) {
	p, err := tracing.Start(e.getenv, "kommerce-"+name, log)
	if err != nil {
		return nil, nil, config.Usagef("tracing: %v", err)
	}
	if p == nil {
		return nil, func() {}, nil
	}
	return p, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	}, nil
}
