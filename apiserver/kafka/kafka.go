// Package kafka is the API's Kafka adapter: it implements the producers
// apiserver/discovery asks for (discovery.BehaviourPublisher, discovery.ExposureSinks)
// on segmentio/kafka-go, with the writer settings and per-tenant topic creation of
// ingest/kafka, so the discovery services depend on interfaces and internal/events
// only.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/apiserver/discovery"
	"github.com/kommerce/kommerce/inference/recs"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/internal/events"
)

// Kafka is the API's producer side: behaviour events and recommendation exposures,
// both on a tenant's behaviour topic. A tenant's topics are created on first use
// (brokers have auto-creation off), with the partition count of the ingest service.
// Close it when the server stops.
type Kafka struct {
	brokers   []string
	topics    *ikafka.Topics
	writer    *kafkago.Writer
	publisher *ikafka.BehaviourPublisher
	log       *slog.Logger

	mu        sync.Mutex
	exposures map[string]*recs.KafkaExposures // by topic prefix
	closed    bool
}

var (
	_ discovery.BehaviourPublisher = (*Kafka)(nil)
	_ discovery.ExposureSinks      = (*Kafka)(nil)
)

// New returns the producers for brokers; nothing is dialled until first use.
func New(brokers []string, partitions, replication int, log *slog.Logger) *Kafka {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	topics := ikafka.NewTopics(brokers, partitions, replication)
	w := ikafka.NewWriter(brokers)
	return &Kafka{brokers: brokers, topics: topics, writer: w, publisher: ikafka.NewBehaviourPublisher(w, topics),
		log: log, exposures: map[string]*recs.KafkaExposures{}}
}

// Brokers returns the bootstrap brokers.
func (k *Kafka) Brokers() []string { return k.brokers }

// Publish implements discovery.BehaviourPublisher: it returns once every event was
// acknowledged by all in-sync replicas.
func (k *Kafka) Publish(ctx context.Context, tenantID, topicPrefix string, evs []events.Behaviour) error {
	return k.publisher.Publish(ctx, tenantID, topicPrefix, evs)
}

// Exposures implements discovery.ExposureSinks: the exposure sink of a tenant's
// topic prefix, creating the tenant's topics first. The sink writes in the
// background and drops rather than delaying a shopper when Kafka is slow.
func (k *Kafka) Exposures(ctx context.Context, topicPrefix string) (recs.ExposureSink, error) {
	k.mu.Lock()
	e, ok := k.exposures[topicPrefix]
	closed := k.closed
	k.mu.Unlock()
	if ok {
		return e, nil
	}
	if closed {
		return nil, errors.New("kafka producers are closed")
	}
	if err := k.topics.EnsurePrefix(ctx, topicPrefix); err != nil {
		return nil, fmt.Errorf("exposure topics: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if e, ok := k.exposures[topicPrefix]; ok {
		return e, nil
	}
	if k.closed {
		return nil, errors.New("kafka producers are closed")
	}
	e = recs.NewKafkaExposures(k.brokers, topicPrefix, k.log.With("component", "exposures"))
	k.exposures[topicPrefix] = e
	return e, nil
}

// Ping reports whether a broker answers, for readiness.
func (k *Kafka) Ping(ctx context.Context) error { return ikafka.Ping(ctx, k.brokers) }

// Close flushes the exposure buffers and closes the writers.
func (k *Kafka) Close() error {
	k.mu.Lock()
	k.closed = true
	sinks := k.exposures
	k.exposures = map[string]*recs.KafkaExposures{}
	k.mu.Unlock()
	var errs []error
	for _, e := range sinks {
		errs = append(errs, e.Close())
	}
	errs = append(errs, k.writer.Close())
	return errors.Join(errs...)
}
