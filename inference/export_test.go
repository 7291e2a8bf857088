package inference

import "time"

// WithAfterFunc replaces the batch timer's time.AfterFunc, so that tests decide when
// a request has waited MaxWait.
func WithAfterFunc(b Batching, f func(d time.Duration, fn func()) (stop func() bool)) Batching {
	b.afterFunc = f
	return b
}
