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

// Exposure is the data of a model.exposure event: which arm, model and version
// answered a shopper, and what they were shown. The ingest pipeline joins it with
// orders to attribute conversions to arms.
type Exposure struct {
	RequestID   string    `json:"request_id"`
	TenantID    string    `json:"tenant_id"`
	Storefront  string    `json:"storefront,omitempty"`
	SubjectKey  string    `json:"subject_key"` // user id or session id the arm was assigned by
	Purpose     string    `json:"purpose"`     // "recommendations"
	Experiment  string    `json:"experiment,omitempty"`
	Arm         string    `json:"arm,omitempty"`
	Model       string    `json:"model,omitempty"`
	Version     string    `json:"version,omitempty"`
	Source      string    `json:"source"`                    // model | popularity
	Fallback    string    `json:"fallback_reason,omitempty"` // why popularity answered
	ContextKind string    `json:"context_kind"`
	Items       []string  `json:"items"`
	At          time.Time `json:"at"`
}

// ExposureSink receives exposures. Publish must not block a shopper's request.
type ExposureSink interface {
	Publish(e Exposure)
}

// KafkaExposures publishes exposures as events.Envelope messages of type
// model.exposure on the tenant's behaviour topic, keyed by tenant and subject, from
// a background goroutine. When the buffer is full (Kafka slow or down) exposures
// are dropped and counted rather than delaying shoppers.
type KafkaExposures struct {
	w       *kafka.Writer
	topic   string
	ch      chan Exposure
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
		ch:    make(chan Exposure, 4096), done: make(chan struct{}), log: log,
	}
	go k.loop()
	return k
}

// Publish implements ExposureSink.
func (k *KafkaExposures) Publish(e Exposure) {
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
		batch = append(batch[:0], k.message(e))
	more:
		for len(batch) < cap(batch) {
			select {
			case e, ok := <-k.ch:
				if !ok {
					break more
				}
				batch = append(batch, k.message(e))
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := k.w.WriteMessages(ctx, batch...); err != nil {
			k.failed.Add(int64(len(batch)))
			k.log.Warn("exposure events not written", "count", len(batch), "err", err)
		}
		cancel()
	}
}

func (k *KafkaExposures) message(e Exposure) kafka.Message {
	data, _ := json.Marshal(e)
	env := events.Envelope{
		ID: e.RequestID, Type: events.ModelExposure, TenantID: e.TenantID,
		AggregateType: "subject", AggregateID: e.SubjectKey, OccurredAt: e.At, Data: data,
	}
	v, _ := json.Marshal(env)
	return kafka.Message{Topic: k.topic, Key: events.Key(e.TenantID, e.SubjectKey), Value: v}
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
