package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name, level, format string
		logDebug            bool
		wantJSON            bool
	}{
		{name: "json info hides debug", level: "info", format: "json", wantJSON: true},
		{name: "json debug shows debug", level: "debug", format: "json", logDebug: true, wantJSON: true},
		{name: "text", level: "info", format: "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := New(&buf, tt.level, tt.format)
			log.Debug("debug line")
			log.Info("info line", "password", "hunter2", "tenant", "acme")
			out := buf.String()
			if strings.Contains(out, "debug line") != tt.logDebug {
				t.Errorf("debug line present = %v, want %v:\n%s", !tt.logDebug, tt.logDebug, out)
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("secret value reached the log:\n%s", out)
			}
			if !strings.Contains(out, "acme") {
				t.Errorf("ordinary attribute missing:\n%s", out)
			}
			if tt.wantJSON {
				last := strings.TrimSpace(out)
				last = last[strings.LastIndex(last, "\n")+1:]
				var m map[string]any
				if err := json.Unmarshal([]byte(last), &m); err != nil {
					t.Fatalf("not JSON: %v: %s", err, last)
				}
				if m["msg"] != "info line" || m["password"] != "[redacted]" {
					t.Errorf("unexpected record %v", m)
				}
			}
		})
	}
}

func TestTraceIDs(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	traced := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	tests := []struct {
		name      string
		ctx       context.Context
		wantTrace string
		wantSpan  string
	}{
		{name: "traced context", ctx: traced, wantTrace: tid.String(), wantSpan: sid.String()},
		{name: "untraced context", ctx: context.Background()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := New(&buf, "info", "json").With("component", "x")
			log.InfoContext(tt.ctx, "line")
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("not JSON: %v: %s", err, buf.String())
			}
			if got, _ := rec["trace_id"].(string); got != tt.wantTrace {
				t.Errorf("trace_id = %q, want %q", got, tt.wantTrace)
			}
			if got, _ := rec["span_id"].(string); got != tt.wantSpan {
				t.Errorf("span_id = %q, want %q", got, tt.wantSpan)
			}
		})
	}
}
