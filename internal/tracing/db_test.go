package tracing

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/codes"

	"github.com/kommerce/kommerce/internal/testenv"
)

// TestBatchIsOneSpan: a pgx batch in a traced context is one client span named after
// its sqlc query, with an event per query and no argument values; a failing batch is
// marked; an untraced one starts nothing. On the real PostgreSQL.
func TestBatchIsOneSpan(t *testing.T) {
	exp, p := install(t, Config{})
	db := testenv.NewDatabase(t)
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = QueryTracer{}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	send := func(ctx context.Context, queries ...string) error {
		b := &pgx.Batch{}
		for _, q := range queries {
			b.Queue(q, "secret-argument")
		}
		return pool.SendBatch(ctx, b).Close()
	}
	ctx, root := Tracer().Start(context.Background(), "GET /api/v1/products")
	if err := send(ctx, "SELECT set_config('x.y', $1, true)", "-- name: ListProductPage :many\nSELECT $1::text"); err != nil {
		t.Fatal(err)
	}
	if err := send(ctx, "-- name: Broken :one\nSELECT $1::int"); err == nil {
		t.Fatal("a batch casting text to int did not fail")
	}
	root.End()
	if err := send(context.Background(), "SELECT $1::text"); err != nil { // untraced
		t.Fatal(err)
	}
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	for _, s := range exp.GetSpans() {
		byName[s.Name]++
		for _, a := range s.Attributes {
			if a.Value.Emit() == "secret-argument" {
				t.Errorf("span %s carries an argument value in %s", s.Name, a.Key)
			}
		}
		switch s.Name {
		case "postgres ListProductPage":
			if s.Parent.SpanID() != root.SpanContext().SpanID() {
				t.Errorf("batch span's parent is not the request span")
			}
			if len(s.Events) != 2 {
				t.Errorf("batch span has %d events, want 2 (one per query)", len(s.Events))
			}
			if s.Status.Code == codes.Error {
				t.Errorf("a batch that succeeded is marked failed")
			}
		case "postgres Broken":
			if s.Status.Code != codes.Error {
				t.Errorf("the failing batch's span status is %v, want Error", s.Status.Code)
			}
		}
	}
	if byName["postgres ListProductPage"] != 1 || byName["postgres Broken"] != 1 || len(byName) != 3 {
		t.Errorf("spans %v, want one per traced batch and the request span, none for the untraced batch", byName)
	}
}
