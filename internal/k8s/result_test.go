package k8s

import (
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestResult(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "tenants"}, "acme", errors.New("the object has been modified"))
	notFound := apierrors.NewNotFound(schema.GroupResource{Resource: "tenants"}, "acme")
	other := errors.New("database unreachable")
	tests := []struct {
		name        string
		err         error
		wantRequeue bool
		wantErr     error
	}{
		{"success", nil, false, nil},
		{"conflict", conflict, true, nil},
		{"wrapped conflict", fmt.Errorf("write status: %w", conflict), true, nil},
		{"two conflicts joined", errors.Join(conflict, fmt.Errorf("patch: %w", conflict)), true, nil},
		{"another API error", notFound, false, notFound},
		{"plain error", other, false, other},
		{"a failure joined with a conflict is not lost", errors.Join(other, conflict), false, other},
		{"wrapped join", fmt.Errorf("pass: %w", errors.Join(conflict, other)), false, other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Result(tt.err)
			if got := res.RequeueAfter == ConflictRetry; got != tt.wantRequeue {
				t.Errorf("requeue after %v, want a requeue: %v", res.RequeueAfter, tt.wantRequeue)
			}
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
