package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/ingesttest"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/testenv"
)

// stream is one test's topic (with its dead-letter topic) on the real broker.
// Records are produced with the relay's idempotent producer, so a late broker answer
// on a loaded machine does not put a record in the topic twice; writer is the
// kafka-go writer the consumer dead-letters with and replay re-drives with.
type stream struct {
	brokers  []string
	topic    string
	producer *ikafka.IdempotentProducer
	writer   *kafka.Writer
}

func newStream(t *testing.T, partitions int) *stream {
	t.Helper()
	brokers := testenv.KafkaBrokers(t)
	prefix := testenv.Name(t, "test", ".")
	topics := ikafka.NewTopics(brokers, partitions, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := topics.EnsurePrefix(ctx, prefix); err != nil {
		t.Fatal(err)
	}
	if err := topics.EnsurePrefix(ctx, prefix); err != nil {
		t.Fatalf("ensuring existing topics again must succeed: %v", err)
	}
	t.Cleanup(func() { _ = testenv.DeleteTopics(brokers, ikafka.PrefixTopics(prefix)...) })
	w := ikafka.NewWriter(brokers)
	t.Cleanup(func() { _ = w.Close() })
	p, err := ikafka.NewIdempotentProducer(brokers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &stream{brokers: brokers, topic: events.Topic(prefix, events.StreamCatalog), producer: p, writer: w}
}

func (s *stream) produce(t *testing.T, values ...string) {
	t.Helper()
	msgs := make([]ingest.OutboundMessage, len(values))
	for i, v := range values {
		msgs[i] = ingest.OutboundMessage{Topic: s.topic, Key: []byte(fmt.Sprintf("k%d", i%17)), Value: []byte(v)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := s.producer.Publish(ctx, msgs); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// recorder is a handler that counts what it processed and fails on purpose:
// "poison" permanently, "forever" every time, "flaky" the first two times.
type recorder struct {
	mu        sync.Mutex
	processed map[string]int
	tries     map[string]int
	down      bool // everything Unavailable while set
}

func newRecorder() *recorder {
	return &recorder{processed: map[string]int{}, tries: map[string]int{}}
}

func (r *recorder) Handle(_ context.Context, msgs []ingest.Message) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		v := string(m.Value)
		r.tries[v]++
		switch {
		case r.down:
			errs[i] = ingest.Unavailable(errors.New("engine down"))
		case strings.HasPrefix(v, "poison"):
			errs[i] = ingest.Permanent(fmt.Errorf("cannot parse %s", v))
		case strings.HasPrefix(v, "forever"):
			errs[i] = errors.New("always failing")
		case strings.HasPrefix(v, "flaky") && r.tries[v] <= 2:
			errs[i] = errors.New("transient")
		default:
			r.processed[v]++
		}
	}
	return errs
}

func (r *recorder) count(v string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.processed[v]
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.processed {
		n += c
	}
	return n
}

func run(t *testing.T, s *stream, group string, h ingest.Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ikafka.RunConsumer(ctx, ikafka.ConsumerConfig{
			Name: "test", Brokers: s.brokers, GroupID: group,
			Topics:  func(context.Context) ([]string, error) { return []string{s.topic}, nil },
			Handler: h, BatchSize: 64, MaxAttempts: 3, RetryBackoff: 20 * time.Millisecond,
			DeadLetters: s.writer,
		})
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestPoisonMessagesAreDeadLetteredAndTheRestFlows(t *testing.T) {
	s := newStream(t, 3)
	var values []string
	for i := 0; i < 300; i++ {
		switch i {
		case 50, 150:
			values = append(values, fmt.Sprintf("poison-%d", i))
		case 100:
			values = append(values, "flaky-100")
		case 200:
			values = append(values, "forever-200")
		default:
			values = append(values, fmt.Sprintf("ok-%d", i))
		}
	}
	s.produce(t, values...)
	rec := newRecorder()
	group := testenv.Name(t, "group", "-")
	stop := run(t, s, group, rec)

	dead := ingesttest.ReadTopic(t, s.brokers, events.DeadLetter(s.topic), 3)
	testenv.Eventually(t, 120*time.Second, "consumer processes the good messages", func() (bool, string) {
		return rec.total() >= 297, fmt.Sprintf("processed %d of 297", rec.total())
	})
	stop()

	reasons := map[string]string{}
	for _, m := range dead {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		reasons[string(m.Value)] = h[ikafka.HeaderError]
		if h[ikafka.HeaderOriginalTopic] != s.topic || h[ikafka.HeaderOriginalOffset] == "" || h[ikafka.HeaderConsumerGroup] != group {
			t.Errorf("dead letter %s lacks its origin headers: %v", m.Value, h)
		}
	}
	want := map[string]string{"poison-50": "cannot parse poison-50", "poison-150": "cannot parse poison-150", "forever-200": "always failing"}
	for v, reason := range want {
		if reasons[v] != reason {
			t.Errorf("dead letter %s has error %q; want %q (all: %v)", v, reasons[v], reason, reasons)
		}
	}
	if rec.count("flaky-100") != 1 {
		t.Errorf("flaky message processed %d times; want 1 after its retries", rec.count("flaky-100"))
	}
	if n := rec.tries["forever-200"]; n != 3 {
		t.Errorf("forever-200 tried %d times; want MaxAttempts = 3", n)
	}
	for i, v := range values {
		if strings.HasPrefix(v, "ok-") && rec.count(v) != 1 {
			t.Fatalf("message %d (%s) processed %d times", i, v, rec.count(v))
		}
	}

	// Everything was committed: a restarted consumer of the same group sees only
	// what is produced after.
	rec2 := newRecorder()
	run(t, s, group, rec2)
	s.produce(t, "after-restart")
	testenv.Eventually(t, 120*time.Second, "restarted consumer processes the marker", func() (bool, string) {
		return rec2.count("after-restart") == 1, fmt.Sprintf("marker processed %d times", rec2.count("after-restart"))
	})
	if rec2.total() != 1 {
		t.Fatalf("restarted consumer reprocessed %d committed messages", rec2.total()-1)
	}
}

func TestUnavailableWaitsInsteadOfDeadLettering(t *testing.T) {
	s := newStream(t, 2)
	rec := newRecorder()
	rec.down = true
	s.produce(t, "ok-1", "ok-2", "ok-3")
	run(t, s, testenv.Name(t, "group", "-"), rec)
	testenv.Eventually(t, 120*time.Second, "consumer retries while the dependency is down", func() (bool, string) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.tries["ok-1"] >= 5, fmt.Sprintf("tried %d times", rec.tries["ok-1"])
	})
	rec.mu.Lock()
	rec.down = false
	rec.mu.Unlock()
	testenv.Eventually(t, 120*time.Second, "consumer catches up after the dependency returns", func() (bool, string) {
		return rec.total() == 3, fmt.Sprintf("processed %d of 3", rec.total())
	})
	// Nothing went to the dead-letter topic (any of its partitions) although every
	// message failed more than MaxAttempts times while the dependency was down.
	if n := ingesttest.TopicMessages(t, s.brokers, events.DeadLetter(s.topic)); n != 0 {
		t.Fatalf("%d dead letters while the dependency was down", n)
	}
}

func TestReplayRedrivesDeadLettersOnce(t *testing.T) {
	s := newStream(t, 2)
	s.produce(t, "poison-a", "ok-1", "poison-b")
	rec := newRecorder()
	stop := run(t, s, testenv.Name(t, "group", "-"), rec)
	// The dead letters are written at least once: a late broker answer can add a
	// copy, and replay re-drives every copy.
	dead := len(ingesttest.ReadTopic(t, s.brokers, events.DeadLetter(s.topic), 2))
	stop()

	// The consumer is fixed: poison now parses. Replay re-drives both.
	after := newRecorder()
	fixed := ingest.HandlerFunc(func(ctx context.Context, msgs []ingest.Message) []error {
		after.mu.Lock()
		defer after.mu.Unlock()
		for _, m := range msgs {
			after.processed[string(m.Value)]++
			if _, ok := m.Headers[ikafka.HeaderError]; ok {
				t.Errorf("replayed message still carries the dead-letter error header")
			}
		}
		return make([]error, len(msgs))
	})
	group := testenv.Name(t, "group2", "-")
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	replay := ikafka.ReplayConfig{Brokers: s.brokers, Topic: events.DeadLetter(s.topic), GroupID: testenv.Name(t, "replay", "-"), Writer: s.writer, IdleTimeout: 60 * time.Second}
	stats, err := ikafka.Replay(ctx, replay)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Replayed != dead || stats.ByTopic[s.topic] != dead {
		t.Fatalf("replay stats %+v; want the %d dead letters to %s", stats, dead, s.topic)
	}
	want := 3 + stats.Replayed // the originals and the re-driven copies
	stats, err = ikafka.Replay(ctx, replay)
	if err != nil || stats.Replayed != 0 {
		t.Fatalf("second replay = %+v, %v; want nothing left", stats, err)
	}
	// A fresh consumer group reads the original topic from the start: the three
	// originals plus the two replayed copies.
	run(t, s, group, fixed)
	testenv.Eventually(t, 120*time.Second, "replayed poison messages processed", func() (bool, string) {
		return after.count("poison-a") >= 2 && after.count("poison-b") >= 2 && after.total() == want,
			fmt.Sprintf("processed poison-a %d times, poison-b %d times, %d of %d records", after.count("poison-a"), after.count("poison-b"), after.total(), want)
	})

	if _, err := ikafka.Replay(ctx, ikafka.ReplayConfig{Brokers: s.brokers, Topic: s.topic, Writer: s.writer}); err == nil {
		t.Fatal("replaying a topic that is not a dead-letter topic must be refused")
	}
}
