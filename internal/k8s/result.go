package k8s

import (
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// ConflictRetry is how soon a reconcile that lost an optimistic-lock race runs
// again. Short, because the next pass reads the winner's version and usually
// succeeds; the error is not returned, so the loss neither backs off nor reads as
// a failure in the logs and metrics.
const ConflictRetry = 200 * time.Millisecond

// Result is the reconcile result for err, the error of a pass: nothing for nil, a
// requeue after ConflictRetry when every error in it is a conflict (another writer
// won), and err itself otherwise, which controller-runtime logs and retries with
// backoff. Errors may be wrapped and joined (errors.Join): a real failure joined
// with a conflict is still returned, so it is not lost.
func Result(err error) (reconcile.Result, error) {
	switch {
	case err == nil:
		return reconcile.Result{}, nil
	case onlyConflicts(err):
		return reconcile.Result{RequeueAfter: ConflictRetry}, nil
	default:
		return reconcile.Result{}, err
	}
}

// onlyConflicts reports whether err is, or wraps or joins nothing but, API
// conflicts.
func onlyConflicts(err error) bool {
	switch e := err.(type) {
	case apierrors.APIStatus:
		return e.Status().Reason == metav1.StatusReasonConflict
	case interface{ Unwrap() []error }:
		errs := e.Unwrap()
		for _, x := range errs {
			if !onlyConflicts(x) {
				return false
			}
		}
		return len(errs) > 0
	case interface{ Unwrap() error }:
		inner := e.Unwrap()
		return inner != nil && onlyConflicts(inner)
	}
	return false
}
