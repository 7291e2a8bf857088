package kafka

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kommerce/kommerce/ingest"
)

// IdempotentProducer publishes with franz-go's idempotent producer; the outbox relay
// uses it. kafka-go's writer (NewWriter) re-sends a produce request whose answer is
// late (its write timeout passed although the broker had appended the records), and
// the broker appends the records a second time; measured by the relay's
// slow-answer test, one late answer re-published a whole partition's share of a
// batch. The idempotent producer numbers its records per partition, so the broker
// recognises a re-sent batch and keeps one copy: a late answer costs time, not a
// duplicate. What stays at least once is a batch the relay itself publishes again
// after an error or a crash between publishing and committing.
type IdempotentProducer struct {
	cl *kgo.Client
}

// NewIdempotentProducer returns a producer for brokers with the settings of
// NewWriter where they apply: acknowledged by all in-sync replicas, a small linger,
// the same key-to-partition hash (so an entity's events stay on the partition
// earlier ones went to), no topic auto-creation. Records are retried without a limit
// while the broker is away, as kafka-go's writer gave up after four attempts and the
// relay then published the whole batch again. opts are appended (tests use them to
// inject faults).
func NewIdempotentProducer(brokers []string, opts ...kgo.Opt) (*IdempotentProducer, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.ProducerBatchMaxBytes(1_000_000),
		kgo.RecordPartitioner(hashPartitioner()),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return &IdempotentProducer{cl: cl}, nil
}

// Publish implements ingest.Publisher. While the broker is away, records are
// retried until it is back, so Publish blocks through an outage. When ctx ends first,
// Publish returns ctx's error at once: records already on their way may still be
// appended (the producer cannot take back a request it sent), which is the
// at-least-once case the relay's callers already handle.
func (p *IdempotentProducer) Publish(ctx context.Context, msgs []ingest.OutboundMessage) error {
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = &kgo.Record{Topic: m.Topic, Key: m.Key, Value: m.Value}
		for k, v := range m.Headers {
			recs[i].Headers = append(recs[i].Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
	}
	done := make(chan kgo.ProduceResults, 1)
	go func() { done <- p.cl.ProduceSync(ctx, recs...) }()
	var results kgo.ProduceResults
	select {
	case results = <-done:
	case <-ctx.Done():
		return fmt.Errorf("publish %d records: %w", len(recs), context.Cause(ctx))
	}
	var errs []error
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
			if len(errs) < 3 {
				errs = append(errs, fmt.Errorf("%s/%d: %w", r.Record.Topic, r.Record.Partition, r.Err))
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d records not acknowledged: %w", failed, len(recs), errors.Join(errs...))
	}
	return nil
}

// Close fails what is still buffered (only records of a Publish that returned early
// because its ctx ended) and closes the connections.
func (p *IdempotentProducer) Close() { p.cl.Close() }

// hashPartitioner places a keyed record exactly as kafka-go's Hash balancer (the
// one NewWriter uses) does, so producers on either client agree on an entity's
// partition.
func hashPartitioner() kgo.Partitioner {
	return kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
		return func(r *kgo.Record, n int) int { return keyPartition(r.Key, n) }
	})
}

// keyPartition is the partition of key among n as kafka-go's Hash balancer
// chooses it: FNV-1a, read as a signed 32-bit number, modulo n, made positive.
func keyPartition(key []byte, n int) int {
	h := fnv.New32a()
	_, _ = h.Write(key)
	p := int32(h.Sum32()) % int32(n) //nolint:gosec // the conversions are the algorithm
	if p < 0 {
		p = -p
	}
	return int(p)
}
