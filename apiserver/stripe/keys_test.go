package stripe

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
)

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDirKeys(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "acme"), map[string]string{FileTenantID: "t-acme\n", FileSecretKey: "sk_test_acme\n", FileWebhookSecret: "whsec_acme"})
	write(t, filepath.Join(root, "identity-only"), map[string]string{FileTenantID: "t-other", "jwt-key-id": "k1"})
	write(t, filepath.Join(root, "..data"), map[string]string{FileTenantID: "t-hidden", FileSecretKey: "sk_hidden"})
	d, err := LoadDir(root, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k, err := d.StripeKeys(ctx, "t-acme")
	if err != nil || k.SecretKey != "sk_test_acme" || k.WebhookSecret != "whsec_acme" {
		t.Fatalf("acme: %+v %v", k, err)
	}
	for _, tid := range []string{"t-other", "t-hidden", "t-none"} {
		if _, err := d.StripeKeys(ctx, tid); !errors.Is(err, apiserver.ErrNoPaymentKeys) {
			t.Fatalf("%s: %v, want no keys", tid, err)
		}
	}
	// A rotated Secret is read on the next reload.
	write(t, filepath.Join(root, "acme"), map[string]string{FileSecretKey: "sk_test_rotated"})
	d.Reload = 0
	if k, _ := d.StripeKeys(ctx, "t-acme"); k.SecretKey != "sk_test_rotated" {
		t.Fatalf("after rotation: %+v", k)
	}
	if _, err := LoadDir(filepath.Join(root, "missing"), time.Hour); err == nil {
		t.Fatal("a missing directory loaded")
	}
}

type fixed map[string]apiserver.StripeKeys

func (f fixed) StripeKeys(_ context.Context, tid string) (apiserver.StripeKeys, error) {
	if k, ok := f[tid]; ok {
		return k, nil
	}
	return apiserver.StripeKeys{}, apiserver.ErrNoPaymentKeys
}

type failing struct{}

func (failing) StripeKeys(context.Context, string) (apiserver.StripeKeys, error) {
	return apiserver.StripeKeys{}, errors.New("database down")
}

func TestChain(t *testing.T) {
	mounted := fixed{"a": {SecretKey: "sk_mounted"}}
	db := fixed{"a": {SecretKey: "sk_db", WebhookSecret: "whsec_db"}, "b": {WebhookSecret: "whsec_b"}}
	process := Static{SecretKey: "sk_process", WebhookSecret: "whsec_process"}
	c := Chain{mounted, db, process}
	tests := []struct {
		tenant string
		want   apiserver.StripeKeys
	}{
		{"a", apiserver.StripeKeys{SecretKey: "sk_mounted", WebhookSecret: "whsec_db"}},
		{"b", apiserver.StripeKeys{SecretKey: "sk_process", WebhookSecret: "whsec_b"}},
		{"c", apiserver.StripeKeys{SecretKey: "sk_process", WebhookSecret: "whsec_process"}},
	}
	for _, tt := range tests {
		t.Run(tt.tenant, func(t *testing.T) {
			if k, err := c.StripeKeys(context.Background(), tt.tenant); err != nil || k != tt.want {
				t.Fatalf("keys %+v %v, want %+v", k, err, tt.want)
			}
		})
	}
	if _, err := (Chain{mounted, db, Static{}}).StripeKeys(context.Background(), "c"); !errors.Is(err, apiserver.ErrNoPaymentKeys) {
		t.Fatalf("no source has keys: %v", err)
	}
	if _, err := (Chain{mounted, failing{}}).StripeKeys(context.Background(), "c"); err == nil || errors.Is(err, apiserver.ErrNoPaymentKeys) {
		t.Fatalf("a failing source must fail the lookup, not read as no keys: %v", err)
	}
}

type counting struct {
	fixed
	calls int
}

func (c *counting) StripeKeys(ctx context.Context, tid string) (apiserver.StripeKeys, error) {
	c.calls++
	return c.fixed.StripeKeys(ctx, tid)
}

func TestCached(t *testing.T) {
	src := &counting{fixed: fixed{"a": {SecretKey: "sk_a"}}}
	c := &Cached{Source: src, TTL: time.Hour}
	for i := 0; i < 3; i++ {
		if k, err := c.StripeKeys(context.Background(), "a"); err != nil || k.SecretKey != "sk_a" {
			t.Fatal(k, err)
		}
		if _, err := c.StripeKeys(context.Background(), "none"); !errors.Is(err, apiserver.ErrNoPaymentKeys) {
			t.Fatal(err)
		}
	}
	if src.calls != 2 {
		t.Fatalf("%d source calls for 6 lookups of 2 tenants, want 2", src.calls)
	}
}
