package stack_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	apikafka "github.com/kommerce/kommerce/apiserver/kafka"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/events"
)

func TestBehaviourEvents(t *testing.T) {
	k := newKafkaEnv(t)
	e := startAPI(t, withDiscovery(stack.DiscoveryOptions{Kafka: k.k}))
	acme := e.discTenant("acme", "test-ev-acme", k.prefix)
	other := e.discTenant("other", "test-ev-other", k.prefix+"x")
	shopper := e.user(acme, "shopper@acme.test", apiserver.RoleCustomer)
	otherToken := e.user(other, "shopper@other.test", apiserver.RoleCustomer)
	pid := "3f0c5f3e-7d1a-4b8e-9a55-0a1b2c3d4e5f"
	earlier := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)

	// Good events: one anonymous, a batch of three signed in.
	e.do("POST", "/api/v1/events", "acme", "", map[string]any{"type": "view", "session_id": "s-1", "product_id": pid}).want(202, "")
	r := e.do("POST", "/api/v1/events", "acme", shopper, map[string]any{"events": []any{
		map[string]any{"type": "click", "session_id": "s-2", "product_id": pid, "context": map[string]string{"source": "recommendations"}},
		map[string]any{"type": "add_to_cart", "session_id": "s-2", "sku": "SKU-1", "quantity": 2, "value": 3998, "currency": "eur"},
		// Out of order: it happened before the events sent ahead of it.
		map[string]any{"type": "search", "session_id": "s-2", "query": "merino", "occurred_at": earlier.Format(time.RFC3339Nano)},
	}}).want(202, "")
	if r.json["accepted"] != float64(3) {
		t.Fatalf("accepted %v", r.raw)
	}

	// Bad input: refused with the field at fault, nothing published.
	big := map[string]any{"events": func() []any {
		var evs []any
		for i := range 100 {
			ctx := map[string]string{}
			for j := range 10 {
				ctx[fmt.Sprintf("k%d", j)] = strings.Repeat("v", 150)
			}
			evs = append(evs, map[string]any{"type": "view", "session_id": fmt.Sprintf("s-%d", i), "product_id": pid, "context": ctx})
		}
		return evs
	}()}
	tooMany := map[string]any{"events": func() []any {
		var evs []any
		for range 101 {
			evs = append(evs, map[string]any{"type": "view", "session_id": "s", "product_id": pid})
		}
		return evs
	}()}
	tests := []struct {
		name   string
		token  string
		tenant string
		body   any
		status int
		code   string
		field  string
	}{
		{"malformed JSON", "", "acme", `{"type": "view",`, 400, apiserver.ErrMalformedJSON, ""},
		{"not an object", "", "acme", `[{"type":"view"}]`, 400, apiserver.ErrInvalid, ""},
		{"unknown type", "", "acme", map[string]any{"type": "wishlist", "session_id": "s", "product_id": pid}, 400, apiserver.ErrInvalid, "type"},
		{"missing session", "", "acme", map[string]any{"type": "view", "product_id": pid}, 400, apiserver.ErrInvalid, "session_id"},
		{"view without product", "", "acme", map[string]any{"type": "view", "session_id": "s"}, 400, apiserver.ErrInvalid, "product_id"},
		{"bad quantity in a batch", "", "acme", map[string]any{"events": []any{
			map[string]any{"type": "view", "session_id": "s", "product_id": pid},
			map[string]any{"type": "add_to_cart", "session_id": "s", "sku": "A", "quantity": 0},
		}}, 400, apiserver.ErrInvalid, "events[1].quantity"},
		{"value without currency", "", "acme", map[string]any{"type": "purchase", "session_id": "s", "order_id": "o-1", "value": 100}, 400, apiserver.ErrInvalid, "currency"},
		{"from the future", "", "acme", map[string]any{"type": "view", "session_id": "s", "product_id": pid, "occurred_at": time.Now().Add(time.Hour).Format(time.RFC3339)}, 400, apiserver.ErrInvalid, "occurred_at"},
		{"tenant in the body", "", "acme", map[string]any{"type": "view", "session_id": "s", "product_id": pid, "tenant_id": other.ID}, 400, apiserver.ErrUnknownField, "tenant_id"},
		{"user in the body", shopper, "acme", map[string]any{"type": "view", "session_id": "s", "product_id": pid, "user_id": "someone-else"}, 400, apiserver.ErrUnknownField, "user_id"},
		{"batch and event mixed", "", "acme", map[string]any{"type": "view", "events": []any{}}, 400, apiserver.ErrInvalid, ""},
		{"too many events", "", "acme", tooMany, 400, apiserver.ErrInvalid, "events"},
		{"oversized body", "", "acme", big, 413, apiserver.ErrPayloadTooLarge, ""},
		{"another tenant's token", otherToken, "acme", map[string]any{"type": "view", "session_id": "s", "product_id": pid}, 401, apiserver.ErrInvalidToken, ""},
		{"no tenant", "", "", map[string]any{"type": "view", "session_id": "s", "product_id": pid}, 400, apiserver.ErrTenantRequired, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", "/api/v1/events", tt.tenant, tt.token, tt.body).want(tt.status, tt.code)
			if tt.field != "" && r.field() != tt.field {
				t.Fatalf("field %q, want %q (%s)", r.field(), tt.field, r.raw)
			}
		})
	}
	if n := k.behaviourCount(t); n != 4 {
		t.Fatalf("%d messages on the behaviour topic, want the 4 accepted events", n)
	}
	envs := k.readBehaviour(t, 4)
	for i, env := range envs {
		var ev events.Behaviour
		if err := json.Unmarshal(env.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if env.Type != events.BehaviourEvent || env.TenantID != acme.ID || ev.TenantID != acme.ID {
			t.Fatalf("event %d: %+v", i, env)
		}
		if i == 3 && !env.OccurredAt.Equal(earlier) {
			t.Fatalf("an out-of-order event keeps its time: %v, want %v", env.OccurredAt, earlier)
		}
		wantUser := i > 0 // the first was anonymous
		if (ev.UserID != "") != wantUser {
			t.Fatalf("event %d: user %q, want signed-in %v", i, ev.UserID, wantUser)
		}
	}
}

func TestBehaviourEventsBrokerDown(t *testing.T) {
	k := apikafka.New([]string{"127.0.0.1:1"}, 1, 1, nil)
	t.Cleanup(func() { _ = k.Close() })
	e := startAPI(t, withDiscovery(stack.DiscoveryOptions{Kafka: k}))
	e.tenant("acme")
	ev := map[string]any{"type": "search", "session_id": "s", "query": "merino"}
	r := e.do("POST", "/api/v1/events", "acme", "", ev).want(503, apiserver.ErrUnavailable)
	if strings.Contains(string(r.raw), "127.0.0.1") {
		t.Fatalf("internals leak: %s", r.raw)
	}
	// Validation comes first: bad input is a 400 even while the broker is down.
	e.do("POST", "/api/v1/events", "acme", "", map[string]any{"type": "search", "session_id": "s"}).want(400, apiserver.ErrInvalid)

	t.Run("not configured", func(t *testing.T) {
		e := startAPI(t, nil)
		e.tenant("acme")
		e.do("POST", "/api/v1/events", "acme", "", ev).want(503, apiserver.ErrUnavailable)
		e.do("POST", "/api/v1/events", "acme", "", map[string]any{"type": "nope", "session_id": "s"}).want(400, apiserver.ErrInvalid)
	})
}
