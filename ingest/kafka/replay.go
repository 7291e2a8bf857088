package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// ReplayConfig configures Replay.
type ReplayConfig struct {
	Brokers []string
	// Topic is the dead-letter topic to re-drive, "<topic>.dlq".
	Topic string
	// GroupID remembers how far replays got (default "kommerce-replay"), so a
	// message is re-driven once even if replay runs again.
	GroupID string
	Writer  *kafka.Writer
	// IdleTimeout ends a replay that stops receiving messages before reaching the
	// end (default 30 s).
	IdleTimeout time.Duration
	Log         *slog.Logger
}

// ReplayStats says what a replay did.
type ReplayStats struct {
	Replayed int
	// ByTopic counts re-driven messages per original topic.
	ByTopic map[string]int
}

// Replay re-publishes the dead letters present when it starts to the topics they
// failed on, with their original key (so the same partition and order) and value,
// and the dead-letter headers removed; the consumers then process them again, which
// is safe because they are idempotent. Messages that fail again land at the end of
// the dead-letter topic and are left for the next replay. Progress is committed
// under GroupID after every batch.
func Replay(ctx context.Context, cfg ReplayConfig) (ReplayStats, error) {
	stats := ReplayStats{ByTopic: map[string]int{}}
	if !strings.HasSuffix(cfg.Topic, ".dlq") || len(cfg.Topic) <= len(".dlq") {
		return stats, fmt.Errorf("%q is not a dead-letter topic (it must end in .dlq)", cfg.Topic)
	}
	if cfg.GroupID == "" {
		cfg.GroupID = "kommerce-replay"
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	remaining, err := replayTargets(ctx, cfg)
	if err != nil {
		return stats, err
	}
	if len(remaining) == 0 {
		cfg.Log.Info("nothing to replay", "topic", cfg.Topic)
		return stats, nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: cfg.Brokers, GroupID: cfg.GroupID, GroupTopics: []string{cfg.Topic},
		StartOffset: kafka.FirstOffset, CommitInterval: 0, MinBytes: 1, MaxBytes: 10 << 20,
		MaxWait: 250 * time.Millisecond, HeartbeatInterval: 3 * time.Second, SessionTimeout: 30 * time.Second,
	})
	defer r.Close()
	for len(remaining) > 0 {
		fctx, cancel := context.WithTimeout(ctx, cfg.IdleTimeout)
		m, err := r.FetchMessage(fctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return stats, ctx.Err()
			}
			return stats, fmt.Errorf("replay stalled with %d partitions unfinished: %w", len(remaining), err)
		}
		end, ok := remaining[m.Partition]
		if !ok || m.Offset >= end {
			continue // a dead letter that arrived after the replay started
		}
		target := string(headerValue(m.Headers, HeaderOriginalTopic))
		if target == "" {
			target = strings.TrimSuffix(cfg.Topic, ".dlq")
		}
		replays, _ := strconv.Atoi(string(headerValue(m.Headers, HeaderReplays)))
		headers := withoutHeaders(m.Headers, append(deadLetterHeaders, HeaderReplays)...)
		headers = append(headers, kafka.Header{Key: HeaderReplays, Value: []byte(strconv.Itoa(replays + 1))})
		if err := cfg.Writer.WriteMessages(ctx, kafka.Message{Topic: target, Key: m.Key, Value: m.Value, Headers: headers}); err != nil {
			return stats, fmt.Errorf("re-publish to %s: %w", target, err)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			return stats, fmt.Errorf("commit replay progress: %w", err)
		}
		stats.Replayed++
		stats.ByTopic[target]++
		if m.Offset >= end-1 {
			delete(remaining, m.Partition)
		}
	}
	cfg.Log.Info("replayed dead letters", "topic", cfg.Topic, "count", stats.Replayed)
	return stats, nil
}

// replayTargets returns, per partition with something left to replay, the end
// offset (exclusive) as of now.
func replayTargets(ctx context.Context, cfg ReplayConfig) (map[int]int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 15 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{cfg.Topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		var terr error
		if len(meta.Topics) == 1 {
			terr = meta.Topics[0].Error
		}
		return nil, fmt.Errorf("dead-letter topic %s: %w", cfg.Topic, errors.Join(errors.New("not found"), terr))
	}
	var reqs []kafka.OffsetRequest
	var parts []int
	for _, p := range meta.Topics[0].Partitions {
		parts = append(parts, p.ID)
		reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	offs, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{cfg.Topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	first, last := map[int]int64{}, map[int]int64{}
	for _, po := range offs.Topics[cfg.Topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("offsets of partition %d: %w", po.Partition, po.Error)
		}
		first[po.Partition], last[po.Partition] = po.FirstOffset, po.LastOffset
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: cfg.GroupID, Topics: map[string][]int{cfg.Topic: parts}})
	if err != nil {
		return nil, fmt.Errorf("committed offsets: %w", err)
	}
	start := map[int]int64{}
	for _, p := range committed.Topics[cfg.Topic] {
		start[p.Partition] = p.CommittedOffset
	}
	out := map[int]int64{}
	for _, p := range parts {
		s := start[p]
		if s < first[p] { // nothing committed yet (-1) or retention removed it
			s = first[p]
		}
		if s < last[p] {
			out[p] = last[p]
		}
	}
	return out, nil
}

func headerValue(hs []kafka.Header, key string) []byte {
	for _, h := range hs {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}
