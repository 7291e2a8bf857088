package tracing

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// NewPool opens a pgx pool for url whose queries are traced while tracing is on.
// Every component that opens a pool calls this instead of pgxpool.New.
func NewPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if Enabled() {
		cfg.ConnConfig.Tracer = QueryTracer{}
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// QueryTracer is a pgx tracer: one client span per query run within a traced
// context (queries of untraced background work start no trace of their own). The
// span carries the query's sqlc name or its first keyword, never the SQL arguments:
// they are customer data.
type QueryTracer struct{}

// TraceQueryStart implements pgx.QueryTracer.
func (QueryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !trace.SpanFromContext(ctx).SpanContext().IsValid() {
		return ctx
	}
	name := QueryName(data.SQL)
	ctx, _ = Tracer().Start(ctx, "postgres "+name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "postgresql"), attribute.String("db.query.summary", name)))
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (QueryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if data.Err != nil {
		// The message may quote a value (a unique violation names the key), so only
		// the fact is recorded.
		span.SetStatus(codes.Error, "query failed")
	}
	span.End()
}

// QueryName is the sqlc query name of a statement ("-- name: GetProduct :one"), or
// its first keyword in upper case.
func QueryName(sql string) string {
	s := strings.TrimSpace(sql)
	if rest, ok := strings.CutPrefix(s, "-- name: "); ok {
		if f := strings.Fields(rest); len(f) > 0 {
			return f[0]
		}
	}
	for strings.HasPrefix(s, "--") {
		_, s, _ = strings.Cut(s, "\n")
		s = strings.TrimSpace(s)
	}
	if f := strings.Fields(s); len(f) > 0 {
		w := strings.ToUpper(f[0])
		if len(w) <= 16 && strings.IndexFunc(w, func(r rune) bool { return r < 'A' || r > 'Z' }) < 0 {
			return w
		}
	}
	return "QUERY"
}
