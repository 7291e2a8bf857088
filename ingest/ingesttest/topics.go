package ingesttest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kommerce/kommerce/internal/testenv"

	kafka "github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/internal/events"
)

// Offsets is what a topic holds: per partition, the first offset still kept and the
// offset the next record will get.
type Offsets struct {
	First, End map[int]int64
}

// Messages is how many records the topic holds over all its partitions.
func (o Offsets) Messages() int64 {
	var n int64
	for p, end := range o.End {
		n += end - o.First[p]
	}
	return n
}

// TopicOffsets lists the first and end offsets of every partition of topic.
func TopicOffsets(ctx context.Context, brokers []string, topic string) (Offsets, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return Offsets{}, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	var reqs []kafka.OffsetRequest
	for _, tp := range meta.Topics {
		if tp.Error != nil {
			return Offsets{}, fmt.Errorf("metadata of %s: %w", topic, tp.Error)
		}
		for _, p := range tp.Partitions {
			reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	if len(reqs) == 0 {
		return Offsets{}, fmt.Errorf("topic %s has no partitions", topic)
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return Offsets{}, fmt.Errorf("offsets of %s: %w", topic, err)
	}
	o := Offsets{First: map[int]int64{}, End: map[int]int64{}}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return Offsets{}, fmt.Errorf("offsets of %s/%d: %w", topic, p.Partition, p.Error)
		}
		o.First[p.Partition], o.End[p.Partition] = p.FirstOffset, p.LastOffset
	}
	return o, nil
}

// TopicMessages counts the records topic holds, failing t when the broker cannot tell
// within a minute. It asks again on an error: a broker that has just restarted answers
// "an unexpected server error" for a partition whose log it is still loading.
func TopicMessages(t testing.TB, brokers []string, topic string) int64 {
	t.Helper()
	var o Offsets
	testenv.Eventually(t, 60*time.Second, "the broker tells the offsets of "+topic, func() (bool, string) {
		var err error
		o, err = TopicOffsets(context.Background(), brokers, topic)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	return o.Messages()
}

// ReadTopic waits until topic holds at least n records and returns every record it
// holds then, partition by partition in offset order (the only order Kafka keeps).
// It returns more than n when more were published, duplicates included, so callers
// can assert on what the topic really holds.
func ReadTopic(t testing.TB, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	var o Offsets
	testenv.Eventually(t, 120*time.Second, "topic holds the records", func() (bool, string) {
		var err error
		o, err = TopicOffsets(context.Background(), brokers, topic)
		if err != nil {
			return false, err.Error()
		}
		return o.Messages() >= int64(n), fmt.Sprintf("topic %s holds %d of %d records", topic, o.Messages(), n)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var out []kafka.Message
	for p, end := range o.End {
		if end <= o.First[p] {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 200 * time.Millisecond})
		if err := r.SetOffset(o.First[p]); err != nil {
			t.Fatalf("seek %s/%d: %v", topic, p, err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				_ = r.Close()
				t.Fatalf("read %s/%d up to offset %d: %d records read: %v", topic, p, end, len(out), err)
			}
			out = append(out, m)
			if m.Offset >= end-1 {
				break
			}
		}
		_ = r.Close()
	}
	return out
}

// EventIDs counts the records of msgs per envelope id (the outbox row's event id),
// so a test can tell every row's event from the duplicates at-least-once
// publishing may add.
func EventIDs(t testing.TB, msgs []kafka.Message) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, m := range msgs {
		var env events.Envelope
		if err := json.Unmarshal(m.Value, &env); err != nil || env.ID == "" {
			t.Fatalf("record %s/%d@%d is no event envelope (%v): %s", m.Topic, m.Partition, m.Offset, err, m.Value)
		}
		ids[env.ID]++
	}
	return ids
}

// SlowLink stands for a broker whose answers to produce requests are late (a
// loaded machine, a long garbage-collection pause) although it has appended the
// records. On connections dialled through Dial that carry produce requests, the next
// n reads (see SlowDown) are delivered Delay late; a read deadline that passes first
// ends the read with a timeout, as it would on a real connection.
type SlowLink struct {
	Delay time.Duration
	slow  atomic.Int64
	// Late counts the reads delivered late or timed out so far.
	Late atomic.Int64
}

// SlowDown makes the next n reads of produce answers late.
func (l *SlowLink) SlowDown(n int) { l.slow.Store(int64(n)) }

// Dial dials addr and wraps the connection; it fits both kafka.Transport.Dial and
// kgo.Dialer.
func (l *SlowLink) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &slowConn{Conn: c, link: l}, nil
}

type slowConn struct {
	net.Conn
	link     *SlowLink
	produce  atomic.Bool // a produce request was written on this connection
	deadline atomic.Value
}

// Write notes produce requests: a request starts with its size (4 bytes) and its
// API key (2 bytes), 0 for Produce.
func (c *slowConn) Write(b []byte) (int, error) {
	if len(b) >= 6 && binary.BigEndian.Uint16(b[4:6]) == 0 {
		c.produce.Store(true)
	}
	return c.Conn.Write(b)
}

func (c *slowConn) SetDeadline(t time.Time) error {
	c.deadline.Store(t)
	return c.Conn.SetDeadline(t)
}

func (c *slowConn) SetReadDeadline(t time.Time) error {
	c.deadline.Store(t)
	return c.Conn.SetReadDeadline(t)
}

// Read returns what the broker sent, late while the link is slow. The wait is the
// injected fault, not a way for a test to pass time.
func (c *slowConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n == 0 || !c.produce.Load() || c.link.slow.Add(-1) < 0 {
		return n, err
	}
	c.link.Late.Add(1)
	wait := c.link.Delay
	dl, _ := c.deadline.Load().(time.Time)
	timedOut := !dl.IsZero() && time.Until(dl) < wait
	if timedOut {
		wait = max(time.Until(dl), 0)
	}
	t := time.NewTimer(wait)
	<-t.C
	if timedOut {
		return 0, os.ErrDeadlineExceeded
	}
	return n, err
}

// WaitLeaders waits until every partition of the topics has a leader, failing t after
// a minute. A topic just created is not writable until then: a write that comes
// first is refused with "Not Leader For Partition", and a producer with few retries
// (the test writers) gives up on a busy machine, where the election takes seconds.
func WaitLeaders(t testing.TB, brokers []string, topics ...string) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	testenv.Eventually(t, 60*time.Second, "a leader for every partition of the new topics", func() (bool, string) {
		meta, err := client.Metadata(context.Background(), &kafka.MetadataRequest{Topics: topics})
		if err != nil {
			return false, err.Error()
		}
		if len(meta.Topics) != len(topics) {
			return false, fmt.Sprintf("metadata lists %d of %d topics", len(meta.Topics), len(topics))
		}
		for _, tp := range meta.Topics {
			if tp.Error != nil {
				return false, fmt.Sprintf("%s: %v", tp.Name, tp.Error)
			}
			if len(tp.Partitions) == 0 {
				return false, tp.Name + ": no partitions yet"
			}
			for _, p := range tp.Partitions {
				if p.Error != nil || p.Leader.Host == "" {
					return false, fmt.Sprintf("%s/%d: no leader yet (%v)", tp.Name, p.ID, p.Error)
				}
			}
		}
		return true, ""
	})
}
