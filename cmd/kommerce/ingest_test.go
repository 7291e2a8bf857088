package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/ingest/ingesttest"
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
