package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/internal/secretbox"
	"github.com/kommerce/kommerce/internal/testenv"
)

// TestSecretsKeyFile: admin seals what it stores with --secrets-key-file; kommerce
// api refuses to start over sealed rows it cannot open (no key file, or only a
// key that did not seal them); rotate-secrets-key moves every row to the new first
// key, after which the old one can be removed from the file.
func TestSecretsKeyFile(t *testing.T) {
	db := testenv.NewDatabase(t)
	dir := t.TempDir()
	l1, l2 := secretbox.NewLine("k1"), secretbox.NewLine("k2")
	write := func(name string, lines ...string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	old, both, onlyNew := write("old", l1), write("both", l2, l1), write("new", l2)
	env := func(keyFile string) map[string]string {
		m := map[string]string{"KOMMERCE_DATABASE_URL": db.URL, "KOMMERCE_LOG_LEVEL": "warn", "KOMMERCE_HTTP_ADDR": "127.0.0.1:0"}
		if keyFile != "" {
			m["KOMMERCE_SECRETS_KEY_FILE"] = keyFile
		}
		return m
	}
	if code, _, stderr := invokeStdin(t, env(old), "", "admin", "create-tenant", "acme"); code != 0 {
		t.Fatalf("create-tenant: exit %d %s", code, stderr)
	}
	if code, _, stderr := invokeStdin(t, env(old), "sk_test_1\nwhsec_1\n", "admin", "set-stripe-keys", "--tenant", "acme"); code != 0 {
		t.Fatalf("set-stripe-keys: exit %d %s", code, stderr)
	}
	for _, tc := range []struct{ name, keyFile, want string }{
		{"no key file", "", "not loaded"},
		{"a key that did not seal them", onlyNew, "not loaded"},
	} {
		code, _, stderr := invokeStdin(t, env(tc.keyFile), "", "api")
		if code == 0 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "KOMMERCE_SECRETS_KEY_FILE") {
			t.Fatalf("api with %s: exit %d %q, want a refusal naming the key file", tc.name, code, stderr)
		}
	}
	if code, _, stderr := invokeStdin(t, env(""), "", "admin", "rotate-secrets-key"); code == 0 || !strings.Contains(stderr, "needs --secrets-key-file") {
		t.Fatalf("rotate-secrets-key without a key file: exit %d %q", code, stderr)
	}
	code, stdout, stderr := invokeStdin(t, env(both), "", "admin", "rotate-secrets-key")
	if code != 0 || !strings.Contains(stdout, "3 stored secrets sealed under key k2") {
		t.Fatalf("rotate-secrets-key: exit %d %q %q", code, stdout, stderr)
	}
	// Only the new key now: the rotation rewrote every row, so this works.
	if code, stdout, stderr := invokeStdin(t, env(onlyNew), "", "admin", "rotate-secrets-key"); code != 0 || !strings.Contains(stdout, "3 stored secrets sealed under key k2 (0 were plaintext)") {
		t.Fatalf("after rotation with the new key alone: exit %d %q %q", code, stdout, stderr)
	}
	if code, _, stderr := invokeStdin(t, env(old), "", "admin", "rotate-secrets-key"); code == 0 || !strings.Contains(stderr, `"k2"`) {
		t.Fatalf("old key alone after rotation: exit %d %q, want a refusal naming k2", code, stderr)
	}
}
