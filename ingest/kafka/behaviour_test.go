package kafka_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/kommerce/kommerce/ingest/ingesttest"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/testenv"
)

func TestBehaviourEventsReachTheTenantsTopic(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	prefix := testenv.Name(t, "test", ".")
	t.Cleanup(func() { _ = testenv.DeleteTopics(brokers, ikafka.PrefixTopics(prefix)...) })
	w := ikafka.NewWriter(brokers)
	defer w.Close()
	pub := ikafka.NewBehaviourPublisher(w, ikafka.NewTopics(brokers, 2, 1))

	now := time.Now().UTC()
	evs := []events.Behaviour{
		{Kind: events.BehaviourView, SessionID: "s-1", ProductID: "p1", OccurredAt: now, ReceivedAt: now},
		{Kind: events.BehaviourAddToCart, SessionID: "s-1", SKU: "SKU-1", Quantity: 2, OccurredAt: now, ReceivedAt: now},
		{Kind: events.BehaviourSearch, SessionID: "s-2", Query: "lamp", OccurredAt: now, ReceivedAt: now},
	}
	evs[0].UserID = "user-7" // set by the API from the token
	const tenant = "11111111-1111-4111-8111-111111111111"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := pub.Publish(ctx, tenant, prefix, evs); err != nil {
		t.Fatal(err)
	}
	msgs := ingesttest.ReadTopic(t, brokers, events.Topic(prefix, events.StreamBehaviour), 3)
	kinds := map[string]string{}
	for _, m := range msgs {
		var env events.Envelope
		if err := json.Unmarshal(m.Value, &env); err != nil {
			t.Fatal(err)
		}
		var ev events.Behaviour
		if err := events.DecodeInto(env.Type, env.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if env.Type != events.BehaviourEvent || env.TenantID != tenant || ev.TenantID != tenant || env.ID == "" || env.AggregateID != ev.SessionID {
			t.Fatalf("envelope %+v event %+v", env, ev)
		}
		if string(m.Key) != string(events.Key(tenant, ev.SessionID)) {
			t.Fatalf("key %q", m.Key)
		}
		kinds[ev.Kind] = ev.UserID
	}
	if len(kinds) != 3 || kinds["view"] != "user-7" {
		t.Fatalf("events %v", kinds)
	}
}

func TestBehaviourPublishFailsWhenTheBrokerIsDown(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	prefix := testenv.Name(t, "test", ".")
	t.Cleanup(func() { _ = testenv.DeleteTopics(brokers, ikafka.PrefixTopics(prefix)...) })
	dead := ikafka.NewWriter([]string{"127.0.0.1:1"})
	dead.MaxAttempts = 1
	defer dead.Close()
	pub := ikafka.NewBehaviourPublisher(dead, ikafka.NewTopics(brokers, 1, 1))
	evs := []events.Behaviour{{Kind: events.BehaviourView, SessionID: "s", ProductID: "p"}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pub.Publish(ctx, "t", prefix, evs); err == nil {
		t.Fatal("publishing without a broker must return an error (the API answers 503)")
	}
}
