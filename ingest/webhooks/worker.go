package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/ingest/webhooks/webhookdb"
	"github.com/kommerce/kommerce/internal/secretbox"
	"github.com/kommerce/kommerce/internal/webhook"
)

// Disabled is what a Notifier hears when an endpoint was turned off.
type Disabled struct {
	TenantID, EndpointID, URL, Reason string
}

// Notifier tells a tenant that one of its endpoints was disabled (an e-mail to its
// admins: notify.AdminNotifier).
type Notifier interface {
	EndpointDisabled(ctx context.Context, tenantID, endpointID, url, reason string) error
}

// WorkerConfig configures the delivery worker; zero values get the defaults in brackets.
type WorkerConfig struct {
	Pool    *pgxpool.Pool
	Secrets *secretbox.Keyring // opens the endpoints' sealed secrets
	Guard   webhook.Guard
	// Timeout of one POST, the whole exchange [10s].
	Timeout time.Duration
	// Concurrency is how many deliveries are in flight at once [8].
	Concurrency int
	// Poll is how often due deliveries are looked for when there were none [500ms].
	Poll time.Duration
	// Backoff is the first retry delay; it doubles per attempt up to MaxBackoff, with
	// ±20 % jitter [10s, 1h].
	Backoff    time.Duration
	MaxBackoff time.Duration
	// DisableAfter is how long an endpoint may fail without a success before it is
	// disabled and the tenant told [24h].
	DisableAfter time.Duration
	Notifier     Notifier
	Log          *slog.Logger
}

// Worker posts due deliveries.
type Worker struct {
	cfg    WorkerConfig
	client *http.Client
}

// NewWorker returns a worker.
func NewWorker(cfg WorkerConfig) *Worker {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 10 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Hour
	}
	if cfg.DisableAfter <= 0 {
		cfg.DisableAfter = 24 * time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, client: cfg.Guard.Client(cfg.Timeout)}
}

// Run delivers until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		n, err := w.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			w.cfg.Log.Warn("webhook deliveries", "err", err)
		}
		if n == 0 || err != nil {
			t := time.NewTimer(w.cfg.Poll)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	return nil
}

// RunOnce claims one round of due deliveries and posts them; it returns how many.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	var due []webhookdb.ClaimDueRow
	lease := time.Now().Add(w.cfg.Timeout + 30*time.Second)
	err := pgx.BeginFunc(ctx, w.cfg.Pool, func(tx pgx.Tx) error {
		q := webhookdb.New(tx)
		if err := q.PlatformScope(ctx); err != nil {
			return err
		}
		var err error
		due, err = q.ClaimDue(ctx, webhookdb.ClaimDueParams{LeaseUntil: lease, MaxRows: int32(w.cfg.Concurrency * 16)})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("claim deliveries: %w", err)
	}
	// POST concurrently, then record every outcome in one transaction: one commit per
	// round instead of one per delivery. A crash between the POSTs and the commit
	// sends the round again once the lease ends (receivers de-duplicate on the event id).
	outs := make([]outcome, len(due))
	sem := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, d := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			outs[i] = w.post(ctx, d)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return len(due), nil // shutting down: the lease runs out and they are tried again
	}
	var disabled []Disabled
	err = pgx.BeginFunc(context.WithoutCancel(ctx), w.cfg.Pool, func(tx pgx.Tx) error {
		disabled = disabled[:0]
		q := webhookdb.New(tx)
		if err := q.PlatformScope(ctx); err != nil {
			return err
		}
		for i, d := range due {
			dis, err := w.record(ctx, q, d, outs[i])
			if err != nil {
				return fmt.Errorf("record delivery %s: %w", d.ID, err)
			}
			if dis != nil {
				disabled = append(disabled, *dis)
			}
		}
		return nil
	})
	if err != nil {
		return len(due), err
	}
	for _, d := range disabled {
		log := w.cfg.Log.With("tenant", d.TenantID, "endpoint", d.EndpointID)
		log.Warn("webhook endpoint disabled", "reason", d.Reason)
		if w.cfg.Notifier != nil {
			if err := w.cfg.Notifier.EndpointDisabled(ctx, d.TenantID, d.EndpointID, d.URL, d.Reason); err != nil {
				// The endpoint's disabled_at and disabled_reason say it too.
				log.Warn("tell tenant about disabled endpoint", "err", err)
			}
		}
	}
	return len(due), nil
}

// outcome of one POST.
type outcome struct {
	status  int // 0 when no answer
	err     string
	retry   bool
	latency time.Duration
}

func (w *Worker) post(ctx context.Context, d webhookdb.ClaimDueRow) outcome {
	secrets, err := w.secrets(d)
	if err != nil {
		return outcome{err: err.Error()}
	}
	now := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Url, bytes.NewReader(d.Payload))
	if err != nil {
		return outcome{err: "bad endpoint URL: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kommerce-webhooks/1")
	req.Header.Set(webhook.HeaderSignature, webhook.Sign(now, d.Payload, secrets...))
	req.Header.Set(webhook.HeaderEventID, d.EventID)
	req.Header.Set(webhook.HeaderEventType, d.EventType)
	req.Header.Set(webhook.HeaderDelivery, d.ID)
	start := time.Now()
	resp, err := w.client.Do(req)
	lat := time.Since(start)
	if err != nil {
		if errors.Is(err, webhook.ErrRefused) {
			// The name now points at a refused network: not the receiver's hiccup.
			return outcome{err: err.Error(), latency: lat}
		}
		return outcome{err: err.Error(), retry: true, latency: lat}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	o := outcome{status: resp.StatusCode, latency: lat}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
	case resp.StatusCode >= 500:
		o.retry, o.err = true, resp.Status
	default:
		o.err = resp.Status // 3xx and 4xx: the receiver's answer, not retried
	}
	return o
}

func (w *Worker) secrets(d webhookdb.ClaimDueRow) ([]string, error) {
	open := func(col, v string) (string, error) {
		if w.cfg.Secrets == nil {
			if _, sealed := secretbox.Sealed([]byte(v)); sealed {
				return "", errors.New("endpoint secret is sealed and no secrets key is loaded")
			}
			return v, nil
		}
		p, _, err := w.cfg.Secrets.Open(d.TenantID, col, []byte(v))
		return string(p), err
	}
	cur, err := open(webhook.SecretColumn, d.Secret)
	if err != nil {
		return nil, fmt.Errorf("open endpoint secret: %w", err)
	}
	out := []string{cur}
	if d.PreviousSecret.Valid && d.PreviousExpiresAt != nil && d.PreviousExpiresAt.After(time.Now()) {
		prev, err := open(webhook.PreviousSecretColumn, d.PreviousSecret.String)
		if err != nil {
			return nil, fmt.Errorf("open previous endpoint secret: %w", err)
		}
		out = append(out, prev)
	}
	return out, nil
}

// record writes one attempt and its outcome: the delivery's status and next try, the
// endpoint's failure state; it returns the endpoint when this outcome disabled it.
func (w *Worker) record(ctx context.Context, q *webhookdb.Queries, d webhookdb.ClaimDueRow, o outcome) (*Disabled, error) {
	attempt := d.Attempts + 1
	status, next := "succeeded", time.Now()
	switch {
	case o.err == "":
	case o.retry:
		status, next = "pending", time.Now().Add(w.backoff(attempt))
	default:
		status = "failed"
	}
	var code pgtype.Int4
	if o.status != 0 {
		code = pgtype.Int4{Int32: int32(o.status), Valid: true}
	}
	errText := o.err
	if len(errText) > 1000 {
		errText = errText[:1000]
	}
	if o.err != "" {
		w.cfg.Log.Info("webhook delivery failed", "tenant", d.TenantID, "endpoint", d.EndpointID, "delivery", d.ID,
			"attempt", attempt, "status", o.status, "err", o.err, "retry", o.retry)
	}
	if err := q.RecordAttempt(ctx, webhookdb.RecordAttemptParams{
		TenantID: d.TenantID, DeliveryID: d.ID, Attempt: attempt, StatusCode: code, Error: errText, LatencyMs: int32(o.latency.Milliseconds()),
	}); err != nil {
		return nil, err
	}
	if err := q.FinishDelivery(ctx, webhookdb.FinishDeliveryParams{
		Status: status, Attempts: attempt, LastStatus: code, LastError: errText, NextAttemptAt: next, TenantID: d.TenantID, ID: d.ID,
	}); err != nil {
		return nil, err
	}
	if status == "succeeded" {
		return nil, q.EndpointSucceeded(ctx, webhookdb.EndpointSucceededParams{TenantID: d.TenantID, ID: d.EndpointID})
	}
	if status == "failed" && o.status >= 400 && o.status < 500 {
		// The receiver answered: it is up, it refused this one event.
		return nil, nil
	}
	since, err := q.EndpointFailed(ctx, webhookdb.EndpointFailedParams{TenantID: d.TenantID, ID: d.EndpointID})
	if err != nil {
		return nil, err
	}
	if time.Since(since) < w.cfg.DisableAfter {
		return nil, nil
	}
	reason := fmt.Sprintf("failing since %s without a success; last error: %s", since.UTC().Format(time.RFC3339), errText)
	n, err := q.DisableEndpoint(ctx, webhookdb.DisableEndpointParams{Reason: reason, TenantID: d.TenantID, ID: d.EndpointID})
	if err != nil || n == 0 {
		return nil, err
	}
	return &Disabled{TenantID: d.TenantID, EndpointID: d.EndpointID, URL: d.Url, Reason: reason}, nil
}

// backoff is the delay before attempt+1: Backoff·2^(attempt-1), capped, ±20 %.
func (w *Worker) backoff(attempt int32) time.Duration {
	d := w.cfg.Backoff
	for i := int32(1); i < attempt && d < w.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.cfg.MaxBackoff)
	jitter := time.Duration((rand.Float64()*0.4 - 0.2) * float64(d))
	return d + jitter
}
