// Package kafka is ingest's Kafka adapter: the outbox relay's idempotent producer
// (franz-go), and on segmentio/kafka-go the writer settings of the other producers
// (behaviour events, dead letters, replay), per-tenant topic creation, the
// consumer-group runner with its dead-letter topics, the dead-letter replay and the
// behaviour event publisher.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/internal/events"
)

// MaxMessageBytes is the largest record value producers send. The broker's default
// max.message.bytes is 1 MiB; staying under it (with headers and batch overhead)
// means a produce request is never refused for size.
const MaxMessageBytes = 900 << 10

// NewWriter returns the kafka-go writer of the producers other than the outbox relay
// (which uses IdempotentProducer): acknowledged by all in-sync replicas (kafka-go's
// default is fire-and-forget), a small explicit batch timeout (its default is 1 s),
// the key hashed to the partition so one entity's events stay in order, and no topic
// auto-creation (topics are created with their partition count by EnsurePrefix).
// kafka-go re-sends a request whose answer is later than WriteTimeout, so what it
// writes can appear twice in a topic; its consumers are idempotent.
func NewWriter(brokers []string) *kafka.Writer {
	return &kafka.Writer{
		Addr:                   kafka.TCP(brokers...),
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           5 * time.Millisecond,
		BatchSize:              1000,
		BatchBytes:             1_000_000,
		MaxAttempts:            4,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        time.Second,
		ReadTimeout:            10 * time.Second,
		WriteTimeout:           10 * time.Second,
		AllowAutoTopicCreation: false,
	}
}

// Topics creates topics with the configured partition count and replication factor,
// remembering what exists so the hot path costs nothing.
type Topics struct {
	client      *kafka.Client
	partitions  int
	replication int

	mu    sync.Mutex
	known map[string]bool
}

// NewTopics returns a topic creator for brokers.
func NewTopics(brokers []string, partitions, replication int) *Topics {
	return &Topics{
		client:      &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 15 * time.Second},
		partitions:  max(partitions, 1),
		replication: max(replication, 1),
		known:       map[string]bool{},
	}
}

// PrefixTopics lists a tenant's topics: one per stream and each one's dead-letter topic.
func PrefixTopics(prefix string) []string {
	var out []string
	for _, s := range events.Streams {
		t := events.Topic(prefix, s)
		out = append(out, t, events.DeadLetter(t))
	}
	return out
}

// EnsurePrefix creates every topic of a tenant's topic prefix that is missing.
func (t *Topics) EnsurePrefix(ctx context.Context, prefix string) error {
	return t.Ensure(ctx, PrefixTopics(prefix)...)
}

// Ensure creates the topics that are missing, and returns once the brokers'
// metadata lists them with a leader for every partition, so a producer can write to
// them at once; existing ones are left as they are.
func (t *Topics) Ensure(ctx context.Context, topics ...string) error {
	t.mu.Lock()
	var missing []kafka.TopicConfig
	for _, name := range topics {
		if !t.known[name] {
			missing = append(missing, kafka.TopicConfig{Topic: name, NumPartitions: t.partitions, ReplicationFactor: t.replication})
		}
	}
	t.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	res, err := t.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: missing})
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	var errs []error
	for _, m := range missing {
		if e := res.Errors[m.Topic]; e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", m.Topic, e))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	names := make([]string, len(missing))
	for i, m := range missing {
		names[i] = m.Topic
	}
	wctx, cancel := context.WithTimeout(ctx, topicReadyWait)
	defer cancel()
	// Any partition count: a topic that already existed (created elsewhere, with a
	// count of its own) is left as it is, and waited for as it is.
	if err := WaitForTopics(wctx, t.client, 0, names...); err != nil {
		return err
	}
	t.mu.Lock()
	for _, m := range missing {
		t.known[m.Topic] = true
	}
	t.mu.Unlock()
	return nil
}

// topicReadyWait bounds how long Ensure waits for new topics to reach the brokers'
// metadata; a broker normally has them within milliseconds of the controller.
const topicReadyWait = 30 * time.Second

// WaitForTopics polls the brokers' metadata through client until every topic is
// listed, each partition with a leader, and with partitions partitions when
// partitions > 0, or ctx ends. The controller answers a create before the brokers'
// metadata caches have the topic; a producer that asks in between gets Unknown
// Topic Or Partition, which kafka-go does not retry on its first metadata request.
func WaitForTopics(ctx context.Context, client *kafka.Client, partitions int, topics ...string) error {
	for {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err == nil {
			err = topicsReady(md, partitions, topics)
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics not ready in the brokers' metadata: %w (%w)", err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// topicsReady reports the first topic of topics the metadata does not show ready.
func topicsReady(md *kafka.MetadataResponse, partitions int, topics []string) error {
	byName := make(map[string]kafka.Topic, len(md.Topics))
	for _, t := range md.Topics {
		byName[t.Name] = t
	}
	for _, name := range topics {
		t, ok := byName[name]
		switch {
		case !ok:
			return fmt.Errorf("topic %s: not listed", name)
		case t.Error != nil:
			return fmt.Errorf("topic %s: %w", name, t.Error)
		case len(t.Partitions) == 0 || partitions > 0 && len(t.Partitions) != partitions:
			return fmt.Errorf("topic %s: %d partitions listed", name, len(t.Partitions))
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				return fmt.Errorf("topic %s partition %d: no leader yet (%v)", name, p.ID, p.Error)
			}
		}
	}
	return nil
}

// Producer adapts a kafka-go writer to ingest.Publisher.
type Producer struct{ W *kafka.Writer }

// Publish implements ingest.Publisher.
func (p Producer) Publish(ctx context.Context, msgs []ingest.OutboundMessage) error {
	out := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		out[i] = kafka.Message{Topic: m.Topic, Key: m.Key, Value: m.Value}
		for k, v := range m.Headers {
			out[i].Headers = append(out[i].Headers, kafka.Header{Key: k, Value: []byte(v)})
		}
	}
	return p.W.WriteMessages(ctx, out...)
}

// Ping reports whether one of the brokers answers a metadata request.
func Ping(ctx context.Context, brokers []string) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 3 * time.Second}
	_, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}})
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}
