package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/internal/testenv"
)

func TestSetStripeKeysUsage(t *testing.T) {
	db := testenv.NewDatabase(t)
	env := map[string]string{"KOMMERCE_DATABASE_URL": db.URL, "KOMMERCE_LOG_LEVEL": "warn"}
	if code, _, stderr := invokeStdin(t, env, "", "admin", "create-tenant", "keys"); code != 0 {
		t.Fatal(stderr)
	}
	tests := []struct{ name, stdin, want string }{
		{"nothing on stdin", "", "first two lines"},
		{"not a secret key", "pk_test_123\nwhsec_1\n", "secret key (sk_"},
		{"not a webhook secret", "sk_test_1\nsk_test_2\n", "whsec_"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := invokeStdin(t, env, tt.stdin, "admin", "set-stripe-keys", "--tenant", "keys")
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d stderr %q, want 2 and %q", code, stderr, tt.want)
			}
		})
	}
}

// TestPaymentsThroughKommerceAPI: keys stored with `kommerce admin set-stripe-keys`,
// `kommerce api` pointed at stripe-mock with KOMMERCE_STRIPE_API_URL: an order is
// paid and Stripe's signed event marks it paid; a tenant without keys gets 503
// payments_not_configured; no key reaches the logs.
func TestPaymentsThroughKommerceAPI(t *testing.T) {
	stripeURL := testenv.StripeURL(t)
	db := testenv.NewDatabase(t)
	env := map[string]string{"KOMMERCE_DATABASE_URL": db.URL, "KOMMERCE_LOG_LEVEL": "warn"}
	admin := func(stdin string, args ...string) string {
		t.Helper()
		code, stdout, stderr := invokeStdin(t, env, stdin, append([]string{"admin"}, args...)...)
		if code != 0 {
			t.Fatalf("admin %v: exit %d, stderr %s", args, code, stderr)
		}
		return stdout
	}
	const secretKey, whsec = "sk_test_cmd9f2c", "whsec_cmd_4b7d1e"
	admin("", "create-tenant", "paying")
	admin("", "create-tenant", "free")
	admin("boss-password-1\n", "create-user", "--tenant", "paying", "--email", "boss@paying.test", "--role", "admin", "--password-stdin")
	out := admin(secretKey+"\n"+whsec+"\n", "set-stripe-keys", "--tenant", "paying")
	if strings.Contains(out, secretKey) || strings.Contains(out, whsec) || !strings.Contains(out, "secret key sk_...") {
		t.Fatalf("set-stripe-keys printed %q", out)
	}

	addr := freeAddr(t)
	apiEnv := map[string]string{"KOMMERCE_DATABASE_URL": db.URL, "KOMMERCE_HTTP_ADDR": addr, "KOMMERCE_LOG_LEVEL": "debug",
		"KOMMERCE_STRIPE_API_URL": stripeURL}
	ctx, cancel := context.WithCancel(context.Background())
	var logs testenv.SyncBuffer
	done := make(chan int, 1)
	go func() {
		var stdout bytes.Buffer
		err := run(ctx, []string{"kommerce", "api"}, func(k string) string { return apiEnv[k] }, strings.NewReader(""), &stdout, &logs)
		done <- exitCode(err, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("kommerce api exited %d", code)
		}
	})
	base := "http://" + addr
	call := func(method, path, tenant string, body any, headers ...string) (int, map[string]any) {
		t.Helper()
		var rd io.Reader = http.NoBody
		switch b := body.(type) {
		case nil:
		case []byte:
			rd = bytes.NewReader(b)
		default:
			j, _ := json.Marshal(b)
			rd = bytes.NewReader(j)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		if tenant != "" {
			req.Header.Set("X-Kommerce-Tenant", tenant)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	testenv.Eventually(t, 30*time.Second, "kommerce api ready", func() (bool, string) {
		code, _ := call("GET", "/readyz", "", nil)
		return code == 200, fmt.Sprintf("/readyz %d", code)
	})
	_, login := call("POST", "/api/v1/auth/login", "paying", map[string]string{"email": "boss@paying.test", "password": "boss-password-1"})
	auth := []string{"Authorization", "Bearer " + fmt.Sprint(login["access_token"])}
	if code, m := call("POST", "/api/v1/products", "paying", map[string]any{"name": "Mug", "status": "published",
		"variants": []any{map[string]any{"sku": "MUG-1", "prices": []any{map[string]any{"currency": "EUR", "amount": 1500}}}}}, auth...); code != 201 {
		t.Fatalf("product: %d %v", code, m)
	}
	if code, m := call("PUT", "/api/v1/stock/MUG-1", "paying", map[string]any{"warehouse": "main", "on_hand": 3}, auth...); code != 200 {
		t.Fatalf("stock: %d %v", code, m)
	}
	_, cart := call("POST", "/api/v1/carts", "paying", nil)
	token := []string{"X-Cart-Token", fmt.Sprint(cart["token"])}
	cartPath := "/api/v1/carts/" + fmt.Sprint(cart["id"])
	if code, m := call("POST", cartPath+"/items", "paying", map[string]any{"sku": "MUG-1", "quantity": 1}, token...); code != 201 {
		t.Fatalf("add: %d %v", code, m)
	}
	code, order := call("POST", cartPath+"/checkout", "paying", map[string]any{"email": "g@x.test"}, append(token, "Idempotency-Key", "k1")...)
	if code != 201 {
		t.Fatalf("checkout: %d %v", code, order)
	}
	orderID := fmt.Sprint(order["id"])
	code, pay := call("POST", "/api/v1/orders/"+orderID+"/payments", "paying", nil, token...)
	intentID := fmt.Sprint(pay["intent_id"])
	if code != 201 || !strings.HasPrefix(intentID, "pi_") || pay["client_secret"] == nil {
		t.Fatalf("pay: %d %v", code, pay)
	}

	ev, _ := json.Marshal(map[string]any{"id": "evt_cmd_1", "object": "event", "type": "payment_intent.succeeded", "created": time.Now().Unix(),
		"data": map[string]any{"object": map[string]any{"id": intentID, "object": "payment_intent", "status": "succeeded", "amount": 1500,
			"amount_received": 1500, "currency": "eur", "metadata": map[string]string{"kommerce_order_id": orderID}}}})
	ts := time.Now().Unix()
	mac := hmac.New(sha256.New, []byte(whsec))
	fmt.Fprintf(mac, "%d.", ts)
	mac.Write(ev)
	sig := fmt.Sprintf("t=%d,v1=%s", ts, hex.EncodeToString(mac.Sum(nil)))
	if code, m := call("POST", "/api/v1/payments/stripe/webhook", "", ev, "Stripe-Signature", sig); code != 200 || m["ignored"] != nil {
		t.Fatalf("webhook: %d %v", code, m)
	}
	if _, o := call("GET", "/api/v1/orders/"+orderID, "paying", nil, token...); o["status"] != "paid" {
		t.Fatalf("order after the webhook: %v", o)
	}

	// A tenant without keys (none in the database, none in the environment).
	if code, m := call("POST", "/api/v1/orders/"+orderID+"/payments", "free", nil, token...); code != 404 {
		t.Fatalf("another tenant's order: %d %v", code, m)
	}
	if code, m := call("POST", "/api/v1/payments/stripe/webhook", "free", ev, "Stripe-Signature", sig); code != 503 || m["error"].(map[string]any)["code"] != "payments_not_configured" {
		t.Fatalf("webhook of a tenant without keys: %d %v", code, m)
	}
	if l := logs.String(); strings.Contains(l, secretKey) || strings.Contains(l, whsec) {
		t.Fatalf("a Stripe key reached the logs:\n%s", l)
	}
}
