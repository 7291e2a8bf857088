package training

import (
	"errors"
	"math"
)

// solveSPD solves A x = b for a symmetric positive definite n×n matrix A (row-major)
// by Cholesky decomposition. A and b are overwritten.
func solveSPD(a, b []float64, n int) ([]float64, error) {
	for j := range n {
		s := a[j*n+j]
		for k := range j {
			s -= a[j*n+k] * a[j*n+k]
		}
		if s <= 0 {
			return nil, errors.New("matrix is not positive definite")
		}
		d := math.Sqrt(s)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := range j {
				s -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = s / d
		}
	}
	// Forward then back substitution with L and Lᵀ.
	for i := range n {
		s := b[i]
		for k := range i {
			s -= a[i*n+k] * b[k]
		}
		b[i] = s / a[i*n+i]
	}
	for i := n - 1; i >= 0; i-- {
		s := b[i]
		for k := i + 1; k < n; k++ {
			s -= a[k*n+i] * b[k]
		}
		b[i] = s / a[i*n+i]
	}
	return b, nil
}

// gram returns XᵀX of the rows×d matrix x.
func gram(x []float64, rows, d int) []float64 {
	g := make([]float64, d*d)
	for r := range rows {
		row := x[r*d : (r+1)*d]
		for i, xi := range row {
			if xi == 0 {
				continue
			}
			gi := g[i*d : (i+1)*d]
			for j, xj := range row {
				gi[j] += xi * xj
			}
		}
	}
	return g
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, x := range a {
		s += x * b[i]
	}
	return s
}
