package main

import (
	"math"
	"testing"
)

func TestPoissonTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    float64
		k    int
		want float64
	}{
		{"everything is at least 0", 3, 0, 1},
		{"no arrivals", 0, 1, 0},
		{"P(N>=1) = 1 - e^-m", 2, 1, 1 - math.Exp(-2)},
		{"P(N>=2) for m=1", 1, 2, 1 - 2*math.Exp(-1)},
		{"a far tail stays above zero", 8.8, 50, 1.00269329807768e-21},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := poissonTail(tc.m, tc.k); math.Abs(got-tc.want) > tc.want*1e-6+1e-300 {
				t.Errorf("poissonTail(%g, %d) = %g, want %g", tc.m, tc.k, got, tc.want)
			}
		})
	}
}
