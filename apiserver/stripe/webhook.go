package stripe

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	sgo "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/kommerce/kommerce/apiserver"
)

// DefaultTolerance is how old a signature may be: Stripe's recommended 300 s.
const DefaultTolerance = 300 * time.Second

// Webhooks implements apiserver.WebhookVerifier with Stripe's signing scheme: the
// Stripe-Signature header "t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">"
// with the endpoint's signing secret, several v1 entries while a secret is being
// rolled (any one may match), anything else in the header ignored.
type Webhooks struct {
	// Tolerance defaults to DefaultTolerance.
	Tolerance time.Duration
}

var _ apiserver.WebhookVerifier = Webhooks{}

// peekEvent is the part of an event read before it is verified.
type peekEvent struct {
	Data struct {
		Object struct {
			Object        string            `json:"object"`
			ID            string            `json:"id"`
			Metadata      map[string]string `json:"metadata"`
			PaymentIntent json.RawMessage   `json:"payment_intent"`
		} `json:"object"`
	} `json:"data"`
}

// Peek implements apiserver.WebhookVerifier.
func (Webhooks) Peek(payload []byte) (string, string, error) {
	var ev peekEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return "", "", apiserver.Errorf(apiserver.ErrMalformedJSON, "The body is not a JSON Stripe event.")
	}
	o := ev.Data.Object
	intent := ""
	if o.Object == "payment_intent" {
		intent = o.ID
	} else {
		intent = expandableID(o.PaymentIntent)
	}
	return o.Metadata[apiserver.MetaTenantID], intent, nil
}

// expandableID reads a Stripe field that is either an id or the expanded object.
func expandableID(raw json.RawMessage) string {
	var id string
	if json.Unmarshal(raw, &id) == nil {
		return id
	}
	var obj struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.ID
	}
	return ""
}

// Verify implements apiserver.WebhookVerifier. The signature is checked over the
// payload's bytes before anything in it is trusted.
func (w Webhooks) Verify(payload []byte, signature, secret string) (*apiserver.PaymentEvent, error) {
	tol := w.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	if secret == "" {
		return nil, apiserver.Errorf(apiserver.ErrPaymentsNotConfigured, "No webhook signing secret is configured for this shop.")
	}
	err := webhook.ValidatePayloadWithTolerance(payload, signature, secret, tol)
	switch {
	case signature != "" && !hasTimestamp(signature):
		return nil, &apiserver.Error{Code: apiserver.ErrInvalidSignature, Field: "Stripe-Signature", Message: "The Stripe-Signature header has no timestamp (t=)."}
	case errors.Is(err, webhook.ErrTooOld):
		return nil, &apiserver.Error{Code: apiserver.ErrStaleSignature, Field: "Stripe-Signature",
			Message: fmt.Sprintf("The signature's timestamp is older than the %.0f s tolerance; a replayed or delayed delivery is refused.", tol.Seconds())}
	case errors.Is(err, webhook.ErrNotSigned):
		return nil, &apiserver.Error{Code: apiserver.ErrInvalidSignature, Field: "Stripe-Signature", Message: "The Stripe-Signature header is missing."}
	case err != nil:
		return nil, &apiserver.Error{Code: apiserver.ErrInvalidSignature, Field: "Stripe-Signature",
			Message: "No signature in Stripe-Signature matches the body with this shop's webhook secret."}
	}
	var ev sgo.Event
	if err := json.Unmarshal(payload, &ev); err != nil || ev.Data == nil {
		return nil, apiserver.Errorf(apiserver.ErrMalformedJSON, "The body is not a JSON Stripe event.")
	}
	out := &apiserver.PaymentEvent{ID: ev.ID, Type: string(ev.Type), Created: time.Unix(ev.Created, 0).UTC()}
	if !apiserver.HandledEvent(out.Type) {
		return out, nil
	}
	if err := read(out, ev.Data.Raw); err != nil {
		return nil, apiserver.Errorf(apiserver.ErrMalformedJSON, "The event's object is not what its type says.")
	}
	return out, nil
}

func hasTimestamp(header string) bool {
	for _, part := range strings.Split(header, ",") {
		if strings.HasPrefix(part, "t=") {
			return true
		}
	}
	return false
}

// read fills the fields of the event's object that the payment service applies.
func read(out *apiserver.PaymentEvent, raw json.RawMessage) error {
	switch out.Type {
	case apiserver.EventIntentSucceeded, apiserver.EventIntentFailed:
		var pi sgo.PaymentIntent
		if err := json.Unmarshal(raw, &pi); err != nil {
			return err
		}
		out.IntentID, out.Status, out.Amount, out.AmountReceived = pi.ID, string(pi.Status), pi.Amount, pi.AmountReceived
		out.Currency = strings.ToUpper(string(pi.Currency))
		out.TenantID, out.OrderID = pi.Metadata[apiserver.MetaTenantID], pi.Metadata[apiserver.MetaOrderID]
		if pi.LatestCharge != nil {
			out.ChargeID = pi.LatestCharge.ID
		}
		if e := pi.LastPaymentError; e != nil {
			out.FailureCode = string(e.Code)
			if e.DeclineCode != "" {
				out.FailureCode += "/" + string(e.DeclineCode)
			}
		}
	case apiserver.EventChargeRefunded:
		var ch sgo.Charge
		if err := json.Unmarshal(raw, &ch); err != nil {
			return err
		}
		out.ChargeID, out.Amount, out.AmountCaptured, out.AmountRefunded, out.FullyRefunded = ch.ID, ch.Amount, ch.AmountCaptured, ch.AmountRefunded, ch.Refunded
		out.Currency = strings.ToUpper(string(ch.Currency))
		out.TenantID, out.OrderID = ch.Metadata[apiserver.MetaTenantID], ch.Metadata[apiserver.MetaOrderID]
		if ch.PaymentIntent != nil {
			out.IntentID = ch.PaymentIntent.ID
		}
	case apiserver.EventChargeRefundUpdated, apiserver.EventRefundUpdated, apiserver.EventRefundFailed:
		var r sgo.Refund
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		out.RefundID, out.Amount, out.Status, out.FailureCode = r.ID, r.Amount, string(r.Status), string(r.FailureReason)
		out.Currency = strings.ToUpper(string(r.Currency))
		out.TenantID, out.OrderID, out.LocalRefundID = r.Metadata[apiserver.MetaTenantID], r.Metadata[apiserver.MetaOrderID], r.Metadata[apiserver.MetaRefundID]
		if r.PaymentIntent != nil {
			out.IntentID = r.PaymentIntent.ID
		}
		if r.Charge != nil {
			out.ChargeID = r.Charge.ID
		}
	case apiserver.EventDisputeCreated:
		var d sgo.Dispute
		if err := json.Unmarshal(raw, &d); err != nil {
			return err
		}
		out.DisputeID, out.Amount, out.DisputeReason, out.DisputeStatus = d.ID, d.Amount, string(d.Reason), string(d.Status)
		out.Currency = strings.ToUpper(string(d.Currency))
		out.TenantID, out.OrderID = d.Metadata[apiserver.MetaTenantID], d.Metadata[apiserver.MetaOrderID]
		if d.PaymentIntent != nil {
			out.IntentID = d.PaymentIntent.ID
		}
		if d.Charge != nil {
			out.ChargeID = d.Charge.ID
		}
	}
	return nil
}
