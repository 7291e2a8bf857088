package postgres_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kommerce/kommerce/ingest/ingesttest"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/ingest/postgres"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/testenv"
	"github.com/kommerce/kommerce/internal/tracing"
)

// TestRelayCarriesTraceContext writes outbox rows as a traced API transaction does
// (kommerce.traceparent set), as an untraced one does, and with a malformed value, and
// checks what reaches Kafka: the traced row's message carries the traceparent of a
// publish span in the request's trace, the others none, and all are published.
func TestRelayCarriesTraceContext(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	p := tracing.Install(tracing.Config{ServiceName: "test", Sampler: "parentbased_always_on", MaxQueue: 64, MaxBatch: 16}, exp, nil)
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })

	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, "idx")
	const requestTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	write := func(id, traceparent string) {
		t.Helper()
		b, _ := json.Marshal(ingesttest.Product(id, 1, "Lamp "+id))
		err := pgx.BeginFunc(ctxT(t), db.Pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctxT(t), "SELECT set_config('kommerce.tenant_id', $1, true), set_config('kommerce.traceparent', $2, true)", tenant.ID, traceparent); err != nil {
				return err
			}
			_, err := tx.Exec(ctxT(t), `INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload) VALUES ($1, 'product', $2, 'product.created', $3)`, tenant.ID, id, b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	write("traced", "00-"+requestTrace+"-00f067aa0ba902b7-01")
	write("untraced", "")
	write("garbage", "00-zz-not-a-traceparent'; DROP TABLE outbox; --")

	relay := postgres.NewRelay(db.Pool, producer(t, brokers), ikafka.NewTopics(brokers, 1, 1), postgres.RelayConfig{})
	if n, err := relay.Once(ctxT(t)); err != nil || n != 3 {
		t.Fatalf("Once = %d, %v; want 3 rows published", n, err)
	}
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want one publish span (for the traced row only)", len(spans))
	}
	pub := spans[0]
	if pub.SpanContext.TraceID().String() != requestTrace || pub.Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("publish span in trace %s under %s, want the request's trace and span", pub.SpanContext.TraceID(), pub.Parent.SpanID())
	}
	msgs := ingesttest.ReadTopic(t, brokers, events.Topic(tenant.TopicPrefix, events.StreamCatalog), 3)
	for _, m := range msgs {
		var tp string
		for _, h := range m.Headers {
			if h.Key == tracing.HeaderTraceparent {
				tp = string(h.Value)
			}
		}
		want := ""
		if string(m.Key) == string(events.Key(tenant.ID, "traced")) {
			want = "00-" + requestTrace + "-" + pub.SpanContext.SpanID().String() + "-01"
		}
		if tp != want {
			t.Errorf("message %s: traceparent %q, want %q", m.Key, tp, want)
		}
	}
}
