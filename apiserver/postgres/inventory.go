package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
)

// InventoryService implements apiserver.InventoryService.
type InventoryService struct{ *Commerce }

var _ apiserver.InventoryService = (*InventoryService)(nil)

func noSKU(sku string) error {
	return &apiserver.Error{Code: apiserver.ErrNotFound, Field: "sku", Message: fmt.Sprintf("No product of this shop has the SKU %s.", sku)}
}

// readStock loads a SKU's stock; a catalog SKU that never had stock reads as zeros.
func readStock(ctx context.Context, q *dbq.Queries, tid, sku string) (*apiserver.Stock, error) {
	pid, err := q.SKUProduct(ctx, dbq.SKUProductParams{TenantID: tid, Sku: sku})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	st, err := q.GetStock(ctx, dbq.GetStockParams{TenantID: tid, Sku: sku})
	switch {
	case errors.Is(err, pgx.ErrNoRows) && pid == "":
		return nil, noSKU(sku)
	case errors.Is(err, pgx.ErrNoRows):
		return &apiserver.Stock{SKU: sku, ProductID: pid, Warehouses: []apiserver.StockLocation{}}, nil
	case err != nil:
		return nil, err
	}
	locs, err := q.StockLocations(ctx, dbq.StockLocationsParams{TenantID: tid, Sku: sku})
	if err != nil {
		return nil, err
	}
	out := &apiserver.Stock{SKU: sku, ProductID: pid, OnHand: st.OnHand, Reserved: st.Reserved, Available: st.OnHand - st.Reserved,
		Version: st.Version, UpdatedAt: st.UpdatedAt, Warehouses: make([]apiserver.StockLocation, len(locs))}
	for i, l := range locs {
		out.Warehouses[i] = apiserver.StockLocation{Warehouse: l.Warehouse, OnHand: l.OnHand, Reserved: l.Reserved, Available: l.OnHand - l.Reserved}
	}
	return out, nil
}

// GetStock implements apiserver.InventoryService. Expired reservations of the SKU are
// released first, so what it reports as reserved is really held.
func (s *InventoryService) GetStock(ctx context.Context, sku string) (*apiserver.Stock, error) {
	if !apiserver.ValidSKU(sku) {
		return nil, noSKU(sku)
	}
	if _, err := s.expireHolders(ctx, []string{sku}); err != nil {
		return nil, err
	}
	var out *apiserver.Stock
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		var err error
		out, err = readStock(ctx, q, tid, sku)
		return err
	})
	if err != nil {
		return nil, stockError(err, "get stock")
	}
	return out, nil
}

// SetStock implements apiserver.InventoryService.
func (s *InventoryService) SetStock(ctx context.Context, sku string, in apiserver.StockSet) (*apiserver.Stock, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return s.change(ctx, sku, in.Warehouse, in.Reason, "on_hand", func(old int64) (int64, error) { return in.OnHand, nil })
}

// AdjustStock implements apiserver.InventoryService.
func (s *InventoryService) AdjustStock(ctx context.Context, sku string, in apiserver.StockAdjust) (*apiserver.Stock, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return s.change(ctx, sku, in.Warehouse, in.Reason, "delta", func(old int64) (int64, error) {
		if n := old + in.Delta; n >= 0 && n <= apiserver.MaxOnHand {
			return n, nil
		}
		if in.Delta < 0 {
			return 0, &apiserver.Error{Code: apiserver.ErrConflict, Field: "delta", Message: fmt.Sprintf("Warehouse %s holds %d of %s; it cannot give %d.", in.Warehouse, old, sku, -in.Delta)}
		}
		// Like going below zero, a conflict with the stored quantity: the same delta is
		// fine for another warehouse, so it is no malformed input (400).
		return 0, &apiserver.Error{Code: apiserver.ErrConflict, Field: "delta", Message: fmt.Sprintf("Warehouse %s holds %d of %s; a warehouse holds at most %d units of a SKU.", in.Warehouse, old, sku, apiserver.MaxOnHand)}
	})
}

// change sets a warehouse's quantity of sku to next(current) under the SKU's row
// lock, records the adjustment and announces the new availability. field names the
// input at fault when the warehouse would hold fewer units than are reserved there.
func (s *InventoryService) change(ctx context.Context, sku, warehouse, reason, field string, next func(old int64) (int64, error)) (*apiserver.Stock, error) {
	if !apiserver.ValidSKU(sku) {
		return nil, noSKU(sku)
	}
	var out *apiserver.Stock
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		if _, err := q.SKUProduct(ctx, dbq.SKUProductParams{TenantID: tid, Sku: sku}); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return noSKU(sku)
			}
			return err
		}
		if err := q.EnsureStock(ctx, dbq.EnsureStockParams{TenantID: tid, Sku: sku}); err != nil {
			return err
		}
		if _, err := q.LockStock(ctx, dbq.LockStockParams{TenantID: tid, Sku: sku}); err != nil {
			return err
		}
		loc, err := q.LocationStock(ctx, dbq.LocationStockParams{TenantID: tid, Sku: sku, Warehouse: warehouse})
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		old := loc.OnHand
		n, err := next(old)
		if err != nil {
			return err
		}
		if n < loc.Reserved {
			return belowReserved(sku, warehouse, field, loc.Reserved)
		}
		if err := q.UpsertLocation(ctx, dbq.UpsertLocationParams{TenantID: tid, Sku: sku, Warehouse: warehouse, OnHand: n}); err != nil {
			return err
		}
		if delta := n - old; delta != 0 {
			st, err := q.AddOnHand(ctx, dbq.AddOnHandParams{TenantID: tid, Sku: sku, Delta: delta})
			if err != nil {
				return err
			}
			if err := q.InsertAdjustment(ctx, dbq.InsertAdjustmentParams{TenantID: tid, Sku: sku, Warehouse: warehouse, Delta: delta,
				OnHandAfter: n, Reason: reason, Actor: actorOf(ctx)}); err != nil {
				return err
			}
			if err := stockEvents(ctx, q, tid, []stockChange{{sku, st.OnHand - st.Reserved, st.Version}}); err != nil {
				return err
			}
		}
		out, err = readStock(ctx, q, tid, sku)
		return err
	})
	if err != nil {
		return nil, stockError(err, "change stock")
	}
	return out, nil
}

// belowReserved refuses a staff change that would leave a warehouse holding fewer
// units than orders reserved there: those units are promised to shoppers, and
// taking them away must go through the orders (cancel, refund or fulfil) first.
func belowReserved(sku, warehouse, field string, reserved int64) error {
	return &apiserver.Error{Code: apiserver.ErrStockReserved, Field: field, Message: fmt.Sprintf(
		"Orders hold %d units of %s in warehouse %s; its on-hand quantity cannot go below that. Cancel, refund or fulfil them first.", reserved, sku, warehouse)}
}

// stockError turns the constraint that keeps stock from going below what is reserved
// into a client error.
func stockError(err error, op string) error {
	var ae *apiserver.Error
	if errors.As(err, &ae) {
		return err
	}
	code, constraint := pgCode(err)
	if code == pgCheckViolation && constraint == "stock_locations_reserved_within_on_hand" {
		return &apiserver.Error{Code: apiserver.ErrStockReserved, Field: "on_hand",
			Message: "Orders hold more units of this SKU in the warehouse than would be left on hand; release or fulfil them first."}
	}
	if code == pgCheckViolation && constraint == "stock_reserved_within_on_hand" {
		return &apiserver.Error{Code: apiserver.ErrConflict, Field: "on_hand",
			Message: "Orders hold more units of this SKU than would be left on hand; release or fulfil them first."}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// ListAdjustments implements apiserver.InventoryService.
func (s *InventoryService) ListAdjustments(ctx context.Context, sku string, limit int, cursor string) (*apiserver.StockAdjustmentPage, error) {
	if !apiserver.ValidSKU(sku) {
		return nil, noSKU(sku)
	}
	if limit == 0 {
		limit = apiserver.DefaultPageSize
	}
	if limit < 1 || limit > apiserver.MaxPageSize {
		return nil, apiserver.FieldErrorf("limit", "Limit must be between 1 and %d.", apiserver.MaxPageSize)
	}
	var before *int64
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || n < 1 {
			return nil, apiserver.FieldErrorf("cursor", "The cursor is not one this API returned.")
		}
		before = &n
	}
	out := &apiserver.StockAdjustmentPage{Items: []apiserver.StockAdjustment{}}
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		if _, err := readStock(ctx, q, tid, sku); err != nil {
			return err
		}
		rows, err := q.ListAdjustments(ctx, dbq.ListAdjustmentsParams{TenantID: tid, Sku: sku, BeforeID: before, Lim: int32(limit + 1)}) //nolint:gosec // limit <= MaxPageSize, checked above
		if err != nil {
			return err
		}
		for i, r := range rows {
			if i == limit {
				out.NextCursor = strconv.FormatInt(rows[i-1].ID, 10)
				break
			}
			out.Items = append(out.Items, apiserver.StockAdjustment{ID: r.ID, SKU: r.Sku, Warehouse: r.Warehouse, Delta: r.Delta,
				OnHandAfter: r.OnHandAfter, Reason: r.Reason, Actor: r.Actor, OrderID: r.OrderID, CreatedAt: r.CreatedAt})
		}
		return nil
	})
	if err != nil {
		return nil, stockError(err, "list adjustments")
	}
	return out, nil
}

// SeedStock gives catalog SKUs that never had stock their first quantity in one
// warehouse (demos, imports); SKUs that have stock, or are not in the catalog, are
// left alone. It returns how many SKUs it stocked.
func (s *InventoryService) SeedStock(ctx context.Context, warehouse, reason string, onHand map[string]int64) (int, error) {
	if err := (&apiserver.StockSet{Warehouse: warehouse, Reason: reason}).Validate(); err != nil {
		return 0, err
	}
	skus := make([]string, 0, len(onHand))
	qtys := make([]int64, 0, len(onHand))
	for sku, n := range onHand {
		if n < 0 || n > apiserver.MaxOnHand {
			return 0, apiserver.FieldErrorf("on_hand", "On-hand quantities are whole numbers from 0 to %d.", apiserver.MaxOnHand)
		}
		skus, qtys = append(skus, sku), append(qtys, n)
	}
	var n int64
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		var err error
		n, err = q.SeedStock(ctx, dbq.SeedStockParams{TenantID: tid, Skus: skus, Quantities: qtys, Warehouse: warehouse, Reason: reason, Actor: actorOf(ctx)})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("seed stock: %w", err)
	}
	return int(n), nil
}
