package apiserver

import (
	"context"
	"time"
)

// Cart statuses.
const (
	CartActive     = "active"
	CartCheckedOut = "checked_out"
	CartMerged     = "merged"
)

// Problems of a cart line, which keep the cart from being checked out until fixed.
const (
	LineUnknownSKU        = "unknown_sku"        // the product was deleted or unpublished
	LinePriceUnavailable  = "price_unavailable"  // no price in the cart's currency
	LineInsufficientStock = "insufficient_stock" // more than is available now
)

// Cart is a shopper's cart as the API shows it: prices, availability and totals are
// computed from the catalog and the stock on every read, so a price change shows up
// at once and is never charged silently at the old price.
type Cart struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	CustomerID *string    `json:"customer_id"`
	Currency   string     `json:"currency"`
	Lines      []CartLine `json:"lines"`
	ItemCount  int64      `json:"item_count"`
	Subtotal   int64      `json:"subtotal"`
	Shipping   int64      `json:"shipping"`
	Tax        int64      `json:"tax"`
	Total      int64      `json:"total"`
	// OrderID is set once the cart is checked out.
	OrderID *string `json:"order_id"`
	// Token is the guest cart's secret, returned only by the request that created it.
	Token     string    `json:"token,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CartLine is one SKU in a cart. Lines with a Problem count towards no total.
type CartLine struct {
	ID        string `json:"id"`
	SKU       string `json:"sku"`
	ProductID string `json:"product_id,omitempty"`
	Name      string `json:"name"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
	Amount    int64  `json:"amount"`
	Available int64  `json:"available"`
	Problem   string `json:"problem,omitempty"`
}

// CartItemInput is the body of POST /carts/{id}/items: Quantity units of SKU are
// added to the cart (to its line of that SKU if there is one).
type CartItemInput struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// Validate checks the SKU's form and the quantity's range.
func (in CartItemInput) Validate() error {
	if !ValidSKU(in.SKU) {
		return FieldErrorf("sku", "SKUs are 1 to 64 letters, digits, dots, dashes and underscores, starting with a letter or digit.")
	}
	return validQuantity(in.Quantity)
}

func validQuantity(q int64) error {
	if q < 1 || q > MaxLineQty {
		return FieldErrorf("quantity", "Quantities are whole numbers from 1 to %d.", MaxLineQty)
	}
	return nil
}

// ValidateLineQuantity checks the quantity of PATCH /carts/{id}/items/{line_id}.
func ValidateLineQuantity(q int64) error { return validQuantity(q) }

// CartRef names a cart and carries the guest token the request presented
// (X-Cart-Token). A guest cart needs its token; a customer cart needs its owner
// signed in. Anything else is ErrNotFound, so a cart's existence never leaks.
type CartRef struct {
	ID    string
	Token string
}

// CartService manages the carts of the tenant in ctx for the principal in ctx (nil
// for guests).
type CartService interface {
	// CreateCart starts a guest cart with a token, or returns the signed-in customer's
	// active cart, creating it if needed (created reports which).
	CreateCart(ctx context.Context) (cart *Cart, created bool, err error)
	// GetCart errors: ErrNotFound.
	GetCart(ctx context.Context, ref CartRef) (*Cart, error)
	// AddItem errors: ErrInvalid, ErrNotFound, ErrUnknownSKU, ErrPriceUnavailable,
	// ErrInsufficientStock (the line would exceed what is available), ErrCartClosed;
	// ErrInvalid also when the cart already has MaxCartLines lines.
	AddItem(ctx context.Context, ref CartRef, in CartItemInput) (*Cart, error)
	// SetItemQuantity errors: as AddItem.
	SetItemQuantity(ctx context.Context, ref CartRef, lineID string, quantity int64) (*Cart, error)
	// RemoveItem errors: ErrNotFound, ErrCartClosed.
	RemoveItem(ctx context.Context, ref CartRef, lineID string) (*Cart, error)
	// MergeGuestCart moves the lines of the guest cart with token into the customer's
	// active cart (quantities added, each capped at what is available) and closes
	// the guest cart; called at login. It returns the customer's cart id, "" when the
	// token names no active guest cart.
	MergeGuestCart(ctx context.Context, customerID, token string) (string, error)
}
