package inference_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/features"
	"github.com/kommerce/kommerce/inference/internal/modeltest"
	"github.com/kommerce/kommerce/inference/ort/orttest"
	"github.com/kommerce/kommerce/internal/testenv"
)

// poison is an item index the counting runtime refuses, standing for a value a
// runtime rejects on valid-looking input.
const poison = 7

// countingRuntime loads models with onnxruntime and records every runtime call the
// registry makes: its rows and the shape of its first input.
type countingRuntime struct {
	inference.Runtime
	mu    sync.Mutex
	calls [][]int64 // shape of the first input of each call, in order
}

func (r *countingRuntime) Load(ctx context.Context, model []byte) (inference.Session, error) {
	s, err := r.Runtime.Load(ctx, model)
	if err != nil {
		return nil, err
	}
	return &countingSession{Session: s, rt: r}, nil
}

func (r *countingRuntime) shapes() [][]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *countingRuntime) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

func (r *countingRuntime) rows() []int64 {
	var rows []int64
	for _, s := range r.shapes() {
		rows = append(rows, s[0])
	}
	return rows
}

type countingSession struct {
	inference.Session
	rt *countingRuntime
}

func (s *countingSession) Run(ctx context.Context, in []inference.Tensor) ([]inference.Tensor, error) {
	s.rt.mu.Lock()
	s.rt.calls = append(s.rt.calls, slices.Clone(in[0].Shape))
	s.rt.mu.Unlock()
	if slices.Contains(in[0].Int64, poison) {
		return nil, inference.Errorf(inference.CodeInvalid, "item %d is refused", poison)
	}
	return s.Session.Run(ctx, in)
}

// fakeTimer is the batch timer under the test's control: it records each wait the
// batcher arms, and fires only when told.
type fakeTimer struct {
	mu    sync.Mutex
	armed []time.Duration
	fns   []func()
	fired int
}

func (f *fakeTimer) after(d time.Duration, fn func()) func() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = append(f.armed, d)
	f.fns = append(f.fns, fn)
	return func() bool { return true }
}

// fire runs the most recently armed timer.
func (f *fakeTimer) fire() {
	f.mu.Lock()
	fn := f.fns[len(f.fns)-1]
	f.fired++
	f.mu.Unlock()
	fn()
}

// await returns ch's result. While it waits it fires the most recently armed timer
// now and then, as the real timer would once the wait passed: the batcher arms the
// timer of a new head on its own goroutine, possibly after the test fired the
// previous head's (which it then ignores), so one fire is not enough. Fails after
// 30 s instead of hanging.
func (f *batchFixture) await(t *testing.T, ch <-chan result) result {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case r := <-ch:
			return r
		case <-tick.C:
			if f.timer.count() > 0 {
				f.timer.fire()
			}
		case <-deadline:
			t.Fatalf("no answer after 30 s; runtime calls %v, %d timers armed", f.rt.rows(), f.timer.count())
		}
	}
}

func (f *fakeTimer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.armed)
}

type batchFixture struct {
	rt    *countingRuntime
	reg   *inference.Registry
	timer *fakeTimer
}

// newBatchFixture serves the small recommendation model (input "items" [batch,
// context]) with batching; the max wait only passes when the test fires the timer.
func newBatchFixture(t *testing.T, b inference.Batching) *batchFixture {
	t.Helper()
	recs, _ := modeltest.Train(t, "1")
	f := &batchFixture{rt: &countingRuntime{Runtime: orttest.Runtime(t)}, timer: &fakeTimer{}}
	f.reg = inference.NewRegistry(inference.Options{
		Runtimes: map[string]inference.Runtime{"onnxruntime": f.rt}, DefaultRuntime: "onnxruntime",
		Limits:   inference.Limits{MaxBatch: 64},
		Batching: inference.WithAfterFunc(b, f.timer.after),
	})
	if err := f.reg.Apply(context.Background(), inference.Config{Models: []inference.ModelConfig{
		{Name: "recs", Version: "1", URI: recs.ONNX, SHA256: recs.SHA256},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.reg.Close)
	return f
}

// items is a request of rows rows of width context indices, starting at first.
func items(rows, width int, first int64) []inference.Tensor {
	v := make([]int64, rows*width)
	for i := range v {
		v[i] = (first + int64(i)) % 100
		if v[i] == poison {
			v[i] = poison + 1
		}
	}
	return []inference.Tensor{{Name: features.RecsInput, DataType: inference.INT64, Shape: []int64{int64(rows), int64(width)}, Int64: v}}
}

type result struct {
	out []inference.Tensor
	err error
}

func (f *batchFixture) infer(ctx context.Context, in []inference.Tensor) <-chan result {
	ch := make(chan result, 1)
	go func() {
		out, _, err := f.reg.Infer(ctx, "recs", "", in)
		ch <- result{out, err}
	}()
	return ch
}

func TestBatchMaxRows(t *testing.T) {
	f := newBatchFixture(t, inference.Batching{MaxRows: 4, MaxWait: time.Hour, Concurrency: 1})
	// Ten one-row requests: only full batches leave while the wait has not passed.
	var chans []<-chan result
	for i := range 10 {
		chans = append(chans, f.infer(context.Background(), items(1, 5, int64(i))))
	}
	testenv.Eventually(t, 30*time.Second, "two full batches run", func() (bool, string) {
		return len(f.rt.rows()) == 2, fmt.Sprint(f.rt.rows())
	})
	if got := f.rt.rows(); !slices.Equal(got, []int64{4, 4}) {
		t.Fatalf("runtime calls before the wait passed have rows %v, want [4 4]", got)
	}
	testenv.Eventually(t, 30*time.Second, "the last two wait for the timer", func() (bool, string) {
		return f.timer.count() > 0, "no timer armed"
	})
	f.timer.fire()
	for i, ch := range chans {
		r := f.await(t, ch)
		if r.err != nil {
			t.Fatalf("request %d: %v", i, r.err)
		}
		if r.out[0].Shape[0] != 1 || len(r.out[1].Int64) != int(r.out[1].Shape[1]) {
			t.Fatalf("request %d got outputs of shape %v, want one row", i, r.out[0].Shape)
		}
	}
	if got := f.rt.rows(); !slices.Equal(got, []int64{4, 4, 2}) {
		t.Fatalf("runtime calls have rows %v, want [4 4 2]", got)
	}
}

// A request's own batch counts its rows: 3 + 1 fill a batch of 4; 3 + 2 do not fit
// together, so one leaves at once (it can grow no more) and the other waits.
func TestBatchCountsRequestRows(t *testing.T) {
	f := newBatchFixture(t, inference.Batching{MaxRows: 4, MaxWait: time.Hour, Concurrency: 1})
	a, b := f.infer(context.Background(), items(3, 5, 0)), f.infer(context.Background(), items(1, 5, 50))
	for _, ch := range []<-chan result{a, b} {
		if r := <-ch; r.err != nil {
			t.Fatal(r.err)
		}
	}
	if got := f.rt.rows(); !slices.Equal(got, []int64{4}) {
		t.Fatalf("3 + 1 rows ran as %v, want one call of 4", got)
	}

	f.rt.reset()
	a, b = f.infer(context.Background(), items(3, 5, 0)), f.infer(context.Background(), items(2, 5, 50))
	testenv.Eventually(t, 30*time.Second, "one request runs without waiting", func() (bool, string) {
		return len(f.rt.rows()) == 1, fmt.Sprint(f.rt.rows())
	})
	f.timer.fire()
	for _, ch := range []<-chan result{a, b} {
		if r := f.await(t, ch); r.err != nil {
			t.Fatal(r.err)
		}
	}
	got := f.rt.rows()
	slices.Sort(got)
	if !slices.Equal(got, []int64{2, 3}) {
		t.Fatalf("3 + 2 rows ran as %v, want calls of 2 and 3", got)
	}

	// A request larger than MaxRows runs alone, at once.
	f.rt.reset()
	if r := <-f.infer(context.Background(), items(6, 5, 0)); r.err != nil || r.out[0].Shape[0] != 6 {
		t.Fatalf("6 rows: %v, %v", r.err, r.out)
	}
	if got := f.rt.rows(); !slices.Equal(got, []int64{6}) {
		t.Fatalf("6 rows ran as %v, want one call of 6", got)
	}
}

func TestBatchMaxWait(t *testing.T) {
	const wait = time.Minute // long enough that only the test's timer ends it
	f := newBatchFixture(t, inference.Batching{MaxRows: 64, MaxWait: wait, Concurrency: 1})
	ch := f.infer(context.Background(), items(1, 5, 0))
	testenv.Eventually(t, 30*time.Second, "the lone request arms the wait", func() (bool, string) {
		return f.timer.count() == 1, "no timer armed"
	})
	if d := f.timer.armed[0]; d <= 0 || d > wait {
		t.Fatalf("the wait armed is %v, want (0, %v]", d, wait)
	}
	if n := len(f.rt.rows()); n != 0 {
		t.Fatalf("%d runtime calls before the wait passed, want 0", n)
	}
	f.timer.fire()
	if r := f.await(t, ch); r.err != nil {
		t.Fatal(r.err)
	}
	if got := f.rt.rows(); !slices.Equal(got, []int64{1}) {
		t.Fatalf("runtime calls %v, want one of 1 row", got)
	}

	// MaxWait 0: a request leaves as soon as a slot is free, no timer.
	g := newBatchFixture(t, inference.Batching{MaxRows: 64, Concurrency: 1})
	if r := <-g.infer(context.Background(), items(1, 5, 0)); r.err != nil {
		t.Fatal(r.err)
	}
	if g.timer.count() != 0 {
		t.Fatalf("with MaxWait 0 a timer was armed")
	}
}

// Requests whose inputs differ beyond the batch dimension run apart.
func TestBatchDifferentShapesRunApart(t *testing.T) {
	f := newBatchFixture(t, inference.Batching{MaxRows: 64, MaxWait: time.Hour, Concurrency: 1})
	a, b := f.infer(context.Background(), items(1, 5, 0)), f.infer(context.Background(), items(2, 3, 0))
	for n := 1; n <= 2; n++ {
		// Each wait that passes lets the head run; the other request, which could
		// not join it, becomes the head and waits in turn.
		testenv.Eventually(t, 30*time.Second, "a wait is armed", func() (bool, string) {
			return f.timer.count() >= n, fmt.Sprint(f.timer.count())
		})
		f.timer.fire()
		testenv.Eventually(t, 30*time.Second, "a batch runs", func() (bool, string) {
			return len(f.rt.shapes()) >= n, fmt.Sprint(f.rt.shapes())
		})
	}
	for _, ch := range []<-chan result{a, b} {
		if r := <-ch; r.err != nil {
			t.Fatal(r.err)
		}
	}
	got := f.rt.shapes()
	slices.SortFunc(got, func(x, y []int64) int { return int(x[1] - y[1]) })
	if fmt.Sprint(got) != "[[2 3] [1 5]]" {
		t.Fatalf("runtime calls had shapes %v, want [2 3] and [1 5] apart", got)
	}
}

func TestBatchCancelledRequestLeavesQueue(t *testing.T) {
	f := newBatchFixture(t, inference.Batching{MaxRows: 4, MaxWait: time.Hour, Concurrency: 1})
	ctx, cancel := context.WithCancel(context.Background())
	ch := f.infer(ctx, items(3, 5, 0))
	testenv.Eventually(t, 30*time.Second, "the request waits", func() (bool, string) {
		return f.timer.count() == 1, "not queued"
	})
	cancel()
	r := <-ch
	if inference.ErrorCode(r.err) != inference.CodeUnavailable || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled request: %v, want unavailable wrapping context.Canceled", r.err)
	}
	// The queue is empty again: two rows would have filled a batch with the 3 rows
	// left in it; they wait instead, and run alone.
	ch = f.infer(context.Background(), items(2, 5, 0))
	testenv.Eventually(t, 30*time.Second, "the next request waits", func() (bool, string) {
		return f.timer.count() == 2, fmt.Sprint(f.timer.count())
	})
	f.timer.fire()
	if r := f.await(t, ch); r.err != nil {
		t.Fatal(r.err)
	}
	if got := f.rt.rows(); !slices.Equal(got, []int64{2}) {
		t.Fatalf("runtime calls %v, want one of 2 rows (the cancelled request never runs)", got)
	}
}

// A merged call that fails is retried request by request: only the request with the
// refused value fails, the others get their own outputs.
func TestBatchErrorsStayPerRequest(t *testing.T) {
	f := newBatchFixture(t, inference.Batching{MaxRows: 3, MaxWait: time.Hour, Concurrency: 1})
	bad := items(1, 5, 0)
	bad[0].Int64[2] = poison
	good1, good2 := items(1, 5, 20), items(1, 5, 40)
	chs := []<-chan result{f.infer(context.Background(), good1), f.infer(context.Background(), bad), f.infer(context.Background(), good2)}
	var res []result
	for _, ch := range chs {
		res = append(res, <-ch)
	}
	if res[1].err == nil || inference.ErrorCode(res[1].err) != inference.CodeInvalid {
		t.Fatalf("poisoned request: %v, want its own invalid error", res[1].err)
	}
	for _, i := range []int{0, 2} {
		if res[i].err != nil {
			t.Fatalf("request %d failed with its batch mate's error: %v", i, res[i].err)
		}
	}
	if got := f.rt.rows(); !slices.Equal(got, []int64{3, 1, 1, 1}) {
		t.Fatalf("runtime calls %v, want the merged call of 3 then each request alone", got)
	}
	// The retried outputs are those of an unbatched run.
	plain := newBatchFixture(t, inference.Batching{})
	want, _, err := plain.reg.Infer(context.Background(), "recs", "", good1)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(want) != fmt.Sprint(res[0].out) {
		t.Fatalf("batched outputs %v, unbatched %v", res[0].out, want)
	}
}
