package kafka

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"

	kafka "github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/internal/events"
)

// BehaviourPublisher sends validated behaviour events (discovery.ParseBehaviour) to the
// tenant's behaviour topic, for the feature, training and experiment consumers.
// Behaviour events go straight to Kafka, not through the outbox: they change no
// database state, and an acknowledged write is their only durability promise.
type BehaviourPublisher struct {
	writer *kafka.Writer
	topics *Topics
}

// NewBehaviourPublisher publishes with writer (NewWriter), creating a tenant's topics
// through topics on first use.
func NewBehaviourPublisher(writer *kafka.Writer, topics *Topics) *BehaviourPublisher {
	return &BehaviourPublisher{writer: writer, topics: topics}
}

// Publish writes the events of one tenant and returns once every one was
// acknowledged by all in-sync replicas (or the first error). Each becomes an
// events.Envelope of type behaviour.recorded keyed by tenant and session, so one
// session's events stay in order.
func (p *BehaviourPublisher) Publish(ctx context.Context, tenantID, topicPrefix string, evs []events.Behaviour) error {
	if len(evs) == 0 {
		return nil
	}
	if err := p.topics.EnsurePrefix(ctx, topicPrefix); err != nil {
		return err
	}
	topic := events.Topic(topicPrefix, events.StreamBehaviour)
	msgs := make([]kafka.Message, len(evs))
	for i, ev := range evs {
		ev.TenantID = tenantID
		data, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode behaviour event: %w", err)
		}
		env := events.Envelope{
			ID: newUUID(), Type: events.BehaviourEvent, TenantID: tenantID,
			AggregateType: "session", AggregateID: ev.SessionID, OccurredAt: ev.OccurredAt, Data: data,
		}
		value, err := json.Marshal(env)
		if err != nil {
			return fmt.Errorf("encode envelope: %w", err)
		}
		msgs[i] = kafka.Message{Topic: topic, Key: events.Key(tenantID, ev.SessionID), Value: value,
			Headers: []kafka.Header{{Key: "kommerce-event-type", Value: []byte(events.BehaviourEvent)}}}
	}
	if err := p.writer.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("publish behaviour events: %w", err)
	}
	return nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
