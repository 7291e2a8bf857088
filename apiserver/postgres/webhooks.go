package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/secretbox"
	"github.com/kommerce/kommerce/internal/webhook"
)

// WebhookService implements apiserver.WebhookService. Secrets are sealed with Box
// (like the Stripe keys); Guard refuses endpoints on internal networks.
type WebhookService struct {
	DB    *DB
	Box   *secretbox.Keyring
	Guard webhook.Guard
}

var _ apiserver.WebhookService = (*WebhookService)(nil)

func endpointOf(e dbq.WebhookEndpoint) *apiserver.WebhookEndpoint {
	out := &apiserver.WebhookEndpoint{
		ID: e.ID, URL: e.Url, Description: e.Description, EventTypes: e.EventTypes, Enabled: e.Enabled,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, FailingSince: e.FailingSince, DisabledAt: e.DisabledAt,
		DisabledReason: e.DisabledReason,
	}
	if e.PreviousExpiresAt != nil && e.PreviousExpiresAt.After(time.Now()) {
		out.PreviousSecretExpiresAt = e.PreviousExpiresAt
	}
	return out
}

func (s *WebhookService) seal(tenantID, column, v string) (string, error) {
	if s.Box == nil {
		return v, nil
	}
	b, err := s.Box.Seal(tenantID, column, []byte(v))
	return string(b), err
}

// check validates the URL (the SSRF guard resolves it) and the event types.
func (s *WebhookService) check(ctx context.Context, in apiserver.WebhookEndpointInput) error {
	if in.URL != nil {
		if len(*in.URL) > 2000 {
			return apiserver.FieldErrorf("url", "The URL is longer than 2000 characters.")
		}
		if u, err := url.Parse(*in.URL); err == nil && u.Fragment != "" {
			return apiserver.FieldErrorf("url", "The URL has a fragment; remove the part after #.")
		}
		if err := s.Guard.CheckURL(ctx, *in.URL); err != nil {
			return apiserver.FieldErrorf("url", "The endpoint is refused: %v.", err)
		}
	}
	if in.Description != nil {
		if err := apiserver.ValidText("description", *in.Description, 500); err != nil {
			return err
		}
	}
	if in.EventTypes != nil {
		ts := *in.EventTypes
		if len(ts) == 0 || len(ts) > 50 {
			return apiserver.FieldErrorf("event_types", "Give 1 to 50 event types (or \"*\").")
		}
		for i, t := range ts {
			if err := webhook.ValidEventType(t); err != nil {
				return apiserver.FieldErrorf(fmt.Sprintf("event_types[%d]", i), "%v.", err)
			}
			if slices.Contains(ts[:i], t) {
				return apiserver.FieldErrorf(fmt.Sprintf("event_types[%d]", i), "%q is listed twice.", t)
			}
		}
	}
	return nil
}

// CreateEndpoint implements apiserver.WebhookService.
func (s *WebhookService) CreateEndpoint(ctx context.Context, in apiserver.WebhookEndpointInput) (*apiserver.WebhookEndpoint, error) {
	if in.URL == nil {
		return nil, apiserver.FieldErrorf("url", "The endpoint URL is required.")
	}
	if in.EventTypes == nil {
		return nil, apiserver.FieldErrorf("event_types", "The event types are required (\"*\" for all).")
	}
	if in.Enabled != nil {
		return nil, apiserver.FieldErrorf("enabled", "A new endpoint is enabled; change it afterwards with PATCH.")
	}
	if err := s.check(ctx, in); err != nil {
		return nil, err
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
	}
	secret := webhook.NewSecret()
	var out *apiserver.WebhookEndpoint
	err := s.DB.InTenant(ctx, false, func(tx pgx.Tx, q *dbq.Queries, tid string) error {
		// Serialise creations of one tenant so the count holds.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('webhook_endpoints:' || $1, 0))", tid); err != nil {
			return err
		}
		n, err := q.CountWebhookEndpoints(ctx, tid)
		if err != nil {
			return err
		}
		if n >= apiserver.MaxWebhookEndpoints {
			return apiserver.Errorf(apiserver.ErrConflict, "The tenant already has %d webhook endpoints, the most allowed; delete one first.", n)
		}
		sealed, err := s.seal(tid, webhook.SecretColumn, secret)
		if err != nil {
			return err
		}
		e, err := q.InsertWebhookEndpoint(ctx, dbq.InsertWebhookEndpointParams{TenantID: tid, Url: *in.URL, Description: desc, EventTypes: *in.EventTypes, Secret: sealed})
		if err != nil {
			return err
		}
		out = endpointOf(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Secret = secret
	return out, nil
}

// Endpoints implements apiserver.WebhookService.
func (s *WebhookService) Endpoints(ctx context.Context) ([]apiserver.WebhookEndpoint, error) {
	out := []apiserver.WebhookEndpoint{}
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		rows, err := q.WebhookEndpoints(ctx, tid)
		for _, r := range rows {
			out = append(out, *endpointOf(r))
		}
		return err
	})
	return out, err
}

// Endpoint implements apiserver.WebhookService.
func (s *WebhookService) Endpoint(ctx context.Context, id string) (*apiserver.WebhookEndpoint, error) {
	var out *apiserver.WebhookEndpoint
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		e, err := q.WebhookEndpointByID(ctx, dbq.WebhookEndpointByIDParams{TenantID: tid, ID: id})
		if err != nil {
			return notFound(err, "webhook endpoint")
		}
		out = endpointOf(e)
		return nil
	})
	return out, err
}

// UpdateEndpoint implements apiserver.WebhookService.
func (s *WebhookService) UpdateEndpoint(ctx context.Context, id string, in apiserver.WebhookEndpointInput) (*apiserver.WebhookEndpoint, error) {
	if err := s.check(ctx, in); err != nil {
		return nil, err
	}
	var out *apiserver.WebhookEndpoint
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		p := dbq.UpdateWebhookEndpointParams{Url: in.URL, Description: in.Description, Enabled: in.Enabled, TenantID: tid, ID: id}
		if in.EventTypes != nil {
			p.EventTypes = *in.EventTypes
		}
		e, err := q.UpdateWebhookEndpoint(ctx, p)
		if err != nil {
			return notFound(err, "webhook endpoint")
		}
		out = endpointOf(e)
		return nil
	})
	return out, err
}

// DeleteEndpoint implements apiserver.WebhookService.
func (s *WebhookService) DeleteEndpoint(ctx context.Context, id string) error {
	return s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		n, err := q.DeleteWebhookEndpoint(ctx, dbq.DeleteWebhookEndpointParams{TenantID: tid, ID: id})
		if err != nil {
			return notFound(err, "webhook endpoint")
		}
		if n == 0 {
			return apiserver.Errorf(apiserver.ErrNotFound, "No webhook endpoint with that id.")
		}
		return nil
	})
}

// RotateSecret implements apiserver.WebhookService.
func (s *WebhookService) RotateSecret(ctx context.Context, id string, overlap time.Duration) (*apiserver.WebhookEndpoint, error) {
	if overlap < 0 || overlap > apiserver.MaxSecretOverlap {
		return nil, apiserver.FieldErrorf("previous_secret_valid_seconds", "Keep the previous secret for 0 to %d seconds.", int(apiserver.MaxSecretOverlap.Seconds()))
	}
	secret := webhook.NewSecret()
	var out *apiserver.WebhookEndpoint
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		e, err := q.WebhookEndpointByID(ctx, dbq.WebhookEndpointByIDParams{TenantID: tid, ID: id})
		if err != nil {
			return notFound(err, "webhook endpoint")
		}
		cur := []byte(e.Secret)
		if s.Box != nil {
			if cur, _, err = s.Box.Open(tid, webhook.SecretColumn, cur); err != nil {
				return fmt.Errorf("open endpoint secret: %w", err)
			}
		} else if _, sealed := secretbox.Sealed(cur); sealed {
			return errors.New("endpoint secret is sealed and no secrets key is loaded")
		}
		sealed, err := s.seal(tid, webhook.SecretColumn, secret)
		if err != nil {
			return err
		}
		var prev *string
		var prevExp *time.Time
		if overlap > 0 {
			p, err := s.seal(tid, webhook.PreviousSecretColumn, string(cur))
			if err != nil {
				return err
			}
			exp := time.Now().Add(overlap)
			prev, prevExp = &p, &exp
		}
		e, err = q.RotateWebhookSecret(ctx, dbq.RotateWebhookSecretParams{Secret: sealed, PreviousSecret: prev, PreviousExpiresAt: prevExp, TenantID: tid, ID: id})
		if err != nil {
			return err
		}
		out = endpointOf(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Secret = secret
	return out, nil
}

func deliveryOf(id, eventID, eventType, status string, attempts int32, lastStatus *int32, lastErr string, next, created time.Time, finished *time.Time) apiserver.WebhookDelivery {
	d := apiserver.WebhookDelivery{ID: id, EventID: eventID, EventType: eventType, Status: status, Attempts: int(attempts),
		LastError: lastErr, CreatedAt: created, FinishedAt: finished, AttemptLog: []apiserver.WebhookAttempt{}}
	if lastStatus != nil {
		v := int(*lastStatus)
		d.LastStatus = &v
	}
	if status == "pending" {
		d.NextAttemptAt = &next
	}
	return d
}

// Deliveries implements apiserver.WebhookService.
func (s *WebhookService) Deliveries(ctx context.Context, endpointID string, limit int) ([]apiserver.WebhookDelivery, error) {
	out := []apiserver.WebhookDelivery{}
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		if _, err := q.WebhookEndpointByID(ctx, dbq.WebhookEndpointByIDParams{TenantID: tid, ID: endpointID}); err != nil {
			return notFound(err, "webhook endpoint")
		}
		rows, err := q.WebhookDeliveries(ctx, dbq.WebhookDeliveriesParams{TenantID: tid, EndpointID: endpointID, MaxRows: int32(limit)})
		if err != nil {
			return err
		}
		ids := make([]string, len(rows))
		at := map[string]int{}
		for i, r := range rows {
			out = append(out, deliveryOf(r.ID, r.EventID, r.EventType, r.Status, r.Attempts, r.LastStatus, r.LastError, r.NextAttemptAt, r.CreatedAt, r.FinishedAt))
			ids[i], at[r.ID] = r.ID, i
		}
		atts, err := q.WebhookAttemptsOf(ctx, dbq.WebhookAttemptsOfParams{TenantID: tid, DeliveryIds: ids})
		if err != nil {
			return err
		}
		for _, a := range atts {
			wa := apiserver.WebhookAttempt{Attempt: int(a.Attempt), At: a.At, Error: a.Error, LatencyMS: int(a.LatencyMs)}
			if a.StatusCode != nil {
				v := int(*a.StatusCode)
				wa.StatusCode = &v
			}
			out[at[a.DeliveryID]].AttemptLog = append(out[at[a.DeliveryID]].AttemptLog, wa)
		}
		return nil
	})
	return out, err
}

// Redeliver implements apiserver.WebhookService.
func (s *WebhookService) Redeliver(ctx context.Context, endpointID, deliveryID string) (*apiserver.WebhookDelivery, error) {
	var out *apiserver.WebhookDelivery
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		r, err := q.RedeliverWebhook(ctx, dbq.RedeliverWebhookParams{TenantID: tid, EndpointID: endpointID, ID: deliveryID})
		if errors.Is(err, pgx.ErrNoRows) {
			ok, err := q.WebhookDeliveryExists(ctx, dbq.WebhookDeliveryExistsParams{TenantID: tid, EndpointID: endpointID, ID: deliveryID})
			if err != nil {
				return notFound(err, "webhook delivery")
			}
			if ok {
				return apiserver.Errorf(apiserver.ErrConflict, "The delivery is still pending; it is sent as soon as the events before it are.")
			}
			return apiserver.Errorf(apiserver.ErrNotFound, "No webhook delivery with that id.")
		}
		if err != nil {
			return notFound(err, "webhook delivery")
		}
		d := deliveryOf(r.ID, r.EventID, r.EventType, r.Status, r.Attempts, r.LastStatus, r.LastError, r.NextAttemptAt, r.CreatedAt, r.FinishedAt)
		out = &d
		return nil
	})
	return out, err
}
