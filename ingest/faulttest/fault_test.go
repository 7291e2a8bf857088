// Package faulttest holds ingest's fault tests on real services: a Kafka broker
// killed and restarted mid-stream, an Elasticsearch node killed and restarted
// mid-stream, and the indexer process killed between processing a batch and
// committing its offsets. Each ends with every product searchable exactly once at its
// latest version and nothing dead-lettered. Brokers and nodes that are killed are
// throwaway instances (throwaway_test.go); the shared ones are never touched.
package faulttest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	kafka "github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/ingest/ingesttest"
	"github.com/kommerce/kommerce/ingest/pipeline"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/elasticsearch"
	"github.com/kommerce/kommerce/internal/testenv"
)

func TestMain(m *testing.M) {
	if os.Getenv("KOMMERCE_FAULT_CHILD") == "1" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// workload keeps writing new versions of products to the outbox, as catalog edits
// through the API would, and remembers the newest version of each.
type workload struct {
	products int
	latest   atomic.Int64 // every product has reached this version
	stop     chan struct{}
	done     chan error
}

func startWorkload(t *testing.T, pool *pgxpool.Pool, tenantID string, products int) *workload {
	w := &workload{products: products, stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		for v := int64(1); ; v++ {
			select {
			case <-w.stop:
				w.done <- nil
				return
			default:
			}
			for i := 0; i < products; i++ {
				id := fmt.Sprintf("p%03d", i)
				typ := events.ProductUpdated
				if v == 1 {
					typ = events.ProductCreated
				}
				err := ingesttest.OutboxErr(context.Background(), pool, tenantID, typ, id, ingesttest.Product(id, v, fmt.Sprintf("Maple Shelf %s", id)))
				if err != nil {
					w.done <- err
					return
				}
			}
			w.latest.Store(v)
			time.Sleep(100 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { w.finish(t) })
	return w
}

func (w *workload) finish(t *testing.T) int64 {
	t.Helper()
	select {
	case <-w.stop:
	default:
		close(w.stop)
		if err := <-w.done; err != nil {
			t.Fatalf("workload: %v", err)
		}
	}
	return w.latest.Load()
}

func runPipeline(t *testing.T, cfg pipeline.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pipeline.Run(ctx, cfg, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pipeline: %v", err)
		}
	})
}

// countHits returns how many of the tenant's products are searchable, failing on a
// duplicate, and how many are at version want.
func countHits(b search.Backend, sf search.Storefront, want int64) (total, atWant int, err error) {
	_ = b.Refresh(context.Background(), sf.Index)
	s := search.NewSearcher(b)
	seen := map[string]bool{}
	q := search.Query{Sort: search.SortName, Limit: 100}
	for {
		res, err := s.Search(context.Background(), sf, q)
		if err != nil {
			return 0, 0, err
		}
		for _, h := range res.Hits {
			if seen[h.ID] {
				return 0, 0, fmt.Errorf("product %s found twice", h.ID)
			}
			seen[h.ID] = true
			if h.Version == want {
				atWant++
			}
		}
		if res.NextCursor == "" {
			return len(seen), atWant, nil
		}
		q.Cursor = res.NextCursor
	}
}

func waitAllLatest(t *testing.T, b search.Backend, sf search.Storefront, products int, latest int64, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, "every product searchable at the latest version", func() (bool, string) {
		total, at, err := countHits(b, sf, latest)
		if err != nil {
			return false, err.Error()
		}
		return total == products && at == products, fmt.Sprintf("%d products searchable, %d of %d at version %d", total, at, products, latest)
	})
}

// deadLetters counts the messages in a topic's dead-letter topic.
func deadLetters(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	return ingesttest.TopicMessages(t, brokers, events.DeadLetter(topic))
}

// TestKafkaKilledMidStream kills the broker with SIGKILL while the workload and the
// pipeline run, keeps writing while it is down, and restarts it.
func TestKafkaKilledMidStream(t *testing.T) {
	broker := startThrowaway(t, "kafka")
	db := testenv.NewDatabase(t)
	es := testenv.NewElasticsearchIndex(t)
	b, err := elasticsearch.New(es.URL)
	if err != nil {
		t.Fatal(err)
	}
	brokers := []string{broker.addr()}
	tenant := ingesttest.NewTenant(t, db.Pool, nil, es.Index)
	sf := search.Storefront{TenantID: tenant.ID, Index: search.IndexName(tenant.IndexPrefix, "default")}
	runPipeline(t, pipeline.Config{Pool: db.Pool, Brokers: brokers, Search: b, Partitions: 3, BatchSize: 50, TopicRefresh: time.Second})
	const products = 60
	w := startWorkload(t, db.Pool, tenant.ID, products)
	testenv.Eventually(t, 120*time.Second, "every product searchable before the kill", func() (bool, string) {
		total, _, err := countHits(b, sf, 0)
		return err == nil && total == products, fmt.Sprintf("%d searchable before the kill (%v)", total, err)
	})

	broker.kill()
	before := w.latest.Load()
	testenv.Eventually(t, 60*time.Second, "workload goes on while Kafka is down", func() (bool, string) {
		return w.latest.Load() >= before+3, "workload stalled while Kafka is down"
	})
	if n := ingesttest.Unpublished(t, db.Pool); n == 0 {
		t.Fatal("no outbox rows waiting while the broker is down: the relay cannot have published them")
	}
	broker.restart()
	testenv.Eventually(t, 60*time.Second, "workload goes on after Kafka restarts", func() (bool, string) {
		return w.latest.Load() >= before+6, "workload stalled after the restart"
	})
	latest := w.finish(t)

	waitAllLatest(t, b, sf, products, latest, 180*time.Second)
	testenv.Eventually(t, 60*time.Second, "outbox drained", func() (bool, string) {
		n := ingesttest.Unpublished(t, db.Pool)
		return n == 0, fmt.Sprintf("%d outbox rows unpublished", n)
	})
	if n := deadLetters(t, brokers, events.Topic(tenant.TopicPrefix, events.StreamCatalog)); n != 0 {
		t.Fatalf("%d messages dead-lettered because of the outage", n)
	}
}

// TestElasticsearchKilledMidStream kills the search node while indexing and
// restarts it; the indexer must wait, not dead-letter, and catch up.
func TestElasticsearchKilledMidStream(t *testing.T) {
	node := startThrowaway(t, "elasticsearch")
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	b, err := elasticsearch.New(node.addr())
	if err != nil {
		t.Fatal(err)
	}
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, "shop")
	sf := search.Storefront{TenantID: tenant.ID, Index: search.IndexName(tenant.IndexPrefix, "default")}
	runPipeline(t, pipeline.Config{Pool: db.Pool, Brokers: brokers, Search: b, Partitions: 3, BatchSize: 50,
		GroupID: testenv.Name(t, "g", "-"), TopicRefresh: time.Second})
	const products = 60
	w := startWorkload(t, db.Pool, tenant.ID, products)
	testenv.Eventually(t, 120*time.Second, "every product searchable before the kill", func() (bool, string) {
		total, _, err := countHits(b, sf, 0)
		return err == nil && total == products, fmt.Sprintf("%d searchable before the kill (%v)", total, err)
	})

	node.kill()
	before := w.latest.Load()
	testenv.Eventually(t, 60*time.Second, "workload goes on while Elasticsearch is down", func() (bool, string) {
		return w.latest.Load() >= before+3, "workload stalled while Elasticsearch is down"
	})
	node.restart()
	latest := w.finish(t)

	waitAllLatest(t, b, sf, products, latest, 240*time.Second)
	if n := deadLetters(t, brokers, events.Topic(tenant.TopicPrefix, events.StreamCatalog)); n != 0 {
		t.Fatalf("%d messages dead-lettered because of the outage", n)
	}
}

// TestConsumerKilledBetweenProcessingAndCommit runs the indexer in a child process
// that exits abruptly right after a batch's documents were written and before its
// offsets were committed; a second indexer process takes over.
func TestConsumerKilledBetweenProcessingAndCommit(t *testing.T) {
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	es := testenv.NewElasticsearchIndex(t)
	b, err := elasticsearch.New(es.URL)
	if err != nil {
		t.Fatal(err)
	}
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, es.Index)
	sf := search.Storefront{TenantID: tenant.ID, Index: search.IndexName(tenant.IndexPrefix, "default")}
	const products, versions = 100, 3
	for v := int64(1); v <= versions; v++ {
		for i := 0; i < products; i++ {
			id := fmt.Sprintf("p%03d", i)
			ingesttest.Outbox(t, db.Pool, tenant.ID, events.ProductUpdated, id, ingesttest.Product(id, v, "Birch Stool "+id))
		}
	}
	// Publish everything first (relay only), so the indexer has a full backlog.
	relayCtx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan error, 1)
	go func() {
		relayDone <- pipeline.Run(relayCtx, pipeline.Config{Pool: db.Pool, Brokers: brokers, Partitions: 3, NoIndexer: true}, nil)
	}()
	testenv.Eventually(t, 120*time.Second, "outbox drained", func() (bool, string) {
		n := ingesttest.Unpublished(t, db.Pool)
		return n == 0, fmt.Sprintf("%d unpublished", n)
	})
	stopRelay()
	if err := <-relayDone; err != nil {
		t.Fatal(err)
	}

	group := testenv.Name(t, "g", "-")
	marker := t.TempDir() + "/processed"
	env := []string{
		"KOMMERCE_FAULT_CHILD=1", "KOMMERCE_FAULT_DB=" + db.URL, "KOMMERCE_FAULT_BROKERS=" + strings.Join(brokers, ","),
		"KOMMERCE_FAULT_ES=" + es.URL, "KOMMERCE_FAULT_GROUP=" + group, "KOMMERCE_FAULT_MARKER=" + marker,
	}
	// A generous bound, so a first indexer that never reaches its crash point fails
	// the test with its output instead of hanging until the test binary times out.
	firstCtx, cancelFirst := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancelFirst()
	first := exec.CommandContext(firstCtx, os.Args[0], "-test.run=^$")
	first.Env = append(os.Environ(), append(env, "KOMMERCE_FAULT_CRASH_AFTER=3")...)
	out, err := first.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != crashCode {
		t.Fatalf("first indexer: %v (want exit %d; context: %v)\n%s", err, crashCode, firstCtx.Err(), out)
	}
	raw, err := os.ReadFile(marker)
	if err != nil {
		t.Fatal(err)
	}
	processed, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	committed := committedTotal(t, brokers, group, events.Topic(tenant.TopicPrefix, events.StreamCatalog), 3)
	if processed == 0 || committed >= int64(processed) {
		t.Fatalf("the crash must leave processed work uncommitted: processed %d, committed %d", processed, committed)
	}
	t.Logf("the first indexer crashed after processing %d messages, with %d committed", processed, committed)
	total, _, err := countHits(b, sf, 0)
	if err != nil || total == 0 {
		t.Fatalf("the crashed batch's documents should be in the index: %d, %v", total, err)
	}

	second := exec.Command(os.Args[0], "-test.run=^$")
	second.Env = append(os.Environ(), env...)
	var secondOut strings.Builder
	second.Stdout, second.Stderr = &secondOut, &secondOut
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stopSecond := func() {
		once.Do(func() {
			_ = second.Process.Signal(syscall.SIGTERM)
			if err := second.Wait(); err != nil {
				t.Errorf("second indexer: %v\n%s", err, secondOut.String())
			}
		})
	}
	t.Cleanup(stopSecond)
	waitAllLatest(t, b, sf, products, versions, 180*time.Second)
	// The group must commit everything the topic holds. The relay publishes at
	// least once, so the topic may hold more records than there are outbox rows;
	// what it must hold is every row's event.
	topic := events.Topic(tenant.TopicPrefix, events.StreamCatalog)
	held, err := ingesttest.TopicOffsets(context.Background(), brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	ids := ingesttest.EventIDs(t, ingesttest.ReadTopic(t, brokers, topic, products*versions))
	t.Logf("%d outbox rows: the topic holds %d records, %d distinct events", products*versions, held.Messages(), len(ids))
	if len(ids) != products*versions {
		t.Fatalf("the topic holds %d distinct events for %d outbox rows", len(ids), products*versions)
	}
	testenv.Eventually(t, 120*time.Second, "second consumer commits every message", func() (bool, string) {
		committed := committedOffsets(t, brokers, group, topic, 3)
		done := true
		var parts []string
		for p, end := range held.End {
			done = done && committed[p] == end
			parts = append(parts, fmt.Sprintf("partition %d at %d of %d", p, committed[p], end))
		}
		sort.Strings(parts)
		return done, "committed: " + strings.Join(parts, ", ")
	})
	stopSecond()
}

const crashCode = 42

// child runs the indexer alone (no relay) from the KOMMERCE_FAULT_* settings; with
// KOMMERCE_FAULT_CRASH_AFTER=n it exits with crashCode right after the n-th batch's
// documents are written, before that batch's offsets are committed.
func child() int {
	pool, err := pgxpool.New(context.Background(), os.Getenv("KOMMERCE_FAULT_DB"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	b, err := elasticsearch.New(os.Getenv("KOMMERCE_FAULT_ES"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	crashAfter, _ := strconv.Atoi(os.Getenv("KOMMERCE_FAULT_CRASH_AFTER"))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	batches := 0
	reg := prometheus.NewRegistry()
	cfg := pipeline.Config{Registry: reg,
		Pool: pool, Brokers: strings.Split(os.Getenv("KOMMERCE_FAULT_BROKERS"), ","), Search: b,
		Partitions: 3, BatchSize: 40, GroupID: os.Getenv("KOMMERCE_FAULT_GROUP"), NoRelay: true, TopicRefresh: time.Second,
	}
	if crashAfter > 0 {
		cfg.AfterProcess = func() {
			batches++
			if batches == crashAfter {
				// Every message handed out so far has been processed; only the commit
				// of this batch is missing.
				_ = os.WriteFile(os.Getenv("KOMMERCE_FAULT_MARKER"), []byte(strconv.Itoa(processedCount(reg))), 0o600)
				os.Exit(crashCode)
			}
		}
	}
	if err := pipeline.Run(ctx, cfg, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// processedCount reads the consumer's own throughput metric.
func processedCount(reg *prometheus.Registry) int {
	mfs, err := reg.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() != "kommerce_ingest_messages_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == "processed" {
					return int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return 0
}

// committedOffsets returns the group's committed offset per partition of topic
// (absent when nothing is committed).
func committedOffsets(t *testing.T, brokers []string, group, topic string, partitions int) map[int]int64 {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	res, err := client.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		t.Fatalf("committed offsets: %v", err)
	}
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		if p.CommittedOffset > 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out
}

// committedTotal sums the group's committed offsets over the topic's partitions.
func committedTotal(t *testing.T, brokers []string, group, topic string, partitions int) int64 {
	t.Helper()
	var n int64
	for _, o := range committedOffsets(t, brokers, group, topic, partitions) {
		n += o
	}
	return n
}
