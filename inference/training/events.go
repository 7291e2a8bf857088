package training

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/inference/features"
	"github.com/kommerce/kommerce/internal/events"
)

// EventSource reads a tenant's events from Kafka, from the oldest retained offset
// to the end as it was when Load started, following the internal/events contract:
// Envelope values on the topics Topic(prefix, StreamBehaviour) and
// Topic(prefix, StreamOrders), each event's data decoded strictly into its
// registered Go type (events.Behaviour, events.Order, events.Payment,
// events.OrderTransition). Events whose data does not match are counted as
// malformed and skipped; types training has no use for are ignored.
type EventSource struct {
	Brokers     []string
	TopicPrefix string
	// TenantID, when set, drops envelopes of any other tenant (defence in depth:
	// topics are per tenant already).
	TenantID string
	// Since drops events older than this (zero: keep all).
	Since time.Time
}

// Load implements Source.
func (s EventSource) Load(ctx context.Context) (*Dataset, error) {
	if len(s.Brokers) == 0 || s.TopicPrefix == "" {
		return nil, errors.New("event source needs brokers and a topic prefix")
	}
	ds := &Dataset{Fraud: map[string]bool{}}
	var skipped int
	for _, stream := range []events.Stream{events.StreamBehaviour, events.StreamOrders} {
		topic := events.Topic(s.TopicPrefix, stream)
		n, err := s.readTopic(ctx, topic, func(env events.Envelope) error {
			if s.TenantID != "" && env.TenantID != s.TenantID {
				return nil
			}
			if !s.Since.IsZero() && env.OccurredAt.Before(s.Since) {
				return nil
			}
			return ds.add(env)
		})
		if err != nil {
			return nil, err
		}
		skipped += n
	}
	sort.SliceStable(ds.Interactions, func(i, j int) bool { return ds.Interactions[i].At.Before(ds.Interactions[j].At) })
	sort.SliceStable(ds.Orders, func(i, j int) bool { return ds.Orders[i].At.Before(ds.Orders[j].At) })
	ds.window()
	ds.Description = fmt.Sprintf("Kafka topics %s.{behaviour,orders}: %d interactions, %d orders, %d fraud labels, %d malformed events skipped",
		s.TopicPrefix, len(ds.Interactions), len(ds.Orders), len(ds.Fraud), skipped)
	return ds, nil
}

// add folds one envelope into the dataset; unknown types are ignored, malformed
// data is an error the caller counts. The labels are an order disputed as fraud
// (payment.updated with status "disputed" and reason "fraudulent") or refunded for
// fraud (order.transitioned to "refunded" with reason "fraud").
func (ds *Dataset) add(env events.Envelope) error {
	switch env.Type {
	case events.BehaviourEvent:
		var d events.Behaviour
		if err := events.DecodeInto(env.Type, env.Data, &d); err != nil {
			return err
		}
		action := Action(d.Kind)
		if action.Weight() == 0 {
			return nil // searches and other kinds say nothing about a product
		}
		user := d.UserID
		if user == "" {
			user = "session:" + d.SessionID
		}
		if d.ProductID == "" || user == "session:" {
			return fmt.Errorf("behaviour event %s lacks a product or a user", env.ID)
		}
		ds.Interactions = append(ds.Interactions, Interaction{User: user, Item: d.ProductID, Action: action, At: env.OccurredAt})
	case events.OrderCreated:
		var d events.Order
		if err := events.DecodeInto(env.Type, env.Data, &d); err != nil {
			return err
		}
		if d.ID == "" {
			return fmt.Errorf("order event %s has no id", env.ID)
		}
		o := features.Order{ID: d.ID, Customer: d.CustomerID, Guest: d.Guest, At: env.OccurredAt, Amount: d.Total.Amount, Currency: d.Total.Currency,
			Lines: len(d.Lines), ShippingCountry: d.ShippingCountry, BillingCountry: d.BillingCountry, ClientIP: d.ClientIP,
			PaymentAttempts: max(d.PaymentAttempts, 1)}
		if !d.Guest && d.CustomerCreatedAt != nil {
			o.AccountAge = env.OccurredAt.Sub(*d.CustomerCreatedAt)
		}
		for _, l := range d.Lines {
			o.Quantity += int(l.Quantity)
			if d.CustomerID != "" && l.ProductID != "" {
				ds.Interactions = append(ds.Interactions, Interaction{User: d.CustomerID, Item: l.ProductID, Action: ActionPurchase, At: env.OccurredAt})
			}
		}
		ds.Orders = append(ds.Orders, o)
	case events.PaymentUpdated:
		var d events.Payment
		if err := events.DecodeInto(env.Type, env.Data, &d); err != nil {
			return err
		}
		if d.Status == "disputed" && d.Reason == "fraudulent" {
			ds.Fraud[orderOf(d.OrderID, env)] = true
		}
	case events.OrderTransitioned:
		var d events.OrderTransition
		if err := events.DecodeInto(env.Type, env.Data, &d); err != nil {
			return err
		}
		if d.To == "refunded" && d.Reason == "fraud" {
			ds.Fraud[orderOf(d.OrderID, env)] = true
		}
	}
	return nil
}

// orderOf is the order an event labels: its data's order id, else its aggregate's.
func orderOf(id string, env events.Envelope) string {
	if id != "" {
		return id
	}
	return env.AggregateID
}

// readTopic reads every partition of topic up to its end offset at call time and
// returns how many messages were malformed.
func (s EventSource) readTopic(ctx context.Context, topic string, fn func(events.Envelope) error) (int, error) {
	conn, err := kafka.DialContext(ctx, "tcp", s.Brokers[0])
	if err != nil {
		return 0, fmt.Errorf("kafka: %w", err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		return 0, fmt.Errorf("kafka: partitions of %s: %w", topic, err)
	}
	skipped := 0
	for _, p := range parts {
		leader, err := kafka.DialLeader(ctx, "tcp", s.Brokers[0], topic, p.ID)
		if err != nil {
			return 0, fmt.Errorf("kafka: leader of %s/%d: %w", topic, p.ID, err)
		}
		first, last, err := leader.ReadOffsets()
		leader.Close()
		if err != nil {
			return 0, fmt.Errorf("kafka: offsets of %s/%d: %w", topic, p.ID, err)
		}
		if last <= first {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.Brokers, Topic: topic, Partition: p.ID, MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 500 * time.Millisecond})
		if err := r.SetOffset(first); err != nil {
			r.Close()
			return 0, err
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return 0, fmt.Errorf("kafka: read %s/%d: %w", topic, p.ID, err)
			}
			var env events.Envelope
			if err := json.Unmarshal(m.Value, &env); err != nil || fn(env) != nil {
				skipped++
			}
			if m.Offset >= last-1 {
				break
			}
		}
		r.Close()
	}
	return skipped, nil
}

// ParseBrokers splits a comma-separated broker list.
func ParseBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}
