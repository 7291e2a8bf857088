package webhooks_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	kafka "github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/apiserver"
	apipg "github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/ingesttest"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/ingest/notify"
	"github.com/kommerce/kommerce/ingest/postgres"
	"github.com/kommerce/kommerce/ingest/webhooks"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/secretbox"
	"github.com/kommerce/kommerce/internal/testenv"
	"github.com/kommerce/kommerce/internal/webhook"
)

type fixture struct {
	t       testing.TB
	pool    *pgxpool.Pool
	brokers []string
	tenant  ingest.Tenant
	box     *secretbox.Keyring
	writer  *kafka.Writer
	topics  *ikafka.Topics
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secretbox.New([]string{"k1"}, [][]byte{key})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, pool: db.Pool, brokers: brokers, box: box, topics: ikafka.NewTopics(brokers, 3, 1)}
	f.tenant = ingesttest.NewTenant(t, db.Pool, brokers, "unused")
	if err := f.topics.EnsurePrefix(context.Background(), f.tenant.TopicPrefix); err != nil {
		t.Fatal(err)
	}
	ingesttest.WaitLeaders(t, brokers, ikafka.PrefixTopics(f.tenant.TopicPrefix)...)
	f.writer = ikafka.NewWriter(brokers)
	t.Cleanup(func() { f.writer.Close() })
	return f
}

func (f *fixture) tx(fn func(tx pgx.Tx) error) {
	f.t.Helper()
	ctx := context.Background()
	if err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.tenant_id', $1, true)", f.tenant.ID); err != nil {
			return err
		}
		return fn(tx)
	}); err != nil {
		f.t.Fatal(err)
	}
}

// endpoint registers url for types with secret (and a previous secret valid for an
// hour when previous is set), sealed as the API stores them.
func (f *fixture) endpoint(url, secret, previous string, types ...string) string {
	f.t.Helper()
	seal := func(col, v string) string {
		b, err := f.box.Seal(f.tenant.ID, col, []byte(v))
		if err != nil {
			f.t.Fatal(err)
		}
		return string(b)
	}
	var id string
	f.tx(func(tx pgx.Tx) error {
		var prev, prevExp any
		if previous != "" {
			prev, prevExp = seal(webhook.PreviousSecretColumn, previous), time.Now().Add(time.Hour)
		}
		return tx.QueryRow(context.Background(), `INSERT INTO webhook_endpoints (tenant_id, url, event_types, secret, previous_secret, previous_expires_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, f.tenant.ID, url, types, seal(webhook.SecretColumn, secret), prev, prevExp).Scan(&id)
	})
	return id
}

func (f *fixture) envelope(typ events.Type, aggregateID string, version int64) events.Envelope {
	raw, err := events.Encode(events.OrderTransitioned, events.OrderTransition{OrderID: aggregateID, From: "a", To: "b", Version: version, At: time.Now().UTC()})
	if err != nil {
		f.t.Fatal(err)
	}
	return events.Envelope{ID: newUUID(), Type: typ, TenantID: f.tenant.ID, AggregateType: "order", AggregateID: aggregateID, OccurredAt: time.Now().UTC(), Data: raw}
}

func (f *fixture) publish(envs ...events.Envelope) {
	f.t.Helper()
	msgs := make([]kafka.Message, len(envs))
	for i, e := range envs {
		b, _ := json.Marshal(e)
		msgs[i] = kafka.Message{Topic: events.Topic(f.tenant.TopicPrefix, events.StreamOf(e.Type)), Key: events.Key(e.TenantID, e.AggregateID), Value: b}
	}
	if err := f.writer.WriteMessages(context.Background(), msgs...); err != nil {
		f.t.Fatal(err)
	}
}

// run starts the fan-out and the worker with cfg (Pool, Secrets filled in).
func (f *fixture) run(cfg webhooks.WorkerConfig) {
	cfg.Pool, cfg.Secrets = f.pool, f.box
	if cfg.Poll == 0 {
		cfg.Poll = 20 * time.Millisecond
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = 20 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := webhooks.Run(ctx, webhooks.RunConfig{
			Brokers: f.brokers, GroupID: testenv.Name(f.t, "wh", "-"), Directory: postgres.NewDirectory(f.pool, time.Second),
			Topics: f.topics, TopicRefresh: time.Second, Worker: cfg,
		})
		if err != nil {
			f.t.Errorf("webhooks: %v", err)
		}
	}()
	f.t.Cleanup(func() { cancel(); wg.Wait() })
}

func (f *fixture) delivery(eventID string) (status string, attempts int, lastErr string) {
	f.t.Helper()
	f.tx(func(tx pgx.Tx) error {
		err := tx.QueryRow(context.Background(), `SELECT status, attempts, last_error FROM webhook_deliveries WHERE event_id = $1`, eventID).Scan(&status, &attempts, &lastErr)
		if err == pgx.ErrNoRows {
			return nil
		}
		return err
	})
	return
}

// receiver is a real HTTP server that records what it accepted.
type receiver struct {
	mu       sync.Mutex
	requests int
	accepted []received
	answer   func(n int, w http.ResponseWriter, r *http.Request) bool // true: accepted
	srv      *httptest.Server
}

type received struct {
	eventID, aggregate, signature string
	body                          []byte
}

func newReceiver(t testing.TB, answer func(n int, w http.ResponseWriter, r *http.Request) bool) *receiver {
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.requests++
		n := rc.requests
		rc.mu.Unlock()
		if !rc.answer(n, w, r) {
			return
		}
		var env events.Envelope
		_ = json.Unmarshal(body, &env)
		rc.mu.Lock()
		rc.accepted = append(rc.accepted, received{eventID: r.Header.Get(webhook.HeaderEventID), aggregate: env.AggregateID, signature: r.Header.Get(webhook.HeaderSignature), body: body})
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) snapshot() (int, []received) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.requests, append([]received(nil), rc.accepted...)
}

// TestFailingReceiverGetsEveryEventOnceInOrder: the receiver times out once and
// answers 500 and 503 on its next two requests, then accepts. Twelve events of three
// orders, each published twice, arrive exactly once each, in each order's sequence,
// signed with the endpoint's secret.
func TestFailingReceiverGetsEveryEventOnceInOrder(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		switch n {
		case 1:
			<-r.Context().Done() // hangs until the client gives up
			return false
		case 2:
			w.WriteHeader(http.StatusInternalServerError)
			return false
		case 3:
			w.WriteHeader(http.StatusServiceUnavailable)
			return false
		}
		return true
	})
	f.endpoint(rc.srv.URL+"/hooks", "whsec_test", "", "order.transitioned")
	f.run(webhooks.WorkerConfig{Guard: webhook.Guard{AllowLoopback: true}, Timeout: 500 * time.Millisecond})
	var envs []events.Envelope
	orders := []string{newUUID(), newUUID(), newUUID()}
	for v := int64(1); v <= 4; v++ {
		for _, o := range orders {
			envs = append(envs, f.envelope(events.OrderTransitioned, o, v))
		}
	}
	f.publish(envs...)
	f.publish(envs...)
	f.publish(f.envelope(events.StockChanged, "SKU-1", 1)) // not subscribed: not delivered

	testenv.Eventually(t, 90*time.Second, "12 events accepted", func() (bool, string) {
		n, acc := rc.snapshot()
		return len(acc) >= 12, fmt.Sprintf("%d requests, %d accepted", n, len(acc))
	})
	// Give duplicates a chance to show up: every delivery row is finished.
	testenv.Eventually(t, 30*time.Second, "every delivery finished", func() (bool, string) {
		var pending int
		f.tx(func(tx pgx.Tx) error {
			return tx.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries WHERE status <> 'succeeded'`).Scan(&pending)
		})
		return pending == 0, fmt.Sprintf("%d unfinished", pending)
	})
	n, acc := rc.snapshot()
	if len(acc) != 12 || n != 15 {
		t.Fatalf("%d requests and %d accepted, want 15 (3 failed) and 12", n, len(acc))
	}
	seen := map[string]bool{}
	next := map[string]int{}
	want := map[string]string{}
	for _, e := range envs[:12] {
		want[e.ID] = e.AggregateID
	}
	for _, r := range acc {
		if seen[r.eventID] {
			t.Errorf("event %s accepted twice", r.eventID)
		}
		seen[r.eventID] = true
		if err := webhook.Verify(r.signature, r.body, "whsec_test", 5*time.Minute, time.Now()); err != nil {
			t.Errorf("event %s: signature %q: %v", r.eventID, r.signature, err)
		}
		var env events.Envelope
		var tr events.OrderTransition
		if err := json.Unmarshal(r.body, &env); err != nil || events.DecodeInto(env.Type, env.Data, &tr) != nil {
			t.Fatalf("body is not an event envelope: %s", r.body)
		}
		next[tr.OrderID]++
		if tr.Version != int64(next[tr.OrderID]) {
			t.Errorf("order %s: version %d arrived as its event number %d (out of order)", tr.OrderID, tr.Version, next[tr.OrderID])
		}
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("event %s never accepted", id)
		}
	}
	var attempts int
	f.tx(func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT count(*) FROM webhook_attempts`).Scan(&attempts)
	})
	if attempts != 15 {
		t.Fatalf("%d attempts logged, want 15", attempts)
	}
}

// Test4xxIsNotRetried: a 400 ends the delivery at its first attempt, and the next
// event of the same order goes out after it.
func Test4xxIsNotRetried(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n == 1 {
			w.WriteHeader(http.StatusBadRequest)
			return false
		}
		return true
	})
	endpointID := f.endpoint(rc.srv.URL, "whsec_x", "", "*")
	f.run(webhooks.WorkerConfig{Guard: webhook.Guard{AllowLoopback: true}})
	order := newUUID()
	first, second := f.envelope(events.OrderTransitioned, order, 1), f.envelope(events.OrderTransitioned, order, 2)
	f.publish(first, second)
	testenv.Eventually(t, 60*time.Second, "the second event accepted", func() (bool, string) {
		_, acc := rc.snapshot()
		return len(acc) == 1, fmt.Sprint(len(acc))
	})
	st, attempts, why := f.delivery(first.ID)
	if st != "failed" || attempts != 1 || !strings.Contains(why, "400") {
		t.Fatalf("first delivery %s after %d attempts (%s), want failed after 1 with the 400", st, attempts, why)
	}
	if n, acc := rc.snapshot(); n != 2 || acc[0].eventID != second.ID {
		t.Fatalf("%d requests, accepted %v; want 2 requests, the second event accepted", n, acc)
	}

	// Staff redeliver it (the API's service): the receiver now accepts it, and the
	// log holds both attempts.
	var deliveryID string
	f.tx(func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT id FROM webhook_deliveries WHERE event_id = $1`, first.ID).Scan(&deliveryID)
	})
	svc := &apipg.WebhookService{DB: apipg.NewDB(f.pool), Box: f.box}
	ctx := apiserver.NewContextWithTenant(context.Background(), &apiserver.Tenant{ID: f.tenant.ID, Slug: f.tenant.Slug})
	if _, err := svc.Redeliver(ctx, endpointID, deliveryID); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, "the redelivered event accepted", func() (bool, string) {
		_, acc := rc.snapshot()
		return len(acc) == 2, fmt.Sprint(len(acc))
	})
	// The receiver has the request before the worker records its answer: wait for
	// the log to say so.
	testenv.Eventually(t, 30*time.Second, "the redelivery logged as succeeded", func() (bool, string) {
		log, err := svc.Deliveries(ctx, endpointID, 10)
		if err != nil {
			return false, err.Error()
		}
		for _, d := range log {
			if d.EventID == first.ID {
				ok := d.Status == "succeeded" && len(d.AttemptLog) == 2 && d.AttemptLog[0].StatusCode != nil && *d.AttemptLog[0].StatusCode == 400 &&
					d.AttemptLog[1].StatusCode != nil && *d.AttemptLog[1].StatusCode == 204
				return ok, fmt.Sprintf("%+v", d)
			}
		}
		return false, "no delivery of the first event in the log"
	})
}

// TestLoopbackRefusedAtDeliveryUnlessAllowed: an endpoint row pointing at loopback
// (as one re-pointed by DNS after registration would) is refused by the dialer.
func TestLoopbackRefusedAtDeliveryUnlessAllowed(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) bool { return true })
	f.endpoint(rc.srv.URL, "whsec_x", "", "*")
	f.run(webhooks.WorkerConfig{Guard: webhook.Guard{}})
	e := f.envelope(events.OrderTransitioned, newUUID(), 1)
	f.publish(e)
	testenv.Eventually(t, 60*time.Second, "the delivery failed", func() (bool, string) {
		st, _, why := f.delivery(e.ID)
		return st == "failed", st + " " + why
	})
	if _, why := f.deliveryErr(e.ID); !strings.Contains(why, "loopback") {
		t.Fatalf("error %q does not name the refusal", why)
	}
	if n, _ := rc.snapshot(); n != 0 {
		t.Fatalf("the receiver got %d requests", n)
	}
}

func (f *fixture) deliveryErr(id string) (string, string) {
	st, _, why := f.delivery(id)
	return st, why
}

// TestRotationSignsWithBothSecrets: while the previous secret is valid, a receiver
// holding either one verifies.
func TestRotationSignsWithBothSecrets(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) bool { return true })
	f.endpoint(rc.srv.URL, "whsec_new", "whsec_old", "*")
	f.run(webhooks.WorkerConfig{Guard: webhook.Guard{AllowLoopback: true}})
	f.publish(f.envelope(events.OrderTransitioned, newUUID(), 1))
	testenv.Eventually(t, 60*time.Second, "accepted", func() (bool, string) {
		_, acc := rc.snapshot()
		return len(acc) == 1, fmt.Sprint(len(acc))
	})
	_, acc := rc.snapshot()
	for _, s := range []string{"whsec_new", "whsec_old"} {
		if err := webhook.Verify(acc[0].signature, acc[0].body, s, time.Minute, time.Now()); err != nil {
			t.Errorf("secret %s does not verify %q: %v", s, acc[0].signature, err)
		}
	}
}

// TestEndpointFailingTooLongIsDisabledAndAdminsTold: with DisableAfter shortened, an
// endpoint that only answers 503 is disabled, says why, and the tenant's admin gets
// an e-mail (read back from mailpit).
func TestEndpointFailingTooLongIsDisabledAndAdminsTold(t *testing.T) {
	mp := testenv.NewMailpit(t)
	f := newFixture(t)
	admin := testenv.MailpitAddress(t, "admin")
	f.tx(func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `INSERT INTO users (tenant_id, email, name, password_hash, role) VALUES ($1, $2, 'Admin', '$argon2id$x', 'admin')`, f.tenant.ID, admin)
		return err
	})
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return false
	})
	id := f.endpoint(rc.srv.URL, "whsec_x", "", "*")
	f.run(webhooks.WorkerConfig{
		Guard: webhook.Guard{AllowLoopback: true}, DisableAfter: 300 * time.Millisecond, Backoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Notifier: &notify.AdminNotifier{Pool: f.pool, Mailer: &notify.SMTP{Addr: mp.SMTPAddr}, From: "ops@kommerce.test"},
	})
	e := f.envelope(events.OrderTransitioned, newUUID(), 1)
	f.publish(e)
	var enabled bool
	var reason string
	testenv.Eventually(t, 60*time.Second, "the endpoint disabled", func() (bool, string) {
		f.tx(func(tx pgx.Tx) error {
			return tx.QueryRow(context.Background(), `SELECT enabled, disabled_reason FROM webhook_endpoints WHERE id = $1`, id).Scan(&enabled, &reason)
		})
		return !enabled, reason
	})
	if !strings.Contains(reason, "503") {
		t.Fatalf("disabled_reason %q does not give the last error", reason)
	}
	testenv.Eventually(t, 30*time.Second, "the admin's e-mail", func() (bool, string) {
		got, err := mp.Search(admin)
		if err != nil {
			return false, err.Error()
		}
		return len(got) == 1 && strings.Contains(got[0].Subject, "webhook endpoint disabled"), fmt.Sprint(got)
	})
	// The delivery waits (pending) for the endpoint to be enabled again.
	if st, _, _ := f.delivery(e.ID); st != "pending" {
		t.Fatalf("delivery %s, want pending while the endpoint is disabled", st)
	}
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
