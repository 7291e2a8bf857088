package events

import "time"

// Behaviour event kinds (Behaviour.Kind).
const (
	BehaviourView      = "view"
	BehaviourClick     = "click"
	BehaviourAddToCart = "add_to_cart"
	BehaviourSearch    = "search"
	BehaviourPurchase  = "purchase"
)

// BehaviourKinds lists every kind, for messages and the API spec.
var BehaviourKinds = []string{BehaviourView, BehaviourClick, BehaviourAddToCart, BehaviourSearch, BehaviourPurchase}

// Behaviour is the data of behaviour.recorded events: what a shopper's app reported
// through POST /api/v1/events — a product viewed or clicked, added to a cart, a
// search, a purchase. The API fills TenantID, UserID and ReceivedAt from the request,
// never from the body.
type Behaviour struct {
	Kind      string `json:"type"` // one of BehaviourKinds
	SessionID string `json:"session_id"`
	ProductID string `json:"product_id,omitempty"`
	SKU       string `json:"sku,omitempty"`
	Quantity  int    `json:"quantity,omitempty"`
	Query     string `json:"query,omitempty"`
	OrderID   string `json:"order_id,omitempty"`
	// Value is an amount in minor units of Currency (purchases, add to cart).
	Value    *int64 `json:"value,omitempty"`
	Currency string `json:"currency,omitempty"`
	// Context carries small extra facts, e.g. {"source": "recommendations", "position": "3"}.
	Context    map[string]string `json:"context,omitempty"`
	OccurredAt time.Time         `json:"occurred_at,omitempty"`

	TenantID   string    `json:"tenant_id"`
	UserID     string    `json:"user_id,omitempty"` // the signed-in shopper, if any
	ReceivedAt time.Time `json:"received_at"`
}

// Exposure is the data of model.exposure events: which arm, model and version
// answered a shopper, and what they were shown. Experiment metrics join it with
// orders to attribute conversions to arms.
type Exposure struct {
	RequestID   string    `json:"request_id"`
	TenantID    string    `json:"tenant_id"`
	Storefront  string    `json:"storefront,omitempty"`
	SubjectKey  string    `json:"subject_key"` // user id or session id the arm was assigned by
	Purpose     string    `json:"purpose"`     // "recommendations"
	Experiment  string    `json:"experiment,omitempty"`
	Arm         string    `json:"arm,omitempty"`
	Model       string    `json:"model,omitempty"`
	Version     string    `json:"version,omitempty"`
	Source      string    `json:"source"`                    // model | popularity
	Fallback    string    `json:"fallback_reason,omitempty"` // why popularity answered
	ContextKind string    `json:"context_kind"`
	Items       []string  `json:"items"`
	At          time.Time `json:"at"`
	// LatencyMs is how long the arm took to answer, in milliseconds (the fallback's
	// time included when it answered); absent from producers that do not measure it.
	LatencyMs *float64 `json:"latency_ms,omitempty"`
}
