package discovery

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestParseBehaviourAccepts(t *testing.T) {
	tests := []struct {
		name string
		body string
		n    int
	}{
		{"view", `{"type":"view","session_id":"s1","product_id":"p1"}`, 1},
		{"add to cart", `{"type":"add_to_cart","session_id":"s1","sku":"SKU-1","quantity":2,"value":1999,"currency":"usd"}`, 1},
		{"search", `{"type":"search","session_id":"s1","query":"red lamp","context":{"results":"12"}}`, 1},
		{"purchase", `{"type":"purchase","session_id":"s1","order_id":"o-1","value":5000,"currency":"EUR","occurred_at":"2026-03-01T11:00:00Z"}`, 1},
		{"batch", `{"events":[{"type":"view","session_id":"s","product_id":"p"},{"type":"click","session_id":"s","product_id":"q"}]}`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := ParseBehaviour(strings.NewReader(tt.body), now)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != tt.n {
				t.Fatalf("%d events; want %d", len(evs), tt.n)
			}
			for _, ev := range evs {
				if ev.ReceivedAt != now || ev.OccurredAt.IsZero() || ev.TenantID != "" || ev.UserID != "" {
					t.Fatalf("server fields wrong: %+v", ev)
				}
				if ev.Currency != "" && ev.Currency != strings.ToUpper(ev.Currency) {
					t.Fatalf("currency not normalized: %q", ev.Currency)
				}
			}
		})
	}
}

func TestParseBehaviourRejects(t *testing.T) {
	many := `{"events":[` + strings.Repeat(`{"type":"view","session_id":"s","product_id":"p"},`, MaxBehaviourBatch) + `{"type":"view","session_id":"s","product_id":"p"}]}`
	tests := []struct {
		name     string
		body     string
		field    string
		tooLarge bool
	}{
		{"not json", `nope`, "", false},
		{"array", `[{"type":"view"}]`, "", false},
		{"broken json", `{"type":"view",`, "", false},
		{"unknown type", `{"type":"teleport","session_id":"s"}`, "type", false},
		{"no type", `{"session_id":"s"}`, "type", false},
		{"no session", `{"type":"view","product_id":"p"}`, "session_id", false},
		{"bad session", `{"type":"view","session_id":"a b","product_id":"p"}`, "session_id", false},
		{"view without product", `{"type":"view","session_id":"s"}`, "product_id", false},
		{"cart without quantity", `{"type":"add_to_cart","session_id":"s","sku":"x"}`, "quantity", false},
		{"search without query", `{"type":"search","session_id":"s","query":"  "}`, "query", false},
		{"purchase without order", `{"type":"purchase","session_id":"s"}`, "order_id", false},
		{"value without currency", `{"type":"purchase","session_id":"s","order_id":"o","value":5}`, "currency", false},
		{"negative value", `{"type":"purchase","session_id":"s","order_id":"o","value":-5,"currency":"USD"}`, "value", false},
		{"client sets tenant", `{"type":"view","session_id":"s","product_id":"p","tenant_id":"x"}`, "", false},
		{"client sets user", `{"type":"view","session_id":"s","product_id":"p","user_id":"u"}`, "", false},
		{"wrong type of field", `{"type":"view","session_id":"s","product_id":7}`, "", false},
		{"future", `{"type":"view","session_id":"s","product_id":"p","occurred_at":"2026-03-01T13:00:00Z"}`, "occurred_at", false},
		{"too old", `{"type":"view","session_id":"s","product_id":"p","occurred_at":"2026-02-01T12:00:00Z"}`, "occurred_at", false},
		{"too many context keys", `{"type":"view","session_id":"s","product_id":"p","context":{"a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","h":"8","i":"9","j":"10","k":"11"}}`, "context", false},
		{"empty batch", `{"events":[]}`, "events", false},
		{"batch too long", many, "events", false},
		{"batch with extra field", `{"events":[],"x":1}`, "", false},
		{"bad event in batch", `{"events":[{"type":"view","session_id":"s","product_id":"p"},{"type":"view","session_id":"s"}]}`, "events[1].product_id", false},
		{"trailing data", `{"type":"view","session_id":"s","product_id":"p"} {}`, "", false},
		{"oversized body", `{"type":"search","session_id":"s","query":"` + strings.Repeat("x", MaxBehaviourBody) + `"}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBehaviour(strings.NewReader(tt.body), now)
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v; want *InputError", err)
			}
			if ie.Field != tt.field || ie.TooLarge != tt.tooLarge || ie.Message == "" {
				t.Fatalf("err = %+v; want field %q tooLarge %v", ie, tt.field, tt.tooLarge)
			}
		})
	}
}
