// Package jobs runs the back office's long work — product imports from CSV, order
// and product exports to CSV or NDJSON — as jobs that survive a restart of the API.
//
// The Service accepts a job (storing an import's file in the object store under the
// tenant's prefix, so any replica can read it again) and reports on it; the Runner,
// started by every API process, claims unfinished jobs of any tenant from PostgreSQL
// with a lease and works through them. An import applies its rows in batches; each
// batch, its row errors and the job's new checkpoint commit in one transaction, so a
// runner that dies leaves the job at a batch boundary and whoever claims it next goes
// on from there, applying nothing twice.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/objectstore"
)

// params is what jobs.params holds.
type params struct {
	// Imports.
	Key  string `json:"key,omitempty"`
	Size int64  `json:"size,omitempty"`
	// Exports.
	Entity string `json:"entity,omitempty"`
	Format string `json:"format,omitempty"`
	From   string `json:"from,omitempty"` // RFC 3339
	To     string `json:"to,omitempty"`
}

// Service implements apiserver.JobService.
type Service struct {
	DB    *postgres.DB
	Store objectstore.Store
	// MaxImportBytes bounds an import file (default apiserver.DefaultMaxImportBytes).
	MaxImportBytes int64
	// TempDir spools uploads before they are stored (default os.TempDir()).
	TempDir string
	// Wake, when set, is told of a new job, so a runner of this process starts it
	// at once instead of at its next poll.
	Wake func()
}

var _ apiserver.JobService = (*Service)(nil)

// newID returns a random (version 4) UUID.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newCSVReader is the one CSV dialect of imports: comma-separated, quotes as RFC
// 4180, the field count checked per row by ParseRow rather than by the reader.
func newCSVReader(r io.Reader) *csv.Reader {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	return cr
}

func (s *Service) maxImport() int64 {
	if s.MaxImportBytes > 0 {
		return s.MaxImportBytes
	}
	return apiserver.DefaultMaxImportBytes
}

// StartImport implements apiserver.JobService. The file is spooled to a temporary
// file (read at most MaxImportBytes+1 bytes), its header checked and its rows
// counted, then stored; the job is queued only once the file is safely stored.
func (s *Service) StartImport(ctx context.Context, file io.Reader, size int64) (*apiserver.Job, error) {
	t, err := apiserver.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	limit := s.maxImport()
	tooLarge := apiserver.Errorf(apiserver.ErrPayloadTooLarge, "The file is larger than %d bytes; split it.", limit)
	if size > limit {
		return nil, tooLarge
	}
	f, err := os.CreateTemp(s.TempDir, "kommerce-import-*.csv")
	if err != nil {
		return nil, fmt.Errorf("spool import: %w", err)
	}
	defer os.Remove(f.Name()) //nolint:errcheck // a temporary file
	defer f.Close()           //nolint:errcheck // read only after the copy
	n, err := io.Copy(f, io.LimitReader(file, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, apiserver.Errorf(apiserver.ErrInvalid, "The file could not be read to its end.")
	}
	if n > limit {
		return nil, tooLarge
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("spool import: %w", err)
	}
	rows, err := countRows(f)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("spool import: %w", err)
	}
	id := newID()
	key := objectstore.TenantPrefix(t.ID) + "imports/" + id + ".csv"
	if err := s.Store.Put(ctx, key, f, n, "text/csv"); err != nil {
		return nil, &unavailable{err}
	}
	p, _ := json.Marshal(params{Key: key, Size: n})
	job, err := s.insert(ctx, id, apiserver.JobImport, p, &rows)
	if err == nil && s.Wake != nil {
		s.Wake()
	}
	return job, err
}

// unavailable is an object store failure: the client may retry (503).
type unavailable struct{ cause error }

func (e *unavailable) Error() string { return "object store: " + e.cause.Error() }
func (e *unavailable) Unwrap() []error {
	return []error{apiserver.Errorf(apiserver.ErrUnavailable, "The file store is not available; try again shortly."), e.cause}
}

// countRows checks the header of a products file and counts its data rows.
func countRows(r io.Reader) (int64, error) {
	cr := newCSVReader(r)
	hdr, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return 0, apiserver.FieldErrorf("file", "The file is empty; it needs a header row: sku,name,description,status,currency,price.")
	}
	if err != nil {
		return 0, apiserver.FieldErrorf("file", "The header row is not valid CSV: %v.", csvReason(err))
	}
	if _, err := ParseHeader(hdr); err != nil {
		return 0, err
	}
	var n int64
	for {
		_, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			return 0, apiserver.Errorf(apiserver.ErrInvalid, "The file could not be read.")
		}
		n++
	}
}

func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// StartExport implements apiserver.JobService.
func (s *Service) StartExport(ctx context.Context, req apiserver.ExportRequest) (*apiserver.Job, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	p := params{Entity: req.Entity, Format: req.Format}
	if req.From != nil {
		p.From = req.From.UTC().Format("2006-01-02T15:04:05.999999999Z07:00")
	}
	if req.To != nil {
		p.To = req.To.UTC().Format("2006-01-02T15:04:05.999999999Z07:00")
	}
	b, _ := json.Marshal(p)
	job, err := s.insert(ctx, newID(), apiserver.JobExport, b, nil)
	if err == nil && s.Wake != nil {
		s.Wake()
	}
	return job, err
}

func (s *Service) insert(ctx context.Context, id, kind string, p []byte, rows *int64) (*apiserver.Job, error) {
	by := ""
	if pr := apiserver.PrincipalFromContext(ctx); pr != nil {
		by = pr.UserID
	}
	var out *apiserver.Job
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		row, err := q.InsertJob(ctx, dbq.InsertJobParams{TenantID: tid, ID: id, Kind: kind, Params: p, RowsTotal: rows, CreatedBy: by})
		if err != nil {
			return err
		}
		out = jobOf(row, nil)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("insert job: %w", err)
	}
	return out, nil
}

func jobOf(j dbq.Job, errs []dbq.JobErrorsRow) *apiserver.Job {
	out := &apiserver.Job{ID: j.ID, Kind: j.Kind, State: j.State, RowsTotal: j.RowsTotal, RowsDone: j.RowsDone,
		RowsFailed: j.RowsFailed, RowsCreated: j.RowsCreated, RowsUpdated: j.RowsUpdated, Errors: []apiserver.RowError{},
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, FinishedAt: j.FinishedAt}
	var p params
	_ = json.Unmarshal(j.Params, &p)
	out.Entity, out.Format = p.Entity, p.Format
	if j.Error != nil {
		out.Error = *j.Error
	}
	if j.Kind == apiserver.JobExport && j.State == apiserver.JobSucceeded && j.ResultKey != nil {
		out.DownloadURL = "/api/v1/jobs/" + j.ID + "/download"
	}
	for _, e := range errs {
		out.Errors = append(out.Errors, apiserver.RowError{Row: e.RowNo, Column: e.Col, Message: e.Message})
	}
	return out
}

// GetJob implements apiserver.JobService.
func (s *Service) GetJob(ctx context.Context, id string) (*apiserver.Job, error) {
	if !apiserver.ValidID(id) {
		return nil, apiserver.Errorf(apiserver.ErrNotFound, "No job with that id.")
	}
	var out *apiserver.Job
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		row, err := q.GetJob(ctx, dbq.GetJobParams{TenantID: tid, ID: id})
		if err != nil {
			return err
		}
		errs, err := q.JobErrors(ctx, dbq.JobErrorsParams{TenantID: tid, JobID: id, Lim: apiserver.MaxJobErrorsShown})
		if err != nil {
			return err
		}
		out = jobOf(row, errs)
		return nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apiserver.Errorf(apiserver.ErrNotFound, "No job with that id.")
	}
	if err != nil {
		return nil, fmt.Errorf("get job: %w", err)
	}
	return out, nil
}

// OpenResult implements apiserver.JobService.
func (s *Service) OpenResult(ctx context.Context, id string) (io.ReadCloser, string, error) {
	if !apiserver.ValidID(id) {
		return nil, "", apiserver.Errorf(apiserver.ErrNotFound, "No job with that id.")
	}
	var key *string
	var format string
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		row, err := q.GetJob(ctx, dbq.GetJobParams{TenantID: tid, ID: id})
		if err != nil {
			return err
		}
		if row.Kind == apiserver.JobExport && row.State == apiserver.JobSucceeded {
			key = row.ResultKey
			var p params
			_ = json.Unmarshal(row.Params, &p)
			format = p.Format
		}
		return nil
	})
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && key == nil) {
		return nil, "", apiserver.Errorf(apiserver.ErrNotFound, "No finished export with that id.")
	}
	if err != nil {
		return nil, "", fmt.Errorf("open result: %w", err)
	}
	obj, err := s.Store.Get(ctx, *key)
	if err != nil {
		return nil, "", &unavailable{err}
	}
	ct := "text/csv; charset=utf-8"
	if format == apiserver.FormatNDJSON {
		ct = "application/x-ndjson"
	}
	return obj.Body, ct, nil
}
