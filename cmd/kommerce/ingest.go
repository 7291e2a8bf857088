package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/kommerce/kommerce/ingest/experiments"
	exppg "github.com/kommerce/kommerce/ingest/experiments/postgres"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/ingest/pipeline"
	"github.com/kommerce/kommerce/ingest/postgres"
	"github.com/kommerce/kommerce/internal/config"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/bleve"
	"github.com/kommerce/kommerce/internal/search/elasticsearch"
	"github.com/kommerce/kommerce/internal/server"
	"github.com/kommerce/kommerce/internal/tracing"
)

// searchConfig selects the search backend: Elasticsearch when a URL is set, else
// Bleve on local disk.
type searchConfig struct {
	esURL   string
	dataDir string
}

func (c *searchConfig) register(set *config.Set) {
	set.String(&c.esURL, "elasticsearch-url", "KOMMERCE_ELASTICSEARCH_URL", "", "Elasticsearch URL; unset means Bleve under --data-dir", config.Check(config.URL(true, "http", "https")))
	set.String(&c.dataDir, "data-dir", "KOMMERCE_DATA_DIR", ".kommerce", "local state for embedded defaults (the Bleve indexes live in <data-dir>/search)")
}

func (c *searchConfig) open() (search.Backend, error) {
	if c.esURL != "" {
		return elasticsearch.New(c.esURL)
	}
	return bleve.Open(filepath.Join(c.dataDir, "search"))
}

func brokersFlag(set *config.Set, p *string) {
	set.String(p, "kafka-brokers", "KOMMERCE_KAFKA_BROKERS", "127.0.0.1:59092", "comma-separated Kafka brokers (the default is the broker hack/services.sh starts)", config.Check(config.Brokers))
}

func splitBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

func runIngest(ctx context.Context, e *env) error {
	if len(e.args) > 0 {
		sub := *e
		sub.args = e.args[1:]
		switch e.args[0] {
		case "replay":
			return runIngestReplay(ctx, &sub)
		case "reindex":
			return runIngestReindex(ctx, &sub)
		}
	}
	set := config.NewSet("ingest [replay|reindex]", `Relay the outbox to Kafka and run the search indexer and the experiment analysis,
with /healthz, /readyz and /metrics.

The relay publishes unpublished outbox rows to each tenant's topics (created with
--kafka-partitions partitions) and marks them only after the brokers acknowledged.
The indexer consumes every tenant's catalog and inventory topics into the search
index of each of the tenant's storefronts. The experiment analysis consumes every
tenant's behaviour and orders topics and keeps per-arm aggregates of each
experiment in PostgreSQL: a unit counts in the arm of its first exposure, with its
clicks on recommended items, add-to-carts, orders and revenue within
--experiment-window after it (docs/experiments-ingest.md). With --smtp-addr, the
notifier e-mails customers about their orders and account tokens
(docs/notifications.md); the webhook fan-out and worker deliver events to the
endpoints tenants registered (docs/webhooks.md). Messages a consumer cannot process
go to <topic>.dlq with the error in a header.

  kommerce ingest replay --from-dlq <topic>.dlq   re-drive dead letters
  kommerce ingest reindex <index>                 rebuild an index behind its alias`, e.getenv)
	var c serverConfig
	var sc searchConfig
	var dbURL, brokers, group string
	var partitions, replication, batch int
	var noRelay, noIndexer, noExperiments bool
	var expGroup, revenueCaps string
	var window time.Duration
	var bo backofficeConfig // e-mail notifier and outbound webhooks (backoffice.go)
	var secretsKey string
	bo.register(set)
	secretsKeyFlag(set, &secretsKey, "unset: password-reset and verification e-mails (their tokens are sealed) are dead-lettered")
	c.register(set, defaultIngestAddr)
	databaseURLFlag(set, &dbURL)
	brokersFlag(set, &brokers)
	sc.register(set)
	set.Int(&partitions, "kafka-partitions", "KOMMERCE_KAFKA_PARTITIONS", 6, "partitions of each topic created for a tenant", config.Check(config.Positive))
	set.Int(&replication, "kafka-replication", "KOMMERCE_KAFKA_REPLICATION", 1, "replication factor of each topic created for a tenant (3 in production)", config.Check(config.Positive))
	set.String(&group, "group-id", "KOMMERCE_INGEST_GROUP", "kommerce-search-indexer", "consumer group of the search indexer")
	set.Int(&batch, "batch-size", "KOMMERCE_INGEST_BATCH_SIZE", 500, "outbox rows per relay transaction and messages per indexer batch", config.Check(config.Positive))
	set.Bool(&noRelay, "no-relay", "KOMMERCE_INGEST_NO_RELAY", false, "do not run the outbox relay (scale relay and indexer separately)")
	set.Bool(&noIndexer, "no-indexer", "KOMMERCE_INGEST_NO_INDEXER", false, "do not run the search indexer")
	set.Bool(&noExperiments, "no-experiments", "KOMMERCE_INGEST_NO_EXPERIMENTS", false, "do not run the experiment analysis")
	set.String(&expGroup, "experiments-group-id", "KOMMERCE_EXPERIMENTS_GROUP", "kommerce-experiments", "consumer group of the experiment analysis")
	set.Duration(&window, "experiment-window", "KOMMERCE_EXPERIMENT_WINDOW", experiments.DefaultWindow, "attribution window: what a unit does this long after its first exposure counts to its arm", config.Check(positiveDuration))
	set.String(&revenueCaps, "experiment-revenue-caps", "KOMMERCE_EXPERIMENT_REVENUE_CAPS", "", "cap of a unit's revenue (minor units) per experiment for the capped revenue sums, e.g. recs=50000,other=20000; unset: uncapped", config.Check(func(v string) error {
		_, err := parseRevenueCaps(v)
		return err
	}))
	rest, err := set.Parse(e.args, e.stdout)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return config.Usagef("unknown ingest action %q: accepted values are replay, reindex (or none to run)", rest[0])
	}
	if len(splitBrokers(brokers)) == 0 {
		return config.Usagef("--kafka-brokers / KOMMERCE_KAFKA_BROKERS is required")
	}
	log := c.logger(e.stderr)
	reg := server.NewRegistry()
	tp, stopTracing, err := startTracing(e, "ingest", log)
	if err != nil {
		return err
	}
	defer stopTracing()
	if err := tp.Register(reg); err != nil {
		return err
	}

	pool, err := tracing.NewPool(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = pool.Ping(pctx)
	cancel()
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	backend, err := sc.open()
	if err != nil {
		return err
	}
	defer backend.Close()

	opts := c.options("ingest", log)
	stopProfiling, err := c.startProfiling(log)
	if err != nil {
		return err
	}
	defer stopProfiling()
	opts.Registry = reg
	bl := splitBrokers(brokers)
	opts.Checks = append(opts.Checks,
		pingCheck("postgres", pool.Ping),
		pingCheck("search", backend.Ping),
		pingCheck("kafka", func(ctx context.Context) error { return ikafka.Ping(ctx, bl) }),
	)
	// One set of consumer metrics (labelled by consumer) for the indexer and the
	// experiment analysis.
	metrics := ikafka.NewMetrics(reg)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return server.New(opts).Run(gctx) })
	box, err := loadSecretsKey(secretsKey, "")
	if err != nil {
		return err
	}
	bo.start(gctx, g, pool, bl, partitions, replication, 30*time.Second, box, log)
	if !noIndexer {
		// The indexer learns new storefronts within half of pipeline's TopicRefresh (15 s).
		g.Go(func() error { fillNewIndexes(gctx, pool, backend, 5*time.Second, 25*time.Second, log); return nil })
	}
	g.Go(func() error {
		return pipeline.Run(gctx, pipeline.Config{
			Pool: pool, Brokers: bl, Search: backend, Partitions: partitions, Replication: replication,
			GroupID: group, BatchSize: batch, NoRelay: noRelay, NoIndexer: noIndexer, Registry: reg, Metrics: metrics,
		}, log)
	})
	if !noExperiments {
		caps, _ := parseRevenueCaps(revenueCaps) // checked by Parse
		g.Go(func() error {
			return runExperiments(gctx, experimentsConfig{
				pool: pool, brokers: bl, partitions: partitions, replication: replication, group: expGroup, batch: batch,
				cfg: experiments.Config{Window: window, RevenueCaps: caps}, metrics: metrics,
			}, log)
		})
	}
	return g.Wait()
}

// experimentsConfig is what the experiment analysis consumer runs with.
type experimentsConfig struct {
	pool                    *pgxpool.Pool
	brokers                 []string
	partitions, replication int
	group                   string
	batch                   int
	cfg                     experiments.Config
	metrics                 *ikafka.Metrics
}

// runExperiments consumes every tenant's behaviour and orders topics into the
// experiment aggregates until ctx ends, creating a tenant's topics before the group
// subscribes to them.
func runExperiments(ctx context.Context, c experimentsConfig, log *slog.Logger) error {
	dir := postgres.NewDirectory(c.pool, 15*time.Second)
	topics := ikafka.NewTopics(c.brokers, c.partitions, c.replication)
	w := ikafka.NewWriter(c.brokers)
	defer w.Close()
	h := experiments.NewHandler(exppg.New(c.pool, c.cfg), dir, log.With("component", "experiments"))
	log.Info("experiment analysis running", "window", c.cfg.Window.String(), "revenue_caps", len(c.cfg.RevenueCaps))
	return ikafka.RunConsumer(ctx, ikafka.ConsumerConfig{
		Name:    "experiments",
		Brokers: c.brokers,
		GroupID: c.group,
		Topics: func(ctx context.Context) ([]string, error) {
			ts, err := dir.Tenants(ctx)
			if err != nil {
				return nil, err
			}
			for _, t := range ts {
				if err := topics.EnsurePrefix(ctx, t.TopicPrefix); err != nil {
					return nil, fmt.Errorf("topics of tenant %s: %w", t.Slug, err)
				}
			}
			return h.Topics(ctx)
		},
		Handler:     h,
		BatchSize:   c.batch,
		DeadLetters: w,
		Metrics:     c.metrics,
		Log:         log,
	})
}

// parseRevenueCaps reads "name=amount,name=amount": experiment names with a
// positive cap in minor units, each named once.
func parseRevenueCaps(s string) (map[string]int64, error) {
	caps := map[string]int64{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		name, amount, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		n, err := strconv.ParseInt(strings.TrimSpace(amount), 10, 64)
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("want experiment=amount pairs separated by commas, %q is not one", part)
		case err != nil || n < 1:
			return nil, fmt.Errorf("the cap of %s must be a whole number of minor units of at least 1, not %q", name, strings.TrimSpace(amount))
		case caps[name] != 0:
			return nil, fmt.Errorf("experiment %s is capped twice", name)
		}
		caps[name] = n
	}
	return caps, nil
}

func runIngestReplay(ctx context.Context, e *env) error {
	set := config.NewSet("ingest replay", `Re-drive the dead letters of a dead-letter topic: publish each message present now to
the topic it failed on, with its key and value and without the error headers, so the
consumers process it again (they are idempotent). Progress is kept in the consumer
group --group-id, so a message is re-driven once even if replay runs twice. Prints
how many messages went back to which topic.`, e.getenv)
	var lc logConfig
	var brokers, topic, group string
	var idle time.Duration
	lc.register(set)
	brokersFlag(set, &brokers)
	set.String(&topic, "from-dlq", "", "", "the dead-letter topic to re-drive, e.g. kommerce.acme.catalog.dlq (required)")
	set.String(&group, "group-id", "KOMMERCE_REPLAY_GROUP", "kommerce-replay", "consumer group remembering replay progress")
	set.Duration(&idle, "idle-timeout", "KOMMERCE_REPLAY_IDLE_TIMEOUT", 30*time.Second, "give up when no message arrives for this long before the end is reached")
	rest, err := set.Parse(e.args, e.stdout)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return config.Usagef("ingest replay takes no arguments (got %q); name the topic with --from-dlq", rest[0])
	}
	if topic == "" {
		return config.Usagef("--from-dlq is required: the dead-letter topic to re-drive, e.g. kommerce.acme.catalog.dlq")
	}
	if !strings.HasSuffix(topic, ".dlq") {
		return config.Usagef("--from-dlq %q is not a dead-letter topic: it must end in .dlq", topic)
	}
	log := lc.logger(e.stderr)
	bl := splitBrokers(brokers)
	w := ikafka.NewWriter(bl)
	defer w.Close()
	stats, err := ikafka.Replay(ctx, ikafka.ReplayConfig{Brokers: bl, Topic: topic, GroupID: group, Writer: w, IdleTimeout: idle, Log: log})
	if err != nil {
		return fmt.Errorf("replay %s: %w", topic, err)
	}
	fmt.Fprintf(e.stdout, "replayed %d messages from %s\n", stats.Replayed, topic)
	for t, n := range stats.ByTopic {
		fmt.Fprintf(e.stdout, "  %d -> %s\n", n, t)
	}
	return nil
}

func runIngestReindex(ctx context.Context, e *env) error {
	set := config.NewSet("ingest reindex <index>", `Rebuild a storefront's search index into a new physical index with the current
mappings and swap its alias, while the indexer keeps writing. <index> is the alias,
"<tenant index prefix>-<storefront>", e.g. kommerce-acme-default.`, e.getenv)
	var lc logConfig
	var sc searchConfig
	lc.register(set)
	sc.register(set)
	rest, err := set.Parse(e.args, e.stdout)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return config.Usagef("ingest reindex needs exactly one index alias (got %d arguments)", len(rest))
	}
	if err := search.ValidIndex(rest[0]); err != nil {
		return config.Usagef("%v", err)
	}
	backend, err := sc.open()
	if err != nil {
		return err
	}
	defer backend.Close()
	log := lc.logger(e.stderr)
	start := time.Now()
	if err := backend.Reindex(ctx, rest[0]); err != nil {
		return fmt.Errorf("reindex %s: %w", rest[0], err)
	}
	log.Info("reindexed", slog.String("index", rest[0]), slog.Duration("took", time.Since(start)))
	fmt.Fprintf(e.stdout, "reindexed %s on %s\n", rest[0], backend.Name())
	return nil
}
