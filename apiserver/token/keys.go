package token

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// NewKey generates an Ed25519 key with a random key id.
func NewKey(tenantID string) (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Key{TenantID: tenantID, KID: time.Now().UTC().Format("20060102") + "-" + strings.ToLower(rand.Text()[:10]), Private: priv}, nil
}

// MarshalPKCS8 returns the PKCS#8 DER of k's private key.
func (k *Key) MarshalPKCS8() ([]byte, error) { return x509.MarshalPKCS8PrivateKey(k.Private) }

// MarshalPEM returns the PEM "PRIVATE KEY" block of k, the format of the
// jwt-signing-key entry of a tenant's kommerce-identity Secret.
func (k *Key) MarshalPEM() ([]byte, error) {
	der, err := k.MarshalPKCS8()
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePKCS8 reads an Ed25519 private key from PKCS#8 DER.
func ParsePKCS8(der []byte) (ed25519.PrivateKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	ed, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, not Ed25519", k)
	}
	return ed, nil
}

// ParsePEM reads an Ed25519 private key from a PEM "PRIVATE KEY" block.
func ParsePEM(b []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM PRIVATE KEY block")
	}
	return ParsePKCS8(block.Bytes)
}

// Secret entry names of the kommerce-identity Secret the operator creates in each
// tenant namespace; mounted as a directory they are file names.
const (
	SecretTenantID   = "tenant-id"
	SecretTenantSlug = "tenant"
	SecretKeyID      = "jwt-key-id"      //nolint:gosec // a file name, not a credential
	SecretSigningKey = "jwt-signing-key" //nolint:gosec // a file name, not a credential
)

// DirKeys serves keys from a directory with one subdirectory per tenant, each holding
// the entries of that tenant's kommerce-identity Secret (a projected Secret volume per
// tenant, or a single one when a pod serves one storefront). The directory is read
// again at most every Reload, so a rotated Secret is picked up without a restart;
// keys that disappear keep verifying until Retain has passed, so tokens signed just
// before a rotation stay valid.
type DirKeys struct {
	Dir    string
	Reload time.Duration
	Retain time.Duration

	mu      sync.Mutex
	loaded  time.Time
	signing map[string]*Key                     // tenant id -> current key
	verify  map[string]map[string]*verification // tenant id -> kid -> key
}

type verification struct {
	pub      ed25519.PublicKey
	lastSeen time.Time
}

// LoadDir reads dir once and fails if any tenant folder is broken, so a bad mount
// stops the server at start instead of failing logins later.
func LoadDir(dir string, reload, retain time.Duration) (*DirKeys, error) {
	d := &DirKeys{Dir: dir, Reload: reload, Retain: retain}
	if err := d.load(time.Now()); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *DirKeys) load(now time.Time) error {
	entries, err := os.ReadDir(d.Dir)
	if err != nil {
		return fmt.Errorf("tenant keys dir: %w", err)
	}
	signing := map[string]*Key{}
	for _, e := range entries {
		// Secret volumes contain ..data symlinks and timestamped folders; only plain
		// names are tenants.
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := filepath.Join(d.Dir, e.Name())
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		k, err := readKeyDir(dir)
		if err != nil {
			return fmt.Errorf("tenant keys in %s: %w", dir, err)
		}
		signing[k.TenantID] = k
	}
	if d.verify == nil {
		d.verify = map[string]map[string]*verification{}
	}
	for tid, k := range signing {
		if d.verify[tid] == nil {
			d.verify[tid] = map[string]*verification{}
		}
		d.verify[tid][k.KID] = &verification{pub: k.Private.Public().(ed25519.PublicKey), lastSeen: now}
	}
	for tid, kids := range d.verify {
		for kid, v := range kids {
			if now.Sub(v.lastSeen) > d.Retain {
				delete(kids, kid)
			}
		}
		if len(kids) == 0 {
			delete(d.verify, tid)
		}
	}
	d.signing, d.loaded = signing, now
	return nil
}

func readKeyDir(dir string) (*Key, error) {
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		return strings.TrimSpace(string(b)), err
	}
	tid, err := read(SecretTenantID)
	if err != nil {
		return nil, err
	}
	kid, err := read(SecretKeyID)
	if err != nil {
		return nil, err
	}
	pemBytes, err := os.ReadFile(filepath.Join(dir, SecretSigningKey))
	if err != nil {
		return nil, err
	}
	priv, err := ParsePEM(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SecretSigningKey, err)
	}
	if tid == "" || kid == "" {
		return nil, errors.New("tenant-id and jwt-key-id must not be empty")
	}
	return &Key{TenantID: tid, KID: kid, Private: priv}, nil
}

func (d *DirKeys) refresh() {
	now := time.Now()
	if now.Sub(d.loaded) < d.Reload {
		return
	}
	// A failed reload (a Secret being rewritten) keeps the keys of the last good one.
	_ = d.load(now)
	d.loaded = now
}

// SigningKey implements KeySource.
func (d *DirKeys) SigningKey(_ context.Context, tenantID string) (*Key, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refresh()
	if k := d.signing[tenantID]; k != nil {
		return k, nil
	}
	return nil, ErrNoKey
}

// VerificationKey implements KeySource.
func (d *DirKeys) VerificationKey(_ context.Context, tenantID, kid string) (ed25519.PublicKey, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refresh()
	if v := d.verify[tenantID][kid]; v != nil {
		return v.pub, nil
	}
	return nil, ErrNoKey
}

// Chain tries each source in order: the first that has a key wins.
type Chain []KeySource

// SigningKey implements KeySource.
func (c Chain) SigningKey(ctx context.Context, tenantID string) (*Key, error) {
	for _, s := range c {
		k, err := s.SigningKey(ctx, tenantID)
		if !errors.Is(err, ErrNoKey) {
			return k, err
		}
	}
	return nil, ErrNoKey
}

// VerificationKey implements KeySource.
func (c Chain) VerificationKey(ctx context.Context, tenantID, kid string) (ed25519.PublicKey, error) {
	for _, s := range c {
		k, err := s.VerificationKey(ctx, tenantID, kid)
		if !errors.Is(err, ErrNoKey) {
			return k, err
		}
	}
	return nil, ErrNoKey
}

// Cached keeps keys of a slower source (the database) in memory for TTL. Misses are
// remembered for MissTTL, so tokens with made-up key ids cannot hammer the source.
type Cached struct {
	Source  KeySource
	TTL     time.Duration
	MissTTL time.Duration

	mu      sync.Mutex
	signing map[string]cachedKey
	verify  map[[2]string]cachedPub
}

type cachedKey struct {
	key *Key
	at  time.Time
}

type cachedPub struct {
	pub ed25519.PublicKey // nil: remembered miss
	at  time.Time
}

// SigningKey implements KeySource.
func (c *Cached) SigningKey(ctx context.Context, tenantID string) (*Key, error) {
	c.mu.Lock()
	if e, ok := c.signing[tenantID]; ok && time.Since(e.at) < c.TTL {
		c.mu.Unlock()
		return e.key, nil
	}
	c.mu.Unlock()
	k, err := c.Source.SigningKey(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.signing == nil {
		c.signing = map[string]cachedKey{}
	}
	c.signing[tenantID] = cachedKey{key: k, at: time.Now()}
	c.mu.Unlock()
	return k, nil
}

// VerificationKey implements KeySource.
func (c *Cached) VerificationKey(ctx context.Context, tenantID, kid string) (ed25519.PublicKey, error) {
	id := [2]string{tenantID, kid}
	c.mu.Lock()
	if e, ok := c.verify[id]; ok {
		ttl := c.TTL
		if e.pub == nil {
			ttl = c.MissTTL
		}
		if time.Since(e.at) < ttl {
			c.mu.Unlock()
			if e.pub == nil {
				return nil, ErrNoKey
			}
			return e.pub, nil
		}
	}
	c.mu.Unlock()
	pub, err := c.Source.VerificationKey(ctx, tenantID, kid)
	if err != nil && !errors.Is(err, ErrNoKey) {
		return nil, err
	}
	c.mu.Lock()
	if c.verify == nil || len(c.verify) > 10000 {
		c.verify = map[[2]string]cachedPub{}
	}
	c.verify[id] = cachedPub{pub: pub, at: time.Now()}
	c.mu.Unlock()
	return pub, err
}
