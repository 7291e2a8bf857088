package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kommerce/kommerce/ingest"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/internal/events"
)

// RunConfig is what Run needs besides the notifier's own Config.
type RunConfig struct {
	Brokers []string
	// GroupID of the notifier's consumer group [kommerce-notifier].
	GroupID   string
	Directory ingest.Directory
	Topics    *ikafka.Topics
	// TopicRefresh is how often new tenants are picked up [30s].
	TopicRefresh time.Duration
	// RetryBackoff is the first delay before a refused e-mail is tried again; it
	// doubles up to 10 s [1s].
	RetryBackoff time.Duration
	Metrics      *ikafka.Metrics
	Log          *slog.Logger
}

// Run consumes every tenant's orders and accounts topics with h until ctx ends.
func Run(ctx context.Context, h *Handler, rc RunConfig) error {
	if rc.Directory == nil || rc.Topics == nil || len(rc.Brokers) == 0 {
		return errors.New("notify: Brokers, Directory and Topics are required")
	}
	if rc.GroupID == "" {
		rc.GroupID = "kommerce-notifier"
	}
	if rc.RetryBackoff <= 0 {
		rc.RetryBackoff = time.Second
	}
	w := ikafka.NewWriter(rc.Brokers)
	defer w.Close()
	return ikafka.RunConsumer(ctx, ikafka.ConsumerConfig{
		Name:         "notifier",
		Brokers:      rc.Brokers,
		GroupID:      rc.GroupID,
		Topics:       TenantTopics(rc.Directory, rc.Topics, Streams),
		TopicRefresh: rc.TopicRefresh,
		Handler:      h,
		BatchSize:    100,
		// The handler dead-letters refused e-mails itself after its MaxAttempts
		// (counted in PostgreSQL, across restarts); the runner's limit only catches
		// other errors (the database failing the same message again and again).
		MaxAttempts:  h.cfg.MaxAttempts + 1,
		RetryBackoff: rc.RetryBackoff,
		DeadLetters:  w,
		Metrics:      rc.Metrics,
		Log:          rc.Log,
	})
}

// TenantTopics lists the topics of streams for every tenant, creating missing ones
// (with their dead-letter topics) first.
func TenantTopics(dir ingest.Directory, topics *ikafka.Topics, streams []events.Stream) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		ts, err := dir.Tenants(ctx)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, t := range ts {
			if err := topics.EnsurePrefix(ctx, t.TopicPrefix); err != nil {
				return nil, fmt.Errorf("topics of tenant %s: %w", t.Slug, err)
			}
			for _, s := range streams {
				out = append(out, events.Topic(t.TopicPrefix, s))
			}
		}
		return out, nil
	}
}
