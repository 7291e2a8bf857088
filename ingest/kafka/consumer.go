package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/internal/events"
)

// Dead-letter headers: why and where a message failed. Replay strips them.
const (
	HeaderError             = "kommerce-error"
	HeaderOriginalTopic     = "kommerce-original-topic"
	HeaderOriginalPartition = "kommerce-original-partition"
	HeaderOriginalOffset    = "kommerce-original-offset"
	HeaderConsumerGroup     = "kommerce-consumer-group"
	HeaderAttempts          = "kommerce-attempts"
	HeaderFailedAt          = "kommerce-failed-at"
	HeaderReplays           = "kommerce-replays"
)

var deadLetterHeaders = []string{HeaderError, HeaderOriginalTopic, HeaderOriginalPartition, HeaderOriginalOffset, HeaderConsumerGroup, HeaderAttempts, HeaderFailedAt}

// ConsumerConfig configures RunConsumer.
type ConsumerConfig struct {
	// Name labels metrics and logs, e.g. "search-indexer".
	Name    string
	Brokers []string
	GroupID string
	// Topics returns the topics to consume; it is called again every TopicRefresh and
	// the group is re-joined when the list changed (a tenant was added).
	Topics       func(ctx context.Context) ([]string, error)
	TopicRefresh time.Duration
	Handler      ingest.Handler
	// BatchSize and BatchWait bound a batch: up to BatchSize messages, waiting at
	// most BatchWait for more once the first arrived.
	BatchSize int
	BatchWait time.Duration
	// InFlight is how many batches are handled at once [1]. With more than one, the
	// next batch is fetched and handed to the handler while earlier ones are still
	// being handled (for the search indexer: several bulk requests in flight instead
	// of one, and the fetch and the offset commit overlapping them). Order per
	// message key is what it is with one: a batch holding a key that an earlier,
	// unfinished batch holds waits for that batch to finish. Offsets are committed
	// only for each partition's prefix of finished messages, in order, whichever
	// batch finishes first; and a batch starts only while it is fewer than InFlight
	// batches after the oldest unfinished one, so a stuck batch stops the fetching
	// instead of piling up finished, uncommittable work behind it.
	InFlight int
	// MaxAttempts is how often a message failing with an ordinary error is tried
	// before it is dead-lettered; Unavailable errors are retried without limit.
	MaxAttempts  int
	RetryBackoff time.Duration // first retry delay; doubles up to 10 s
	// DeadLetters writes to the dead-letter topics (NewWriter).
	DeadLetters *kafka.Writer
	Metrics     *Metrics
	Log         *slog.Logger
	// AfterProcess, when set, runs after a batch's effects are done and before its
	// offsets are committed (fault tests crash the process here).
	AfterProcess func()
}

func (c *ConsumerConfig) defaults() {
	if c.TopicRefresh <= 0 {
		c.TopicRefresh = 30 * time.Second
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.BatchWait <= 0 {
		c.BatchWait = 20 * time.Millisecond
	}
	if c.InFlight <= 0 {
		c.InFlight = 1
	}
	c.InFlight = min(c.InFlight, 64)
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 200 * time.Millisecond
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// RunConsumer consumes the configured topics as a consumer group until ctx ends:
// FetchMessage → Handler → CommitMessages of the contiguous prefix of finished
// offsets per partition; never auto-commit. A message whose handling fails
// permanently, or keeps failing MaxAttempts times, is written to its topic's
// dead-letter topic (events.DeadLetter) with the error in a header, and only then
// counts as finished. Effects happen at least once; handlers make them idempotent.
func RunConsumer(ctx context.Context, cfg ConsumerConfig) error {
	cfg.defaults()
	if cfg.Handler == nil || cfg.Topics == nil || cfg.DeadLetters == nil || cfg.GroupID == "" {
		return errors.New("consumer: Handler, Topics, DeadLetters and GroupID are required")
	}
	log := cfg.Log.With("consumer", cfg.Name, "group", cfg.GroupID)
	backoff := cfg.RetryBackoff
	for ctx.Err() == nil {
		topics, err := cfg.Topics(ctx)
		if err != nil {
			log.Warn("list topics", "err", err)
			sleep(ctx, backoff)
			backoff = nextBackoff(backoff)
			continue
		}
		if len(topics) == 0 {
			sleep(ctx, cfg.TopicRefresh)
			continue
		}
		slices.Sort(topics)
		c := &consumer{cfg: cfg, log: log, topics: topics, lag: map[partitionKey]int64{}}
		if err := c.run(ctx); err != nil && ctx.Err() == nil {
			log.Warn("consumer restarting", "err", err)
			sleep(ctx, backoff)
			backoff = nextBackoff(backoff)
			continue
		}
		backoff = cfg.RetryBackoff
	}
	return nil
}

type consumer struct {
	cfg    ConsumerConfig
	log    *slog.Logger
	topics []string
	lag    map[partitionKey]int64 // the fetch loop's only

	// mu guards the tracker of every fetched, uncommitted message (of all batches
	// in flight), the message keys of the batches in flight, and the window.
	mu      sync.Mutex
	tracker *tracker
	keys    map[string]int
	// next numbers batches in the order they start; open holds the numbers of the
	// batches not finished yet. A batch starts only within InFlight of the oldest
	// open one (see ConsumerConfig.InFlight).
	next int
	open map[int]bool
	// finished is closed (and replaced) whenever a batch in flight finishes.
	finished chan struct{}
	// commitMu makes commits one at a time, each taking the tracker's committable
	// prefix just before it is sent, so committed offsets only ever move forward.
	commitMu sync.Mutex
}

// run consumes until ctx ends, an error forces a reconnect (nil is returned to
// re-join with a changed topic list). One loop fetches batches and starts a
// goroutine per batch, at most InFlight at once; every batch commits what is
// finished when it is done. The first failing batch stops the fetching, and run
// returns its error once every batch in flight has ended and the finished prefix is
// committed.
func (c *consumer) run(ctx context.Context) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:                c.cfg.Brokers,
		GroupID:                c.cfg.GroupID,
		GroupTopics:            c.topics,
		MinBytes:               1,
		MaxBytes:               10 << 20,
		MaxWait:                250 * time.Millisecond,
		QueueCapacity:          max(100, c.cfg.BatchSize),
		StartOffset:            kafka.FirstOffset,
		CommitInterval:         0, // synchronous commits, only of finished work
		HeartbeatInterval:      3 * time.Second,
		SessionTimeout:         10 * time.Second,
		RebalanceTimeout:       30 * time.Second,
		JoinGroupBackoff:       time.Second,
		ReadBackoffMin:         100 * time.Millisecond,
		ReadBackoffMax:         time.Second,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 10 * time.Second,
		MaxAttempts:            3,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			c.log.Debug("kafka reader", "msg", fmt.Sprintf(msg, args...))
		}),
	})
	defer r.Close()
	c.tracker, c.keys, c.open, c.finished = newTracker(), map[string]int{}, map[int]bool{}, make(chan struct{})
	c.log.Info("consuming", "topics", len(c.topics), "in_flight", c.cfg.InFlight)
	refresh := time.NewTicker(c.cfg.TopicRefresh)
	defer refresh.Stop()

	work, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var wg sync.WaitGroup
	// end waits for the batches in flight and returns the first failure.
	end := func(err error) error {
		wg.Wait()
		if cause := context.Cause(work); cause != nil && !errors.Is(cause, context.Canceled) {
			return cause
		}
		return err
	}
	for {
		batch, err := c.fetch(work, r)
		if err != nil {
			stop(nil)
			return end(err)
		}
		if len(batch) > 0 {
			keys := c.admit(batch)
			seq, ok := c.wait(work, keys)
			if !ok {
				stop(nil)
				return end(nil)
			}
			wg.Go(func() {
				defer c.release(seq, keys)
				if err := c.process(work, r, batch); err != nil {
					stop(err)
				}
			})
		}
		select {
		case <-work.Done():
			return end(nil)
		case <-refresh.C:
			topics, err := c.cfg.Topics(ctx)
			if err == nil && len(topics) > 0 {
				slices.Sort(topics)
				if !slices.Equal(topics, c.topics) {
					c.log.Info("topics changed, re-joining the group", "topics", len(topics))
					stop(nil)
					return end(nil)
				}
			}
		default:
		}
	}
}

// admit records a fetched batch in the tracker, in fetch order (so that no later
// offset of a partition can be committed past it), and returns its distinct keys.
func (c *consumer) admit(batch []kafka.Message) []string {
	keys := make([]string, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range batch {
		c.tracker.fetched(m)
		k := m.Topic + "\x00" + string(m.Key)
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
		c.lag[partitionKey{m.Topic, m.Partition}] = max(m.HighWaterMark-m.Offset-1, 0)
	}
	c.reportLag()
	return keys
}

// wait starts a batch once no batch in flight holds one of its keys and it is
// within InFlight of the oldest unfinished batch; it marks the keys as in flight
// and returns the batch's number. It reports false when ctx ended first.
func (c *consumer) wait(ctx context.Context, keys []string) (int, bool) {
	for {
		c.mu.Lock()
		if c.startable(keys) {
			seq := c.next
			c.next++
			c.open[seq] = true
			for _, k := range keys {
				c.keys[k]++
			}
			c.mu.Unlock()
			return seq, true
		}
		finished := c.finished
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return 0, false
		case <-finished:
		}
	}
}

// startable reports whether a batch with keys may start now (c.mu held).
func (c *consumer) startable(keys []string) bool {
	for _, k := range keys {
		if c.keys[k] > 0 {
			return false
		}
	}
	oldest := c.next
	for seq := range c.open {
		oldest = min(oldest, seq)
	}
	return c.next-oldest < c.cfg.InFlight
}

// release forgets a finished batch and its keys and wakes a waiting batch.
func (c *consumer) release(seq int, keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.open, seq)
	for _, k := range keys {
		if c.keys[k]--; c.keys[k] <= 0 {
			delete(c.keys, k)
		}
	}
	close(c.finished)
	c.finished = make(chan struct{})
}

// fetch returns up to BatchSize messages: it waits up to a second for the first
// (so topic refreshes still happen on an idle group) and BatchWait for the rest.
func (c *consumer) fetch(ctx context.Context, r *kafka.Reader) ([]kafka.Message, error) {
	first, cancel := context.WithTimeout(ctx, time.Second)
	m, err := r.FetchMessage(first)
	cancel()
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return nil, nil
		}
		return nil, fmt.Errorf("fetch: %w", err)
	}
	batch := []kafka.Message{m}
	more, cancel := context.WithTimeout(ctx, c.cfg.BatchWait)
	defer cancel()
	for len(batch) < c.cfg.BatchSize {
		m, err := r.FetchMessage(more)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
				break
			}
			return nil, fmt.Errorf("fetch: %w", err)
		}
		batch = append(batch, m)
	}
	return batch, nil
}

// process handles one batch to the end (done or dead-lettered), then commits what
// is finished: this batch's messages and any later batch's that finished first,
// up to the first unfinished message of each partition.
func (c *consumer) process(ctx context.Context, r *kafka.Reader, batch []kafka.Message) error {
	start := time.Now()
	msgs := make([]ingest.Message, len(batch))
	for i, m := range batch {
		msgs[i] = toMessage(m)
	}
	done := func(m kafka.Message) {
		c.mu.Lock()
		c.tracker.markDone(m)
		c.mu.Unlock()
	}

	attempts := make([]int, len(batch))
	lastErr := make([]error, len(batch))
	pending := make([]int, len(batch))
	for i := range pending {
		pending[i] = i
	}
	var dead []int
	backoff := c.cfg.RetryBackoff
	for len(pending) > 0 && ctx.Err() == nil {
		sub := make([]ingest.Message, len(pending))
		for j, i := range pending {
			sub[j] = msgs[i]
		}
		errs := c.cfg.Handler.Handle(ctx, sub)
		if len(errs) != len(sub) {
			return fmt.Errorf("handler returned %d results for %d messages", len(errs), len(sub))
		}
		var retry []int
		blocked := false
		for j, i := range pending {
			err := errs[j]
			switch {
			case err == nil:
				done(batch[i])
				c.cfg.Metrics.messages.WithLabelValues(c.cfg.Name, "processed").Inc()
			case ingest.IsPermanent(err):
				attempts[i]++
				lastErr[i] = err
				dead = append(dead, i)
			case ingest.IsUnavailable(err):
				lastErr[i] = err
				blocked = true
				retry = append(retry, i)
			default:
				attempts[i]++
				lastErr[i] = err
				if attempts[i] >= c.cfg.MaxAttempts {
					dead = append(dead, i)
				} else {
					retry = append(retry, i)
				}
			}
		}
		pending = retry
		if len(pending) > 0 {
			c.cfg.Metrics.messages.WithLabelValues(c.cfg.Name, "retried").Add(float64(len(pending)))
			level := slog.LevelInfo
			if blocked {
				level = slog.LevelWarn
			}
			c.log.Log(ctx, level, "retrying messages", "count", len(pending), "backoff", backoff.String(), "err", lastErr[pending[0]])
			sleep(ctx, backoff)
			backoff = nextBackoff(backoff)
		}
	}
	if len(dead) > 0 {
		if err := c.deadLetter(ctx, batch, dead, attempts, lastErr); err != nil {
			return c.commit(r, err)
		}
		for _, i := range dead {
			done(batch[i])
		}
	}
	if c.cfg.AfterProcess != nil {
		c.cfg.AfterProcess()
	}
	err := c.commit(r, nil)
	c.cfg.Metrics.batch.WithLabelValues(c.cfg.Name).Observe(time.Since(start).Seconds())
	if err == nil && ctx.Err() != nil {
		return nil
	}
	return err
}

// commit commits the finished prefix of every partition; it runs even when ctx
// has ended so that work done before a shutdown is not repeated. cause is returned
// unchanged (after the commit) when the batch did not finish. A batch cut short by
// a shutdown leaves its unfinished messages uncommitted: they are delivered again.
func (c *consumer) commit(r *kafka.Reader, cause error) error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	c.mu.Lock()
	msgs := c.tracker.committable()
	c.mu.Unlock()
	if len(msgs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.CommitMessages(ctx, msgs...); err != nil {
			c.cfg.Metrics.commits.WithLabelValues(c.cfg.Name).Inc()
			return fmt.Errorf("commit: %w", err)
		}
	}
	return cause
}

// deadLetter writes messages to their dead-letter topics, retrying until the broker
// accepts them or ctx ends; a message only counts as finished once it is there.
func (c *consumer) deadLetter(ctx context.Context, batch []kafka.Message, idx []int, attempts []int, errs []error) error {
	out := make([]kafka.Message, len(idx))
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for j, i := range idx {
		m := batch[i]
		reason := "unknown error"
		if errs[i] != nil {
			reason = errs[i].Error()
		}
		if len(reason) > 2000 {
			reason = reason[:2000]
		}
		headers := withoutHeaders(m.Headers, deadLetterHeaders...)
		headers = append(headers,
			kafka.Header{Key: HeaderError, Value: []byte(reason)},
			kafka.Header{Key: HeaderOriginalTopic, Value: []byte(m.Topic)},
			kafka.Header{Key: HeaderOriginalPartition, Value: []byte(strconv.Itoa(m.Partition))},
			kafka.Header{Key: HeaderOriginalOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
			kafka.Header{Key: HeaderConsumerGroup, Value: []byte(c.cfg.GroupID)},
			kafka.Header{Key: HeaderAttempts, Value: []byte(strconv.Itoa(attempts[i]))},
			kafka.Header{Key: HeaderFailedAt, Value: []byte(now)},
		)
		out[j] = kafka.Message{Topic: events.DeadLetter(m.Topic), Key: m.Key, Value: m.Value, Headers: headers}
		c.log.Warn("dead-lettering message", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "attempts", attempts[i], "err", reason)
	}
	backoff := c.cfg.RetryBackoff
	for {
		err := c.cfg.DeadLetters.WriteMessages(ctx, out...)
		if err == nil {
			c.cfg.Metrics.messages.WithLabelValues(c.cfg.Name, "dead_lettered").Add(float64(len(out)))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Warn("write dead letters", "err", err, "backoff", backoff.String())
		sleep(ctx, backoff)
		backoff = nextBackoff(backoff)
	}
}

func (c *consumer) reportLag() {
	sum := map[string]int64{}
	for k, v := range c.lag {
		sum[k.topic] += v
	}
	for topic, v := range sum {
		c.cfg.Metrics.lag.WithLabelValues(c.cfg.Name, topic).Set(float64(v))
	}
}

func toMessage(m kafka.Message) ingest.Message {
	h := make(map[string]string, len(m.Headers))
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	return ingest.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: h, Time: m.Time}
}

func withoutHeaders(hs []kafka.Header, drop ...string) []kafka.Header {
	out := make([]kafka.Header, 0, len(hs)+len(drop))
	for _, h := range hs {
		if !slices.Contains(drop, h.Key) {
			out = append(out, h)
		}
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func nextBackoff(d time.Duration) time.Duration {
	return min(2*d, 10*time.Second)
}
