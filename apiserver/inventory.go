package apiserver

import (
	"context"
	"regexp"
	"strings"
	"time"
)

// Stock is the inventory of one SKU. OnHand is the sum over its warehouses; Reserved
// is held by orders that are not yet fulfilled (or whose reservation has not expired),
// so Available = OnHand - Reserved is what shoppers can still buy. Each reservation
// is placed in warehouses at checkout (the most available first, split when no single
// one has enough), so every warehouse also has its reserved and available units, and
// the totals are their sums.
type Stock struct {
	SKU        string          `json:"sku"`
	ProductID  string          `json:"product_id"`
	OnHand     int64           `json:"on_hand"`
	Reserved   int64           `json:"reserved"`
	Available  int64           `json:"available"`
	Version    int64           `json:"version"`
	Warehouses []StockLocation `json:"warehouses"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// StockLocation is the quantity of a SKU in one warehouse: Reserved is what orders
// hold there (never more than OnHand), Available = OnHand - Reserved.
type StockLocation struct {
	Warehouse string `json:"warehouse"`
	OnHand    int64  `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Available int64  `json:"available"`
}

// StockAdjustment is one recorded change of a SKU's on-hand quantity in a warehouse:
// a staff setting or adjustment with its reason, or a fulfilment (OrderID set).
type StockAdjustment struct {
	ID          int64     `json:"id"`
	SKU         string    `json:"sku"`
	Warehouse   string    `json:"warehouse"`
	Delta       int64     `json:"delta"`
	OnHandAfter int64     `json:"on_hand_after"`
	Reason      string    `json:"reason"`
	Actor       string    `json:"actor"`
	OrderID     *string   `json:"order_id"`
	CreatedAt   time.Time `json:"created_at"`
}

// StockAdjustmentPage is one page of a SKU's adjustment ledger, newest first.
type StockAdjustmentPage struct {
	Items      []StockAdjustment `json:"items"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// StockSet is the body of PUT /stock/{sku}: the warehouse's quantity becomes OnHand.
type StockSet struct {
	Warehouse string `json:"warehouse"`
	OnHand    int64  `json:"on_hand"`
	Reason    string `json:"reason"`
}

// StockAdjust is the body of POST /stock/{sku}/adjustments: Delta is added to the
// warehouse's quantity (negative for shrinkage, damage, corrections).
type StockAdjust struct {
	Warehouse string `json:"warehouse"`
	Delta     int64  `json:"delta"`
	Reason    string `json:"reason"`
}

// Inventory limits, mirrored in openapi.yaml.
const (
	MaxOnHand     = 1_000_000_000
	MaxReasonLen  = 200
	MaxLineQty    = 10_000 // units of one SKU in a cart or order
	MaxCartLines  = 100
	MaxIdemKeyLen = 255
)

var warehouseRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidSKU reports whether s has the form of a SKU.
func ValidSKU(s string) bool { return skuRE.MatchString(s) }

func validWarehouse(w string) error {
	if !warehouseRE.MatchString(w) {
		return FieldErrorf("warehouse", "Warehouses are 1 to 63 lower-case letters, digits, dashes and underscores, starting with a letter or digit.")
	}
	return nil
}

func validReason(r string, required bool) error {
	if required && strings.TrimSpace(r) == "" {
		return FieldErrorf("reason", "Say why the stock changes.")
	}
	return ValidText("reason", r, MaxReasonLen)
}

// Validate checks a StockSet and fills the default reason.
func (in *StockSet) Validate() error {
	if err := validWarehouse(in.Warehouse); err != nil {
		return err
	}
	if in.OnHand < 0 || in.OnHand > MaxOnHand {
		return FieldErrorf("on_hand", "On-hand quantities are whole numbers from 0 to %d.", MaxOnHand)
	}
	if err := validReason(in.Reason, false); err != nil {
		return err
	}
	if strings.TrimSpace(in.Reason) == "" {
		in.Reason = "set"
	}
	return nil
}

// Validate checks a StockAdjust.
func (in *StockAdjust) Validate() error {
	if err := validWarehouse(in.Warehouse); err != nil {
		return err
	}
	if in.Delta == 0 || in.Delta < -MaxOnHand || in.Delta > MaxOnHand {
		return FieldErrorf("delta", "Deltas are non-zero whole numbers from -%d to %d.", MaxOnHand, MaxOnHand)
	}
	return validReason(in.Reason, true)
}

// InventoryService manages the stock of the tenant in ctx. Every change of a SKU's
// availability appends a stock.changed event (events.Stock) in the same transaction.
type InventoryService interface {
	// GetStock returns a SKU's stock, after releasing its expired reservations; a
	// catalog SKU without stock has zeros. Errors: ErrNotFound (no such SKU).
	GetStock(ctx context.Context, sku string) (*Stock, error)
	// SetStock sets one warehouse's quantity and records the adjustment.
	// Errors: ErrInvalid, ErrNotFound, ErrStockReserved (the warehouse would hold
	// fewer units than orders reserved there).
	SetStock(ctx context.Context, sku string, in StockSet) (*Stock, error)
	// AdjustStock adds a delta to one warehouse's quantity and records it.
	// Errors: ErrInvalid, ErrNotFound, ErrConflict (negative), ErrStockReserved
	// (below what orders reserved in the warehouse).
	AdjustStock(ctx context.Context, sku string, in StockAdjust) (*Stock, error)
	// ListAdjustments pages through a SKU's ledger, newest first.
	// Errors: ErrInvalid (limit, cursor), ErrNotFound.
	ListAdjustments(ctx context.Context, sku string, limit int, cursor string) (*StockAdjustmentPage, error)
}
