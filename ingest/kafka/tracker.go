package kafka

import kafka "github.com/segmentio/kafka-go"

// tracker decides what may be committed: per partition, the messages fetched so far
// in offset order, and which of them are done. Only the longest done prefix is ever
// committed, so a message that is still being retried (or was lost with a crash)
// holds back every later offset of its partition and is delivered again.
type tracker struct {
	parts map[partitionKey]*partitionState
}

type partitionKey struct {
	topic     string
	partition int
}

type partitionState struct {
	msgs []kafka.Message // fetched, not yet committed, in offset order
	done []bool
}

func newTracker() *tracker { return &tracker{parts: map[partitionKey]*partitionState{}} }

// fetched records a message handed out by the reader.
func (t *tracker) fetched(m kafka.Message) {
	k := partitionKey{m.Topic, m.Partition}
	p := t.parts[k]
	if p == nil {
		p = &partitionState{}
		t.parts[k] = p
	}
	p.msgs = append(p.msgs, m)
	p.done = append(p.done, false)
}

// markDone records that a message's effect is complete.
func (t *tracker) markDone(m kafka.Message) {
	p := t.parts[partitionKey{m.Topic, m.Partition}]
	if p == nil {
		return
	}
	for i := range p.msgs {
		if p.msgs[i].Offset == m.Offset {
			p.done[i] = true
			return
		}
	}
}

// committable returns, per partition, the last message of the done prefix and
// forgets that prefix. Committing a message commits its offset + 1.
func (t *tracker) committable() []kafka.Message {
	var out []kafka.Message
	for k, p := range t.parts {
		n := 0
		for n < len(p.done) && p.done[n] {
			n++
		}
		if n == 0 {
			continue
		}
		out = append(out, p.msgs[n-1])
		p.msgs, p.done = p.msgs[n:], p.done[n:]
		if len(p.msgs) == 0 {
			delete(t.parts, k)
		}
	}
	return out
}

// pending reports how many fetched messages are not committed yet.
func (t *tracker) pending() int {
	n := 0
	for _, p := range t.parts {
		n += len(p.msgs)
	}
	return n
}
