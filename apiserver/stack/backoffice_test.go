package stack_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/secretbox"
	"github.com/kommerce/kommerce/internal/webhook"
)

func testBox(t *testing.T) *secretbox.Keyring {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secretbox.New([]string{"k1"}, [][]byte{key})
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func TestWebhookEndpointsAPI(t *testing.T) {
	box := testBox(t)
	e := startAPI(t, func(o *stack.Options) { o.Secrets = box; o.WebhookGuard = webhook.Guard{AllowLoopback: true} })
	a, b := e.tenant("wh-a"), e.tenant("wh-b")
	staff := e.user(a, "staff@a.test", apiserver.RoleStaff)
	shopper := e.user(a, "shopper@a.test", apiserver.RoleCustomer)
	other := e.user(b, "staff@b.test", apiserver.RoleStaff)

	body := map[string]any{"url": "http://127.0.0.1:9/hooks", "event_types": []string{"order.created", "order.transitioned"}, "description": "ERP"}
	e.do("POST", "/api/v1/webhooks", a.Slug, shopper, body).want(403, "forbidden")
	for name, bad := range map[string]map[string]any{
		"metadata address": {"url": "http://169.254.169.254/latest/meta-data", "event_types": []string{"*"}},
		"private address":  {"url": "http://10.0.0.1/", "event_types": []string{"*"}},
		"unknown event":    {"url": "http://127.0.0.1:9/", "event_types": []string{"order.exploded"}},
		"duplicate event":  {"url": "http://127.0.0.1:9/", "event_types": []string{"order.created", "order.created"}},
		"not http":         {"url": "gopher://127.0.0.1:9/", "event_types": []string{"*"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do("POST", "/api/v1/webhooks", a.Slug, staff, bad)
			if r.status != 400 {
				t.Fatalf("status %d, want 400: %s", r.status, r.raw)
			}
		})
	}
	r := e.do("POST", "/api/v1/webhooks", a.Slug, staff, body).want(201, "")
	id, secret := r.str("id"), r.str("secret")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q", secret)
	}
	// Stored sealed: the column does not hold the secret.
	var stored string
	if err := pgx.BeginFunc(context.Background(), e.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
			return err
		}
		return tx.QueryRow(context.Background(), "SELECT secret FROM webhook_endpoints WHERE id = $1", id).Scan(&stored)
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, secret) || !strings.HasPrefix(stored, "ksec1:") {
		t.Fatalf("secret stored as %q", stored)
	}
	got := e.do("GET", "/api/v1/webhooks/"+id, a.Slug, staff, nil).want(200, "")
	if got.str("secret") != "" {
		t.Fatalf("GET shows the secret: %s", got.raw)
	}
	e.do("GET", "/api/v1/webhooks/"+id, b.Slug, other, nil).want(404, "not_found")

	r = e.do("PATCH", "/api/v1/webhooks/"+id, a.Slug, staff, map[string]any{"enabled": false}).want(200, "")
	if r.json["enabled"] != false || r.str("disabled_reason") != "disabled by staff" {
		t.Fatalf("after disabling: %s", r.raw)
	}
	r = e.do("PATCH", "/api/v1/webhooks/"+id, a.Slug, staff, map[string]any{"enabled": true}).want(200, "")
	if r.json["enabled"] != true || r.str("disabled_reason") != "" || r.json["disabled_at"] != nil {
		t.Fatalf("after enabling: %s", r.raw)
	}

	r = e.do("POST", "/api/v1/webhooks/"+id+"/rotate-secret", a.Slug, staff, map[string]any{"previous_secret_valid_seconds": 3600}).want(200, "")
	if s := r.str("secret"); s == "" || s == secret || r.json["previous_secret_expires_at"] == nil {
		t.Fatalf("rotation: %s", r.raw)
	}
	r = e.do("GET", "/api/v1/webhooks/"+id+"/deliveries", a.Slug, staff, nil).want(200, "")
	if items, _ := r.json["items"].([]any); len(items) != 0 {
		t.Fatalf("deliveries of a new endpoint: %s", r.raw)
	}
	e.do("POST", "/api/v1/webhooks/"+id+"/deliveries/00000000-0000-4000-8000-000000000000/redeliver", a.Slug, staff, nil).want(404, "not_found")
	e.do("DELETE", "/api/v1/webhooks/"+id, b.Slug, other, nil).want(404, "not_found")
	e.do("DELETE", "/api/v1/webhooks/"+id, a.Slug, staff, nil).want(204, "")
	e.do("GET", "/api/v1/webhooks/"+id, a.Slug, staff, nil).want(404, "not_found")
}

// TestWebhookLoopbackRefusedByDefault: without the platform's allowance, loopback is
// refused at registration.
func TestWebhookLoopbackRefusedByDefault(t *testing.T) {
	e := startAPI(t, nil)
	a := e.tenant("wh-default")
	staff := e.user(a, "staff@a.test", apiserver.RoleStaff)
	for _, u := range []string{"http://127.0.0.1:8080/", "http://localhost/", "http://[::1]/x"} {
		r := e.do("POST", "/api/v1/webhooks", a.Slug, staff, map[string]any{"url": u, "event_types": []string{"*"}}).want(400, "invalid_request")
		if r.field() != "url" || !strings.Contains(string(r.raw), "loopback") {
			t.Fatalf("%s: %s", u, r.raw)
		}
	}
}

func TestNotificationTemplatesAPI(t *testing.T) {
	e := startAPI(t, nil)
	a := e.tenant("tpl")
	staff := e.user(a, "staff@tpl.test", apiserver.RoleStaff)
	path := "/api/v1/notifications/templates/order_paid/de"
	r := e.do("GET", path, a.Slug, staff, nil).want(200, "")
	if r.str("source") != "default" || !strings.Contains(r.str("subject"), "Zahlung") {
		t.Fatalf("default template: %s", r.raw)
	}
	r = e.do("PUT", path, a.Slug, staff, map[string]any{"subject": "Bezahlt {{.Order.Nummer}}", "text": "x"}).want(400, "invalid_request")
	// A NUL byte (which PostgreSQL refuses) is a 400 naming the field, not a 500.
	e.do("PUT", path, a.Slug, staff, map[string]any{"subject": "Bezahlt", "text": "a\u0000b"}).want(400, "invalid_request")
	if !strings.Contains(string(r.raw), "does not render") || !strings.Contains(string(r.raw), "Nummer") {
		t.Fatalf("broken template refused without the reason: %s", r.raw)
	}
	e.do("PUT", path, a.Slug, staff, map[string]any{"subject": "Bezahlt {{.Order.Number}}", "text": "{{money .Order.Total}}", "html": "<b>{{.Storefront}}</b>"}).want(200, "")
	r = e.do("GET", path, a.Slug, staff, nil).want(200, "")
	if r.str("source") != "tenant" || r.str("subject") != "Bezahlt {{.Order.Number}}" {
		t.Fatalf("stored template: %s", r.raw)
	}
	e.do("DELETE", path, a.Slug, staff, nil).want(204, "")
	e.do("DELETE", path, a.Slug, staff, nil).want(404, "not_found")
	e.do("GET", "/api/v1/notifications?status=dead", a.Slug, staff, nil).want(200, "")
}

// accountEvents returns the account events in the outbox, oldest first.
func (e *apiEnv) accountEvents(typ events.Type) []events.AccountToken {
	e.t.Helper()
	var out []events.AccountToken
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, e.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT payload FROM outbox WHERE event_type = $1 ORDER BY id", string(typ))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var raw []byte
			if err := rows.Scan(&raw); err != nil {
				return err
			}
			var a events.AccountToken
			if err := json.Unmarshal(raw, &a); err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func TestPasswordResetFlow(t *testing.T) {
	box := testBox(t)
	e := startAPI(t, func(o *stack.Options) {
		o.Secrets = box
		o.RegisterEmailLimit = apiserver.RateLimit{Rate: 3, Burst: 3, Period: time.Hour}
	})
	a := e.tenant("reset")
	e.user(a, "ada@reset.test", apiserver.RoleCustomer)

	known := e.do("POST", "/api/v1/auth/password-reset", a.Slug, "", map[string]string{"email": "ada@reset.test"}, "Accept-Language", "de-DE,de;q=0.9").want(202, "")
	unknown := e.do("POST", "/api/v1/auth/password-reset", a.Slug, "", map[string]string{"email": "nobody@reset.test"}).want(202, "")
	if string(known.raw) != string(unknown.raw) {
		t.Fatalf("answers differ: %s vs %s", known.raw, unknown.raw)
	}
	evs := e.accountEvents(events.PasswordResetRequested)
	if len(evs) != 1 || evs[0].Email != "ada@reset.test" || evs[0].Locale != "de-DE" {
		t.Fatalf("reset events: %+v", evs)
	}
	tok, _, err := box.Open(a.ID, events.TokenSealColumn, []byte(evs[0].TokenSealed))
	if err != nil {
		t.Fatalf("open sealed token: %v", err)
	}
	if strings.Contains(evs[0].TokenSealed, string(tok)) {
		t.Fatal("the event holds the token in clear")
	}
	token := string(tok)
	newPw := "amber quarry whistle"
	e.do("POST", "/api/v1/auth/password-reset/confirm", a.Slug, "", map[string]string{"token": token, "password": "password1"}).want(400, "invalid_request")
	e.do("POST", "/api/v1/auth/password-reset/confirm", a.Slug, "", map[string]string{"token": token, "password": newPw}).want(204, "")
	e.do("POST", "/api/v1/auth/password-reset/confirm", a.Slug, "", map[string]string{"token": token, "password": newPw}).want(400, "invalid_request")
	e.do("POST", "/api/v1/auth/login", a.Slug, "", map[string]string{"email": "ada@reset.test", "password": newPw}).want(200, "")
	e.do("POST", "/api/v1/auth/login", a.Slug, "", map[string]string{"email": "ada@reset.test", "password": userPassword}).want(401, "invalid_credentials")

	// A second request replaces the first token; an expired token is refused.
	e.do("POST", "/api/v1/auth/password-reset", a.Slug, "", map[string]string{"email": "ada@reset.test"}).want(202, "")
	evs = e.accountEvents(events.PasswordResetRequested)
	tok2, _, _ := box.Open(a.ID, events.TokenSealColumn, []byte(evs[len(evs)-1].TokenSealed))
	if err := pgx.BeginFunc(context.Background(), e.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
			return err
		}
		_, err := tx.Exec(context.Background(), "UPDATE account_tokens SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	e.do("POST", "/api/v1/auth/password-reset/confirm", a.Slug, "", map[string]string{"token": string(tok2), "password": newPw}).want(400, "invalid_request")

	// The per-address limit (3 an hour here) answers 429 for known and unknown alike.
	e.do("POST", "/api/v1/auth/password-reset", a.Slug, "", map[string]string{"email": "ada@reset.test"}).want(202, "")
	e.do("POST", "/api/v1/auth/password-reset", a.Slug, "", map[string]string{"email": "ada@reset.test"}).want(429, "rate_limited")
}

func TestEmailVerificationFlow(t *testing.T) {
	box := testBox(t)
	e := startAPI(t, func(o *stack.Options) { o.Secrets = box })
	a := e.tenant("verify")
	e.user(a, "grace@verify.test", apiserver.RoleCustomer)
	e.do("POST", "/api/v1/auth/email-verification", a.Slug, "", map[string]string{"email": "grace@verify.test"}).want(202, "")
	evs := e.accountEvents(events.VerificationRequested)
	if len(evs) != 1 {
		t.Fatalf("%d verification events", len(evs))
	}
	tok, _, err := box.Open(a.ID, events.TokenSealColumn, []byte(evs[0].TokenSealed))
	if err != nil {
		t.Fatal(err)
	}
	e.do("POST", "/api/v1/auth/email-verification/confirm", a.Slug, "", map[string]string{"token": "kat_forged-token-value"}).want(400, "invalid_request")
	e.do("POST", "/api/v1/auth/email-verification/confirm", a.Slug, "", map[string]string{"token": string(tok)}).want(204, "")
	e.do("POST", "/api/v1/auth/email-verification/confirm", a.Slug, "", map[string]string{"token": string(tok)}).want(400, "invalid_request")
	// Verified: a new request sends nothing, and answers the same.
	e.do("POST", "/api/v1/auth/email-verification", a.Slug, "", map[string]string{"email": "grace@verify.test"}).want(202, "")
	if n := len(e.accountEvents(events.VerificationRequested)); n != 1 {
		t.Fatalf("%d verification events after verifying, want 1", n)
	}
}
