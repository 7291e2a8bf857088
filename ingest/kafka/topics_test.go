package kafka_test

import (
	"context"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"

	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/internal/testenv"
)

// When Ensure returns, every broker's metadata has the new topics with a leader for
// each partition, so the first write after it needs no retry. (Before Ensure
// waited, a write sent at once could meet Unknown Topic Or Partition; that race
// does not show on every run, so this checks the condition that rules it out, and
// then the write itself.)
func TestEnsureReturnsOnceTheTopicsCanBeWritten(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	prefix := testenv.Name(t, "test", ".")
	topics := ikafka.PrefixTopics(prefix)
	t.Cleanup(func() { _ = testenv.DeleteTopics(brokers, topics...) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := ikafka.NewTopics(brokers, 3, 1).EnsurePrefix(ctx, prefix); err != nil {
		t.Fatal(err)
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]kafka.Topic{}
	for _, tp := range md.Topics {
		listed[tp.Name] = tp
	}
	for _, name := range topics {
		tp, ok := listed[name]
		if !ok || tp.Error != nil || len(tp.Partitions) != 3 {
			t.Fatalf("topic %s right after Ensure: listed %v, error %v, %d partitions", name, ok, tp.Error, len(tp.Partitions))
		}
		for _, p := range tp.Partitions {
			if p.Leader.Host == "" || p.Error != nil {
				t.Fatalf("topic %s partition %d right after Ensure: leader %q, error %v", name, p.ID, p.Leader.Host, p.Error)
			}
		}
	}
	w := ikafka.NewWriter(brokers)
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Topic: topics[0], Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatalf("first write after Ensure: %v", err)
	}
}

// A topic that is not there, and that nothing creates, is never ready: WaitForTopics
// gives up when its context ends and says which topic it was waiting for.
func TestWaitForTopicsEndsWithItsContext(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	missing := testenv.Name(t, "test", ".") + ".never"
	t.Cleanup(func() { _ = testenv.DeleteTopics(brokers, missing) }) // only if a broker auto-created it
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	err := ikafka.WaitForTopics(ctx, client, 0, missing)
	if err == nil {
		t.Fatal("a topic nobody created was reported ready")
	}
	if ctx.Err() == nil {
		t.Fatalf("gave up before its context ended: %v", err)
	}
	t.Logf("error: %v", err)
}
