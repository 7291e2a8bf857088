package stripe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kommerce/kommerce/apiserver"
)

// File names of a tenant's Stripe keys in a mounted key directory, beside the
// tenant-id of its kommerce-identity Secret (token.SecretTenantID): the tenant's own
// Secret (Tenant spec.stripeSecretRef) projected into the same folder.
const (
	FileTenantID      = "tenant-id"
	FileSecretKey     = "stripe-secret-key"     //nolint:gosec // a file name, not a credential
	FileWebhookSecret = "stripe-webhook-secret" //nolint:gosec // a file name, not a credential
)

// Static gives every tenant the same keys: the process's --stripe-secret-key and
// --stripe-webhook-secret, for `kommerce dev` and pods serving one tenant.
type Static apiserver.StripeKeys

// StripeKeys implements apiserver.PaymentKeySource.
func (s Static) StripeKeys(context.Context, string) (apiserver.StripeKeys, error) {
	if s.SecretKey == "" && s.WebhookSecret == "" {
		return apiserver.StripeKeys{}, apiserver.ErrNoPaymentKeys
	}
	return apiserver.StripeKeys(s), nil
}

// Chain asks each source in turn and takes each key from the first that has it, so
// a tenant's mounted Secret wins over the database, and both over the process's
// configuration.
type Chain []apiserver.PaymentKeySource

// StripeKeys implements apiserver.PaymentKeySource.
func (c Chain) StripeKeys(ctx context.Context, tenantID string) (apiserver.StripeKeys, error) {
	var out apiserver.StripeKeys
	for _, s := range c {
		k, err := s.StripeKeys(ctx, tenantID)
		if errors.Is(err, apiserver.ErrNoPaymentKeys) {
			continue
		}
		if err != nil {
			return out, err
		}
		if out.SecretKey == "" {
			out.SecretKey = k.SecretKey
		}
		if out.WebhookSecret == "" {
			out.WebhookSecret = k.WebhookSecret
		}
		if out.SecretKey != "" && out.WebhookSecret != "" {
			break
		}
	}
	if out.SecretKey == "" && out.WebhookSecret == "" {
		return out, apiserver.ErrNoPaymentKeys
	}
	return out, nil
}

// Cached remembers a source's answers (misses too) for TTL, so webhooks and payments
// do not read the database for keys on every request; a changed key is used at the
// latest TTL later.
type Cached struct {
	Source apiserver.PaymentKeySource
	TTL    time.Duration

	mu      sync.Mutex
	entries map[string]cachedKeys
}

type cachedKeys struct {
	keys    apiserver.StripeKeys
	missing bool
	until   time.Time
}

// StripeKeys implements apiserver.PaymentKeySource.
func (c *Cached) StripeKeys(ctx context.Context, tenantID string) (apiserver.StripeKeys, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[tenantID]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		if e.missing {
			return apiserver.StripeKeys{}, apiserver.ErrNoPaymentKeys
		}
		return e.keys, nil
	}
	k, err := c.Source.StripeKeys(ctx, tenantID)
	missing := errors.Is(err, apiserver.ErrNoPaymentKeys)
	if err != nil && !missing {
		return k, err
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]cachedKeys{}
	}
	c.entries[tenantID] = cachedKeys{keys: k, missing: missing, until: now.Add(c.TTL)}
	c.mu.Unlock()
	return k, err
}

// DirKeys reads tenants' Stripe keys from a directory with one folder per tenant
// (the layout of --tenant-keys-dir): tenant-id, stripe-secret-key and
// stripe-webhook-secret. Folders without Stripe files are skipped. The directory is
// read again at most every Reload, so a rotated Secret is used without a restart.
type DirKeys struct {
	Dir    string
	Reload time.Duration

	mu     sync.Mutex
	loaded time.Time
	keys   map[string]apiserver.StripeKeys
}

// LoadDir reads dir once; an unreadable directory fails at start.
func LoadDir(dir string, reload time.Duration) (*DirKeys, error) {
	d := &DirKeys{Dir: dir, Reload: reload}
	keys, err := d.read()
	if err != nil {
		return nil, err
	}
	d.keys, d.loaded = keys, time.Now()
	return d, nil
}

func (d *DirKeys) read() (map[string]apiserver.StripeKeys, error) {
	entries, err := os.ReadDir(d.Dir)
	if err != nil {
		return nil, fmt.Errorf("stripe keys dir: %w", err)
	}
	out := map[string]apiserver.StripeKeys{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") { // a Secret volume's ..data and timestamped folders
			continue
		}
		dir := filepath.Join(d.Dir, e.Name())
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		tid := readTrimmed(filepath.Join(dir, FileTenantID))
		k := apiserver.StripeKeys{SecretKey: readTrimmed(filepath.Join(dir, FileSecretKey)), WebhookSecret: readTrimmed(filepath.Join(dir, FileWebhookSecret))}
		if tid != "" && (k.SecretKey != "" || k.WebhookSecret != "") {
			out[tid] = k
		}
	}
	return out, nil
}

func readTrimmed(path string) string {
	b, err := os.ReadFile(path) //nolint:gosec // a path under the configured key directory
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// StripeKeys implements apiserver.PaymentKeySource.
func (d *DirKeys) StripeKeys(_ context.Context, tenantID string) (apiserver.StripeKeys, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.loaded) >= d.Reload {
		// A failed reload (a Secret being rewritten) keeps the last good keys.
		if keys, err := d.read(); err == nil {
			d.keys = keys
		}
		d.loaded = time.Now()
	}
	if k, ok := d.keys[tenantID]; ok {
		return k, nil
	}
	return apiserver.StripeKeys{}, apiserver.ErrNoPaymentKeys
}
