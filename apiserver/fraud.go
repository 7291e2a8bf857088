package apiserver

import "time"

// FraudOrder is what checkout knows about an order before placing it: the inputs of
// the fraud model's features (inference/features.FraudFeatures), including the two
// answers about earlier orders that the order store gives.
type FraudOrder struct {
	// Customer is the account id, or the guest's lower-case email.
	Customer        string
	Guest           bool
	At              time.Time
	Amount          int64 // total in minor units
	Currency        string
	Lines           int
	Quantity        int
	AccountAge      time.Duration // zero for guests
	ShippingCountry string
	BillingCountry  string
	// ClientIP identifies the client address (a hash: only equality matters).
	ClientIP string
	// OtherCustomersOnIP counts other customers who ordered from ClientIP in the 30
	// days before At; CustomerOrders the customer's orders in the 24 hours before At.
	OtherCustomersOnIP int
	CustomerOrders     int
}

// FraudScorer scores orders with one fraud model version. It is called outside any
// transaction that locks stock, and only when both a model is configured and the
// storefront has a FraudPolicy.
type FraudScorer interface {
	Score(o FraudOrder, p FraudPolicy) FraudDecision
}
