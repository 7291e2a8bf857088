package inference

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// Batching configures dynamic batching: concurrent requests to the same model version
// whose inputs can be stacked along the first (batch) dimension are merged into one
// runtime call, and the outputs are split back per request. One onnxruntime call has
// a fixed cost (cgo, tensor set-up, thread hand-off) that a merged call pays once.
type Batching struct {
	// MaxRows bounds the rows (first-dimension entries, summed over the merged
	// requests) of one runtime call. A request that alone has more rows runs alone.
	// 0 or 1 turns batching off.
	MaxRows int
	// MaxWait bounds how long a request waits for others to join it. A batch leaves
	// when it is full, when its first request has waited MaxWait, or — with MaxWait 0
	// — as soon as a runtime slot is free; requests that queue while every slot is
	// busy join the next batch either way.
	MaxWait time.Duration
	// Concurrency is how many runtime calls of one model version run at once
	// (0 = GOMAXPROCS).
	Concurrency int

	// afterFunc replaces time.AfterFunc in tests, so that they count what waits
	// instead of timing it.
	afterFunc func(d time.Duration, f func()) (stop func() bool)
}

// enabled reports whether requests are merged at all.
func (b Batching) enabled() bool { return b.MaxRows > 1 }

// batchable reports whether a signature lets requests be stacked: every input and
// every output has a first dimension known only at run time (the batch).
func batchable(sig Signature) bool {
	for _, specs := range [][]TensorSpec{sig.Inputs, sig.Outputs} {
		for _, s := range specs {
			if len(s.Shape) == 0 || s.Shape[0] >= 0 {
				return false
			}
		}
	}
	return true
}

// batcher queues the requests of one model version and runs them in merged calls.
// It owns no goroutine between batches: a batch runs on the goroutine of the request
// that completed it, or on one of its own when it leaves later (a slot freed, the
// wait passed), and the max-wait timer is a time.AfterFunc, so a retired model
// leaves nothing behind.
type batcher struct {
	session Session
	cfg     Batching
	metrics *versionMetrics

	mu      sync.Mutex
	queue   []*call // arrival order
	running int     // runtime calls in flight
	// expired is set when the head of the queue has waited MaxWait: its batch leaves
	// at the next free slot, full or not.
	expired    bool
	timerGen   uint64 // invalidates a timer armed for a previous head
	timerArmed bool
	timerStop  func() bool
}

// call is one request waiting for, or taken into, a runtime call.
type call struct {
	ctx     context.Context
	inputs  []Tensor // in signature order, validated
	rows    int64
	key     string // the inputs' shapes without the batch dimension
	alone   bool   // cannot be stacked (inputs disagree on the batch dimension)
	arrived time.Time
	taken   bool // in a runtime call; only the batcher's mutex guards it
	out     []Tensor
	err     error
	done    chan struct{}
}

func newBatcher(s Session, cfg Batching, m *versionMetrics) *batcher {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = runtime.GOMAXPROCS(0)
	}
	if cfg.afterFunc == nil {
		cfg.afterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	return &batcher{session: s, cfg: cfg, metrics: m}
}

// do queues inputs and returns their outputs once a runtime call has served them. A
// request whose ctx ends while it waits in the queue leaves it and is never run; one
// that is already in a runtime call waits for it (a call cannot be interrupted, and
// its inputs are in use).
func (b *batcher) do(ctx context.Context, inputs []Tensor) ([]Tensor, error) {
	c := &call{ctx: ctx, inputs: inputs, arrived: time.Now(), done: make(chan struct{})}
	c.rows, c.key, c.alone = shapeKey(inputs)
	b.mu.Lock()
	b.queue = append(b.queue, c)
	mine := b.dispatch(c)
	b.mu.Unlock()
	if mine != nil {
		// The batch that holds this request leaves now: run it on this goroutine
		// rather than hand it to another (at low load, that is every request).
		b.execute(mine)
		return c.out, c.err
	}
	select {
	case <-c.done:
		return c.out, c.err
	case <-ctx.Done():
	}
	b.mu.Lock()
	if !c.taken {
		b.remove(c)
		b.dispatch(nil)
		b.mu.Unlock()
		return nil, &Error{Code: CodeUnavailable, Message: "request cancelled", Err: ctx.Err()}
	}
	b.mu.Unlock()
	<-c.done
	return c.out, c.err
}

// shapeKey returns the rows of a request and the key two requests must share to be
// stacked: every input's shape after the first dimension.
func shapeKey(inputs []Tensor) (rows int64, key string, alone bool) {
	rows = inputs[0].Shape[0]
	b := make([]byte, 0, 32)
	for _, t := range inputs {
		if t.Shape[0] != rows {
			return rows, "", true
		}
		for _, d := range t.Shape[1:] {
			b = strconv.AppendInt(b, d, 10)
			b = append(b, ',')
		}
		b = append(b, ';')
	}
	return rows, string(b), false
}

// dispatch starts every batch that may leave now, each on a goroutine of its own
// except the one holding own, which it returns for the caller to run. The caller
// holds b.mu.
func (b *batcher) dispatch(own *call) (mine []*call) {
	for b.running < b.cfg.Concurrency && len(b.queue) > 0 {
		batch, full := b.plan()
		if !full && !b.expired && b.cfg.MaxWait > 0 {
			if time.Since(b.queue[0].arrived) < b.cfg.MaxWait {
				break
			}
			b.expired = true
		}
		b.take(batch)
		b.running++
		if own != nil && own.taken && mine == nil {
			mine = batch
			continue
		}
		go b.execute(batch)
	}
	if len(b.queue) > 0 && !b.expired && !b.timerArmed && b.cfg.MaxWait > 0 {
		b.arm()
	}
	return mine
}

// plan picks the head of the queue and, in arrival order, every later request that
// can be stacked with it and still fits in MaxRows. full reports that the batch can
// grow no more.
func (b *batcher) plan() (batch []*call, full bool) {
	head := b.queue[0]
	batch = []*call{head}
	rows := head.rows
	if head.alone || rows >= int64(b.cfg.MaxRows) {
		return batch, true
	}
	for _, c := range b.queue[1:] {
		if c.alone || c.key != head.key {
			continue
		}
		if rows+c.rows > int64(b.cfg.MaxRows) {
			return batch, true
		}
		batch = append(batch, c)
		rows += c.rows
		if rows == int64(b.cfg.MaxRows) {
			return batch, true
		}
	}
	return batch, false
}

// take removes batch from the queue, which gets a new head.
func (b *batcher) take(batch []*call) {
	for _, c := range batch {
		c.taken = true
	}
	rest := b.queue[:0]
	for _, c := range b.queue {
		if !c.taken {
			rest = append(rest, c)
		}
	}
	clear(b.queue[len(rest):])
	b.queue = rest
	b.newHead()
}

// remove drops a cancelled request from the queue.
func (b *batcher) remove(c *call) {
	for i, q := range b.queue {
		if q == c {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			if i == 0 {
				b.newHead()
			}
			return
		}
	}
}

// newHead forgets the previous head's wait: the timer and the expired mark were
// its own.
func (b *batcher) newHead() {
	if b.timerArmed {
		b.timerStop()
	}
	b.timerGen++
	b.timerArmed, b.expired = false, false
}

// arm starts the timer that marks the head expired after it has waited MaxWait.
func (b *batcher) arm() {
	gen := b.timerGen
	d := b.cfg.MaxWait - time.Since(b.queue[0].arrived)
	b.timerArmed = true
	b.timerStop = b.cfg.afterFunc(d, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if gen != b.timerGen {
			return
		}
		b.timerArmed, b.expired = false, true
		b.dispatch(nil)
	})
}

// execute serves one batch, then lets the next one leave.
func (b *batcher) execute(batch []*call) {
	start := time.Now()
	for _, c := range batch {
		b.metrics.queueWait(start.Sub(c.arrived).Seconds())
	}
	b.serve(batch)
	for _, c := range batch {
		close(c.done)
	}
	b.mu.Lock()
	b.running--
	b.dispatch(nil)
	b.mu.Unlock()
}

// serve runs a batch as one call and splits the outputs. If the merged call fails,
// or its outputs do not have one row per input row, each request runs alone, so that
// one request's bad values fail that request only.
func (b *batcher) serve(batch []*call) {
	if len(batch) == 1 {
		c := batch[0]
		c.out, c.err = b.run(c.ctx, c.inputs, c.rows, 1)
		return
	}
	var rows int64
	for _, c := range batch {
		rows += c.rows
	}
	out, err := b.run(context.WithoutCancel(batch[0].ctx), stack(batch, rows), rows, len(batch))
	if err == nil && splits(out, rows) {
		var at int64
		for _, c := range batch {
			c.out = slice(out, rows, at, c.rows)
			at += c.rows
		}
		return
	}
	for _, c := range batch {
		c.out, c.err = b.run(c.ctx, c.inputs, c.rows, 1)
	}
}

func (b *batcher) run(ctx context.Context, inputs []Tensor, rows int64, requests int) ([]Tensor, error) {
	b.metrics.batch(rows, requests)
	return b.session.Run(ctx, inputs)
}

// stack concatenates the batch's inputs along the first dimension.
func stack(batch []*call, rows int64) []Tensor {
	first := batch[0].inputs
	merged := make([]Tensor, len(first))
	for i, t := range first {
		shape := append([]int64{rows}, t.Shape[1:]...)
		m := Tensor{Name: t.Name, DataType: t.DataType, Shape: shape}
		n := 0
		for _, c := range batch {
			n += c.inputs[i].Len()
		}
		if t.DataType == INT64 {
			m.Int64 = make([]int64, 0, n)
			for _, c := range batch {
				m.Int64 = append(m.Int64, c.inputs[i].Int64...)
			}
		} else {
			m.Float32 = make([]float32, 0, n)
			for _, c := range batch {
				m.Float32 = append(m.Float32, c.inputs[i].Float32...)
			}
		}
		merged[i] = m
	}
	return merged
}

// splits reports whether every output has one row per input row.
func splits(out []Tensor, rows int64) bool {
	for i := range out {
		if len(out[i].Shape) == 0 || out[i].Shape[0] != rows || int64(out[i].Len())%rows != 0 {
			return false
		}
	}
	return true
}

// slice returns rows [at, at+n) of every output, sharing the merged data.
func slice(out []Tensor, rows, at, n int64) []Tensor {
	res := make([]Tensor, len(out))
	for i, t := range out {
		per := int64(t.Len()) / rows
		s := Tensor{Name: t.Name, DataType: t.DataType, Shape: append([]int64{n}, t.Shape[1:]...)}
		lo, hi := at*per, (at+n)*per
		if t.DataType == INT64 {
			s.Int64 = t.Int64[lo:hi:hi]
		} else {
			s.Float32 = t.Float32[lo:hi:hi]
		}
		res[i] = s
	}
	return res
}
