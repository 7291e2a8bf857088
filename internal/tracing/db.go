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

var (
	_ pgx.QueryTracer = QueryTracer{}
	_ pgx.BatchTracer = QueryTracer{}
)

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

// TraceBatchStart implements pgx.BatchTracer: a batch (the one-round-trip reads of
// apiserver/postgres send begin, the tenant setting, a statement and commit as one)
// is one client span, named after its first sqlc query, with an event per query.
func (QueryTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	if !trace.SpanFromContext(ctx).SpanContext().IsValid() {
		return ctx
	}
	name := "batch"
	if data.Batch != nil {
		for _, q := range data.Batch.QueuedQueries {
			if strings.HasPrefix(strings.TrimSpace(q.SQL), "-- name: ") {
				name = QueryName(q.SQL)
				break
			}
		}
	}
	ctx, _ = Tracer().Start(ctx, "postgres "+name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "postgresql"), attribute.String("db.query.summary", name),
			attribute.Int("db.operation.batch.size", batchLen(data.Batch))))
	return ctx
}

func batchLen(b *pgx.Batch) int {
	if b == nil {
		return 0
	}
	return b.Len()
}

// TraceBatchQuery implements pgx.BatchTracer: an event naming the query (never its
// arguments), marked when it failed.
func (QueryTracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{attribute.String("db.query.summary", QueryName(data.SQL))}
	if data.Err != nil {
		attrs = append(attrs, attribute.Bool("error", true))
	}
	span.AddEvent("query", trace.WithAttributes(attrs...))
}

// TraceBatchEnd implements pgx.BatchTracer.
func (QueryTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if data.Err != nil {
		span.SetStatus(codes.Error, "batch failed")
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
