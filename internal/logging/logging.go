// Package logging builds the one slog.Logger a process uses. It is created in main,
// passed down explicitly, and bridged into controller-runtime and other libraries so
// that every line an SRE reads has the same JSON shape.
package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// Levels are the accepted values of --log-level / KOMMERCE_LOG_LEVEL.
var Levels = []string{"debug", "info", "warn", "error"}

// Formats are the accepted values of --log-format / KOMMERCE_LOG_FORMAT.
var Formats = []string{"json", "text"}

// New returns a logger writing to w. Unknown levels fall back to info; the config
// package rejects them before this is called.
func New(w io.Writer, level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: parseLevel(level), ReplaceAttr: redact}
	var h slog.Handler
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(TraceHandler(h))
}

// TraceHandler wraps h so that a record logged with the context of a traced request
// or message carries trace_id and span_id: a log line leads to its trace, and a trace
// to its log lines.
func TraceHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(traceHandler); ok {
		return h
	}
	return traceHandler{h}
}

type traceHandler struct{ slog.Handler }

func (t traceHandler) Handle(ctx context.Context, rec slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		rec.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return t.Handler.Handle(ctx, rec)
}

func (t traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{t.Handler.WithAttrs(as)}
}

func (t traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{t.Handler.WithGroup(name)}
}

func parseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// secretKeys are attribute names whose values never reach a log line, whatever a
// caller passes by mistake.
var secretKeys = map[string]bool{
	"password": true, "token": true, "access_token": true, "refresh_token": true,
	"secret": true, "authorization": true, "api_key": true, "client_secret": true,
	"signing_key": true, "cookie": true,
}

func redact(_ []string, a slog.Attr) slog.Attr {
	if secretKeys[strings.ToLower(a.Key)] {
		return slog.String(a.Key, "[redacted]")
	}
	return a
}
