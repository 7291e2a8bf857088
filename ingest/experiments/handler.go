package experiments

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/internal/events"
)

// Limits of an event the handler accepts; anything larger is dead-lettered.
const (
	MaxEventBytes = 1 << 20
	MaxKeyBytes   = 200 // ids, experiment and arm names
	MaxItems      = 1000
)

// AnonymousSubject is the subject key the API assigns a shopper with neither a
// session nor a user: not a unit (everyone anonymous would be one), so its
// exposures count in the serving metrics only.
const AnonymousSubject = "anonymous"

// errorReasons are the fallback reasons (inference/recs Reason*) that count as an
// error of the arm: its model failed, timed out or was not asked because of recent
// failures. "arm" (the arm is the fallback) and "no_context" (the model knows none
// of the context) are answers, not errors.
var errorReasons = map[string]bool{"error": true, "timeout": true, "breaker_open": true}

// Handler is the ingest.Handler of the experiments consumer: it reads each
// tenant's behaviour and orders topics and hands exposures, clicks, add-to-carts,
// purchases and orders to the Store. Other events on those topics are skipped.
type Handler struct {
	store Store
	dir   ingest.Directory
	log   *slog.Logger
}

// NewHandler returns the handler recording into store for the tenants in dir.
func NewHandler(store Store, dir ingest.Directory, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{store: store, dir: dir, log: log}
}

// Topics lists the topics the consumer reads: every tenant's behaviour and orders
// streams.
func (h *Handler) Topics(ctx context.Context) ([]string, error) {
	ts, err := h.dir.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range ts {
		out = append(out, events.Topic(t.TopicPrefix, events.StreamBehaviour), events.Topic(t.TopicPrefix, events.StreamOrders))
	}
	return out, nil
}

// Handle implements ingest.Handler: one store call (one transaction) per message,
// so a failing message does not hold back the others.
func (h *Handler) Handle(ctx context.Context, msgs []ingest.Message) []error {
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		errs[i] = h.handle(ctx, m)
	}
	return errs
}

func permanent(format string, args ...any) error {
	return ingest.Permanent(fmt.Errorf(format, args...))
}

func (h *Handler) handle(ctx context.Context, m ingest.Message) error {
	env, err := h.envelope(ctx, m)
	if err != nil {
		return err
	}
	switch env.Type {
	case events.ModelExposure:
		var x events.Exposure
		if err := events.DecodeInto(env.Type, env.Data, &x); err != nil {
			return ingest.Permanent(err)
		}
		e, skip, err := exposure(env, x)
		if err != nil || skip {
			return err
		}
		return h.store.RecordExposure(ctx, env.TenantID, e)
	case events.BehaviourEvent:
		var b events.Behaviour
		if err := events.DecodeInto(env.Type, env.Data, &b); err != nil {
			return ingest.Permanent(err)
		}
		return h.behaviour(ctx, env, b)
	case events.OrderCreated:
		var o events.Order
		if err := events.DecodeInto(env.Type, env.Data, &o); err != nil {
			return ingest.Permanent(err)
		}
		if o.ID == "" || o.ID != env.AggregateID || len(o.ID) > MaxKeyBytes || len(o.CustomerID) > MaxKeyBytes {
			return permanent("order id %q does not match the event's aggregate id %q", o.ID, env.AggregateID)
		}
		if o.Subtotal < 0 || o.CreatedAt.IsZero() {
			return permanent("order %s has a negative subtotal or no created_at", o.ID)
		}
		var units []string
		if o.CustomerID != "" {
			units = []string{o.CustomerID}
		}
		return h.store.RecordOrder(ctx, env.TenantID, units, OrderFact{OrderID: o.ID, Revenue: o.Subtotal, At: o.CreatedAt}, o.Total.Currency)
	case events.OrderTransitioned, events.PaymentUpdated:
		return nil // refunds and payments do not change the analysis (docs/experiments-ingest.md)
	default:
		return permanent("event type %q is not one the experiments consumer knows", env.Type)
	}
}

// envelope validates a message's envelope, its tenant and its topic.
func (h *Handler) envelope(ctx context.Context, m ingest.Message) (events.Envelope, error) {
	var env events.Envelope
	if len(m.Value) > MaxEventBytes {
		return env, permanent("event of %d bytes exceeds the %d-byte limit", len(m.Value), MaxEventBytes)
	}
	if err := json.Unmarshal(m.Value, &env); err != nil {
		return env, permanent("malformed event envelope: %v", err)
	}
	if env.ID == "" || env.Type == "" || env.TenantID == "" || env.AggregateID == "" || len(env.Data) == 0 || bytes.Equal(env.Data, []byte("null")) {
		return env, permanent("event envelope lacks id, type, tenant_id, aggregate_id or data")
	}
	if len(env.ID) > MaxKeyBytes {
		return env, permanent("event id of %d bytes exceeds %d", len(env.ID), MaxKeyBytes)
	}
	tenant, ok, err := h.dir.Tenant(ctx, env.TenantID)
	if err != nil {
		return env, ingest.Unavailable(fmt.Errorf("look up tenant: %w", err))
	}
	if !ok {
		// Retried (then dead-lettered): the directory may not know a tenant created
		// a moment ago yet.
		return env, fmt.Errorf("event of unknown tenant %q", env.TenantID)
	}
	if want := events.Topic(tenant.TopicPrefix, events.StreamOf(env.Type)); m.Topic != want {
		return env, permanent("event of tenant %s arrived on topic %s, not on its own topic %s", env.TenantID, m.Topic, want)
	}
	if want := events.Key(env.TenantID, env.AggregateID); !bytes.Equal(m.Key, want) {
		return env, permanent("event key %q does not match tenant and aggregate (%q)", m.Key, want)
	}
	return env, nil
}

// exposure validates an exposure; skip is true for one outside any experiment.
func exposure(env events.Envelope, x events.Exposure) (e Exposure, skip bool, err error) {
	if x.Experiment == "" {
		return e, true, nil
	}
	switch {
	case x.TenantID != env.TenantID:
		return e, false, permanent("exposure of tenant %q in an envelope of tenant %q", x.TenantID, env.TenantID)
	case x.Arm == "" || x.SubjectKey == "" || x.At.IsZero():
		return e, false, permanent("exposure of experiment %q lacks arm, subject_key or at", x.Experiment)
	case tooLong(x.Experiment, x.Arm, x.SubjectKey, x.RequestID, x.Model, x.Version):
		return e, false, permanent("exposure has a field longer than %d bytes", MaxKeyBytes)
	case len(x.Items) > MaxItems:
		return e, false, permanent("exposure shows %d items; at most %d", len(x.Items), MaxItems)
	case x.LatencyMs != nil && !(*x.LatencyMs >= 0):
		return e, false, permanent("exposure latency_ms %v is not a non-negative number", *x.LatencyMs)
	}
	unit := x.SubjectKey
	if unit == AnonymousSubject {
		unit = ""
	}
	items := x.Items
	if items == nil {
		items = []string{}
	}
	return Exposure{
		ExposureFact: ExposureFact{EventID: env.ID, Arm: x.Arm, RequestID: x.RequestID, Items: items,
			Error: errorReasons[x.Fallback], LatencyMs: x.LatencyMs, At: x.At.UTC()},
		Experiment: x.Experiment, UnitKey: unit, Model: x.Model, Version: x.Version,
	}, false, nil
}

// behaviour records clicks, add-to-carts and the order of a purchase.
func (h *Handler) behaviour(ctx context.Context, env events.Envelope, b events.Behaviour) error {
	if b.TenantID != env.TenantID {
		return permanent("behaviour event of tenant %q in an envelope of tenant %q", b.TenantID, env.TenantID)
	}
	if b.Kind != events.BehaviourClick && b.Kind != events.BehaviourAddToCart && b.Kind != events.BehaviourPurchase {
		return nil
	}
	if tooLong(b.SessionID, b.UserID, b.ProductID, b.OrderID, b.Context["request_id"]) {
		return permanent("behaviour event has a field longer than %d bytes", MaxKeyBytes)
	}
	var units []string
	for _, u := range []string{b.SessionID, b.UserID} {
		if u != "" && u != AnonymousSubject && !slices.Contains(units, u) {
			units = append(units, u)
		}
	}
	if len(units) == 0 {
		return nil
	}
	if b.Kind == events.BehaviourPurchase {
		if b.OrderID == "" {
			return nil
		}
		return h.store.LinkOrder(ctx, env.TenantID, b.OrderID, units)
	}
	at := eventTime(b)
	if at.IsZero() {
		return permanent("behaviour event has neither received_at nor occurred_at")
	}
	return h.store.RecordOutcome(ctx, env.TenantID, units, OutcomeFact{
		EventID: env.ID, Kind: b.Kind, ProductID: b.ProductID, RequestID: b.Context["request_id"], At: at,
	})
}

// eventTime is when a behaviour event happened on the server's clock (the one
// exposures are stamped with): received_at, else the app's occurred_at.
func eventTime(b events.Behaviour) time.Time {
	if !b.ReceivedAt.IsZero() {
		return b.ReceivedAt.UTC()
	}
	return b.OccurredAt.UTC()
}

func tooLong(ss ...string) bool {
	for _, s := range ss {
		if len(s) > MaxKeyBytes {
			return true
		}
	}
	return false
}
