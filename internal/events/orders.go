package events

import "time"

// Order is the data of order.created events: the order's facts at checkout,
// including the ones fraud training reads (customer, countries, client IP, payment
// attempts).
type Order struct {
	ID                string      `json:"id"`
	Status            string      `json:"status"`
	Storefront        string      `json:"storefront"`
	CustomerID        string      `json:"customer_id"` // empty for a guest
	Guest             bool        `json:"guest"`
	CustomerCreatedAt *time.Time  `json:"customer_created_at,omitempty"` // the account's creation; absent for guests
	Total             Price       `json:"total"`
	Subtotal          int64       `json:"subtotal"` // minor units of Total.Currency, as are Shipping and Tax
	Shipping          int64       `json:"shipping"`
	Tax               int64       `json:"tax"`
	Lines             []OrderLine `json:"lines"`
	ShippingCountry   string      `json:"shipping_country"`
	BillingCountry    string      `json:"billing_country"`
	ClientIP          string      `json:"client_ip"` // a hash: only equality between orders matters
	PaymentAttempts   int         `json:"payment_attempts"`
	Review            bool        `json:"review"` // held for a person by the fraud policy
	Version           int64       `json:"version"`
	CreatedAt         time.Time   `json:"created_at"`
}

// OrderLine is one product line of an order.created event; amounts are minor units.
type OrderLine struct {
	SKU       string `json:"sku"`
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
	Amount    int64  `json:"amount"`
}

// OrderTransition is the data of order.transitioned events: one step of an order's
// state machine. To "refunded" with Reason "fraud" labels the order as fraud for
// training.
type OrderTransition struct {
	OrderID string    `json:"order_id"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Actor   string    `json:"actor"`
	Reason  string    `json:"reason"`
	Version int64     `json:"version"`
	At      time.Time `json:"at"`
}

// Payment is the data of payment.updated events: an order's payment after a
// change (intent created, succeeded, failed, refunded, disputed). Status "disputed"
// with Reason "fraudulent" labels the order as fraud for training.
type Payment struct {
	OrderID         string    `json:"order_id"`
	PaymentID       string    `json:"payment_id"`
	IntentID        string    `json:"intent_id,omitempty"`
	Status          string    `json:"status"`
	Reason          string    `json:"reason,omitempty"`
	Amount          int64     `json:"amount"`
	AmountReceived  int64     `json:"amount_received"`
	AmountRefunded  int64     `json:"amount_refunded"`
	Currency        string    `json:"currency"`
	Attempts        int       `json:"attempts"`
	RefundID        string    `json:"refund_id,omitempty"`
	DisputeID       string    `json:"dispute_id,omitempty"`
	Source          string    `json:"source"` // api | stripe
	StripeEventID   string    `json:"stripe_event_id,omitempty"`
	StripeEventType string    `json:"stripe_event_type,omitempty"`
	Version         int64     `json:"version"`
	At              time.Time `json:"at"`
}
