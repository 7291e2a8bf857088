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

// Ensure creates the topics that are missing; existing ones are left as they are.
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
	t.mu.Lock()
	for _, m := range missing {
		t.known[m.Topic] = true
	}
	t.mu.Unlock()
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
