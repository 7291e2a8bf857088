package kafkadev_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"

	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/internal/kafkadev"
)

// TestKafkaGoAgainstTheEmbeddedCluster: the producers and consumer groups ingest uses
// work unchanged on the in-process cluster, and its data directory keeps messages
// and committed offsets across a restart (what `kommerce dev` relies on).
func TestKafkaGoAgainstTheEmbeddedCluster(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := kafkadev.Start(kafkadev.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	topic := "kommerce.dev.catalog"
	if err := ikafka.NewTopics(c.Brokers(), 3, 1).Ensure(ctx, topic); err != nil {
		t.Fatal(err)
	}
	w := ikafka.NewWriter(c.Brokers())
	var msgs []kafka.Message
	for i := 0; i < 20; i++ {
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(fmt.Sprint(i % 5)), Value: []byte(fmt.Sprint(i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	read := func(brokers []string, n int) []string {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: "g", GroupTopics: []string{topic}, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
		defer r.Close()
		var got []string
		for len(got) < n {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				t.Fatalf("fetch after %d: %v", len(got), err)
			}
			if err := r.CommitMessages(ctx, m); err != nil {
				t.Fatal(err)
			}
			got = append(got, string(m.Value))
		}
		return got
	}
	if got := read(c.Brokers(), 12); len(got) != 12 {
		t.Fatalf("read %v", got)
	}
	c.Close()

	c, err = kafkadev.Start(kafkadev.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The group resumes after its committed offsets: exactly the 8 unread messages.
	got := read(c.Brokers(), 8)
	seen := map[string]bool{}
	for _, v := range got {
		seen[v] = true
	}
	if len(seen) != 8 {
		t.Fatalf("after restart read %v; want 8 distinct unread messages", got)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.Brokers(), GroupID: "g", GroupTopics: []string{topic}, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	short, cancelShort := context.WithTimeout(ctx, 3*time.Second)
	defer cancelShort()
	if m, err := r.FetchMessage(short); err == nil {
		t.Fatalf("message %s delivered again after it was committed", m.Value)
	}
}
