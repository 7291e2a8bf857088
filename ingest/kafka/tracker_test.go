package kafka

import (
	"testing"

	kafka "github.com/segmentio/kafka-go"
)

func TestTrackerCommitsOnlyContiguousPrefix(t *testing.T) {
	msg := func(p int, o int64) kafka.Message { return kafka.Message{Topic: "t", Partition: p, Offset: o} }
	tr := newTracker()
	for _, m := range []kafka.Message{msg(0, 10), msg(0, 11), msg(0, 13), msg(1, 5), msg(1, 6)} {
		tr.fetched(m)
	}
	tr.markDone(msg(0, 11)) // 10 still open: nothing of partition 0 may be committed
	tr.markDone(msg(1, 5))
	got := tr.committable()
	if len(got) != 1 || got[0].Partition != 1 || got[0].Offset != 5 {
		t.Fatalf("committable = %v; want only partition 1 offset 5", got)
	}
	tr.markDone(msg(0, 10))
	tr.markDone(msg(0, 13)) // a gap in offsets (compaction) is fine: it was never fetched
	got = tr.committable()
	if len(got) != 1 || got[0].Offset != 13 {
		t.Fatalf("committable = %v; want partition 0 offset 13", got)
	}
	if tr.pending() != 1 {
		t.Fatalf("pending %d; want 1 (partition 1 offset 6)", tr.pending())
	}
	if len(tr.committable()) != 0 {
		t.Fatal("nothing new is done")
	}
}
