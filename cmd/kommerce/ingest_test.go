package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/experiments"
	exppg "github.com/kommerce/kommerce/ingest/experiments/postgres"
	"github.com/kommerce/kommerce/ingest/ingesttest"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/elasticsearch"
	"github.com/kommerce/kommerce/internal/testenv"
)

func TestIngestCommandLine(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "help lists variables", args: []string{"ingest", "--help"}, wantStdout: "KOMMERCE_KAFKA_BROKERS"},
		{name: "help names replay", args: []string{"ingest", "--help"}, wantStdout: "replay --from-dlq"},
		{name: "bad brokers", env: map[string]string{"KOMMERCE_KAFKA_BROKERS": "localhost"}, args: []string{"ingest"}, wantCode: 2, wantStderr: "KOMMERCE_KAFKA_BROKERS"},
		{name: "bad elasticsearch url", env: map[string]string{"KOMMERCE_ELASTICSEARCH_URL": "ftp://x"}, args: []string{"ingest"}, wantCode: 2, wantStderr: "KOMMERCE_ELASTICSEARCH_URL"},
		{name: "zero partitions", args: []string{"ingest", "--kafka-partitions", "0"}, wantCode: 2, wantStderr: "at least 1"},
		{name: "unknown action", args: []string{"ingest", "rewind"}, wantCode: 2, wantStderr: `unknown ingest action "rewind"`},
		{name: "replay without topic", args: []string{"ingest", "replay"}, wantCode: 2, wantStderr: "--from-dlq is required"},
		{name: "replay of a normal topic", args: []string{"ingest", "replay", "--from-dlq", "kommerce.acme.catalog"}, wantCode: 2, wantStderr: "must end in .dlq"},
		{name: "replay help", args: []string{"ingest", "replay", "--help"}, wantStdout: "--from-dlq"},
		{name: "reindex without index", args: []string{"ingest", "reindex"}, wantCode: 2, wantStderr: "exactly one index alias"},
		{name: "reindex bad index", args: []string{"ingest", "reindex", "Bad/Name"}, wantCode: 2, wantStderr: "index name"},
		{name: "help names the experiment window", args: []string{"ingest", "--help"}, wantStdout: "KOMMERCE_EXPERIMENT_WINDOW"},
		{name: "zero window", args: []string{"ingest", "--experiment-window", "0s"}, wantCode: 2, wantStderr: "must be above zero"},
		{name: "revenue cap without amount", env: map[string]string{"KOMMERCE_EXPERIMENT_REVENUE_CAPS": "recs"}, args: []string{"ingest"}, wantCode: 2, wantStderr: "experiment=amount"},
		{name: "unreachable database", env: map[string]string{"KOMMERCE_DATABASE_URL": "postgres://kommerce:x@127.0.0.1:1/kommerce?connect_timeout=2"}, args: []string{"ingest"}, wantCode: 1, wantStderr: "connect to PostgreSQL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := invoke(t, tt.env, tt.args...)
			if code != tt.wantCode || !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
				t.Fatalf("exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", code, tt.wantCode, stdout, tt.wantStdout, stderr, tt.wantStderr)
			}
		})
	}
}

// TestIngestRunsThePipeline runs `kommerce ingest` against the real services: outbox
// rows become searchable documents in Elasticsearch; a malformed one lands in the
// dead-letter topic, and `kommerce ingest replay` re-drives it.
func TestIngestRunsThePipeline(t *testing.T) {
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	es := testenv.NewElasticsearchIndex(t)
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, es.Index)
	for i := 1; i <= 20; i++ {
		id := fmt.Sprintf("p%02d", i)
		ingesttest.Outbox(t, db.Pool, tenant.ID, events.ProductCreated, id, ingesttest.Product(id, 1, "Walnut Table "+id))
	}
	bad := ingesttest.Product("bad", 0, "Broken Table") // version 0: refused by the indexer
	ingesttest.Outbox(t, db.Pool, tenant.ID, events.ProductCreated, "bad", bad)

	env := map[string]string{
		"KOMMERCE_DATABASE_URL":      db.URL,
		"KOMMERCE_KAFKA_BROKERS":     strings.Join(brokers, ","),
		"KOMMERCE_ELASTICSEARCH_URL": es.URL,
		"KOMMERCE_HTTP_ADDR":         "127.0.0.1:0",
		"KOMMERCE_INGEST_GROUP":      testenv.Name(t, "g", "-"),
		"KOMMERCE_KAFKA_PARTITIONS":  "2",
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr testenv.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"kommerce", "ingest"}, func(k string) string { return env[k] }, strings.NewReader(""), &testenv.SyncBuffer{}, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("kommerce ingest: %v\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("kommerce ingest did not stop within 30s of cancellation")
		}
	})

	b, err := elasticsearch.New(es.URL)
	if err != nil {
		t.Fatal(err)
	}
	sf := search.Storefront{TenantID: tenant.ID, Index: search.IndexName(tenant.IndexPrefix, "default")}
	testenv.Eventually(t, 90*time.Second, "the 20 products searchable", func() (bool, string) {
		_ = b.Refresh(ctx, sf.Index)
		res, err := search.NewSearcher(b).Search(ctx, sf, search.Query{Text: "walnut table", Limit: 100})
		if err != nil {
			return false, err.Error()
		}
		return res.Total == 20, fmt.Sprintf("%d of 20 searchable; log:\n%s", res.Total, tail(stderr.String()))
	})
	dlq := events.DeadLetter(events.Topic(tenant.TopicPrefix, events.StreamCatalog))
	testenv.Eventually(t, 60*time.Second, "one dead letter", func() (bool, string) {
		n := topicSize(t, brokers, dlq)
		return n == 1, fmt.Sprintf("%d dead letters; want 1", n)
	})

	code, stdout, errOut := invoke(t, map[string]string{"KOMMERCE_KAFKA_BROKERS": strings.Join(brokers, ",")}, "ingest", "replay", "--from-dlq", dlq, "--group-id", testenv.Name(t, "replay", "-"))
	if code != 0 || !strings.Contains(stdout, "replayed 1 messages") {
		t.Fatalf("replay: exit %d stdout %q stderr %q", code, stdout, errOut)
	}
	// Still broken, so the running indexer dead-letters it a second time.
	testenv.Eventually(t, 60*time.Second, "a second dead letter after the replay", func() (bool, string) {
		n := topicSize(t, brokers, dlq)
		return n == 2, fmt.Sprintf("%d dead letters; want 2 after the replay", n)
	})
}

func TestIngestParseRevenueCaps(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]int64
		wantErr string
	}{
		{in: "", want: map[string]int64{}},
		{in: "recs=50000", want: map[string]int64{"recs": 50000}},
		{in: " recs = 50000 , other=7,", want: map[string]int64{"recs": 50000, "other": 7}},
		{in: "recs", wantErr: "experiment=amount"},
		{in: "=5", wantErr: "experiment=amount"},
		{in: "recs=0", wantErr: "at least 1"},
		{in: "recs=12.5", wantErr: "whole number"},
		{in: "recs=1,recs=2", wantErr: "capped twice"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseRevenueCaps(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Fatalf("= %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestIngestRunsExperiments runs `kommerce ingest` with the experiment analysis on
// the real services: an exposure and a click written to Kafka as the API writes them
// and an order relayed from the outbox end in the arm's aggregates.
func TestIngestRunsExperiments(t *testing.T) {
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, "exp")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := ikafka.NewTopics(brokers, 2, 1).EnsurePrefix(ctx, tenant.TopicPrefix); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	latency := 42.0
	exposure, _ := events.Encode(events.ModelExposure, events.Exposure{RequestID: "req-1", TenantID: tenant.ID, SubjectKey: "user-1",
		Purpose: "recommendations", Experiment: "recs", Arm: "model", Model: "recs", Version: "2", Source: "model",
		ContextKind: "home", Items: []string{"p1"}, At: at, LatencyMs: &latency})
	click, _ := events.Encode(events.BehaviourEvent, events.Behaviour{Kind: events.BehaviourClick, SessionID: "sess-1", UserID: "user-1",
		ProductID: "p1", TenantID: tenant.ID, ReceivedAt: at.Add(time.Minute)})
	envelope := func(id string, typ events.Type, aggregate string, data []byte) ingest.OutboundMessage {
		v, _ := json.Marshal(events.Envelope{ID: id, Type: typ, TenantID: tenant.ID, AggregateType: "x", AggregateID: aggregate, OccurredAt: at, Data: data})
		return ingest.OutboundMessage{Topic: events.Topic(tenant.TopicPrefix, events.StreamBehaviour), Key: events.Key(tenant.ID, aggregate), Value: v}
	}
	// The idempotent producer rides out the new topics' leader elections.
	p, err := ikafka.NewIdempotentProducer(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Publish(ctx, []ingest.OutboundMessage{envelope("req-1", events.ModelExposure, "user-1", exposure), envelope("click-1", events.BehaviourEvent, "sess-1", click)}); err != nil {
		t.Fatal(err)
	}
	ingesttest.Outbox(t, db.Pool, tenant.ID, events.OrderCreated, "o-1", events.Order{ID: "o-1", Status: "pending_payment", CustomerID: "user-1",
		Total: events.Price{Currency: "EUR", Amount: 2990}, Subtotal: 2500, Shipping: 490, Version: 1, CreatedAt: at.Add(2 * time.Minute)})

	env := map[string]string{
		"KOMMERCE_DATABASE_URL":            db.URL,
		"KOMMERCE_KAFKA_BROKERS":           strings.Join(brokers, ","),
		"KOMMERCE_DATA_DIR":                t.TempDir(),
		"KOMMERCE_HTTP_ADDR":               "127.0.0.1:0",
		"KOMMERCE_INGEST_NO_INDEXER":       "true",
		"KOMMERCE_EXPERIMENTS_GROUP":       testenv.Name(t, "g", "-"),
		"KOMMERCE_EXPERIMENT_REVENUE_CAPS": "recs=1000",
		"KOMMERCE_KAFKA_PARTITIONS":        "2",
	}
	var stderr testenv.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"kommerce", "ingest"}, func(k string) string { return env[k] }, strings.NewReader(""), &testenv.SyncBuffer{}, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("kommerce ingest: %v\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("kommerce ingest did not stop within 30s of cancellation")
		}
	})

	store := exppg.New(db.Pool, experiments.Config{})
	want := experiments.ArmAggregate{Arm: "model", Units: 1, ConvertedUnits: 1, Impressions: 1, Clicks: 1, Orders: 1, Revenue: 2500,
		RevenueSq: 2500 * 2500, RevenueCapped: 1000, RevenueCappedSq: 1e6, RevenueLog1p: math.Log1p(2500), RevenueLog1pSq: math.Pow(math.Log1p(2500), 2),
		ClicksSq: 1, ImpressionsSq: 1, ClicksImpressions: 1, OrdersSq: 1, RevenueOrders: 2500, RevenueCappedOrders: 1000,
		Requests: 1, LatencyCount: 1, LatencySumMs: 42, LatencyBuckets: make([]int64, len(experiments.LatencyBucketsMs)+1)}
	want.LatencyBuckets[6] = 1 // 42 ms: above 30 ms, at most 50 ms (experiment.LatencyBounds)
	testenv.Eventually(t, 90*time.Second, "the exposure, click and order in the arm's aggregates", func() (bool, string) {
		got, err := store.Aggregates(ctx, tenant.ID, "recs")
		if err != nil {
			return false, err.Error()
		}
		return len(got) == 1 && reflect.DeepEqual(got[0], want), fmt.Sprintf("%+v; log:\n%s", got, tail(stderr.String()))
	})
}

func topicSize(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	var reqs []kafka.OffsetRequest
	for p := 0; p < 2; p++ {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	res, err := client.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return -1
	}
	var n int64
	for _, p := range res.Topics[topic] {
		n += p.LastOffset - p.FirstOffset
	}
	return n
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}
