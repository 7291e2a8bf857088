package stack

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/kommerce/kommerce/apiserver/httpapi"
	"github.com/kommerce/kommerce/apiserver/jobs"
	"github.com/kommerce/kommerce/apiserver/media"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/internal/objectstore"
)

// JobsMediaOptions configures imports, exports and product media.
type JobsMediaOptions struct {
	// Store keeps import files, export files and images (objectstore.FS in
	// development, objectstore.S3 in a cluster); nil answers the routes with 503.
	Store objectstore.Store
	// MaxImportBytes, MaxImageBytes: upload limits (httpapi.JobsMediaConfig).
	MaxImportBytes int64
	MaxImageBytes  int64
	// MediaBaseURL is the public origin used in image URLs (default: the request's).
	MediaBaseURL string
	// Images bounds dimensions and names the thumbnail widths.
	Images media.Limits
	// TempDir spools uploads and exports (default os.TempDir()).
	TempDir string
	// Runner tunes the job runner (lease, batch size); its DB and Store are set here.
	Runner jobs.Runner
	// SweepInterval is how often the files of deleted images are removed (default 1 min).
	SweepInterval time.Duration
}

// backOffice holds the job runner and media service of a stack.
type backOffice struct {
	runner        *jobs.Runner
	media         *media.Service
	sweepInterval time.Duration
}

func jobsMedia(o Options, db *postgres.DB, refresh func(context.Context, ...string)) (httpapi.JobsMediaConfig, backOffice) {
	jm := o.JobsMedia
	cfg := httpapi.JobsMediaConfig{MaxImportBytes: jm.MaxImportBytes, MaxImageBytes: jm.MaxImageBytes, MediaBaseURL: jm.MediaBaseURL}
	if jm.Store == nil {
		return cfg, backOffice{}
	}
	r := jm.Runner
	runner := jobs.NewRunner(db, jm.Store)
	runner.Owner, runner.Lease, runner.Poll, runner.BatchSize, runner.MaxAttempts = r.Owner, r.Lease, r.Poll, r.BatchSize, r.MaxAttempts
	runner.AfterBatch, runner.TempDir, runner.Logger, runner.Refresh = r.AfterBatch, jm.TempDir, o.Logger, refresh
	runner.Defaults() // before RunBackOffice's goroutines read it
	m := &media.Service{DB: db, Store: jm.Store, Limits: jm.Images, MaxBytes: jm.MaxImageBytes, Logger: o.Logger, Refresh: refresh}
	cfg.Jobs = &jobs.Service{DB: db, Store: jm.Store, MaxImportBytes: jm.MaxImportBytes, TempDir: jm.TempDir, Wake: runner.Wake}
	cfg.Media = m
	iv := jm.SweepInterval
	if iv <= 0 {
		iv = time.Minute
	}
	return cfg, backOffice{runner: runner, media: m, sweepInterval: iv}
}

// RunBackOffice runs the job runner and the media sweep until ctx ends; a no-op
// without an object store. Every API process runs it: jobs are shared through
// PostgreSQL, so any replica may pick up a job another one accepted (or left
// unfinished when it stopped).
func (s *Stack) RunBackOffice(ctx context.Context, log *slog.Logger) {
	if s.backOffice.runner == nil {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.backOffice.runner.Run(ctx) })
	wg.Go(func() { s.backOffice.media.RunSweep(ctx, s.backOffice.sweepInterval) })
	log.Info("back office running", "job_owner", s.backOffice.runner.Owner)
	wg.Wait()
}

// Runner is the stack's job runner (nil without an object store), for tests and
// benchmarks that drive it themselves.
func (s *Stack) Runner() *jobs.Runner { return s.backOffice.runner }

// Media is the stack's media service (nil without an object store).
func (s *Stack) Media() *media.Service { return s.backOffice.media }
