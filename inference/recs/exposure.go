package recs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/internal/events"
)

// ExposureSink receives exposures (the data of model.exposure events). Publish must
// not block a shopper's request.
type ExposureSink interface {
	Publish(e events.Exposure)
}

// KafkaExposures publishes exposures as events.Envelope messages of type
// model.exposure on the tenant's behaviour topic, keyed by tenant and subject, from
// a background goroutine. When the buffer is full (Kafka slow or down) exposures
// are dropped and counted rather than delaying shoppers.
type KafkaExposures struct {
	w       *kafka.Writer
	topic   string
	ch      chan events.Exposure
	done    chan struct{}
	dropped atomic.Int64
	failed  atomic.Int64
	log     *slog.Logger
	once    sync.Once
}

// NewKafkaExposures starts a publisher to Topic(topicPrefix, StreamBehaviour).
func NewKafkaExposures(brokers []string, topicPrefix string, log *slog.Logger) *KafkaExposures {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := &KafkaExposures{
		w: &kafka.Writer{Addr: kafka.TCP(brokers...), RequiredAcks: kafka.RequireAll, BatchTimeout: 10 * time.Millisecond,
			Balancer: &kafka.Hash{}, WriteTimeout: 10 * time.Second},
		topic: events.Topic(topicPrefix, events.StreamBehaviour),
		ch:    make(chan events.Exposure, 4096), done: make(chan struct{}), log: log,
	}
	go k.loop()
	return k
}

// Publish implements ExposureSink.
func (k *KafkaExposures) Publish(e events.Exposure) {
	select {
	case k.ch <- e:
	default:
		k.dropped.Add(1)
	}
}

// Dropped and Failed count exposures lost to a full buffer or a failed write.
func (k *KafkaExposures) Dropped() int64 { return k.dropped.Load() }

// Failed counts exposures whose write to Kafka failed.
func (k *KafkaExposures) Failed() int64 { return k.failed.Load() }

func (k *KafkaExposures) loop() {
	defer close(k.done)
	batch := make([]kafka.Message, 0, 256)
	for e := range k.ch {
		batch = k.append(batch[:0], e)
	more:
		for len(batch) < cap(batch) {
			select {
			case e, ok := <-k.ch:
				if !ok {
					break more
				}
				batch = k.append(batch, e)
			default:
				break more
			}
		}
		if len(batch) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := k.w.WriteMessages(ctx, batch...); err != nil {
			k.failed.Add(int64(len(batch)))
			k.log.Warn("exposure events not written", "count", len(batch), "err", err)
		}
		cancel()
	}
}

// append adds the message of e to batch; an exposure that cannot be encoded is
// counted as failed.
func (k *KafkaExposures) append(batch []kafka.Message, e events.Exposure) []kafka.Message {
	m, err := k.message(e)
	if err != nil {
		k.failed.Add(1)
		k.log.Warn("exposure event not encoded", "err", err)
		return batch
	}
	return append(batch, m)
}

func (k *KafkaExposures) message(e events.Exposure) (kafka.Message, error) {
	data, err := events.Encode(events.ModelExposure, e)
	if err != nil {
		return kafka.Message{}, err
	}
	env := events.Envelope{
		ID: e.RequestID, Type: events.ModelExposure, TenantID: e.TenantID,
		AggregateType: "subject", AggregateID: e.SubjectKey, OccurredAt: e.At, Data: data,
	}
	v, err := json.Marshal(env)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("encode envelope: %w", err)
	}
	return kafka.Message{Topic: k.topic, Key: events.Key(e.TenantID, e.SubjectKey), Value: v}, nil
}

// Close flushes what is buffered and stops the publisher.
func (k *KafkaExposures) Close() error {
	k.once.Do(func() { close(k.ch) })
	<-k.done
	if err := k.w.Close(); err != nil {
		return fmt.Errorf("close exposure writer: %w", err)
	}
	return nil
}
