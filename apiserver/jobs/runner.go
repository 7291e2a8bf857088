package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/objectstore"
)

// Runner defaults.
const (
	DefaultLease       = 30 * time.Second
	DefaultPoll        = 2 * time.Second
	DefaultBatchSize   = 500
	DefaultMaxAttempts = 5
	exportPage         = 1000
)

// Runner works through the unfinished jobs of every tenant, one at a time. Several
// runners (replicas) share the queue: a job is claimed with a lease that each batch
// extends; a runner that stops without finishing leaves the lease to run out, and
// the job is then claimed again and resumed from its checkpoint.
type Runner struct {
	DB    *postgres.DB
	Store objectstore.Store
	// Owner names this runner in leases (default host name, process id and a random
	// suffix).
	Owner       string
	Lease       time.Duration // default DefaultLease
	Poll        time.Duration // default DefaultPoll
	BatchSize   int           // default DefaultBatchSize
	MaxAttempts int           // default DefaultMaxAttempts
	// TempDir spools export files (default os.TempDir()).
	TempDir string
	Logger  *slog.Logger
	// AfterBatch, when set, is called after each committed import batch with the
	// job's checkpoint; tests stop a runner there to play a crash.
	AfterBatch func(jobID string, checkpoint int64)
	// Refresh, when set, is told after each import batch which products it updated
	// (none: only created ones), so the catalog cache shows them at once.
	Refresh func(ctx context.Context, productIDs ...string)

	wake chan struct{}
}

// errLeaseLost: another runner holds the job now; this one stops working on it.
var errLeaseLost = errors.New("job lease lost")

// Defaults fills the settings left zero. Run does it too, but a runner shared with
// other goroutines (which read Owner) must be filled before Run starts.
func (r *Runner) Defaults() { r.defaults() }

func (r *Runner) defaults() {
	if r.Owner == "" {
		h, _ := os.Hostname()
		r.Owner = fmt.Sprintf("%s-%d-%s", h, os.Getpid(), newID()[:8])
	}
	if r.Lease <= 0 {
		r.Lease = DefaultLease
	}
	if r.Poll <= 0 {
		r.Poll = DefaultPoll
	}
	if r.BatchSize <= 0 {
		r.BatchSize = DefaultBatchSize
	}
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = DefaultMaxAttempts
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.wake == nil {
		r.wake = make(chan struct{}, 1)
	}
}

// Wake makes a sleeping Run look for work now; it never blocks. Safe before Run.
func (r *Runner) Wake() {
	if r.wake == nil {
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// NewRunner returns a runner whose Wake works before Run starts.
func NewRunner(db *postgres.DB, store objectstore.Store) *Runner {
	return &Runner{DB: db, Store: store, wake: make(chan struct{}, 1)}
}

// Run claims and runs jobs until ctx ends. Failures are logged, recorded on the job
// and retried; Run itself only returns when ctx ends.
func (r *Runner) Run(ctx context.Context) {
	r.defaults()
	t := time.NewTicker(r.Poll)
	defer t.Stop()
	for ctx.Err() == nil {
		ran, err := r.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			r.Logger.Error("job runner", "error", err.Error())
		}
		if ran {
			continue
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-r.wake:
		}
	}
}

// RunOnce claims one job and runs it; false when there was none to claim.
func (r *Runner) RunOnce(ctx context.Context) (bool, error) {
	r.defaults()
	var job dbq.Job
	var tenant dbq.Tenant
	err := r.DB.AsPlatform(ctx, func(q *dbq.Queries) error {
		var err error
		job, err = q.ClaimJob(ctx, dbq.ClaimJobParams{Owner: &r.Owner, LeaseSeconds: r.Lease.Seconds()})
		if err != nil {
			return err
		}
		tenant, err = q.JobTenant(ctx, job.TenantID)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim job: %w", err)
	}
	tctx := apiserver.NewContextWithTenant(ctx, &apiserver.Tenant{ID: tenant.ID, Slug: tenant.Slug, Name: tenant.Name, Status: tenant.Status,
		TopicPrefix: tenant.TopicPrefix, IndexPrefix: tenant.IndexPrefix, RedisPrefix: tenant.RedisPrefix, CreatedAt: tenant.CreatedAt})
	log := r.Logger.With("job", job.ID, "tenant", tenant.Slug, "kind", job.Kind, "attempt", job.Attempts)
	log.Info("job started", "checkpoint", job.Checkpoint)
	switch job.Kind {
	case apiserver.JobImport:
		err = r.runImport(tctx, job)
	case apiserver.JobExport:
		err = r.runExport(tctx, job)
	default:
		err = permanent("This kind of job is not known to this version of the API.")
	}
	return true, r.settle(tctx, log, job, err)
}

// permanentError fails a job at once: retrying cannot help (a file that is not CSV).
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

func permanent(format string, args ...any) error {
	return &permanentError{msg: fmt.Sprintf(format, args...)}
}

// settle records how a run ended: nothing when the job finished or changed hands,
// failed for a permanent error or after the last attempt, else a retry after a pause.
func (r *Runner) settle(ctx context.Context, log *slog.Logger, job dbq.Job, err error) error {
	if err == nil || errors.Is(err, errLeaseLost) {
		if err != nil {
			log.Warn("job lease lost to another runner")
		}
		return nil
	}
	if ctx.Err() != nil {
		// Stopping: the lease runs out and another runner (or this one restarted)
		// resumes from the checkpoint.
		log.Info("job interrupted", "error", err.Error())
		return nil
	}
	var pe *permanentError
	var ae *apiserver.Error
	msg := ""
	switch {
	case errors.As(err, &pe):
		msg = pe.msg
	case errors.As(err, &ae):
		msg = ae.Message
	case int(job.Attempts) >= r.MaxAttempts:
		msg = fmt.Sprintf("The job failed %d times on a temporary error (the database or the file store) and was given up; start it again.", job.Attempts)
	}
	return r.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		if msg != "" {
			log.Error("job failed", "error", err.Error())
			_, ferr := q.FinishJob(ctx, dbq.FinishJobParams{TenantID: tid, ID: job.ID, Owner: &r.Owner, State: apiserver.JobFailed,
				Error: &msg, RowsDone: job.RowsDone})
			return ferr
		}
		delay := time.Duration(1<<min(job.Attempts, 8)) * time.Second
		log.Warn("job will be retried", "error", err.Error(), "delay", delay.String())
		note := fmt.Sprintf("Attempt %d of %d stopped on a temporary error; retrying.", job.Attempts, r.MaxAttempts)
		return q.RetryJob(ctx, dbq.RetryJobParams{TenantID: tid, ID: job.ID, Owner: &r.Owner, DelaySeconds: delay.Seconds(), Error: &note})
	})
}

// progress records a batch; errLeaseLost when the job is no longer this runner's.
func (r *Runner) progress(ctx context.Context, q *dbq.Queries, tid string, job dbq.Job, checkpoint, done int64, failed, created, updated int) error {
	n, err := q.JobProgress(ctx, dbq.JobProgressParams{TenantID: tid, ID: job.ID, Owner: &r.Owner, Checkpoint: checkpoint,
		RowsDone: done, Failed: int64(failed), Created: int64(created), Updated: int64(updated), LeaseSeconds: r.Lease.Seconds()})
	if err != nil {
		return err
	}
	if n == 0 {
		return errLeaseLost
	}
	return nil
}

func (r *Runner) finish(ctx context.Context, job dbq.Job, done int64, resultKey *string) error {
	return r.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		n, err := q.FinishJob(ctx, dbq.FinishJobParams{TenantID: tid, ID: job.ID, Owner: &r.Owner, State: apiserver.JobSucceeded,
			ResultKey: resultKey, RowsDone: done})
		if err == nil && n == 0 {
			return errLeaseLost
		}
		return err
	})
}
