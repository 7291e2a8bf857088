package testenv_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/paymentintent"

	"github.com/kommerce/kommerce/internal/testenv"
)

// The smoke tests prove each real service answers through the client library the
// project uses for it. Run them alone with `go test ./internal/testenv -run Smoke -v`.

func TestSmokePostgres(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := context.Background()

	var sum int
	if err := db.Pool.QueryRow(ctx, "SELECT $1::int + $2::int", 20, 22).Scan(&sum); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if sum != 42 {
		t.Fatalf("20 + 22 = %d", sum)
	}

	// The database is migrated, and row-level security hides tenant rows from a
	// transaction that did not name its tenant.
	var tenantID string
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL kommerce.platform = 'on'"); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "INSERT INTO tenants (slug, name, topic_prefix, index_prefix, redis_prefix) VALUES ('acme', 'Acme', 'kommerce.acme', 'kommerce-acme', 'k:acme:') RETURNING id").Scan(&tenantID)
	})
	if err != nil {
		t.Fatalf("insert tenant as platform: %v", err)
	}
	var visible int
	if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM tenants").Scan(&visible); err != nil {
		t.Fatal(err)
	}
	if visible != 0 {
		t.Fatalf("a query without kommerce.tenant_id saw %d tenant rows, want 0", visible)
	}
	err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.tenant_id', $1, true)", tenantID); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT count(*) FROM tenants").Scan(&visible)
	})
	if err != nil || visible != 1 {
		t.Fatalf("tenant-scoped read saw %d rows (err %v), want 1", visible, err)
	}
}

func TestSmokeRedis(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	key := r.Prefix + "greeting"
	if err := r.Client.Set(ctx, key, "hello", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	got, err := r.Client.Get(ctx, key).Result()
	if err != nil || got != "hello" {
		t.Fatalf("GET = %q, %v; want hello", got, err)
	}
}

func TestSmokeKafka(t *testing.T) {
	k := testenv.NewKafkaTopic(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	w := &kafka.Writer{
		Addr:         kafka.TCP(k.Brokers...),
		Topic:        k.Topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
	}
	const n = 20
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "key-%d", i%4), Value: fmt.Appendf(nil, "value-%d", i)}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	group := k.Topic + ".group"
	newReader := func() *kafka.Reader {
		return kafka.NewReader(kafka.ReaderConfig{
			Brokers: k.Brokers, GroupID: group, Topic: k.Topic,
			StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond,
		})
	}
	r := newReader()
	seen := map[string]bool{}
	for len(seen) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("fetch after %d messages: %v", len(seen), err)
		}
		seen[string(m.Value)] = true
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	// A second member of the group resumes after the committed offsets: nothing new.
	r2 := newReader()
	defer r2.Close()
	short, cancel2 := context.WithTimeout(ctx, 8*time.Second)
	defer cancel2()
	if m, err := r2.FetchMessage(short); err == nil {
		t.Fatalf("second reader got %q at offset %d; offsets were not committed", m.Value, m.Offset)
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second reader: %v", err)
	}
}

func TestSmokeElasticsearch(t *testing.T) {
	es := testenv.NewElasticsearchIndex(t)
	client, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{es.URL}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(what string, res interface {
		IsError() bool
		String() string
	}, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if res.IsError() {
			t.Fatalf("%s: %s", what, res.String())
		}
	}
	res, err := client.Indices.Create(es.Index, client.Indices.Create.WithContext(ctx),
		client.Indices.Create.WithBody(strings.NewReader(`{"mappings":{"properties":{"name":{"type":"text"}}}}`)))
	check("create index", res, err)
	res.Body.Close()
	res, err = client.Index(es.Index, strings.NewReader(`{"name":"Blue linen shirt"}`),
		client.Index.WithDocumentID("p1"), client.Index.WithRefresh("true"), client.Index.WithContext(ctx))
	check("index document", res, err)
	res.Body.Close()
	res, err = client.Search(client.Search.WithIndex(es.Index), client.Search.WithContext(ctx),
		client.Search.WithBody(strings.NewReader(`{"query":{"match":{"name":"linen"}}}`)))
	check("search", res, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"_id":"p1"`) {
		t.Fatalf("search did not find the document: %s", body)
	}
}

func TestSmokeStripe(t *testing.T) {
	url := testenv.StripeURL(t)
	backends := stripe.NewBackends(http.DefaultClient)
	backends.API = stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL: stripe.String(url), HTTPClient: http.DefaultClient, LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelError},
	})
	client := paymentintent.Client{B: backends.API, Key: "sk_test_123"}
	pi, err := client.New(&stripe.PaymentIntentParams{
		Amount:   stripe.Int64(4200),
		Currency: stripe.String(string(stripe.CurrencyEUR)),
		Metadata: map[string]string{"order_id": "o_1"},
	})
	if err != nil {
		t.Fatalf("create PaymentIntent against stripe-mock: %v", err)
	}
	if !strings.HasPrefix(pi.ID, "pi_") || pi.ClientSecret == "" {
		t.Fatalf("unexpected PaymentIntent %+v", pi)
	}
}
