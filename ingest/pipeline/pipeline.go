// Package pipeline wires ingest together: the outbox relay and the search indexer
// consumer over one database pool, one broker list and one search backend. It is
// what `kommerce ingest` runs, and what `kommerce dev` runs in-process on the
// embedded defaults (internal/kafkadev and the Bleve backend).
package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/indexer"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/ingest/postgres"
	"github.com/kommerce/kommerce/internal/search"
)

// Config is everything the pipeline needs; zero values get the defaults in brackets.
type Config struct {
	Pool    *pgxpool.Pool
	Brokers []string
	Search  search.Backend
	// Partitions and Replication of the topics created per tenant [6, 1].
	Partitions  int
	Replication int
	// GroupID of the search indexer consumer group [kommerce-search-indexer].
	GroupID string
	// BatchSize of relay transactions and consumer batches [500].
	BatchSize int
	// RelayBatchSize and RelayWorkers override the relay's batch size [BatchSize]
	// and its number of workers [postgres.RelayConfig's default].
	RelayBatchSize, RelayWorkers int
	// InFlight is how many batches the indexer handles at once [3]: each is one bulk
	// request per index, so the engine has the next bulk while it answers one, and
	// fetching and offset commits overlap the bulks (ikafka.ConsumerConfig.InFlight;
	// the indexer's versioned merge does not need order, and the consumer keeps it
	// per key anyway).
	InFlight int
	// TopicRefresh is how often new tenants are picked up [30s].
	TopicRefresh time.Duration
	// NoRelay and NoIndexer turn one half off (to scale them separately).
	NoRelay   bool
	NoIndexer bool
	Registry  prometheus.Registerer
	// Metrics of the indexer consumer; set it when other consumers of the process
	// share the registry (the metrics are labelled by consumer) [new on Registry].
	Metrics *ikafka.Metrics
	// AfterProcess is the consumer's test hook (see ikafka.ConsumerConfig).
	AfterProcess func()
}

// Run runs the relay and the indexer until ctx ends or one of them fails.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if cfg.Pool == nil || len(cfg.Brokers) == 0 || (!cfg.NoIndexer && cfg.Search == nil) {
		return errors.New("pipeline: Pool, Brokers and Search are required")
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 6
	}
	if cfg.GroupID == "" {
		cfg.GroupID = "kommerce-search-indexer"
	}
	if cfg.TopicRefresh <= 0 {
		cfg.TopicRefresh = 30 * time.Second
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = 3
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil && !cfg.NoIndexer {
		cfg.Metrics = ikafka.NewMetrics(cfg.Registry)
	}
	topics := ikafka.NewTopics(cfg.Brokers, cfg.Partitions, cfg.Replication)
	writer := ikafka.NewWriter(cfg.Brokers)
	defer writer.Close()
	dir := postgres.NewDirectory(cfg.Pool, cfg.TopicRefresh/2)

	g, ctx := errgroup.WithContext(ctx)
	if !cfg.NoRelay {
		// The relay publishes with the idempotent producer, so a late broker answer
		// does not put a batch in the topic twice (see ikafka.IdempotentProducer).
		producer, err := ikafka.NewIdempotentProducer(cfg.Brokers)
		if err != nil {
			return err
		}
		defer producer.Close()
		relay := postgres.NewRelay(cfg.Pool, producer, topics, postgres.RelayConfig{
			BatchSize: cmp.Or(cfg.RelayBatchSize, cfg.BatchSize), Workers: cfg.RelayWorkers, Log: log, Registry: cfg.Registry,
		})
		g.Go(func() error { return relay.Run(ctx) })
	}
	if !cfg.NoIndexer {
		idx := indexer.New(cfg.Search, dir, log.With("component", "search-indexer"))
		g.Go(func() error {
			return ikafka.RunConsumer(ctx, ikafka.ConsumerConfig{
				Name:         "search-indexer",
				Brokers:      cfg.Brokers,
				GroupID:      cfg.GroupID,
				Topics:       ensured(dir, topics, idx.Topics),
				TopicRefresh: cfg.TopicRefresh,
				Handler:      idx,
				BatchSize:    cfg.BatchSize,
				InFlight:     cfg.InFlight,
				DeadLetters:  writer,
				Metrics:      cfg.Metrics,
				Log:          log,
				AfterProcess: cfg.AfterProcess,
			})
		})
	}
	log.Info("ingest running", "relay", !cfg.NoRelay, "indexer", !cfg.NoIndexer, "search", backendName(cfg.Search), "brokers", len(cfg.Brokers))
	return g.Wait()
}

// ensured wraps a topic lister so that every tenant's topics (with their dead-letter
// topics) exist before the group subscribes to them.
func ensured(dir ingest.Directory, topics *ikafka.Topics, list func(context.Context) ([]string, error)) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		ts, err := dir.Tenants(ctx)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if err := topics.EnsurePrefix(ctx, t.TopicPrefix); err != nil {
				return nil, fmt.Errorf("topics of tenant %s: %w", t.Slug, err)
			}
		}
		return list(ctx)
	}
}

func backendName(b search.Backend) string {
	if b == nil {
		return "none"
	}
	return b.Name()
}
