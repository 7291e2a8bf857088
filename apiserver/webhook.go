package apiserver

import (
	"context"
	"time"
)

// WebhookEndpoint is an HTTP endpoint a tenant's staff registered to receive the
// tenant's events, signed with its secret (internal/webhook describes the scheme).
type WebhookEndpoint struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Description string    `json:"description"`
	EventTypes  []string  `json:"event_types"`
	Enabled     bool      `json:"enabled"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// FailingSince is the first failure since the last success; after the platform's
	// limit (24 h by default) the endpoint is disabled: DisabledAt and DisabledReason
	// say when and why, and the tenant's admins are e-mailed.
	FailingSince   *time.Time `json:"failing_since"`
	DisabledAt     *time.Time `json:"disabled_at"`
	DisabledReason string     `json:"disabled_reason"`
	// PreviousSecretExpiresAt is set after a rotation: until then deliveries are
	// signed with the previous secret too.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	// Secret is only returned when it is made: at creation and rotation.
	Secret string `json:"secret,omitempty"`
}

// WebhookEndpointInput creates (every field but Enabled) or changes (the fields
// present) an endpoint.
type WebhookEndpointInput struct {
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	EventTypes  *[]string `json:"event_types"`
	Enabled     *bool     `json:"enabled"`
}

// WebhookDelivery is one event sent (or to be sent) to one endpoint, with its attempts.
type WebhookDelivery struct {
	ID            string           `json:"id"`
	EventID       string           `json:"event_id"`
	EventType     string           `json:"event_type"`
	Status        string           `json:"status"` // pending, succeeded, failed
	Attempts      int              `json:"attempts"`
	LastStatus    *int             `json:"last_status"`
	LastError     string           `json:"last_error"`
	NextAttemptAt *time.Time       `json:"next_attempt_at"` // pending only
	CreatedAt     time.Time        `json:"created_at"`
	FinishedAt    *time.Time       `json:"finished_at"`
	AttemptLog    []WebhookAttempt `json:"attempt_log"`
}

// WebhookAttempt is one HTTP exchange of a delivery.
type WebhookAttempt struct {
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
	StatusCode *int      `json:"status_code"` // nil: no answer (timeout, connection error, refused address)
	Error      string    `json:"error"`
	LatencyMS  int       `json:"latency_ms"`
}

// Webhook limits.
const (
	MaxWebhookEndpoints  = 20
	DefaultSecretOverlap = 24 * time.Hour
	MaxSecretOverlap     = 7 * 24 * time.Hour
)

// WebhookService manages a tenant's endpoints and reads their delivery logs. Every
// method works in the tenant of ctx and needs a staff principal (the HTTP layer
// checks the role).
type WebhookService interface {
	// CreateEndpoint registers an endpoint and returns it with its secret.
	// ErrInvalid (a URL refused by the SSRF guard, an unknown event type),
	// ErrConflict (more than MaxWebhookEndpoints).
	CreateEndpoint(ctx context.Context, in WebhookEndpointInput) (*WebhookEndpoint, error)
	// Endpoints lists the tenant's endpoints.
	Endpoints(ctx context.Context) ([]WebhookEndpoint, error)
	// Endpoint returns one. ErrNotFound.
	Endpoint(ctx context.Context, id string) (*WebhookEndpoint, error)
	// UpdateEndpoint changes the fields present; enabling clears the disablement.
	// ErrNotFound, ErrInvalid.
	UpdateEndpoint(ctx context.Context, id string, in WebhookEndpointInput) (*WebhookEndpoint, error)
	// DeleteEndpoint removes an endpoint and its deliveries. ErrNotFound.
	DeleteEndpoint(ctx context.Context, id string) error
	// RotateSecret makes a new secret; the current one keeps signing for overlap.
	// ErrNotFound, ErrInvalid (overlap outside 0..MaxSecretOverlap).
	RotateSecret(ctx context.Context, id string, overlap time.Duration) (*WebhookEndpoint, error)
	// Deliveries returns the endpoint's latest deliveries, newest first, with their
	// attempts. ErrNotFound.
	Deliveries(ctx context.Context, endpointID string, limit int) ([]WebhookDelivery, error)
	// Redeliver sends a finished delivery again (it goes back in line, in order with
	// the other events of its aggregate). ErrNotFound, ErrConflict (still pending).
	Redeliver(ctx context.Context, endpointID, deliveryID string) (*WebhookDelivery, error)
}
