package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kommerce/kommerce/internal/events"
)

// Bounds of behaviour input, so one request cannot cost much.
const (
	MaxBehaviourBody   = 64 << 10 // bytes of one request body
	MaxBehaviourBatch  = 100      // events per request
	MaxBehaviourString = 200      // bytes of an id, SKU or query
	MaxBehaviourAttrs  = 10       // context entries
	MaxBehaviourSkew   = 5 * time.Minute
	MaxBehaviourAge    = 7 * 24 * time.Hour
)

// InputError is bad client input; Field is the JSON path at fault. TooLarge means the
// body as a whole is over the limit (HTTP 413) rather than wrong (HTTP 400).
type InputError struct {
	Field    string
	Message  string
	TooLarge bool
}

func (e *InputError) Error() string { return e.Message }

func badInput(field, format string, args ...any) error {
	return &InputError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// behaviourInput is the client-settable part of an event; decoding into it with
// unknown fields refused keeps clients from setting tenant_id or user_id.
type behaviourInput struct {
	Kind       string            `json:"type"`
	SessionID  string            `json:"session_id"`
	ProductID  string            `json:"product_id"`
	SKU        string            `json:"sku"`
	Quantity   int               `json:"quantity"`
	Query      string            `json:"query"`
	OrderID    string            `json:"order_id"`
	Value      *int64            `json:"value"`
	Currency   string            `json:"currency"`
	Context    map[string]string `json:"context"`
	OccurredAt *time.Time        `json:"occurred_at"`
}

// ParseBehaviour decodes and validates a POST /api/v1/events body: one event object, or
// {"events": [...]} with up to MaxBehaviourBatch events. now is the receive time
// (used for the clock-skew checks and ReceivedAt). Errors are *InputError.
func ParseBehaviour(body io.Reader, now time.Time) ([]events.Behaviour, error) {
	raw, err := io.ReadAll(io.LimitReader(body, MaxBehaviourBody+1))
	if err != nil {
		return nil, badInput("", "The request body could not be read.")
	}
	if len(raw) > MaxBehaviourBody {
		return nil, &InputError{Message: fmt.Sprintf("The request body is larger than %d bytes.", MaxBehaviourBody), TooLarge: true}
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, badInput("", "The body must be a JSON object: one event, or {\"events\": [...]}.")
	}
	var inputs []behaviourInput
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, badInput("", "The body is not valid JSON: %s.", jsonReason(err))
	}
	prefix := ""
	if evs, ok := probe["events"]; ok {
		if len(probe) != 1 {
			return nil, badInput("", "A batch body has only the field events.")
		}
		if err := strictDecode(evs, &inputs); err != nil {
			return nil, err
		}
		if len(inputs) == 0 || len(inputs) > MaxBehaviourBatch {
			return nil, badInput("events", "events must hold 1 to %d events.", MaxBehaviourBatch)
		}
		prefix = "events"
	} else {
		var one behaviourInput
		if err := strictDecode(raw, &one); err != nil {
			return nil, err
		}
		inputs = []behaviourInput{one}
	}
	out := make([]events.Behaviour, len(inputs))
	for i, in := range inputs {
		p := prefix
		if p != "" {
			p = fmt.Sprintf("events[%d].", i)
		}
		ev, err := in.event(p, now)
		if err != nil {
			return nil, err
		}
		out[i] = ev
	}
	return out, nil
}

func strictDecode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badInput("", "The body does not match the event schema: %s.", jsonReason(err))
	}
	if dec.More() {
		return badInput("", "The body has trailing data after the JSON object.")
	}
	return nil
}

func jsonReason(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return fmt.Sprintf("field %s has the wrong type", ute.Field)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

var (
	idPattern       = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
)

func (in behaviourInput) event(p string, now time.Time) (events.Behaviour, error) {
	ev := events.Behaviour{
		Kind: in.Kind, SessionID: in.SessionID, ProductID: in.ProductID, SKU: in.SKU,
		Quantity: in.Quantity, Query: in.Query, OrderID: in.OrderID, Value: in.Value,
		Currency: strings.ToUpper(in.Currency), Context: in.Context, ReceivedAt: now.UTC(),
	}
	switch in.Kind {
	case events.BehaviourView, events.BehaviourClick, events.BehaviourAddToCart, events.BehaviourSearch, events.BehaviourPurchase:
	case "":
		return ev, badInput(p+"type", "type is required: one of %s.", strings.Join(events.BehaviourKinds, ", "))
	default:
		return ev, badInput(p+"type", "Unknown event type %q; use one of %s.", in.Kind, strings.Join(events.BehaviourKinds, ", "))
	}
	if err := checkID(p+"session_id", in.SessionID, true); err != nil {
		return ev, err
	}
	for _, f := range []struct{ name, v string }{{"product_id", in.ProductID}, {"sku", in.SKU}, {"order_id", in.OrderID}} {
		if err := checkID(p+f.name, f.v, false); err != nil {
			return ev, err
		}
	}
	switch in.Kind {
	case events.BehaviourView, events.BehaviourClick:
		if in.ProductID == "" {
			return ev, badInput(p+"product_id", "product_id is required for %s events.", in.Kind)
		}
	case events.BehaviourAddToCart:
		if in.ProductID == "" && in.SKU == "" {
			return ev, badInput(p+"sku", "sku or product_id is required for add_to_cart events.")
		}
		if in.Quantity < 1 || in.Quantity > 1000 {
			return ev, badInput(p+"quantity", "quantity must be between 1 and 1000.")
		}
	case events.BehaviourSearch:
		if strings.TrimSpace(in.Query) == "" {
			return ev, badInput(p+"query", "query is required for search events.")
		}
	case events.BehaviourPurchase:
		if in.OrderID == "" {
			return ev, badInput(p+"order_id", "order_id is required for purchase events.")
		}
	}
	if in.Quantity < 0 || in.Quantity > 1000 {
		return ev, badInput(p+"quantity", "quantity must be between 0 and 1000.")
	}
	if len(in.Query) > MaxBehaviourString || !utf8.ValidString(in.Query) {
		return ev, badInput(p+"query", "query must be UTF-8 of at most %d bytes.", MaxBehaviourString)
	}
	if in.Value != nil {
		if *in.Value < 0 || *in.Value > 1_000_000_000_000 {
			return ev, badInput(p+"value", "value must be between 0 and 10^12 minor units.")
		}
		if !currencyPattern.MatchString(ev.Currency) {
			return ev, badInput(p+"currency", "currency (ISO 4217, e.g. USD) is required with value.")
		}
	} else if in.Currency != "" {
		return ev, badInput(p+"currency", "currency is only meaningful with value.")
	}
	if len(in.Context) > MaxBehaviourAttrs {
		return ev, badInput(p+"context", "context holds at most %d entries.", MaxBehaviourAttrs)
	}
	for k, v := range in.Context {
		if k == "" || len(k) > 64 || len(v) > MaxBehaviourString || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return ev, badInput(p+"context", "context keys are 1 to 64 bytes and values at most %d bytes of UTF-8.", MaxBehaviourString)
		}
	}
	ev.OccurredAt = now.UTC()
	if in.OccurredAt != nil {
		at := in.OccurredAt.UTC()
		if at.After(now.Add(MaxBehaviourSkew)) {
			return ev, badInput(p+"occurred_at", "occurred_at is in the future.")
		}
		if at.Before(now.Add(-MaxBehaviourAge)) {
			return ev, badInput(p+"occurred_at", "occurred_at is more than 7 days ago.")
		}
		ev.OccurredAt = at
	}
	return ev, nil
}

func checkID(field, v string, required bool) error {
	if v == "" {
		if required {
			return badInput(field, "%s is required.", field)
		}
		return nil
	}
	if len(v) > MaxBehaviourString || !idPattern.MatchString(v) {
		return badInput(field, "%s must be at most %d characters of letters, digits, '.', '_', ':' or '-'.", field, MaxBehaviourString)
	}
	return nil
}
