package apiserver_test

import (
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
)

func TestLoginPolicyDelayAfter(t *testing.T) {
	p := apiserver.DefaultLoginPolicy
	for _, tc := range []struct {
		name string
		p    apiserver.LoginPolicy
		n    int
		want time.Duration
	}{
		{"first attempt", p, 1, 0},
		{"last free attempt", p, 4, 0},
		{"attempt reaching free", p, 5, time.Second},
		{"doubles", p, 6, 2 * time.Second},
		{"before the cap", p, 14, 512 * time.Second},
		{"at the cap", p, 15, 15 * time.Minute},
		{"far past the cap", p, 1 << 30, 15 * time.Minute},
		{"zero delay is off", apiserver.LoginPolicy{Free: 1, Max: time.Hour}, 50, 0},
		{"cap below delay", apiserver.LoginPolicy{Free: 1, Delay: time.Minute, Max: time.Second}, 1, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.DelayAfter(tc.n); got != tc.want {
				t.Fatalf("DelayAfter(%d) = %s, want %s", tc.n, got, tc.want)
			}
		})
	}
}
