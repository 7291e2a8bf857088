package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/internal/testenv"
)

// invokeStdin runs the program with stdin.
func invokeStdin(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"kommerce"}, args...), func(k string) string { return env[k] }, strings.NewReader(stdin), &stdout, &stderr)
	return exitCode(err, &stderr), stdout.String(), stderr.String()
}

func TestAdminUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no action", []string{"admin"}, "admin needs an action"},
		{"unknown action", []string{"admin", "drop-everything"}, `unknown admin action "drop-everything"`},
		{"bad slug", []string{"admin", "create-tenant", "Not_A_Slug"}, "DNS label"},
		{"slug longer than a Tenant name", []string{"admin", "create-tenant", strings.Repeat("x", 41)}, "at most 40 long"},
		{"user without tenant", []string{"admin", "create-user", "--email", "a@b.co", "--password-stdin"}, "needs --tenant"},
		{"password as a flag is not offered", []string{"admin", "create-user", "--tenant", "x", "--email", "a@b.co"}, "--password-stdin"},
		{"bad role", []string{"admin", "create-user", "--tenant", "x", "--role", "root"}, "accepted values are customer, staff, admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := invokeStdin(t, nil, "", tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d stderr %q; want 2 and %q", code, stderr, tt.want)
			}
		})
	}
}

// TestAdminBootstrapThenServe is the no-cluster path end to end: admin creates a
// tenant and an admin user, `kommerce api` serves them, the user logs in and creates
// a product a shopper then reads.
func TestAdminBootstrapThenServe(t *testing.T) {
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
	admin("", "create-tenant", "acme", "--name", "Acme Inc")
	if out := admin("", "create-tenant", "acme", "--if-not-exists"); !strings.Contains(out, "already exists") {
		t.Fatalf("second create-tenant: %q", out)
	}
	if code, _, stderr := invokeStdin(t, env, "", "admin", "create-tenant", "acme"); code != 1 || !strings.Contains(stderr, "already exists") {
		t.Fatalf("duplicate tenant without --if-not-exists: exit %d %q", code, stderr)
	}
	// Weak passwords are refused as at registration: common, or made of the e-mail or shop.
	for _, pw := range []string{"password12", "boss@acme.test", "acme-acme-acme", "          "} {
		if code, _, stderr := invokeStdin(t, env, pw+"\n", "admin", "create-user", "--tenant", "acme", "--email", "boss@acme.test", "--password-stdin"); code != 1 || !strings.Contains(stderr, "invalid_request (password)") {
			t.Fatalf("create-user with a weak password: exit %d %q", code, stderr)
		}
	}
	admin("s3cret-password\n", "create-user", "--tenant", "acme", "--email", "boss@acme.test", "--role", "admin", "--password-stdin")
	admin("s3cret-password\n", "create-user", "--tenant", "acme", "--email", "boss@acme.test", "--role", "admin", "--password-stdin", "--if-not-exists")
	admin("", "rotate-keys", "--tenant", "acme")
	if out := admin("", "seed-demo", "--tenant", "acme", "--products", "3"); !strings.Contains(out, "3 products created") {
		t.Fatalf("seed-demo: %q", out)
	}
	if out := admin("", "seed-demo", "--tenant", "acme", "--products", "3"); !strings.Contains(out, "0 products created, 3 already there") {
		t.Fatalf("second seed-demo: %q", out)
	}
	if code, _, stderr := invokeStdin(t, env, "", "admin", "seed-demo", "--tenant", "nope"); code != 1 || !strings.Contains(stderr, "tenant nope") {
		t.Fatalf("unknown tenant: exit %d %q", code, stderr)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	apiEnv := map[string]string{"KOMMERCE_DATABASE_URL": db.URL, "KOMMERCE_HTTP_ADDR": addr, "KOMMERCE_LOG_LEVEL": "warn"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		var out, errb bytes.Buffer
		err := run(ctx, []string{"kommerce", "api"}, func(k string) string { return apiEnv[k] }, strings.NewReader(""), &out, &errb)
		done <- exitCode(err, &errb)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("kommerce api exited %d", code)
		}
	})
	base := "http://" + addr
	call := func(method, path, tok string, body any) (int, map[string]any) {
		t.Helper()
		var rd *bytes.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		} else {
			rd = bytes.NewReader(nil)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("X-Kommerce-Tenant", "acme")
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
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
		code := status(base + "/readyz")
		return code == 200, fmt.Sprintf("/readyz %d", code)
	})
	code, tok := call("POST", "/api/v1/auth/login", "", map[string]string{"email": "boss@acme.test", "password": "s3cret-password"})
	if code != 200 {
		t.Fatalf("login: %d %v", code, tok)
	}
	at := tok["access_token"].(string)
	if code, me := call("GET", "/api/v1/me", at, nil); code != 200 || me["role"] != "admin" {
		t.Fatalf("/me: %d %v", code, me)
	}
	body := map[string]any{"name": "Anvil", "status": "published", "variants": []any{map[string]any{"sku": "ANVIL-1", "prices": []any{map[string]any{"currency": "USD", "amount": 4999}}}}}
	code, p := call("POST", "/api/v1/products", at, body)
	if code != 201 {
		t.Fatalf("create product: %d %v", code, p)
	}
	if code, got := call("GET", fmt.Sprintf("/api/v1/products/%s", p["id"]), "", nil); code != 200 || got["name"] != "Anvil" {
		t.Fatalf("shopper read: %d %v", code, got)
	}
}
