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
	MaxKeyBytes   = 200 // ids, experiment and arm names: the API's bound of a behaviour id (discovery.MaxBehaviourString)
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

// Handle implements ingest.Handler: the facts of each tenant in the batch go to the
// store in calls of up to MaxFactsPerCall (one transaction each); when a call fails
// for another reason than an outage, each of its facts is tried alone so that only
// the failing messages fail.
func (h *Handler) Handle(ctx context.Context, msgs []ingest.Message) []error {
	errs := make([]error, len(msgs))
	type group struct {
		facts []Fact
		owner []int
	}
	var tenants []string
	groups := map[string]*group{}
	for i, m := range msgs {
		tenant, f, err := h.decode(ctx, m)
		if err != nil || f == nil {
			errs[i] = err
			continue
		}
		g := groups[tenant]
		if g == nil {
			g = &group{}
			groups[tenant] = g
			tenants = append(tenants, tenant)
		}
		g.facts = append(g.facts, *f)
		g.owner = append(g.owner, i)
	}
	for _, tenant := range tenants {
		g := groups[tenant]
		for from := 0; from < len(g.facts); from += MaxFactsPerCall {
			to := min(from+MaxFactsPerCall, len(g.facts))
			h.record(ctx, tenant, g.facts[from:to], g.owner[from:to], errs)
		}
	}
	return errs
}

// MaxFactsPerCall bounds the facts of one Store.Record call (one transaction), and so
// the per-unit locks it holds at once (two units per behaviour event at most), far
// below PostgreSQL's shared lock table.
const MaxFactsPerCall = 100

// record stores facts in one call, or one by one when the call fails for another
// reason than an outage, setting the error of each fact's message.
func (h *Handler) record(ctx context.Context, tenant string, facts []Fact, owner []int, errs []error) {
	err := h.store.Record(ctx, tenant, facts)
	if err == nil || len(facts) == 1 || ingest.IsUnavailable(err) {
		for _, i := range owner {
			errs[i] = err
		}
		return
	}
	h.log.Info("batch refused, recording its facts one by one", "tenant", tenant, "facts", len(facts), "err", err)
	for j, f := range facts {
		errs[owner[j]] = h.store.Record(ctx, tenant, []Fact{f})
	}
}

func permanent(format string, args ...any) error {
	return ingest.Permanent(fmt.Errorf(format, args...))
}

// decode validates a message and returns its tenant and fact; a nil fact is an
// event the analysis does not use.
func (h *Handler) decode(ctx context.Context, m ingest.Message) (string, *Fact, error) {
	env, err := h.envelope(ctx, m)
	if err != nil {
		return "", nil, err
	}
	switch env.Type {
	case events.ModelExposure:
		var x events.Exposure
		if err := events.DecodeInto(env.Type, env.Data, &x); err != nil {
			return "", nil, ingest.Permanent(err)
		}
		e, skip, err := exposure(env, x)
		if err != nil || skip {
			return "", nil, err
		}
		return env.TenantID, &Fact{Exposure: &e}, nil
	case events.BehaviourEvent:
		var b events.Behaviour
		if err := events.DecodeInto(env.Type, env.Data, &b); err != nil {
			return "", nil, ingest.Permanent(err)
		}
		f, err := behaviour(env, b)
		return env.TenantID, f, err
	case events.OrderCreated:
		var o events.Order
		if err := events.DecodeInto(env.Type, env.Data, &o); err != nil {
			return "", nil, ingest.Permanent(err)
		}
		if o.ID == "" || o.ID != env.AggregateID || len(o.ID) > MaxKeyBytes || len(o.CustomerID) > MaxKeyBytes {
			return "", nil, permanent("order id %q does not match the event's aggregate id %q", o.ID, env.AggregateID)
		}
		if o.Subtotal < 0 || o.CreatedAt.IsZero() {
			return "", nil, permanent("order %s has a negative subtotal or no created_at", o.ID)
		}
		f := &Fact{Order: &OrderFact{OrderID: o.ID, Revenue: o.Subtotal, At: o.CreatedAt.UTC()}, Currency: o.Total.Currency}
		if o.CustomerID != "" {
			f.Units = []string{o.CustomerID}
		}
		return env.TenantID, f, nil
	case events.OrderTransitioned, events.PaymentUpdated:
		return "", nil, nil // refunds and payments do not change the analysis (docs/experiments-ingest.md)
	default:
		return "", nil, permanent("event type %q is not one the experiments consumer knows", env.Type)
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

// behaviour returns the fact of a click, an add-to-cart or the order of a purchase;
// nil for other kinds.
func behaviour(env events.Envelope, b events.Behaviour) (*Fact, error) {
	if b.TenantID != env.TenantID {
		return nil, permanent("behaviour event of tenant %q in an envelope of tenant %q", b.TenantID, env.TenantID)
	}
	if b.Kind != events.BehaviourClick && b.Kind != events.BehaviourAddToCart && b.Kind != events.BehaviourPurchase {
		return nil, nil
	}
	if tooLong(b.SessionID, b.UserID, b.ProductID, b.OrderID, b.Context["request_id"]) {
		return nil, permanent("behaviour event has a field longer than %d bytes", MaxKeyBytes)
	}
	var units []string
	for _, u := range []string{b.SessionID, b.UserID} {
		if u != "" && u != AnonymousSubject && !slices.Contains(units, u) {
			units = append(units, u)
		}
	}
	if len(units) == 0 {
		return nil, nil
	}
	if b.Kind == events.BehaviourPurchase {
		if b.OrderID == "" {
			return nil, nil
		}
		return &Fact{LinkOrderID: b.OrderID, Units: units}, nil
	}
	at := eventTime(b)
	if at.IsZero() {
		return nil, permanent("behaviour event has neither received_at nor occurred_at")
	}
	return &Fact{Units: units, Outcome: &OutcomeFact{
		EventID: env.ID, Kind: b.Kind, ProductID: b.ProductID, RequestID: b.Context["request_id"], At: at,
	}}, nil
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
