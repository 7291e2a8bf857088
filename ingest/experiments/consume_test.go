package experiments_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	kafka "github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/experiments"
	exppg "github.com/kommerce/kommerce/ingest/experiments/postgres"
	"github.com/kommerce/kommerce/ingest/ingesttest"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/ingest/postgres"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/testenv"
)

var (
	t0  = time.Date(2026, 3, 4, 10, 15, 0, 0, time.UTC)
	cfg = experiments.Config{Window: 24 * time.Hour, RevenueCaps: map[string]int64{"exp": 10000}}
)

// event is one record to produce; at is its event time, by which an in-order run
// sorts.
type event struct {
	at    time.Time
	key   []byte
	value []byte
	topic events.Stream
}

// scenario builds the events of a tenant. Event ids are the same whatever the
// tenant, so two tenants' runs of one scenario are comparable.
type scenario struct {
	tenant string
	evs    []event
}

func (s *scenario) add(typ events.Type, id, aggregate string, at time.Time, data any) {
	raw, err := events.Encode(typ, data)
	if err != nil {
		panic(err)
	}
	v, _ := json.Marshal(events.Envelope{ID: id, Type: typ, TenantID: s.tenant, AggregateType: "x", AggregateID: aggregate, OccurredAt: at, Data: raw})
	s.evs = append(s.evs, event{at: at, key: events.Key(s.tenant, aggregate), value: v, topic: events.StreamOf(typ)})
}

func ms(v float64) *float64 { return &v }

func (s *scenario) expose(id, unit, arm string, at time.Time, fallback string, latency *float64, items ...string) {
	s.add(events.ModelExposure, id, unit, at, events.Exposure{
		RequestID: id, TenantID: s.tenant, SubjectKey: unit, Purpose: "recommendations", Experiment: "exp", Arm: arm,
		Model: "m-" + arm, Version: "1", Source: "model", Fallback: fallback, ContextKind: "home", Items: items, At: at, LatencyMs: latency,
	})
}

func (s *scenario) behave(id, kind, session, user string, at time.Time, product, orderID, requestID string) {
	b := events.Behaviour{Kind: kind, SessionID: session, UserID: user, ProductID: product, OrderID: orderID, TenantID: s.tenant, ReceivedAt: at}
	if requestID != "" {
		b.Context = map[string]string{"request_id": requestID}
	}
	s.add(events.BehaviourEvent, id, session, at, b)
}

func (s *scenario) order(id, customer string, subtotal int64, at time.Time) {
	s.add(events.OrderCreated, "oc-"+id, id, at, events.Order{ID: id, Status: "pending_payment", CustomerID: customer, Guest: customer == "",
		Total: events.Price{Currency: "EUR", Amount: subtotal + 490}, Subtotal: subtotal, Shipping: 490, Version: 1, CreatedAt: at})
}

func m(d time.Duration) time.Time { return t0.Add(d) }

// handCounted is the scenario whose aggregates are worked out by hand below.
func handCounted(tenant string) *scenario {
	s := &scenario{tenant: tenant}
	// u1 (a user): arm A; clicks a recommended item, adds to cart, orders o1 (15000,
	// above the cap), whose order.created is also duplicated by a purchase event.
	s.expose("x-u1", "u1", "A", m(0), "", ms(20), "p1", "p2")
	s.behave("b-u1-click", events.BehaviourClick, "s1", "u1", m(time.Minute), "p1", "", "")
	s.behave("b-u1-cart", events.BehaviourAddToCart, "s1", "u1", m(2*time.Minute), "p1", "", "")
	s.order("o1", "u1", 15000, m(time.Hour))
	s.behave("b-u1-buy", events.BehaviourPurchase, "s1", "u1", m(time.Hour), "", "o1", "")
	// u2: arm B, its exposure a timeout; a click on something not recommended, a click
	// by request id; an order after the window.
	s.expose("x-u2", "u2", "B", m(10*time.Minute), "timeout", ms(300), "p5")
	s.behave("b-u2-click1", events.BehaviourClick, "s2", "u2", m(11*time.Minute), "p9", "", "")
	s.behave("b-u2-click2", events.BehaviourClick, "s2", "u2", m(20*time.Minute), "p7", "", "x-u2")
	s.order("o2", "u2", 5000, m(10*time.Minute+25*time.Hour))
	// s3 (a guest session): exposed to A first and to B later: it counts in A only;
	// its guest order o3 reaches it through the purchase event.
	s.expose("x-s3-a", "s3", "A", m(time.Hour), "", ms(8))
	s.expose("x-s3-b", "s3", "B", m(2*time.Hour), "", ms(9))
	s.order("o3", "", 2000, m(3*time.Hour))
	s.behave("b-s3-buy", events.BehaviourPurchase, "s3", "", m(3*time.Hour), "", "o3", "")
	// s4: arm B; an add-to-cart before its exposure (ignored), a recommended click.
	s.behave("b-s4-cart", events.BehaviourAddToCart, "s4", "", m(4*time.Hour-time.Minute), "p5", "", "")
	s.expose("x-s4", "s4", "B", m(4*time.Hour), "", nil, "p5")
	s.behave("b-s4-click", events.BehaviourClick, "s4", "", m(4*time.Hour+time.Minute), "p5", "", "")
	// An anonymous shopper: served by A, no unit.
	s.expose("x-anon", experiments.AnonymousSubject, "A", m(5*time.Hour), "", ms(30))
	// Events the analysis skips: a view, a search, an order transition.
	s.behave("b-view", events.BehaviourView, "s1", "u1", m(time.Minute), "p1", "", "")
	s.add(events.OrderTransitioned, "ot-o1", "o1", m(2*time.Hour), events.OrderTransition{OrderID: "o1", From: "pending_payment", To: "paid", Version: 2, At: m(2 * time.Hour)})
	return s
}

func wantHandCounted() []experiments.ArmAggregate {
	a := experiments.ArmAggregate{Arm: "A", Units: 2, ConvertedUnits: 2, Impressions: 2, Clicks: 1, AddToCarts: 1, Orders: 2,
		Revenue: 17000, RevenueSq: 15000*15000 + 2000*2000, RevenueCapped: 12000, RevenueCappedSq: 1e8 + 4e6,
		RevenueLog1p: math.Log1p(15000) + math.Log1p(2000), RevenueLog1pSq: sq(math.Log1p(15000)) + sq(math.Log1p(2000)),
		ClicksSq: 1, ImpressionsSq: 2, ClicksImpressions: 1, OrdersSq: 2, RevenueOrders: 17000, RevenueCappedOrders: 12000,
		Requests: 3, LatencyCount: 3, LatencySumMs: 58, LatencyBuckets: []int64{0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}
	b := experiments.ArmAggregate{Arm: "B", Units: 2, Impressions: 2, Clicks: 2, ClicksSq: 2, ImpressionsSq: 2, ClicksImpressions: 2,
		Requests: 3, Errors: 1, LatencyCount: 2, LatencySumMs: 309, LatencyBuckets: []int64{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}}
	return []experiments.ArmAggregate{a, b}
}

func sq(x float64) float64 { return x * x }

// generated adds n random units to s, from a seeded source: exposures to two arms,
// up to perUnit clicks, carts and orders around the window's ends.
func generated(s *scenario, seed uint64, n, perUnit int) *scenario {
	r := rand.New(rand.NewPCG(seed, 7))
	arms := []string{"A", "B"}
	for u := range n {
		unit := fmt.Sprintf("g%d", u)
		start := m(time.Duration(r.IntN(48*60)) * time.Minute)
		for e := range 1 + r.IntN(3) {
			at := start.Add(time.Duration(r.IntN(30*60)) * time.Minute)
			s.expose(fmt.Sprintf("x-%s-%d", unit, e), unit, arms[r.IntN(2)], at, []string{"", "", "error"}[r.IntN(3)],
				ms(float64(r.IntN(2000))/4), "p1", "p2", "p3")
		}
		for o := range r.IntN(perUnit) {
			at := start.Add(time.Duration(r.IntN(40*60)-5*60) * time.Minute)
			switch r.IntN(3) {
			case 0:
				s.behave(fmt.Sprintf("b-%s-%d", unit, o), events.BehaviourClick, unit, "", at, fmt.Sprintf("p%d", r.IntN(5)), "", "")
			case 1:
				s.behave(fmt.Sprintf("b-%s-%d", unit, o), events.BehaviourAddToCart, unit, "", at, "p1", "", "")
			default:
				id := fmt.Sprintf("o-%s-%d", unit, o)
				s.order(id, "", int64(r.IntN(30000)), at)
				s.behave("b-buy-"+id, events.BehaviourPurchase, unit, "", at, "", id, "")
			}
		}
	}
	return s
}

// bed is one tenant on its own database and topics, with the experiments consumer.
type bed struct {
	t        testing.TB
	brokers  []string
	db       *testenv.Database
	store    *exppg.Store
	tenant   ingest.Tenant
	handler  *experiments.Handler
	writer   *kafka.Writer
	producer *ikafka.IdempotentProducer
}

func newBed(t testing.TB) *bed {
	t.Helper()
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, "ix")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ikafka.NewTopics(brokers, 3, 1).EnsurePrefix(ctx, tenant.TopicPrefix); err != nil {
		t.Fatal(err)
	}
	w := ikafka.NewWriter(brokers)
	t.Cleanup(func() { _ = w.Close() })
	p, err := ikafka.NewIdempotentProducer(brokers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	dir := postgres.NewDirectory(db.Pool, time.Second)
	store := exppg.New(db.Pool, cfg)
	return &bed{t: t, brokers: brokers, db: db, store: store, tenant: tenant, handler: experiments.NewHandler(store, dir, nil), writer: w, producer: p}
}

func (b *bed) topic(s events.Stream) string { return events.Topic(b.tenant.TopicPrefix, s) }

// produce writes evs in the order given with the relay's idempotent producer, which
// rides out a just-created topic's leader elections without writing a record twice.
func (b *bed) produce(evs []event) {
	b.t.Helper()
	msgs := make([]ingest.OutboundMessage, len(evs))
	for i, e := range evs {
		msgs[i] = ingest.OutboundMessage{Topic: b.topic(e.topic), Key: e.key, Value: e.value}
	}
	b.publish(msgs)
}

func (b *bed) publish(msgs []ingest.OutboundMessage) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := b.producer.Publish(ctx, msgs); err != nil {
		b.t.Fatalf("produce: %v", err)
	}
}

// counter wraps the handler to count messages finished (done or dead-lettered).
type counter struct {
	h    ingest.Handler
	mu   sync.Mutex
	done map[string]bool
}

func (c *counter) Handle(ctx context.Context, msgs []ingest.Message) []error {
	errs := c.h.Handle(ctx, msgs)
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range errs {
		if e == nil || ingest.IsPermanent(e) {
			c.done[fmt.Sprintf("%s/%d/%d", msgs[i].Topic, msgs[i].Partition, msgs[i].Offset)] = true
		}
	}
	return errs
}

func (c *counter) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.done)
}

// consume runs a consumer group (a new one: it reads the topics from the start)
// until it has finished want messages.
func (b *bed) consume(group string, want int) {
	b.t.Helper()
	c := &counter{h: b.handler, done: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ikafka.RunConsumer(ctx, ikafka.ConsumerConfig{
			Name: "experiments", Brokers: b.brokers, GroupID: testenv.Name(b.t, group, "-"),
			Topics: b.handler.Topics, Handler: c, DeadLetters: b.writer, RetryBackoff: 50 * time.Millisecond,
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.t.Errorf("consumer: %v", err)
		}
	}()
	testenv.Eventually(b.t, 120*time.Second, "the experiments consumer finishes every message", func() (bool, string) {
		n := c.n()
		return n >= want, fmt.Sprintf("%d of %d", n, want)
	})
}

func (b *bed) aggregates() ([]experiments.ArmAggregate, []experiments.Snapshot) {
	b.t.Helper()
	aggs, err := b.store.Aggregates(context.Background(), b.tenant.ID, "exp")
	if err != nil {
		b.t.Fatal(err)
	}
	snaps, err := b.store.Snapshots(context.Background(), b.tenant.ID, "exp")
	if err != nil {
		b.t.Fatal(err)
	}
	return aggs, snaps
}

func inOrder(evs []event) []event {
	evs = slices.Clone(evs)
	slices.SortStableFunc(evs, func(a, b event) int { return a.at.Compare(b.at) })
	return evs
}

func shuffled(evs []event, seed uint64) []event {
	evs = slices.Clone(evs)
	rand.New(rand.NewPCG(seed, 1)).Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	return evs
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(a)) }

// equalAggregates compares field by field, floats to 1e-9 relative (the sums are
// exact in numeric; only the conversion to float64 may round).
func equalAggregates(t *testing.T, what string, got, want []experiments.ArmAggregate) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d arms, want %d:\n got %+v\nwant %+v", what, len(got), len(want), got, want)
	}
	for i := range got {
		g, w := reflect.ValueOf(got[i]), reflect.ValueOf(want[i])
		for f := range g.NumField() {
			name := g.Type().Field(f).Name
			gv, wv := g.Field(f).Interface(), w.Field(f).Interface()
			ok := reflect.DeepEqual(gv, wv)
			if gf, isF := gv.(float64); isF {
				ok = near(gf, wv.(float64))
			}
			if !ok {
				t.Errorf("%s: arm %s %s = %v, want %v", what, want[i].Arm, name, gv, wv)
			}
		}
	}
}

// TestHandCounted runs the hand-counted scenario in event-time order and checks
// every aggregate against the numbers worked out above.
func TestHandCounted(t *testing.T) {
	b := newBed(t)
	s := handCounted(b.tenant.ID)
	b.produce(inOrder(s.evs))
	b.consume("in-order", len(s.evs))
	aggs, snaps := b.aggregates()
	equalAggregates(t, "in order", aggs, wantHandCounted())
	if len(snaps) == 0 {
		t.Fatal("no hourly snapshots")
	}
	equalAggregates(t, "last snapshot", snaps[len(snaps)-1].Arms, aggs)
	// The first hour (10:00) holds u1 (exposed 10:15) and u2 (10:25) and their
	// clicks, not yet u1's order (11:15).
	first := snaps[0]
	if !first.Hour.Equal(t0.Truncate(time.Hour)) || len(first.Arms) != 2 || first.Arms[0].Units != 1 || first.Arms[0].Orders != 0 ||
		first.Arms[1].Units != 1 || first.Arms[1].Clicks != 1 {
		t.Errorf("first snapshot = %+v", first)
	}
	// Another tenant sees nothing of it, even without a WHERE: row-level security.
	other := ingesttest.NewTenant(t, b.db.Pool, nil, "iy")
	got, err := b.store.Aggregates(context.Background(), other.ID, "exp")
	if err != nil || len(got) != 0 {
		t.Errorf("another tenant's aggregates = %+v, %v; want none", got, err)
	}
	for _, tenant := range []string{other.ID, b.tenant.ID} {
		n := rowsVisibleTo(t, b.db.Pool, tenant)
		if (n == 0) != (tenant == other.ID) {
			t.Errorf("tenant %s sees %d experiment rows", tenant, n)
		}
	}
}

// rowsVisibleTo counts every row of the experiment tables a transaction in tenant's
// scope sees, asking for all of them.
func rowsVisibleTo(t *testing.T, pool *pgxpool.Pool, tenant string) int {
	t.Helper()
	var n int
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), "SELECT set_config('kommerce.tenant_id', $1, true)", tenant); err != nil {
			return err
		}
		return tx.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM experiment_exposures) + (SELECT count(*) FROM experiment_outcomes)
			+ (SELECT count(*) FROM experiment_orders) + (SELECT count(*) FROM experiment_order_units)
			+ (SELECT count(*) FROM experiment_units) + (SELECT count(*) FROM experiment_arm_metrics)`).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func equalSnapshots(t *testing.T, what string, got, want []experiments.Snapshot) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d snapshots, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !got[i].Hour.Equal(want[i].Hour) {
			t.Fatalf("%s: snapshot %d at %s, want %s", what, i, got[i].Hour, want[i].Hour)
		}
		equalAggregates(t, fmt.Sprintf("%s, snapshot %s", what, got[i].Hour.Format(time.RFC3339)), got[i].Arms, want[i].Arms)
	}
}

// TestOrderIndependence runs one scenario in event-time order, shuffled with
// duplicates, replayed twice, and with every outcome before any exposure: the
// aggregates and the hourly snapshots must be the in-order run's each time.
func TestOrderIndependence(t *testing.T) {
	ref := newBed(t)
	base := generated(handCounted(ref.tenant.ID), 42, 60, 6)
	ref.produce(inOrder(base.evs))
	ref.consume("in-order", len(base.evs))
	wantAggs, wantSnaps := ref.aggregates()
	if len(wantAggs) != 2 || wantAggs[0].Units+wantAggs[1].Units != 64 || wantAggs[0].Orders == 0 || wantAggs[1].Clicks == 0 {
		t.Fatalf("the in-order run should have 64 units with orders and clicks in both arms: %+v", wantAggs)
	}

	// Shuffled, with a fifth of the events duplicated at random places.
	b := newBed(t)
	evs := generated(handCounted(b.tenant.ID), 42, 60, 6).evs
	dup := append(slices.Clone(evs), shuffled(evs, 3)[:len(evs)/5]...)
	b.produce(shuffled(dup, 4))
	b.consume("shuffled", len(dup))
	aggs, snaps := b.aggregates()
	equalAggregates(t, "shuffled with duplicates", aggs, wantAggs)
	equalSnapshots(t, "shuffled with duplicates", snaps, wantSnaps)

	// The whole topic replayed by a new group, then everything produced again and
	// the lot replayed once more.
	b.consume("replay-1", len(dup))
	aggs, snaps = b.aggregates()
	equalAggregates(t, "replayed", aggs, wantAggs)
	equalSnapshots(t, "replayed", snaps, wantSnaps)
	b.produce(shuffled(evs, 5))
	b.consume("replay-2", len(dup)+len(evs))
	aggs, snaps = b.aggregates()
	equalAggregates(t, "replayed twice", aggs, wantAggs)
	equalSnapshots(t, "replayed twice", snaps, wantSnaps)

	// Every outcome and order first: nothing to attribute yet; then the exposures.
	late := newBed(t)
	evs = generated(handCounted(late.tenant.ID), 42, 60, 6).evs
	var exposures, rest []event
	for _, e := range evs {
		var env events.Envelope
		_ = json.Unmarshal(e.value, &env)
		if env.Type == events.ModelExposure {
			exposures = append(exposures, e)
		} else {
			rest = append(rest, e)
		}
	}
	late.produce(shuffled(rest, 6))
	late.consume("outcomes", len(rest))
	if aggs, _ := late.aggregates(); len(aggs) != 0 {
		t.Fatalf("outcomes without exposures are attributed to nobody: %+v", aggs)
	}
	late.produce(shuffled(exposures, 7))
	late.consume("exposures", len(evs))
	aggs, snaps = late.aggregates()
	equalAggregates(t, "outcomes before exposures", aggs, wantAggs)
	equalSnapshots(t, "outcomes before exposures", snaps, wantSnaps)
}

// TestPoison sends malformed and misaddressed events between good ones: each bad one
// lands in its topic's dead-letter topic, and the good ones all count.
func TestPoison(t *testing.T) {
	b := newBed(t)
	s := handCounted(b.tenant.ID)
	good := inOrder(s.evs)

	other := ingesttest.NewTenant(t, b.db.Pool, b.brokers, "iz")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ikafka.NewTopics(b.brokers, 3, 1).EnsurePrefix(ctx, other.TopicPrefix); err != nil {
		t.Fatal(err)
	}
	bad := &scenario{tenant: b.tenant.ID}
	bad.add(events.ModelExposure, "bad-no-arm", "u9", m(0), events.Exposure{RequestID: "bad-no-arm", TenantID: b.tenant.ID,
		SubjectKey: "u9", Experiment: "exp", Items: []string{}, At: m(0)})
	bad.add(events.ModelExposure, "bad-tenant", "u9", m(0), events.Exposure{RequestID: "bad-tenant", TenantID: other.ID,
		SubjectKey: "u9", Experiment: "exp", Arm: "A", Items: []string{}, At: m(0)})
	// Passes every check of the handler, but PostgreSQL refuses the NUL in its text:
	// the batch it is in fails, and its facts are then recorded one by one.
	bad.behave("bad-nul", events.BehaviourClick, "s1", "u1", m(time.Minute), "p\x00", "", "")
	var poison []event
	for _, e := range bad.evs {
		poison = append(poison, e)
	}
	poison = append(poison,
		event{key: []byte("x"), value: []byte(`{"id": "not json`), topic: events.StreamBehaviour},
		event{key: events.Key(b.tenant.ID, "u9"), value: []byte(`{"id":"v9","type":"model.exposure.v9","tenant_id":"` + b.tenant.ID +
			`","aggregate_type":"subject","aggregate_id":"u9","data":{}}`), topic: events.StreamBehaviour},
	)
	mixed := slices.Concat(good[:5], poison, good[5:])
	b.produce(mixed)
	// An event of this tenant on the other tenant's topic: refused.
	wrong := handCounted(b.tenant.ID)
	wrong.expose("x-wrong", "u1", "B", m(0), "", nil)
	misaddressed := wrong.evs[len(wrong.evs)-1]
	b.publish([]ingest.OutboundMessage{{Topic: events.Topic(other.TopicPrefix, events.StreamBehaviour), Key: misaddressed.key, Value: misaddressed.value}})
	b.consume("poison", len(mixed)+1)

	dlq := events.DeadLetter(b.topic(events.StreamBehaviour))
	testenv.Eventually(t, 60*time.Second, "the poison reaches the dead-letter topics", func() (bool, string) {
		n := ingesttest.TopicMessages(t, b.brokers, dlq)
		o := ingesttest.TopicMessages(t, b.brokers, events.DeadLetter(events.Topic(other.TopicPrefix, events.StreamBehaviour)))
		return n == int64(len(poison)) && o == 1, fmt.Sprintf("%d of %d in %s, %d of 1 in the other tenant's", n, len(poison), dlq, o)
	})
	for _, m := range ingesttest.ReadTopic(t, b.brokers, dlq, len(poison)) {
		if len(m.Headers) == 0 {
			t.Errorf("dead letter %s carries no error header", m.Value)
		}
	}
	aggs, _ := b.aggregates()
	equalAggregates(t, "good events among poison", aggs, wantHandCounted())
	if got, _ := b.store.Aggregates(context.Background(), other.ID, "exp"); len(got) != 0 {
		t.Errorf("the misaddressed exposure reached the other tenant: %+v", got)
	}
}

// TestConcurrentReplicas hands the shuffled events with duplicates to eight handlers
// at once, as eight ingest replicas would process eight partitions: the per-unit locks
// must keep the aggregates those of the in-order run.
func TestConcurrentReplicas(t *testing.T) {
	ref := newBed(t)
	// Few units with many events each, so that replicas often touch one unit at once.
	s := generated(handCounted(ref.tenant.ID), 9, 6, 80)
	ref.produce(inOrder(s.evs))
	ref.consume("in-order", len(s.evs))
	wantAggs, wantSnaps := ref.aggregates()

	b := newBed(t)
	evs := generated(handCounted(b.tenant.ID), 9, 6, 80).evs
	evs = shuffled(append(slices.Clone(evs), evs...), 11)
	const replicas = 8
	var wg sync.WaitGroup
	errs := make([]error, len(evs))
	start := time.Now()
	for r := range replicas {
		wg.Go(func() {
			h := experiments.NewHandler(b.store, postgres.NewDirectory(b.db.Pool, time.Minute), nil)
			// Replica r handles every replicas-th chunk; chunks are consumer batches,
			// one transaction each.
			const chunk = 10
			for from := r * chunk; from < len(evs); from += replicas * chunk {
				to := min(from+chunk, len(evs))
				var msgs []ingest.Message
				for _, e := range evs[from:to] {
					msgs = append(msgs, ingest.Message{Topic: b.topic(e.topic), Key: e.key, Value: e.value})
				}
				copy(errs[from:to], h.Handle(context.Background(), msgs))
			}
		})
	}
	wg.Wait()
	t.Logf("%d events by %d concurrent handlers in %s", len(evs), replicas, time.Since(start).Round(time.Millisecond))
	for i, err := range errs {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	aggs, snaps := b.aggregates()
	equalAggregates(t, "concurrent", aggs, wantAggs)
	equalSnapshots(t, "concurrent", snaps, wantSnaps)
}

// BenchmarkHandle measures one consumer's rate on PostgreSQL: new events (a new
// tenant each round) in batches of 500, shuffled so that most arrive out of order;
// 60 units with up to 30 outcomes each.
func BenchmarkHandle(b *testing.B) {
	bd := newBed(b)
	n := 0
	var busy time.Duration
	for b.Loop() {
		tenant := ingesttest.NewTenant(b, bd.db.Pool, nil, fmt.Sprintf("bench%d", n))
		evs := shuffled(generated(&scenario{tenant: tenant.ID}, 5, 60, 30).evs, 2)
		msgs := make([]ingest.Message, len(evs))
		for i, e := range evs {
			msgs[i] = ingest.Message{Topic: events.Topic(tenant.TopicPrefix, e.topic), Key: e.key, Value: e.value}
		}
		h := experiments.NewHandler(bd.store, postgres.NewDirectory(bd.db.Pool, time.Minute), nil)
		start := time.Now()
		for len(msgs) > 0 { // in consumer batches of the default size
			batch := msgs[:min(len(msgs), 500)]
			msgs = msgs[len(batch):]
			for _, err := range h.Handle(context.Background(), batch) {
				if err != nil {
					b.Fatal(err)
				}
			}
			n += len(batch)
		}
		busy += time.Since(start)
	}
	b.ReportMetric(float64(n)/busy.Seconds(), "events/s")
}
