package jobs

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/objectstore"
)

// OrderColumns is the header of an orders export; amounts are in major units with
// two decimals, as prices in a products file.
var OrderColumns = []string{"id", "status", "email", "currency", "subtotal", "shipping", "tax", "total", "created_at"}

// rowWriter writes export rows as CSV or NDJSON.
type rowWriter struct {
	csv *csv.Writer
	enc *json.Encoder
}

func newRowWriter(w io.Writer, format string, header []string) (*rowWriter, error) {
	if format == apiserver.FormatNDJSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return &rowWriter{enc: enc}, nil
	}
	cw := csv.NewWriter(w)
	return &rowWriter{csv: cw}, cw.Write(header)
}

func (w *rowWriter) write(rec []string, obj any) error {
	if w.enc != nil {
		return w.enc.Encode(obj)
	}
	return w.csv.Write(rec)
}

func (w *rowWriter) flush() error {
	if w.csv != nil {
		w.csv.Flush()
		return w.csv.Error()
	}
	return nil
}

type productLine struct {
	SKU         string `json:"sku"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Status      string `json:"status"`
	Currency    string `json:"currency,omitempty"`
	Amount      *int64 `json:"amount,omitempty"`
}

type orderLine struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	Email     string    `json:"email"`
	Currency  string    `json:"currency"`
	Subtotal  int64     `json:"subtotal"`
	Shipping  int64     `json:"shipping"`
	Tax       int64     `json:"tax"`
	Total     int64     `json:"total"`
	CreatedAt time.Time `json:"created_at"`
}

func parseTime(s string) *time.Time {
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	return &t
}

// runExport reads the rows page by page (keyset, so memory stays flat whatever the
// size), writes them to a spool file, then stores the file under the tenant's
// prefix. An interrupted export starts again from the beginning: it wrote nothing
// anyone can see.
func (r *Runner) runExport(ctx context.Context, job dbq.Job) error {
	var p params
	if err := json.Unmarshal(job.Params, &p); err != nil {
		return permanent("The job's request cannot be read.")
	}
	from, to := parseTime(p.From), parseTime(p.To)
	f, err := os.CreateTemp(r.TempDir, "kommerce-export-*")
	if err != nil {
		return fmt.Errorf("spool export: %w", err)
	}
	defer os.Remove(f.Name()) //nolint:errcheck // a temporary file
	defer f.Close()           //nolint:errcheck // closed after the upload
	bw := bufio.NewWriterSize(f, 1<<20)
	header := ProductColumns
	if p.Entity == apiserver.ExportOrders {
		header = OrderColumns
	}
	w, err := newRowWriter(bw, p.Format, header)
	if err != nil {
		return err
	}
	var n int64
	switch p.Entity {
	case apiserver.ExportProducts:
		n, err = r.exportProducts(ctx, job, w, from, to)
	case apiserver.ExportOrders:
		n, err = r.exportOrders(ctx, job, w, from, to)
	default:
		return permanent("Entity %q cannot be exported.", p.Entity)
	}
	if err != nil {
		return err
	}
	if err := w.flush(); err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	ext, ct := ".csv", "text/csv"
	if p.Format == apiserver.FormatNDJSON {
		ext, ct = ".ndjson", "application/x-ndjson"
	}
	t, err := apiserver.RequireTenant(ctx)
	if err != nil {
		return err
	}
	key := objectstore.TenantPrefix(t.ID) + "exports/" + job.ID + ext
	if err := r.Store.Put(ctx, key, f, size, ct); err != nil {
		return err
	}
	return r.finish(ctx, job, n, &key)
}

// exportPageDone records an export's progress (and extends its lease).
func (r *Runner) exportPageDone(ctx context.Context, job dbq.Job, n int64) error {
	return r.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		return r.progress(ctx, q, tid, job, 0, n, 0, 0, 0)
	})
}

func (r *Runner) exportProducts(ctx context.Context, job dbq.Job, w *rowWriter, from, to *time.Time) (int64, error) {
	var n int64
	after := dbq.ExportProductsParams{CreatedFrom: from, CreatedTo: to, Lim: exportPage}
	for {
		var rows []dbq.ExportProductsRow
		err := r.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
			after.TenantID = tid
			var err error
			rows, err = q.ExportProducts(ctx, after)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("export products: %w", err)
		}
		for _, row := range rows {
			price := ""
			if row.Amount != nil {
				price = FormatPrice(*row.Amount)
			}
			line := productLine{SKU: row.Sku, Name: row.Name, Description: row.Description, Status: row.Status, Currency: row.Currency, Amount: row.Amount}
			if err := w.write([]string{row.Sku, row.Name, row.Description, row.Status, row.Currency, price}, line); err != nil {
				return n, fmt.Errorf("write export: %w", err)
			}
		}
		n += int64(len(rows))
		if len(rows) < exportPage {
			return n, nil
		}
		last := rows[len(rows)-1]
		after.AfterSku, after.AfterCurrency = last.Sku, last.Currency
		if err := r.exportPageDone(ctx, job, n); err != nil {
			return n, err
		}
	}
}

func (r *Runner) exportOrders(ctx context.Context, job dbq.Job, w *rowWriter, from, to *time.Time) (int64, error) {
	var n int64
	after := dbq.ExportOrdersParams{CreatedFrom: from, CreatedTo: to, Lim: exportPage,
		AfterCreated: time.Unix(0, 0).UTC(), AfterID: "00000000-0000-0000-0000-000000000000"}
	for {
		var rows []dbq.ExportOrdersRow
		err := r.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
			after.TenantID = tid
			var err error
			rows, err = q.ExportOrders(ctx, after)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("export orders: %w", err)
		}
		for _, o := range rows {
			line := orderLine{ID: o.ID, Status: o.Status, Email: o.Email, Currency: o.Currency, Subtotal: o.Subtotal,
				Shipping: o.Shipping, Tax: o.Tax, Total: o.Total, CreatedAt: o.CreatedAt.UTC()}
			rec := []string{o.ID, o.Status, o.Email, o.Currency, FormatPrice(o.Subtotal), FormatPrice(o.Shipping),
				FormatPrice(o.Tax), FormatPrice(o.Total), o.CreatedAt.UTC().Format(time.RFC3339Nano)}
			if err := w.write(rec, line); err != nil {
				return n, fmt.Errorf("write export: %w", err)
			}
		}
		n += int64(len(rows))
		if len(rows) < exportPage {
			return n, nil
		}
		last := rows[len(rows)-1]
		after.AfterCreated, after.AfterID = last.CreatedAt, last.ID
		if err := r.exportPageDone(ctx, job, n); err != nil {
			return n, err
		}
	}
}
