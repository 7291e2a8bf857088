package kafka_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/ingest"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/internal/testenv"
)

// produceKeyed writes values with their own keys, in order, in one request.
func (s *stream) produceKeyed(t *testing.T, keys, values []string) {
	t.Helper()
	msgs := make([]ingest.OutboundMessage, len(values))
	for i, v := range values {
		msgs[i] = ingest.OutboundMessage{Topic: s.topic, Key: []byte(keys[i]), Value: []byte(v)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := s.producer.Publish(ctx, msgs); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func runInFlight(t *testing.T, s *stream, group string, h ingest.Handler, batch, inFlight int) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ikafka.RunConsumer(ctx, ikafka.ConsumerConfig{
			Name: "test", Brokers: s.brokers, GroupID: group,
			Topics:  func(context.Context) ([]string, error) { return []string{s.topic}, nil },
			Handler: h, BatchSize: batch, InFlight: inFlight, MaxAttempts: 3, RetryBackoff: 20 * time.Millisecond,
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

// committed is the group's committed offset of partition 0 of s.topic (-1: none).
func committed(t *testing.T, s *stream, group string) int64 {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(s.brokers...), Timeout: 10 * time.Second}
	res, err := client.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{s.topic: {0}}})
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	for _, p := range res.Topics[s.topic] {
		if p.Partition == 0 {
			return p.CommittedOffset
		}
	}
	return -1
}

// A batch that is still being handled holds back the commits of every later batch
// of its partition, however many of them finished; at most InFlight batches run
// from the oldest unfinished one; and when the consumer stops with that batch
// unfinished, a new consumer of the group gets it again, with everything after it:
// nothing is lost.
func TestInFlightBatchesCommitOnlyTheFinishedPrefix(t *testing.T) {
	s := newStream(t, 1)
	const total, batch, inFlight = 200, 10, 4
	var keys, values []string
	for i := range total {
		keys, values = append(keys, fmt.Sprintf("k%03d", i)), append(values, fmt.Sprintf("m-%03d", i))
	}
	s.produceKeyed(t, keys, values)
	group := testenv.Name(t, "group", "-")

	var mu sync.Mutex
	processed := map[string]int{}
	release := make(chan struct{})
	stuck := false
	first := ingest.HandlerFunc(func(ctx context.Context, msgs []ingest.Message) []error {
		errs := make([]error, len(msgs))
		for _, m := range msgs {
			if string(m.Value) == "m-040" {
				mu.Lock()
				stuck = true
				mu.Unlock()
				// The bulk that does not come back: it ends only with the consumer.
				select {
				case <-release:
				case <-ctx.Done():
				}
				for i := range errs {
					errs[i] = ingest.Unavailable(fmt.Errorf("engine gone: %w", ctx.Err()))
				}
				return errs
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			processed[string(m.Value)]++
		}
		return errs
	})
	stop := runInFlight(t, s, group, first, batch, inFlight)
	beyond := func() int {
		n := 0
		for v := range processed {
			if i, _ := strconv.Atoi(strings.TrimPrefix(v, "m-")); i > 40 {
				n++
			}
		}
		return n
	}
	// Later batches finish while the one holding m-040 is stuck, up to the window.
	testenv.Eventually(t, 120*time.Second, "later batches finish around the stuck one", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return stuck && beyond() > 0, fmt.Sprintf("stuck %v, %d messages after m-040 processed", stuck, beyond())
	})
	testenv.Eventually(t, 60*time.Second, "the messages before the stuck batch are committed", func() (bool, string) {
		c := committed(t, s, group)
		return c >= 30, fmt.Sprintf("committed offset %d", c)
	})
	if c := committed(t, s, group); c > 40 {
		t.Fatalf("committed offset %d passes m-040 (offset 40), which is not handled yet", c)
	}
	mu.Lock()
	if n := beyond(); n > (inFlight-1)*batch {
		t.Errorf("%d messages after m-040 were handled while its batch was stuck; at most %d (InFlight-1 batches of %d)", n, (inFlight-1)*batch, batch)
	}
	mu.Unlock()
	stop()
	if c := committed(t, s, group); c > 40 {
		t.Fatalf("after the stop the committed offset is %d, past the unfinished m-040", c)
	}

	// A new consumer of the group gets the unfinished batch again, and what follows.
	again := map[string]int{}
	second := ingest.HandlerFunc(func(_ context.Context, msgs []ingest.Message) []error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			again[string(m.Value)]++
		}
		return make([]error, len(msgs))
	})
	runInFlight(t, s, group, second, batch, inFlight)
	testenv.Eventually(t, 120*time.Second, "the restarted consumer commits everything", func() (bool, string) {
		c := committed(t, s, group)
		return c == total, fmt.Sprintf("committed offset %d of %d", c, total)
	})
	mu.Lock()
	defer mu.Unlock()
	if again["m-040"] == 0 {
		t.Fatal("m-040 was not delivered again after its batch failed to finish")
	}
	for _, v := range values {
		if processed[v]+again[v] == 0 {
			t.Fatalf("%s was lost", v)
		}
	}
	for v := range again {
		if i, _ := strconv.Atoi(strings.TrimPrefix(v, "m-")); i < 30 {
			t.Errorf("%s was committed before the stop and delivered again", v)
		}
	}
}

// With several batches in flight, one key's messages are still handled in offset
// order: a batch holding a key that an unfinished batch holds waits for it. The
// handler makes a batch that sees a later batch start wait until that one has
// recorded what it handled, so batches that ran side by side would record in
// reverse order (checked: without the wait for keys in flight this test fails).
func TestInFlightBatchesKeepOrderPerKey(t *testing.T) {
	s := newStream(t, 2)
	const total, batch, inFlight = 240, 8, 4
	var keys, values []string
	next := map[string]int{}
	for i := range total {
		k := fmt.Sprintf("k%d", i%12)
		next[k]++
		keys, values = append(keys, k), append(values, fmt.Sprintf("%s/%03d", k, next[k]))
	}
	s.produceKeyed(t, keys, values)

	var mu sync.Mutex
	seen := map[string][]int{}
	count, started, recorded := 0, 0, 0 // recorded: the newest batch (by start) that recorded
	changed := make(chan struct{})
	broadcast := func() { close(changed); changed = make(chan struct{}) }
	h := ingest.HandlerFunc(func(ctx context.Context, msgs []ingest.Message) []error {
		mu.Lock()
		started++
		me := started
		broadcast()
		mu.Unlock()
		alone := time.After(50 * time.Millisecond) // no later batch started by then: go on
		bound := time.After(10 * time.Second)      // never wait longer than this
		for {
			mu.Lock()
			later, done, wake := started > me, recorded > me, changed
			mu.Unlock()
			if done {
				break
			}
			select {
			case <-wake:
				continue
			case <-alone:
				if !later {
					break
				}
				alone = nil
				continue
			case <-bound:
			case <-ctx.Done():
			}
			break
		}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			k, v, _ := strings.Cut(string(m.Value), "/")
			n, _ := strconv.Atoi(v)
			seen[k] = append(seen[k], n)
			count++
		}
		recorded = max(recorded, me)
		broadcast()
		return make([]error, len(msgs))
	})
	runInFlight(t, s, testenv.Name(t, "group", "-"), h, batch, inFlight)
	testenv.Eventually(t, 120*time.Second, "every message handled", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return count >= total, fmt.Sprintf("%d of %d", count, total)
	})
	mu.Lock()
	defer mu.Unlock()
	for k, vs := range seen {
		for i := 1; i < len(vs); i++ {
			if vs[i] <= vs[i-1] {
				t.Fatalf("key %s handled out of order: %v", k, vs)
			}
		}
	}
}
