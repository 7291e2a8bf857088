package apiserver

import (
	"context"
	"regexp"
	"strings"
	"time"
)

// OrderStatus is a state of the order state machine.
type OrderStatus string

// Order states. pending_payment holds stock until the storefront's reservation TTL
// runs out; paid holds it until fulfilment, which takes it from a warehouse.
const (
	OrderPendingPayment OrderStatus = "pending_payment"
	OrderPaid           OrderStatus = "paid"
	OrderFulfilled      OrderStatus = "fulfilled"
	OrderShipped        OrderStatus = "shipped"
	OrderDelivered      OrderStatus = "delivered"
	OrderCancelled      OrderStatus = "cancelled"
	OrderRefunded       OrderStatus = "refunded"
)

// OrderStatuses lists every state in the order of the happy path, then the ends.
var OrderStatuses = []OrderStatus{OrderPendingPayment, OrderPaid, OrderFulfilled, OrderShipped, OrderDelivered, OrderCancelled, OrderRefunded}

// orderTransitions is the state machine: the states each state may move to. An order
// can be cancelled only before it is fulfilled, and refunded only once it was paid.
// cancelled and refunded are final. Payments (a later feature) extend this table,
// not the code that applies it.
var orderTransitions = map[OrderStatus][]OrderStatus{
	OrderPendingPayment: {OrderPaid, OrderCancelled},
	OrderPaid:           {OrderFulfilled, OrderCancelled, OrderRefunded},
	OrderFulfilled:      {OrderShipped, OrderRefunded},
	OrderShipped:        {OrderDelivered, OrderRefunded},
	OrderDelivered:      {OrderRefunded},
}

// Valid reports whether s is a known state.
func (s OrderStatus) Valid() bool {
	for _, v := range OrderStatuses {
		if s == v {
			return true
		}
	}
	return false
}

// CanBecome reports whether the state machine allows s -> to.
func (s OrderStatus) CanBecome(to OrderStatus) bool {
	for _, v := range orderTransitions[s] {
		if v == to {
			return true
		}
	}
	return false
}

// HoldsStock reports whether an order in state s holds reservations.
func (s OrderStatus) HoldsStock() bool { return s == OrderPendingPayment || s == OrderPaid }

// Order line kinds: the items, then shipping and tax as explicit lines.
const (
	LineItem     = "item"
	LineShipping = "shipping"
	LineTax      = "tax"
)

// Order is a placed order. Amounts are integer minor units of Currency, and Total is
// always the sum of the lines' amounts.
type Order struct {
	ID              string            `json:"id"`
	Status          OrderStatus       `json:"status"`
	CartID          string            `json:"cart_id"`
	CustomerID      *string           `json:"customer_id"`
	Email           string            `json:"email"`
	Currency        string            `json:"currency"`
	Lines           []OrderLine       `json:"lines"`
	Subtotal        int64             `json:"subtotal"`
	Shipping        int64             `json:"shipping"`
	Tax             int64             `json:"tax"`
	Total           int64             `json:"total"`
	ShippingAddress *Address          `json:"shipping_address"`
	BillingAddress  *Address          `json:"billing_address"`
	History         []OrderTransition `json:"history"`
	// ReservationExpiresAt is when an unpaid order's stock is released (and the order
	// cancelled); nil once paid.
	ReservationExpiresAt *time.Time `json:"reservation_expires_at"`
	// Review and Fraud are for staff only (see ForCustomer).
	Review    bool           `json:"review,omitempty"`
	Fraud     *FraudDecision `json:"fraud,omitempty"`
	Version   int64          `json:"version"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// ForCustomer returns the order without what only staff may see: the fraud score
// and the review mark (telling a fraudster which orders look suspicious helps them).
func (o *Order) ForCustomer() *Order {
	c := *o
	c.Review, c.Fraud = false, nil
	return &c
}

// OrderLine is an item, the shipping fee or the tax of an order.
type OrderLine struct {
	Kind      string  `json:"kind"`
	SKU       *string `json:"sku"`
	ProductID *string `json:"product_id"`
	Name      string  `json:"name"`
	Quantity  int64   `json:"quantity"`
	UnitPrice int64   `json:"unit_price"`
	Amount    int64   `json:"amount"`
}

// OrderTransition is one step of an order's history.
type OrderTransition struct {
	From   *OrderStatus `json:"from"`
	To     OrderStatus  `json:"to"`
	Actor  string       `json:"actor"`
	Reason string       `json:"reason"`
	At     time.Time    `json:"at"`
}

// FraudDecision is the fraud model's verdict on an order at checkout.
type FraudDecision struct {
	Score   float64 `json:"score"`
	Action  string  `json:"action"` // allow, or the storefront policy's log, review or block
	Model   string  `json:"model"`
	Version string  `json:"version"`
}

// Address is a postal address; only Country is required (ISO 3166-1 alpha-2).
type Address struct {
	Name       string `json:"name,omitempty"`
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Region     string `json:"region,omitempty"`
	Country    string `json:"country"`
}

var countryRE = regexp.MustCompile(`^[A-Z]{2}$`)

func (a *Address) validate(field string) error {
	if a == nil {
		return nil
	}
	if !countryRE.MatchString(a.Country) {
		return FieldErrorf(field+".country", "Countries are ISO 3166-1 alpha-2 codes such as DE.")
	}
	for name, v := range map[string]string{"name": a.Name, "line1": a.Line1, "line2": a.Line2, "city": a.City, "postal_code": a.PostalCode, "region": a.Region} {
		if err := ValidText(field+"."+name, v, 200); err != nil {
			return err
		}
	}
	return nil
}

// CheckoutInput is the body of POST /carts/{id}/checkout. Email is required for
// guests and defaults to the account's for customers. BillingAddress defaults to the
// shipping address.
type CheckoutInput struct {
	Email           string   `json:"email,omitempty"`
	ShippingAddress *Address `json:"shipping_address,omitempty"`
	BillingAddress  *Address `json:"billing_address,omitempty"`
}

// Validate checks the input.
func (in *CheckoutInput) Validate() error {
	if in.Email != "" {
		in.Email = strings.TrimSpace(in.Email)
		if err := ValidateEmail(in.Email); err != nil {
			return err
		}
	}
	if err := in.ShippingAddress.validate("shipping_address"); err != nil {
		return err
	}
	return in.BillingAddress.validate("billing_address")
}

// CheckoutRequest is one checkout attempt. IdempotencyKey is required: the first
// outcome for a key (an order or an error) is the outcome of every retry with it.
type CheckoutRequest struct {
	Cart           CartRef
	IdempotencyKey string
	Input          CheckoutInput
	// ClientIP is the shopper's address, for the fraud features (stored hashed only).
	ClientIP string
}

// ValidIdempotencyKey reports whether k can be an Idempotency-Key: 1 to 255
// printable ASCII characters.
func ValidIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > MaxIdemKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// TransitionRequest moves an order to To. Actor is set only by trusted callers in the
// server (payments, the reservation sweeper); requests from the API leave it empty
// and act as their principal: staff may make any allowed transition, a customer may
// only cancel their own unpaid order.
type TransitionRequest struct {
	To     OrderStatus `json:"to"`
	Reason string      `json:"reason"`
	Actor  string      `json:"-"`
}

// OrderFilter selects a page of orders, newest first.
type OrderFilter struct {
	Status OrderStatus // "" for any
	Limit  int
	Cursor string
}

// Normalize applies defaults and checks the bounds.
func (f *OrderFilter) Normalize() error {
	if f.Limit == 0 {
		f.Limit = DefaultPageSize
	}
	if f.Limit < 1 || f.Limit > MaxPageSize {
		return FieldErrorf("limit", "Limit must be between 1 and %d.", MaxPageSize)
	}
	if f.Status != "" && !f.Status.Valid() {
		return FieldErrorf("status", "Status must be one of the order states.")
	}
	return ValidText("cursor", f.Cursor, 200)
}

// OrderPage is one page of orders.
type OrderPage struct {
	Items      []*Order `json:"items"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// OrderService places and manages the orders of the tenant in ctx. Customers see only
// their own orders, staff all of the tenant's; a guest sees an order with the token
// of the cart it came from.
type OrderService interface {
	// Checkout turns a cart into an order: it reserves the stock, creates the order
	// and appends order.created (and stock.changed) to the outbox in one transaction.
	// replayed is true when the answer is the stored first outcome of the key.
	// Errors: ErrInvalid, ErrNotFound, ErrCartEmpty, ErrCartClosed, ErrUnknownSKU,
	// ErrPriceUnavailable, ErrInsufficientStock, ErrIdempotencyKeyReused,
	// ErrFraudBlocked.
	Checkout(ctx context.Context, req CheckoutRequest) (order *Order, replayed bool, err error)
	// GetOrder errors: ErrNotFound (also for orders the caller may not see).
	GetOrder(ctx context.Context, id, cartToken string) (*Order, error)
	// ListOrders errors: ErrInvalid.
	ListOrders(ctx context.Context, f OrderFilter) (*OrderPage, error)
	// Transition applies one step of the state machine with its effects on stock and
	// appends order.transitioned (and stock.changed) to the outbox.
	// Errors: ErrInvalid, ErrNotFound, ErrForbidden, ErrInvalidTransition.
	Transition(ctx context.Context, id string, req TransitionRequest) (*Order, error)
}
