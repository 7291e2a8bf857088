package stripe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
)

// sign is Stripe's scheme, written from its documentation (not stripe-go's helper):
// hex HMAC-SHA256 of "<unix time>.<payload>".
func sign(secret string, at time.Time, payload []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", at.Unix())
	mac.Write(payload)
	return hex.EncodeToString(mac.Sum(nil))
}

const secret = "whsec_test_secret"

func TestVerify(t *testing.T) {
	now := time.Now()
	succeeded := []byte(`{"id":"evt_1","type":"payment_intent.succeeded","created":1700000000,"data":{"object":{"id":"pi_1","object":"payment_intent",
		"status":"succeeded","amount":1200,"amount_received":1200,"currency":"eur","latest_charge":"ch_1",
		"metadata":{"kommerce_tenant_id":"t1","kommerce_order_id":"o1"}}}}`)
	failed := []byte(`{"id":"evt_2","type":"payment_intent.payment_failed","created":1700000001,"data":{"object":{"id":"pi_1","object":"payment_intent",
		"status":"requires_payment_method","amount":1200,"currency":"eur","last_payment_error":{"type":"card_error","code":"card_declined","decline_code":"lost_card"}}}}`)
	refunded := []byte(`{"id":"evt_3","type":"charge.refunded","created":1700000002,"data":{"object":{"id":"ch_1","object":"charge","amount":1200,
		"amount_captured":1200,"amount_refunded":1200,"refunded":true,"currency":"eur","payment_intent":{"id":"pi_1","object":"payment_intent"}}}}`)
	disputed := []byte(`{"id":"evt_4","type":"charge.dispute.created","created":1700000003,"data":{"object":{"id":"dp_1","object":"dispute","amount":1200,
		"currency":"eur","reason":"fraudulent","status":"needs_response","charge":"ch_1","payment_intent":"pi_1"}}}`)
	refundFailed := []byte(`{"id":"evt_6","type":"charge.refund.updated","created":1700000005,"data":{"object":{"id":"re_1","object":"refund","amount":700,
		"currency":"eur","status":"failed","failure_reason":"expired_or_canceled_card","charge":"ch_1","payment_intent":"pi_1",
		"metadata":{"kommerce_tenant_id":"t1","kommerce_order_id":"o1","kommerce_refund_id":"r1"}}}}`)
	other := []byte(`{"id":"evt_5","type":"invoice.paid","created":1700000004,"data":{"object":{"id":"in_1","object":"invoice"}}}`)
	notJSON := []byte(`not json`)
	at := func(p []byte, ts time.Time) string { return fmt.Sprintf("t=%d,v1=%s", ts.Unix(), sign(secret, ts, p)) }

	tests := []struct {
		name    string
		payload []byte
		header  string
		code    string
		check   func(*apiserver.PaymentEvent) bool
	}{
		{"succeeded", succeeded, at(succeeded, now), "", func(e *apiserver.PaymentEvent) bool {
			return e.IntentID == "pi_1" && e.AmountReceived == 1200 && e.Currency == "EUR" && e.ChargeID == "ch_1" && e.TenantID == "t1" && e.OrderID == "o1" &&
				e.Created.Equal(time.Unix(1700000000, 0))
		}},
		{"failed", failed, at(failed, now), "", func(e *apiserver.PaymentEvent) bool {
			return e.FailureCode == "card_declined/lost_card" && e.Status == "requires_payment_method"
		}},
		{"refunded, intent expanded", refunded, at(refunded, now), "", func(e *apiserver.PaymentEvent) bool {
			return e.IntentID == "pi_1" && e.AmountRefunded == 1200 && e.AmountCaptured == 1200 && e.FullyRefunded
		}},
		{"disputed", disputed, at(disputed, now), "", func(e *apiserver.PaymentEvent) bool {
			return e.DisputeID == "dp_1" && e.DisputeReason == "fraudulent" && e.IntentID == "pi_1" && e.ChargeID == "ch_1"
		}},
		{"refund failed", refundFailed, at(refundFailed, now), "", func(e *apiserver.PaymentEvent) bool {
			return e.RefundID == "re_1" && e.Status == "failed" && e.FailureCode == "expired_or_canceled_card" && e.Amount == 700 &&
				e.IntentID == "pi_1" && e.ChargeID == "ch_1" && e.Currency == "EUR" && e.TenantID == "t1" && e.OrderID == "o1" && e.LocalRefundID == "r1"
		}},
		{"unhandled type passes with its type only", other, at(other, now), "", func(e *apiserver.PaymentEvent) bool {
			return e.Type == "invoice.paid" && e.IntentID == ""
		}},
		{"a rolled secret: second v1 matches", succeeded, fmt.Sprintf("t=%d,v1=%s,v1=%s", now.Unix(), sign("whsec_old", now, succeeded), sign(secret, now, succeeded)), "", nil},
		{"299 s old", succeeded, at(succeeded, now.Add(-299*time.Second)), "", nil},
		{"301 s old", succeeded, at(succeeded, now.Add(-301*time.Second)), apiserver.ErrStaleSignature, nil},
		{"forged", succeeded, fmt.Sprintf("t=%d,v1=%s", now.Unix(), sign("whsec_forged", now, succeeded)), apiserver.ErrInvalidSignature, nil},
		{"v0 only", succeeded, fmt.Sprintf("t=%d,v0=%s", now.Unix(), sign(secret, now, succeeded)), apiserver.ErrInvalidSignature, nil},
		{"no header", succeeded, "", apiserver.ErrInvalidSignature, nil},
		{"no timestamp", succeeded, "v1=" + sign(secret, now, succeeded), apiserver.ErrInvalidSignature, nil},
		{"another body", failed, at(succeeded, now), apiserver.ErrInvalidSignature, nil},
		{"signed, not JSON", notJSON, at(notJSON, now), apiserver.ErrMalformedJSON, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Webhooks{}.Verify(tt.payload, tt.header, secret)
			if got := apiserver.ErrorCode(err); got != tt.code {
				t.Fatalf("error %v (code %q), want code %q", err, got, tt.code)
			}
			if tt.check != nil && !tt.check(ev) {
				t.Fatalf("event read wrong: %+v", ev)
			}
		})
	}
	if _, err := (Webhooks{}).Verify(succeeded, at(succeeded, now), ""); apiserver.ErrorCode(err) != apiserver.ErrPaymentsNotConfigured {
		t.Fatalf("no secret: %v", err)
	}
	// A configured tolerance is the one applied and the one the message names.
	short := Webhooks{Tolerance: 10 * time.Second}
	if _, err := short.Verify(succeeded, at(succeeded, now.Add(-5*time.Second)), secret); err != nil {
		t.Fatalf("5 s old with a 10 s tolerance: %v", err)
	}
	_, err := short.Verify(succeeded, at(succeeded, now.Add(-11*time.Second)), secret)
	if apiserver.ErrorCode(err) != apiserver.ErrStaleSignature || !strings.Contains(apiserver.ErrorMessage(err), "10 s tolerance") {
		t.Fatalf("11 s old with a 10 s tolerance: %v", err)
	}
}

func TestPeek(t *testing.T) {
	tests := []struct {
		name, payload, tenant, intent, code string
	}{
		{"intent", `{"data":{"object":{"object":"payment_intent","id":"pi_9","metadata":{"kommerce_tenant_id":"t9"}}}}`, "t9", "pi_9", ""},
		{"charge with intent id", `{"data":{"object":{"object":"charge","id":"ch_9","payment_intent":"pi_8"}}}`, "", "pi_8", ""},
		{"dispute with expanded intent", `{"data":{"object":{"object":"dispute","id":"dp_9","payment_intent":{"id":"pi_7"}}}}`, "", "pi_7", ""},
		{"nothing", `{}`, "", "", ""},
		{"not JSON", `{"data":`, "", "", apiserver.ErrMalformedJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant, intent, err := Webhooks{}.Peek([]byte(tt.payload))
			if apiserver.ErrorCode(err) != tt.code || tenant != tt.tenant || intent != tt.intent {
				t.Fatalf("Peek = %q, %q, %v", tenant, intent, err)
			}
		})
	}
}
