package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/ingesttest"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/ingest/postgres"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/testenv"
)

// TestRelayPublishesEachRowOnceWhenTheBrokerAnswersLate makes the broker's answers
// to the relay's produce requests arrive after the producer stopped waiting for
// them, although the broker had appended the records: the situation of a loaded
// machine. The topic must then still hold each outbox row's event once.
func TestRelayPublishesEachRowOnceWhenTheBrokerAnswersLate(t *testing.T) {
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, "idx")
	link := &ingesttest.SlowLink{Delay: 2 * time.Second}
	// The producer gives up waiting for an answer after 0.5 s + 0.5 s: half the delay.
	produce := &produceHook{}
	pub, err := ikafka.NewIdempotentProducer(brokers, kgo.Dialer(link.Dial), kgo.WithHooks(produce),
		kgo.ProduceRequestTimeout(500*time.Millisecond), kgo.RequestTimeoutOverhead(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	relay := postgres.NewRelay(db.Pool, pub, ikafka.NewTopics(brokers, 3, 1), postgres.RelayConfig{})

	// Warm up: topics, metadata and connections exist before the broker slows down.
	ingesttest.Outbox(t, db.Pool, tenant.ID, events.ProductCreated, "warm", ingesttest.Product("warm", 1, "Warm"))
	drain(t, relay, db)
	const products, versions = 100, 3
	for v := int64(1); v <= versions; v++ {
		for i := 0; i < products; i++ {
			id := fmt.Sprintf("p%03d", i)
			ingesttest.Outbox(t, db.Pool, tenant.ID, events.ProductUpdated, id, ingesttest.Product(id, v, "Oak Desk "+id))
		}
	}
	link.SlowDown(5)
	rollbacks := drain(t, relay, db)

	rows := products*versions + 1
	msgs := ingesttest.ReadTopic(t, brokers, events.Topic(tenant.TopicPrefix, events.StreamCatalog), rows)
	ids := ingesttest.EventIDs(t, msgs)
	t.Logf("%d outbox rows: %d records in the topic, %d distinct events; %d late reads, %d produce requests sent, %d of them given up on, %d batches rolled back",
		rows, len(msgs), len(ids), link.Late.Load(), produce.sent.Load(), produce.timedOut.Load(), rollbacks)
	if produce.timedOut.Load() == 0 {
		t.Fatal("no produce answer came too late: the fault was not injected")
	}
	if len(ids) != rows {
		t.Fatalf("%d distinct events for %d outbox rows", len(ids), rows)
	}
	if len(msgs) != rows {
		t.Fatalf("the topic holds %d records for %d outbox rows: %d published again", len(msgs), rows, len(msgs)-rows)
	}
}

// drain runs the relay until no row is left, returning how many batches rolled back.
func drain(t *testing.T, relay *postgres.Relay, db *testenv.Database) int {
	t.Helper()
	rollbacks := 0
	var last error
	testenv.Eventually(t, 120*time.Second, "relay publishes every row", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := relay.Once(ctx); err != nil {
			rollbacks++
			last = err
		}
		n := ingesttest.Unpublished(t, db.Pool)
		return n == 0, fmt.Sprintf("%d rows unpublished after %d rollbacks (last: %v)", n, rollbacks, last)
	})
	return rollbacks
}

var _ ingest.Publisher = (*ikafka.IdempotentProducer)(nil)

// produceHook counts produce requests sent and those whose answer the producer gave
// up waiting for.
type produceHook struct{ sent, timedOut atomic.Int64 }

func (h *produceHook) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 0 && err == nil {
		h.sent.Add(1)
	}
}

func (h *produceHook) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 0 && err != nil {
		h.timedOut.Add(1)
	}
}
