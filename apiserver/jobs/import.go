package jobs

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/events"
)

// item is one data row of a batch: valid (row set) or rejected (errs set).
type item struct {
	no   int64
	row  *Row
	errs []apiserver.RowError
}

// runImport reads the job's file from the start, skipping the rows before the
// checkpoint (but remembering their SKUs, so duplicates are still found), and applies
// the rest in batches.
func (r *Runner) runImport(ctx context.Context, job dbq.Job) error {
	var p params
	if err := json.Unmarshal(job.Params, &p); err != nil || p.Key == "" {
		return permanent("The job has no file.")
	}
	obj, err := r.Store.Get(ctx, p.Key)
	if err != nil {
		return fmt.Errorf("open import file: %w", err)
	}
	defer obj.Body.Close() //nolint:errcheck // read only
	cr := newCSVReader(bufio.NewReaderSize(obj.Body, 1<<20))
	rec, err := cr.Read()
	if err != nil {
		return permanent("The header row cannot be read: %s.", csvReason(err))
	}
	hdr, err := ParseHeader(rec)
	if err != nil {
		return permanent("%s", apiserver.ErrorMessage(err))
	}
	seen := map[string]int64{} // SKU → the row that has it first
	var n int64
	failed := job.RowsFailed
	batch := make([]item, 0, r.BatchSize)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			return fmt.Errorf("read import file: %w", err)
		}
		n++
		no := n + 1 // the header is row 1
		var dupOf int64
		if err == nil {
			if sku := hdr.SKU(rec); sku != "" {
				if first, ok := seen[sku]; ok {
					dupOf = first
				} else {
					seen[sku] = no
				}
			}
		}
		if n <= job.Checkpoint {
			continue
		}
		it := item{no: no}
		switch {
		case err != nil:
			it.errs = []apiserver.RowError{{Row: no, Message: fmt.Sprintf("The row is not valid CSV: %s.", csvReason(err))}}
		case dupOf > 0:
			it.errs = []apiserver.RowError{{Row: no, Column: ColSKU, Message: fmt.Sprintf("SKU %s already appears on row %d; a SKU may appear once per file.", hdr.SKU(rec), dupOf)}}
		default:
			it.row, it.errs = hdr.ParseRow(no, rec)
		}
		batch = append(batch, it)
		if len(batch) == r.BatchSize {
			f, err := r.applyBatch(ctx, job, batch, n, failed)
			if err != nil {
				return err
			}
			failed += int64(f)
			batch = batch[:0]
			if r.AfterBatch != nil {
				r.AfterBatch(job.ID, n)
			}
		}
	}
	if len(batch) > 0 {
		if _, err := r.applyBatch(ctx, job, batch, n, failed); err != nil {
			return err
		}
	}
	return r.finish(ctx, job, n, nil)
}

// existing is a SKU of the catalog as a batch finds it.
type existing struct {
	dbq.ImportLookupRow
	prices map[string]int64
}

// applyBatch applies a batch in one transaction with its row errors and the new
// checkpoint: rows whose values equal the catalog's change nothing (no version, no
// event), so importing a file twice changes the catalog once. It returns the number
// of rows rejected.
func (r *Runner) applyBatch(ctx context.Context, job dbq.Job, batch []item, checkpoint, failedBefore int64) (int, error) {
	var failed int
	var written []string
	var batchEvents map[string]string
	err := r.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		failed = 0
		var skus []string
		for _, it := range batch {
			if it.row != nil {
				skus = append(skus, it.row.SKU)
			}
		}
		found := map[string]existing{}
		if len(skus) > 0 {
			rows, err := q.ImportLookup(ctx, dbq.ImportLookupParams{TenantID: tid, Skus: skus})
			if err != nil {
				return err
			}
			for _, row := range rows {
				e := existing{ImportLookupRow: row, prices: map[string]int64{}}
				if err := json.Unmarshal(row.Prices, &e.prices); err != nil {
					return fmt.Errorf("prices of %s: %w", row.Sku, err)
				}
				found[row.Sku] = e
			}
		}
		var (
			ins    dbq.ImportInsertProductsParams
			vars   dbq.ImportInsertVariantsParams
			prices dbq.ImportUpsertPricesParams
			upd    = map[string]*dbq.ImportUpdateProductsParams{}
			events = map[string]string{} // product id → event type
			errs   dbq.InsertJobErrorsParams
			order  []string
		)
		reject := func(es []apiserver.RowError) {
			failed++
			for _, e := range es {
				errs.Rows, errs.Cols, errs.Messages = append(errs.Rows, e.Row), append(errs.Cols, e.Column), append(errs.Messages, e.Message)
			}
		}
		for _, it := range batch {
			if it.row == nil {
				reject(it.errs)
				continue
			}
			row := it.row
			e, ok := found[row.SKU]
			if ok && e.Deleted {
				reject([]apiserver.RowError{{Row: it.no, Column: ColSKU, Message: fmt.Sprintf("SKU %s belongs to a deleted product; use another SKU.", row.SKU)}})
				continue
			}
			if !ok {
				id := newID()
				ins.Ids, ins.Names = append(ins.Ids, id), append(ins.Names, row.Name)
				ins.Descriptions, ins.Statuses = append(ins.Descriptions, deref(row.Description, "")), append(ins.Statuses, deref(row.Status, string(apiserver.StatusDraft)))
				vars.Skus, vars.ProductIds = append(vars.Skus, row.SKU), append(vars.ProductIds, id)
				prices.Skus, prices.Currencies, prices.Amounts = append(prices.Skus, row.SKU), append(prices.Currencies, row.Currency), append(prices.Amounts, row.Amount)
				events[id] = string(eventsProductCreated)
				order = append(order, id)
				continue
			}
			changed := false
			if old, has := e.prices[row.Currency]; !has || old != row.Amount {
				prices.Skus, prices.Currencies, prices.Amounts = append(prices.Skus, row.SKU), append(prices.Currencies, row.Currency), append(prices.Amounts, row.Amount)
				changed = true
			}
			name, desc, status := row.Name, deref(row.Description, e.Description), deref(row.Status, e.Status)
			if name != e.Name || desc != e.Description || status != e.Status {
				changed = true
			}
			if changed {
				// A new price is a new version of the product too (its ETag, its event).
				upd[e.ProductID] = &dbq.ImportUpdateProductsParams{Ids: []string{e.ProductID}, Names: []string{name}, Descriptions: []string{desc}, Statuses: []string{status}}
			}
			if _, dup := events[e.ProductID]; changed && !dup {
				events[e.ProductID] = string(eventsProductUpdated)
				order = append(order, e.ProductID)
			}
		}
		if len(ins.Ids) > 0 {
			ins.TenantID, vars.TenantID = tid, tid
			if err := q.ImportInsertProducts(ctx, ins); err != nil {
				return err
			}
			if err := q.ImportInsertVariants(ctx, vars); err != nil {
				return err
			}
		}
		if len(upd) > 0 {
			all := dbq.ImportUpdateProductsParams{TenantID: tid}
			for _, u := range upd {
				all.Ids, all.Names = append(all.Ids, u.Ids[0]), append(all.Names, u.Names[0])
				all.Descriptions, all.Statuses = append(all.Descriptions, u.Descriptions[0]), append(all.Statuses, u.Statuses[0])
			}
			if err := q.ImportUpdateProducts(ctx, all); err != nil {
				return err
			}
		}
		if len(prices.Skus) > 0 {
			prices.TenantID = tid
			if err := q.ImportUpsertPrices(ctx, prices); err != nil {
				return err
			}
		}
		created, updated := 0, 0
		written, batchEvents = order, events
		if len(order) > 0 {
			if err := r.productEvents(ctx, q, tid, order, events); err != nil {
				return err
			}
			created = len(ins.Ids)
			updated = len(order) - created
		}
		if len(errs.Rows) > 0 && failedBefore < apiserver.MaxJobErrorsStored {
			errs.TenantID, errs.JobID = tid, job.ID
			if err := q.InsertJobErrors(ctx, errs); err != nil {
				return err
			}
		}
		return r.progress(ctx, q, tid, job, checkpoint, checkpoint, failed, created, updated)
	})
	if err == nil && len(written) > 0 && r.Refresh != nil {
		var updated []string
		for _, id := range written {
			if ev := batchEvents[id]; ev == string(eventsProductUpdated) {
				updated = append(updated, id)
			}
		}
		r.Refresh(ctx, updated...)
	}
	return failed, err
}

const (
	eventsProductCreated = events.ProductCreated
	eventsProductUpdated = events.ProductUpdated
)

// productEvents appends the product.created / product.updated events of a batch,
// with each product's snapshot after the batch, to the outbox.
func (r *Runner) productEvents(ctx context.Context, q *dbq.Queries, tid string, ids []string, types map[string]string) error {
	snaps, err := q.ImportSnapshots(ctx, dbq.ImportSnapshotsParams{TenantID: tid, Ids: ids})
	if err != nil {
		return err
	}
	p := dbq.InsertOutboxManyParams{TenantID: tid}
	for _, s := range snaps {
		var ev events.Product
		if err := json.Unmarshal(s.Snapshot, &ev); err != nil {
			return fmt.Errorf("snapshot of %s: %w", s.ID, err)
		}
		typ := events.Type(types[s.ID])
		b, err := events.Encode(typ, ev)
		if err != nil {
			return err
		}
		p.AggregateTypes = append(p.AggregateTypes, "product")
		p.AggregateIds = append(p.AggregateIds, s.ID)
		p.EventTypes = append(p.EventTypes, string(typ))
		p.Payloads = append(p.Payloads, b)
	}
	return q.InsertOutboxMany(ctx, p)
}

func deref(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}
