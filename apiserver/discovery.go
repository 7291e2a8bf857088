package apiserver

import (
	"context"
	"io"
	"net/url"

	"github.com/kommerce/kommerce/internal/search"
)

// SearchService runs shoppers' product searches in the request's tenant. The
// storefront, whose index and settings apply, is the one host is mapped to, else
// "default". Parameters are passed as the request has them, because the search
// package owns their parsing and bounds (docs/search.md).
type SearchService interface {
	// Search answers GET /api/v1/search. Errors: ErrInvalid (Field names the
	// parameter), ErrUnavailable (the engine is down or not configured), ErrInternal.
	Search(ctx context.Context, host string, params url.Values) (*search.Result, error)
	// Suggest answers GET /api/v1/search/suggest. Errors: as Search.
	Suggest(ctx context.Context, host string, params url.Values) ([]search.Suggestion, error)
}

// BehaviourService records what shoppers do (views, clicks, add to cart, searches,
// purchases) for the models and experiments. Events are not stored in PostgreSQL:
// their durability promise is the broker's acknowledgement.
type BehaviourService interface {
	// Record validates a POST /api/v1/events body and publishes its events for the
	// request's tenant, attributed to the signed-in user if any. It returns how many
	// events were accepted. Errors: ErrInvalid (Field is the JSON path at fault),
	// ErrPayloadTooLarge, ErrUnavailable (the broker did not acknowledge).
	Record(ctx context.Context, body io.Reader) (int, error)
}

// RecommendationService recommends products of the request's tenant.
type RecommendationService interface {
	// Recommend answers GET /api/v1/recommendations. A failing model never fails the
	// request: the answer falls back to popularity. Errors: ErrInvalid (Field names the
	// parameter) only.
	Recommend(ctx context.Context, host string, params url.Values) (*Recommendation, error)
}

// Recommendation is one answer of the recommendation service and where it came from.
type Recommendation struct {
	Items []RecommendedProduct `json:"items"`
	// Source is "model" or "popularity"; FallbackReason says why popularity answered.
	Source         string `json:"source"`
	FallbackReason string `json:"fallback_reason,omitempty"`
	Model          string `json:"model,omitempty"`
	Version        string `json:"version,omitempty"`
	// RequestID names this answer in the exposure event; clients send it back in the
	// context of click events so clicks can be attributed.
	RequestID string `json:"request_id"`
}

// RecommendedProduct is the summary of a recommended product a storefront needs to
// render a tile: always a published, non-deleted product of the tenant.
type RecommendedProduct struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Images []string `json:"images"`
	// Prices holds the lowest variant price per currency.
	Prices []Price `json:"prices"`
}
