package apiserver

import (
	"context"
	"io"
	"time"
)

// Job kinds and states.
const (
	JobImport = "import"
	JobExport = "export"

	JobQueued    = "queued"
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
)

// Export entities and formats.
const (
	ExportProducts = "products"
	ExportOrders   = "orders"
	FormatCSV      = "csv"
	FormatNDJSON   = "ndjson"
)

// Job limits, mirrored in openapi.yaml and docs/imports-exports.md.
const (
	// DefaultMaxImportBytes bounds an import file; a larger one is refused with 413
	// after reading at most this many bytes (at once when Content-Length says so).
	DefaultMaxImportBytes = 2 << 30
	// MaxJobErrorsShown is how many row errors a job resource lists; all are counted
	// in rows_failed and stored up to MaxJobErrorsStored.
	MaxJobErrorsShown  = 1000
	MaxJobErrorsStored = 100_000
)

// RowError is one rejected row of an import: its number in the file (the header is
// row 1, so the first data row is 2, as a spreadsheet shows it), the column at fault
// and why.
type RowError struct {
	Row     int64  `json:"row"`
	Column  string `json:"column"`
	Message string `json:"message"`
}

// Job is an import or export as the API shows it.
type Job struct {
	ID          string     `json:"id"`
	Kind        string     `json:"kind"`
	State       string     `json:"state"`
	Entity      string     `json:"entity,omitempty"`
	Format      string     `json:"format,omitempty"`
	RowsTotal   *int64     `json:"rows_total"`
	RowsDone    int64      `json:"rows_done"`
	RowsFailed  int64      `json:"rows_failed"`
	RowsCreated int64      `json:"rows_created"`
	RowsUpdated int64      `json:"rows_updated"`
	Errors      []RowError `json:"errors"`
	// Error says why a job failed as a whole (an unreadable file, a store outage
	// that outlasted the retries).
	Error       string     `json:"error,omitempty"`
	DownloadURL string     `json:"download_url,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	FinishedAt  *time.Time `json:"finished_at"`
}

// ExportRequest is the body of POST /exports. From and To bound created_at
// (inclusive, exclusive); either may be left out.
type ExportRequest struct {
	Entity string     `json:"entity"`
	Format string     `json:"format"`
	From   *time.Time `json:"from"`
	To     *time.Time `json:"to"`
}

// Validate checks the request.
func (r *ExportRequest) Validate() error {
	if r.Entity != ExportProducts && r.Entity != ExportOrders {
		return FieldErrorf("entity", "Entity must be products or orders.")
	}
	if r.Format == "" {
		r.Format = FormatCSV
	}
	if r.Format != FormatCSV && r.Format != FormatNDJSON {
		return FieldErrorf("format", "Format must be csv or ndjson.")
	}
	if r.From != nil && r.To != nil && !r.From.Before(*r.To) {
		return FieldErrorf("to", "The range must end after it starts.")
	}
	return nil
}

// JobService starts and reports back-office jobs of the tenant in ctx; a runner
// (apiserver/jobrunner) does the work, in this process or another replica.
type JobService interface {
	// StartImport checks the CSV header of a products file, stores the file and
	// queues its import. The file is read to its end once, to store it; size is its
	// length when known (-1 otherwise). Errors: ErrInvalid (wrong columns, not
	// CSV), ErrPayloadTooLarge, ErrUnavailable (object store down).
	StartImport(ctx context.Context, file io.Reader, size int64) (*Job, error)
	// StartExport queues an export. Errors: ErrInvalid.
	StartExport(ctx context.Context, req ExportRequest) (*Job, error)
	// GetJob errors: ErrNotFound (also for another tenant's job).
	GetJob(ctx context.Context, id string) (*Job, error)
	// OpenResult opens the file of a finished export. Errors: ErrNotFound (no such
	// job, or not finished), ErrUnavailable.
	OpenResult(ctx context.Context, id string) (io.ReadCloser, string, error)
}
