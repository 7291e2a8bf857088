// Command ingest benchmarks the ingest pipeline against the engine it feeds, in one
// run on one machine:
//
//   - direct: N search documents bulk-loaded into a fresh index (batches of -batch
//     creates: the same bulk requests the indexer sends), then refreshed — the
//     baseline;
//   - kafka: N product.created events already in the tenant's catalog topic, consumed
//     by the search indexer (consumer group, per-batch read-merge-write, commits)
//     until every offset is committed, then refreshed;
//   - outbox (cold start): N rows in the outbox, then the relay and the indexer
//     started; timed until every row is published and every offset committed, then
//     refreshed. The tenant's topics are created, the producer connects and the
//     group joins inside the timed span;
//   - running (outbox through a running pipeline): the tenant's topics created and
//     the relay and the indexer started first, 100 warm rows through them; then N
//     rows committed to the outbox in one transaction, timed from that commit as
//     above;
//   - latency: with relay and indexer running and idle, single product updates written
//     to the outbox one at a time (-concurrency in flight) and timed until a search
//     returns the new version (no forced refresh: Elasticsearch's refresh interval
//     is part of what a shopper waits for).
//
// It prints throughput ratios against the direct load and the latency percentiles,
// and a BENCHSUMMARY line per engine and target (tab-separated: target, goal,
// figure, met or not met):
// kafka -> searchable and outbox -> searchable, each >= 0.7x the direct load (the
// outbox judged on the running pipeline, with the cold start printed beside it).
// Settings come from KOMMERCE_DATABASE_URL (a migrated, otherwise unused database),
// KOMMERCE_KAFKA_BROKERS and KOMMERCE_ELASTICSEARCH_URL; hack/bench/ingest.sh sets
// them up.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	kafka "github.com/segmentio/kafka-go"

	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/ingest/pipeline"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/bleve"
	"github.com/kommerce/kommerce/internal/search/elasticsearch"
	"github.com/kommerce/kommerce/internal/search/searchtest"
)

var (
	engines      = flag.String("engine", "elasticsearch,bleve", "engines to measure")
	n            = flag.Int("n", 50000, "products per throughput run")
	batch        = flag.Int("batch", 500, "bulk size of the direct load, relay and consumer batches")
	partitions   = flag.Int("partitions", 6, "partitions of the tenant topics")
	samples      = flag.Int("latency-samples", 300, "write-to-searchable samples")
	concurrency  = flag.Int("concurrency", 8, "write-to-searchable samples in flight")
	rounds       = flag.Int("rounds", 2, "throughput rounds per engine (interleaved, best of each path kept; every round's own ratios are printed too)")
	cpuprofile   = flag.String("cpuprofile", "", "write this process's CPU profile (relay, indexer, direct loader) to this file")
	relayBatch   = flag.Int("relay-batch", 0, "rows per relay transaction (0: -batch)")
	relayWorkers = flag.Int("relay-workers", 0, "relay workers (0: the relay's default)")
	paths        = flag.String("paths", "direct,kafka,outbox,running", "paths measured in each round (direct is the baseline and required): direct, kafka, outbox (cold start), running (outbox through a running pipeline)")
	inFlight     = flag.Int("in-flight", 0, "batches the indexer handles at once (0: the pipeline's default)")
)

const seed = 7

type env struct {
	pool    *pgxpool.Pool
	brokers []string
	esURL   string
	tmp     string
	run     string // unique suffix of this run's names
}

func main() {
	flag.Parse()
	ctx := context.Background()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		must(err)
		must(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	pool, err := pgxpool.New(ctx, os.Getenv("KOMMERCE_DATABASE_URL"))
	must(err)
	defer pool.Close()
	tmp, err := os.MkdirTemp("", "bench-ingest-")
	must(err)
	defer func() { _ = os.RemoveAll(tmp) }()
	e := &env{pool: pool, brokers: strings.Split(os.Getenv("KOMMERCE_KAFKA_BROKERS"), ","), esURL: os.Getenv("KOMMERCE_ELASTICSEARCH_URL"), tmp: tmp, run: fmt.Sprint(time.Now().Unix() % 100000)}

	measured := strings.Split(*paths, ",")
	if !slices.Contains(measured, "direct") {
		log.Fatal("-paths must include direct, the baseline of every ratio")
	}
	for _, p := range measured {
		if !slices.Contains(allPaths, p) {
			log.Fatalf("-paths: unknown path %q (known: %s)", p, strings.Join(allPaths, ", "))
		}
	}
	fmt.Printf("\n| engine | path | products | seconds | docs/s | throughput vs direct |\n|---|---|---|---|---|---|\n")
	var lat, summaries []string
	for _, engine := range strings.Split(*engines, ",") {
		best := map[string]time.Duration{}
		var each []string // every round's ratios: rounds are interleaved, so each is a same-run pair
		for r := 0; r < *rounds; r++ {
			got := map[string]time.Duration{}
			for _, path := range measured {
				d := e.throughput(ctx, engine, path, r)
				got[path] = d
				if old, ok := best[path]; !ok || d < old {
					best[path] = d
				}
			}
			var ratios []string
			for _, path := range measured {
				if path != "direct" {
					ratios = append(ratios, fmt.Sprintf("%s %.2f×", path, got["direct"].Seconds()/got[path].Seconds()))
				}
			}
			each = append(each, fmt.Sprintf("round %d: %s (direct %.2fs)", r+1, strings.Join(ratios, ", "), got["direct"].Seconds()))
		}
		for _, path := range measured {
			d := best[path]
			fmt.Printf("| %s | %s | %d | %.2f | %.0f | %.2f× |\n", engine, pathNames[path], *n, d.Seconds(), float64(*n)/d.Seconds(), best["direct"].Seconds()/d.Seconds())
		}
		fmt.Printf("\n%s, each round alone: %s\n\n", engine, strings.Join(each, "; "))
		summaries = append(summaries, summaryLines(engine, best)...)
		if *samples > 0 {
			lat = append(lat, e.latency(ctx, engine))
		}
	}
	fmt.Printf("\n| engine | write-to-searchable samples | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|\n")
	for _, l := range lat {
		fmt.Println(l)
	}
	fmt.Println()
	for _, s := range summaries {
		fmt.Println(s)
	}
}

// allPaths are the measurements of a round, in the order they run.
var allPaths = []string{"direct", "kafka", "outbox", "running"}

// pathNames are the paths as the tables name them.
var pathNames = map[string]string{
	"direct":  "direct",
	"kafka":   "kafka",
	"outbox":  "outbox, cold start",
	"running": "outbox, running pipeline",
}

// goal is the throughput ratio against the direct load that both pipelines must
// reach (issue 18, target 4).
const goal = 0.7

// summaryLines are the BENCHSUMMARY lines of the measured pipelines against the
// direct load of the same run: target, goal, figure, met or not met, tab-separated.
// The outbox target is judged on the running pipeline when it was measured, with
// the cold-start figure (the measurement of earlier runs) printed beside it.
func summaryLines(engine string, best map[string]time.Duration) []string {
	direct := best["direct"]
	ratio := func(path string) float64 { return direct.Seconds() / best[path].Seconds() }
	docs := func(path string) string { return thousands(float64(*n) / best[path].Seconds()) }
	line := func(path, figure string, r float64) string {
		target := path + " -> searchable vs direct bulk"
		if engine != "elasticsearch" {
			target += " (" + engine + ")"
		}
		verdict := "not met"
		if r >= goal {
			verdict = "met"
		}
		return fmt.Sprintf("BENCHSUMMARY\t%s\t>= %.1fx\t%s\t%s", target, goal, figure, verdict)
	}
	var out []string
	_, running := best["running"]
	_, cold := best["outbox"]
	switch {
	case running:
		figure := fmt.Sprintf("%.2fx with relay and indexer running (%s vs %s docs/s, %s products)", ratio("running"), docs("running"), docs("direct"), thousands(float64(*n)))
		if cold {
			figure += fmt.Sprintf("; cold start, both started in the timed span: %.2fx", ratio("outbox"))
		}
		out = append(out, line("outbox", figure, ratio("running")))
	case cold:
		out = append(out, line("outbox", fmt.Sprintf("%.2fx cold start (%s vs %s docs/s, %s products)", ratio("outbox"), docs("outbox"), docs("direct"), thousands(float64(*n))), ratio("outbox")))
	}
	if _, ok := best["kafka"]; ok {
		out = append(out, line("kafka", fmt.Sprintf("%.2fx (%s vs %s docs/s, %s products)", ratio("kafka"), docs("kafka"), docs("direct"), thousands(float64(*n))), ratio("kafka")))
	}
	return out
}

// thousands formats v rounded, with commas between groups of three digits.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func (e *env) backend(engine, name string) search.Backend {
	switch engine {
	case "elasticsearch":
		b, err := elasticsearch.New(e.esURL)
		must(err)
		return b
	case "bleve":
		b, err := bleve.Open(e.tmp + "/" + name)
		must(err)
		return b
	}
	log.Fatalf("unknown engine %s", engine)
	return nil
}

// tenant registers a tenant for one measurement.
func (e *env) tenant(ctx context.Context, name string) (id, topicPrefix, indexPrefix string) {
	slug := "bench-" + name + "-" + e.run
	topicPrefix, indexPrefix = "bench."+name+"."+e.run, "bench-"+name+"-"+e.run
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO tenants (slug, name, topic_prefix, index_prefix, redis_prefix) VALUES ($1, $1, $2, $3, $1) RETURNING id`,
			slug, topicPrefix, indexPrefix).Scan(&id)
	})
	must(err)
	return id, topicPrefix, indexPrefix
}

// cleanup removes a measurement's index, topics and tenant row (so later pipelines
// do not subscribe to, and re-create, its topics).
func (e *env) cleanup(b search.Backend, index, tenant, topicPrefix string) {
	ctx := context.Background()
	_ = pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM tenants WHERE id = $1", tenant)
		return err
	})
	_ = b.DeleteIndex(ctx, index)
	_ = b.Close()
	if topicPrefix != "" {
		conn, err := kafka.Dial("tcp", e.brokers[0])
		if err == nil {
			_ = conn.DeleteTopics(ikafka.PrefixTopics(topicPrefix)...)
			_ = conn.Close()
		}
	}
}

// throughput measures one path and returns its duration.
func (e *env) throughput(ctx context.Context, engine, path string, round int) time.Duration {
	name := fmt.Sprintf("%s-%s-%d", engine[:2], path, round)
	id, topicPrefix, indexPrefix := e.tenant(ctx, name)
	index := search.IndexName(indexPrefix, "default")
	b := e.backend(engine, name)
	must(b.EnsureIndex(ctx, index))
	var d time.Duration
	switch path {
	case "direct":
		defer e.cleanup(b, index, id, "")
		tl := e.startTimeline(ctx, engine, "", "", index, nil, 0)
		start := time.Now()
		for i := 0; i < *n; i += *batch {
			docs := make([]search.Document, 0, *batch)
			for j := i; j < min(i+*batch, *n); j++ {
				docs = append(docs, doc(id, j))
			}
			res, err := search.Upsert(ctx, b, index, docs, search.UpsertOptions{CreateFirst: true})
			must(err)
			for _, r := range res {
				if r.Status != search.Written {
					log.Fatalf("direct load %s: %v %v", r.ID, r.Status, r.Err)
				}
			}
		}
		e.searchable(ctx, b, id, index, *n)
		d = time.Since(start)
		fmt.Fprintf(os.Stderr, "%s round %d direct: %s\n", engine, round, tl.end(d))
	case "kafka":
		defer e.cleanup(b, index, id, topicPrefix)
		topics := ikafka.NewTopics(e.brokers, *partitions, 1)
		must(topics.EnsurePrefix(ctx, topicPrefix))
		e.produce(ctx, id, topicPrefix)
		group := "bench-" + name + "-" + e.run
		topic := events.Topic(topicPrefix, events.StreamCatalog)
		tl := e.startTimeline(ctx, engine, group, topic, index, nil, 0)
		start := time.Now()
		stop := e.pipeline(b, group, true, nil)
		e.committed(ctx, group, topic, int64(*n))
		e.searchable(ctx, b, id, index, *n)
		d = time.Since(start)
		// The CPU is read before the pipeline stops: its database connections
		// close with it, and an exited backend's CPU would count as other.
		line := tl.end(d)
		stop()
		fmt.Fprintf(os.Stderr, "%s round %d kafka: %s\n", engine, round, line)
	case "outbox":
		// Cold start, the measurement of every run before 2026-12-05 17:00Z: the
		// relay and the indexer start inside the timed span, and so do the tenant's
		// topic creation, the producer's first connection and the group join.
		defer e.cleanup(b, index, id, topicPrefix)
		e.fillOutbox(ctx, id, 0, *n, nil)
		group := "bench-" + name + "-" + e.run
		topic := events.Topic(topicPrefix, events.StreamCatalog)
		reg := prometheus.NewRegistry()
		tl := e.startTimeline(ctx, engine, group, topic, index, reg, 0)
		start := time.Now()
		stop := e.pipeline(b, group, false, reg)
		e.committed(ctx, group, topic, int64(*n))
		e.searchable(ctx, b, id, index, *n)
		d = time.Since(start)
		// The CPU is read before the pipeline stops: its database connections
		// close with it, and an exited backend's CPU would count as other.
		line := tl.end(d)
		stop()
		fmt.Fprintf(os.Stderr, "%s round %d outbox: %s\n", engine, round, line)
	case "running":
		// The relay and the indexer already running, as in production: the tenant's
		// topics exist (as for the kafka path), and warm rows went through first, so
		// the producer is connected, every partition has taken a record and the group
		// has joined. The N rows are then committed to the outbox in one transaction;
		// the clock starts just before that commit.
		defer e.cleanup(b, index, id, topicPrefix)
		must(ikafka.NewTopics(e.brokers, *partitions, 1).EnsurePrefix(ctx, topicPrefix))
		group := "bench-" + name + "-" + e.run
		topic := events.Topic(topicPrefix, events.StreamCatalog)
		reg := prometheus.NewRegistry()
		stop := e.pipeline(b, group, false, reg)
		e.fillOutbox(ctx, id, *n, *n+warmRows, nil)
		e.committed(ctx, group, topic, warmRows)
		tx, err := e.pool.Begin(ctx)
		must(err)
		e.fillOutbox(ctx, id, 0, *n, tx)
		tl := e.startTimeline(ctx, engine, group, topic, index, reg, warmRows)
		start := time.Now()
		must(tx.Commit(ctx))
		e.committed(ctx, group, topic, int64(*n+warmRows))
		e.searchable(ctx, b, id, index, *n+warmRows)
		d = time.Since(start)
		// The CPU is read before the pipeline stops: its database connections
		// close with it, and an exited backend's CPU would count as other.
		line := tl.end(d)
		stop()
		fmt.Fprintf(os.Stderr, "%s round %d running: %s\n", engine, round, line)
	}
	return d
}

func doc(tenant string, i int) search.Document {
	d := search.Document{TenantID: tenant, ProductID: searchtest.SyntheticProduct(seed, i, 1).ID}
	d.ApplyProduct(searchtest.SyntheticProduct(seed, i, 1))
	return d
}

// produce writes N product.created envelopes the way the relay does (untimed).
func (e *env) produce(ctx context.Context, tenant, topicPrefix string) {
	w := ikafka.NewWriter(e.brokers)
	defer w.Close()
	topic := events.Topic(topicPrefix, events.StreamCatalog)
	for i := 0; i < *n; i += 1000 {
		var msgs []kafka.Message
		for j := i; j < min(i+1000, *n); j++ {
			p := searchtest.SyntheticProduct(seed, j, 1)
			data, _ := json.Marshal(p)
			env, _ := json.Marshal(events.Envelope{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", j), Type: events.ProductCreated, TenantID: tenant,
				AggregateType: "product", AggregateID: p.ID, OccurredAt: time.Now().UTC(), Data: data})
			msgs = append(msgs, kafka.Message{Topic: topic, Key: events.Key(tenant, p.ID), Value: env})
		}
		// A topic created a moment ago may not have its partition leaders yet (Not
		// Leader For Partition on a loaded machine): untimed, so wait and write the
		// refused messages again, only those (the path waits for n offsets).
		for attempt := 0; ; attempt++ {
			err := w.WriteMessages(ctx, msgs...)
			var failed kafka.WriteErrors
			if err == nil {
				break
			}
			if !errors.As(err, &failed) || attempt == 40 {
				log.Fatalf("produce the kafka path's events: %.300v", err)
			}
			var again []kafka.Message
			for i, e := range failed {
				if e != nil {
					again = append(again, msgs[i])
				}
			}
			msgs = again
			time.Sleep(250 * time.Millisecond)
		}
	}
}

// warmRows go through the running pipeline before the timed rows (products N and
// up): enough that every partition of the topic takes one (the chance that 100
// keys miss one of 6 partitions is below 1e-7).
const warmRows = 100

// fillOutbox inserts product.created rows for products from..to-1 (untimed), each
// 2,000 in a transaction of their own, or all in tx when it is not nil (left open).
func (e *env) fillOutbox(ctx context.Context, tenant string, from, to int, tx pgx.Tx) {
	for i := from; i < to; i += 2000 {
		var ids []string
		var payloads [][]byte
		for j := i; j < min(i+2000, to); j++ {
			p := searchtest.SyntheticProduct(seed, j, 1)
			b, _ := json.Marshal(p)
			ids, payloads = append(ids, p.ID), append(payloads, b)
		}
		insert := func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.tenant_id', $1, true)", tenant); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
				SELECT $1, 'product', a, 'product.created', p FROM unnest($2::text[], $3::jsonb[]) AS x(a, p)`, tenant, ids, payloads)
			return err
		}
		if tx != nil {
			must(insert(tx))
		} else {
			must(pgx.BeginFunc(ctx, e.pool, insert))
		}
	}
}

// pipeline starts the relay (unless noRelay) and the indexer; reg, when not nil,
// gets their metrics (the timeline reads the relay's published counter there).
func (e *env) pipeline(b search.Backend, group string, noRelay bool, reg *prometheus.Registry) (stop func()) {
	var registry prometheus.Registerer
	if reg != nil {
		registry = reg
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- pipeline.Run(ctx, pipeline.Config{Pool: e.pool, Brokers: e.brokers, Search: b, Partitions: *partitions,
			GroupID: group, BatchSize: *batch, InFlight: *inFlight, RelayBatchSize: *relayBatch, RelayWorkers: *relayWorkers, NoRelay: noRelay, TopicRefresh: time.Second, Registry: registry}, nil)
	}()
	return func() {
		cancel()
		must(<-done)
	}
}

// committed waits until the group has committed want offsets of topic.
func (e *env) committed(ctx context.Context, group, topic string, want int64) {
	client := &kafka.Client{Addr: kafka.TCP(e.brokers...), Timeout: 10 * time.Second}
	parts := make([]int, *partitions)
	for i := range parts {
		parts[i] = i
	}
	deadline := time.Now().Add(30 * time.Minute)
	for time.Now().Before(deadline) {
		res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
		if err == nil {
			var got int64
			for _, p := range res.Topics[topic] {
				got += max(p.CommittedOffset, 0)
			}
			if got >= want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	log.Fatalf("group %s did not commit %d offsets of %s", group, want, topic)
}

// searchable refreshes and checks that want products are found.
func (e *env) searchable(ctx context.Context, b search.Backend, tenant, index string, want int) {
	must(b.Refresh(ctx, index))
	res, err := search.NewSearcher(b).Search(ctx, search.Storefront{TenantID: tenant, Index: index}, search.Query{Limit: 1})
	must(err)
	if res.Total != int64(want) {
		log.Fatalf("%s: %d searchable, want %d", index, res.Total, want)
	}
}

// latency measures write-to-searchable with the whole pipeline running.
func (e *env) latency(ctx context.Context, engine string) string {
	name := engine[:2] + "-latency"
	id, topicPrefix, indexPrefix := e.tenant(ctx, name)
	index := search.IndexName(indexPrefix, "default")
	b := e.backend(engine, name)
	defer e.cleanup(b, index, id, topicPrefix)
	// A catalog to update, loaded directly.
	const base = 2000
	var docs []search.Document
	for i := 0; i < base; i++ {
		docs = append(docs, doc(id, i))
	}
	_, err := search.Upsert(ctx, b, index, docs, search.UpsertOptions{CreateFirst: true})
	must(err)
	must(ikafka.NewTopics(e.brokers, *partitions, 1).EnsurePrefix(ctx, topicPrefix))
	stop := e.pipeline(b, "bench-"+name+"-"+e.run, false, nil)
	defer stop()
	time.Sleep(3 * time.Second) // let the group settle: steady state, not start-up

	s := search.NewSearcher(b)
	sf := search.Storefront{TenantID: id, Index: index}
	var mu sync.Mutex
	var lats []time.Duration
	sem := make(chan struct{}, *concurrency)
	var wg sync.WaitGroup
	for k := 0; k < *samples; k++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(k int) {
			defer func() { <-sem; wg.Done() }()
			p := searchtest.SyntheticProduct(seed, k%base, int64(2+k/base))
			word := fmt.Sprintf("zq%05d", k)
			p.Name += " " + word
			payload, _ := json.Marshal(p)
			start := time.Now()
			must(pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.tenant_id', $1, true)", id); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload) VALUES ($1, 'product', $2, 'product.updated', $3)`, id, p.ID, payload)
				return err
			}))
			for {
				res, err := s.Search(ctx, sf, search.Query{Text: word, Limit: 1})
				if err == nil && len(res.Hits) == 1 && res.Hits[0].Version == p.Version {
					break
				}
				if time.Since(start) > time.Minute {
					log.Fatalf("update %d not searchable after a minute", k)
				}
				time.Sleep(5 * time.Millisecond)
			}
			mu.Lock()
			lats = append(lats, time.Since(start))
			mu.Unlock()
		}(k)
	}
	wg.Wait()
	slices.Sort(lats)
	q := func(p float64) time.Duration { return lats[min(len(lats)-1, int(p*float64(len(lats))))] }
	return fmt.Sprintf("| %s | %d | %s | %s | %s | %s |", engine, len(lats), q(0.50).Round(time.Millisecond), q(0.90).Round(time.Millisecond), q(0.99).Round(time.Millisecond), lats[len(lats)-1].Round(time.Millisecond))
}
