package webhooks

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kommerce/kommerce/ingest"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/ingest/notify"
	"github.com/kommerce/kommerce/internal/webhook"
)

// RunConfig is what Run needs.
type RunConfig struct {
	Brokers   []string
	GroupID   string // of the fan-out [kommerce-webhooks]
	Directory ingest.Directory
	Topics    *ikafka.Topics
	// TopicRefresh is how often new tenants are picked up [30s].
	TopicRefresh time.Duration
	Worker       WorkerConfig
	Metrics      *ikafka.Metrics
	Log          *slog.Logger
}

// Run runs the fan-out consumer and the delivery worker until ctx ends.
func Run(ctx context.Context, rc RunConfig) error {
	if rc.Worker.Pool == nil || rc.Directory == nil || rc.Topics == nil || len(rc.Brokers) == 0 {
		return errors.New("webhooks: Pool, Brokers, Directory and Topics are required")
	}
	if rc.GroupID == "" {
		rc.GroupID = "kommerce-webhooks"
	}
	if rc.Log == nil {
		rc.Log = slog.New(slog.DiscardHandler)
	}
	rc.Worker.Log = rc.Log.With("component", "webhook-worker")
	dl := ikafka.NewWriter(rc.Brokers)
	defer dl.Close()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return ikafka.RunConsumer(ctx, ikafka.ConsumerConfig{
			Name: "webhook-fanout", Brokers: rc.Brokers, GroupID: rc.GroupID,
			Topics:       notify.TenantTopics(rc.Directory, rc.Topics, webhook.Streams),
			TopicRefresh: rc.TopicRefresh, Handler: NewFanOut(rc.Worker.Pool), DeadLetters: dl,
			Metrics: rc.Metrics, Log: rc.Log,
		})
	})
	g.Go(func() error { return NewWorker(rc.Worker).Run(ctx) })
	return g.Wait()
}
