package apiserver

import (
	"testing"
	"time"
)

func TestRateLimitInterval(t *testing.T) {
	tests := []struct {
		name string
		l    RateLimit
		want time.Duration
	}{
		{"20 per second", RateLimit{Rate: 20}, 50 * time.Millisecond},
		{"5 per hour", RateLimit{Rate: 5, Period: time.Hour}, 12 * time.Minute},
		{"zero rate counts as one", RateLimit{}, time.Second},
		// Limiters divide by the interval: a huge rate must not make it zero.
		{"more than 10^9 per second", RateLimit{Rate: 1 << 30}, time.Nanosecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.l.Interval(); got != tt.want {
				t.Fatalf("Interval() = %v, want %v", got, tt.want)
			}
		})
	}
}
