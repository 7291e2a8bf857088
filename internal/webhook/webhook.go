// Package webhook holds what the API (registering endpoints) and the delivery worker
// (ingest/webhooks) share about outbound webhooks: how a delivery is signed and
// verified, the SSRF guard that refuses endpoints on internal networks, secrets and
// the event types an endpoint may subscribe to.
//
// # Signature
//
// Every delivery carries
//
//	Kommerce-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>[,v1=...]
//
// with one v1 per valid secret: during a rotation the new and the previous secret
// both sign, so a receiver that still has the old secret keeps verifying until it
// switches. A receiver recomputes the HMAC over the timestamp, a dot and the raw body
// with its secret, compares in constant time with any v1, and refuses timestamps
// older than its tolerance (Verify does all of it).
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kommerce/kommerce/internal/events"
)

// Header names of a delivery.
const (
	HeaderSignature = "Kommerce-Signature"
	HeaderEventID   = "Kommerce-Event-Id"
	HeaderEventType = "Kommerce-Event-Type"
	HeaderDelivery  = "Kommerce-Delivery-Id"
)

// Secret columns, the secretbox associated data of the sealed secrets.
const (
	SecretColumn         = "webhook_endpoints.secret"
	PreviousSecretColumn = "webhook_endpoints.previous_secret"
)

// NewSecret returns a fresh signing secret: "whsec_" and 32 random bytes, base64url.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b)
}

// Sign returns the Kommerce-Signature value of body at t, one v1 per secret (the
// current one first).
func Sign(t time.Time, body []byte, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		if s == "" {
			continue
		}
		b.WriteString(",v1=" + mac(s, ts, body))
	}
	return b.String()
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verification errors.
var (
	ErrNoSignature  = errors.New("no valid signature for this secret")
	ErrStale        = errors.New("signature timestamp outside the tolerance")
	ErrMalformedSig = errors.New("malformed signature header")
)

// Verify checks a Kommerce-Signature header value against body and secret, refusing
// timestamps further than tolerance from now.
func Verify(header string, body []byte, secret string, tolerance time.Duration, now time.Time) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformedSig
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrMalformedSig
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrNoSignature
}

// EventTypes are the event types an endpoint may subscribe to ("*" means all of
// them): catalog, inventory, order and payment events. Behaviour events are not
// offered (their volume is a shopper's every click) nor account events (they carry
// tokens).
func EventTypes() []events.Type {
	var out []events.Type
	for _, c := range events.Contracts {
		switch events.StreamOf(c.Type) {
		case events.StreamCatalog, events.StreamInventory, events.StreamOrders:
			out = append(out, c.Type)
		}
	}
	return out
}

// Streams are the streams the fan-out reads.
var Streams = []events.Stream{events.StreamCatalog, events.StreamInventory, events.StreamOrders}

// ValidEventType reports whether an endpoint may subscribe to t.
func ValidEventType(t string) error {
	if t == "*" {
		return nil
	}
	for _, x := range EventTypes() {
		if string(x) == t {
			return nil
		}
	}
	names := make([]string, 0, 16)
	for _, x := range EventTypes() {
		names = append(names, string(x))
	}
	return fmt.Errorf("unknown event type %q: accepted values are * or %s", t, strings.Join(names, ", "))
}
