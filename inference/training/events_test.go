package training

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/testenv"
)

// TestEventSourceFromKafka writes a synthetic shop's history as events following
// the internal/events contract to a tenant's real Kafka topics, with noise (another
// tenant's events, malformed messages), reads it back with EventSource and trains
// on it: the model must learn what the direct synthetic data teaches.
func TestEventSourceFromKafka(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	prefix := testenv.Name(t, "train", ".")
	behaviour, orders := events.Topic(prefix, events.StreamBehaviour), events.Topic(prefix, events.StreamOrders)
	if err := testenv.CreateTopics(brokers, 3, behaviour, orders); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testenv.DeleteTopics(brokers, behaviour, orders) })

	src := Synthetic{Seed: 5, Users: 300, Items: 120, Clusters: 6, Days: 60}
	ds, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const tenant = "6f1c1d2e-0000-4000-8000-000000000001"
	envOf := func(tenant string, typ events.Type, aggID string, at time.Time, data any) kafka.Message {
		b, err := events.Encode(typ, data)
		if err != nil {
			b, _ = json.Marshal(data) // the malformed noise below
		}
		e := events.Envelope{ID: fmt.Sprintf("%s-%s-%d", typ, aggID, at.UnixNano()), Type: typ, TenantID: tenant, AggregateType: "x", AggregateID: aggID, OccurredAt: at, Data: b}
		v, _ := json.Marshal(e)
		return kafka.Message{Key: events.Key(tenant, aggID), Value: v}
	}
	env := func(typ events.Type, aggID string, at time.Time, data any) kafka.Message {
		return envOf(tenant, typ, aggID, at, data)
	}
	var bmsgs, omsgs []kafka.Message
	purchases := 0
	for _, in := range ds.Interactions {
		bmsgs = append(bmsgs, env(events.BehaviourEvent, in.User, in.At, events.Behaviour{UserID: in.User, ProductID: in.Item, Kind: string(in.Action)}))
		if in.Action == ActionPurchase {
			purchases++
		}
	}
	for _, o := range ds.Orders {
		created := o.At.Add(-o.AccountAge)
		d := events.Order{ID: o.ID, CustomerID: o.Customer, Guest: o.Guest, ShippingCountry: o.ShippingCountry, BillingCountry: o.BillingCountry,
			ClientIP: o.ClientIP, PaymentAttempts: o.PaymentAttempts, CustomerCreatedAt: &created, Total: events.Price{Currency: o.Currency, Amount: o.Amount}}
		omsgs = append(omsgs, env(events.OrderCreated, o.ID, o.At, d))
		if ds.Fraud[o.ID] {
			omsgs = append(omsgs, env(events.PaymentUpdated, o.ID, o.At.Add(time.Hour), events.Payment{OrderID: o.ID, Status: "disputed", Reason: "fraudulent"}))
		}
	}
	// Noise: another tenant's event, a non-JSON message, an event with bad data, a
	// search, an event with a field off its contract, an unrelated refund.
	other := envOf("someone-else", events.BehaviourEvent, "x", ds.From, events.Behaviour{UserID: "intruder", ProductID: ItemID(1), Kind: events.BehaviourPurchase})
	bmsgs = append(bmsgs, other, kafka.Message{Value: []byte("not json")},
		env(events.BehaviourEvent, "y", ds.From, map[string]any{"product_id": 12}),
		env(events.BehaviourEvent, "z", ds.From, events.Behaviour{Kind: events.BehaviourSearch, SessionID: "s"}),
		// off the contract (a field behaviour.recorded does not have): skipped, not half read
		env(events.BehaviourEvent, "w", ds.From, map[string]any{"type": "view", "session_id": "s", "product_id": ItemID(2), "colour": "red"}))
	omsgs = append(omsgs, env(events.OrderTransitioned, ds.Orders[0].ID, ds.To, events.OrderTransition{To: "refunded", Reason: "damaged"}))

	w := &kafka.Writer{Addr: kafka.TCP(brokers...), RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchSize: 1000, Balancer: &kafka.Hash{}}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for topic, msgs := range map[string][]kafka.Message{behaviour: bmsgs, orders: omsgs} {
		for i := range msgs {
			msgs[i].Topic = topic
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}

	got, err := EventSource{Brokers: brokers, TopicPrefix: prefix, TenantID: tenant}.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Every behaviour event, plus one purchase interaction per order line (none
	// here: the synthetic orders carry no lines).
	if len(got.Interactions) != len(ds.Interactions) || len(got.Orders) != len(ds.Orders) || len(got.Fraud) != len(ds.Fraud) {
		t.Fatalf("read %d interactions, %d orders, %d labels; wrote %d, %d, %d",
			len(got.Interactions), len(got.Orders), len(got.Fraud), len(ds.Interactions), len(ds.Orders), len(ds.Fraud))
	}
	for _, in := range got.Interactions {
		if in.User == "intruder" {
			t.Fatal("an event of another tenant was read")
		}
	}
	res, err := Job{Purpose: PurposeRecommendations, Source: EventSource{Brokers: brokers, TopicPrefix: prefix, TenantID: tenant},
		OutDir: t.TempDir(), Version: "1", Recs: RecsParams{Factors: 16, Seed: 1}}.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	model, pop := res.Metrics["model"].(RankingMetrics), res.Metrics["popularity"].(RankingMetrics)
	t.Logf("from Kafka: %s; HR@10 %.3f vs popularity %.3f", got.Description, model.HR10, pop.HR10)
	if model.HR10 <= pop.HR10 {
		t.Fatalf("trained from Kafka, HR@10 %.3f does not beat popularity %.3f", model.HR10, pop.HR10)
	}
}
