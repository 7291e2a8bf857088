// Package secretbox encrypts secrets kept in PostgreSQL (tenant signing keys,
// Stripe secrets) with keys that do not live in the database, so read access to
// the database alone is not enough to mint a token or use a tenant's Stripe account.
//
// A sealed value is text: "ksec1:<key id>:<base64 of nonce and AES-256-GCM
// ciphertext>". The key id lets several keys be loaded at once (the first seals,
// all open), which is how the key is rotated. The associated data is the tenant id
// and the column, so a value copied into another tenant's row, or into another
// column, does not open. A value without the prefix is a legacy plaintext row.
package secretbox

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// prefix marks a sealed value. Legacy plaintext values cannot start with it: DER
// keys start with 0x30, Stripe secrets with "sk_", "rk_" or "whsec_".
const prefix = "ksec1:"

// ErrUnknownKey is returned when a value was sealed with a key id that is not loaded.
var ErrUnknownKey = errors.New("sealed with a secrets key that is not loaded")

// ErrOpen is returned when a sealed value does not open: a wrong key under the
// right id, a value copied from another tenant or column, or a damaged value.
var ErrOpen = errors.New("sealed value does not open (wrong secrets key, or the value belongs to another tenant or column)")

type key struct {
	id   string
	aead cipher.AEAD
}

// Keyring holds the secrets keys; the first one seals. A nil *Keyring seals
// nothing: Seal returns the plaintext and Open refuses sealed values.
type Keyring struct{ keys []key }

// New builds a keyring from ids and 32-byte keys, the sealing key first.
func New(ids []string, secrets [][]byte) (*Keyring, error) {
	if len(ids) == 0 || len(ids) != len(secrets) {
		return nil, errors.New("secrets keyring: no keys")
	}
	r := &Keyring{}
	seen := map[string]bool{}
	for i, id := range ids {
		if id == "" || strings.ContainsAny(id, ": \t") {
			return nil, fmt.Errorf("secrets key id %q: must be non-empty without ':' or spaces", id)
		}
		if seen[id] {
			return nil, fmt.Errorf("secrets key id %q appears twice", id)
		}
		seen[id] = true
		if len(secrets[i]) != 32 {
			return nil, fmt.Errorf("secrets key %q: %d bytes, want 32 (AES-256)", id, len(secrets[i]))
		}
		b, err := aes.NewCipher(secrets[i])
		if err != nil {
			return nil, err
		}
		g, err := cipher.NewGCM(b)
		if err != nil {
			return nil, err
		}
		r.keys = append(r.keys, key{id: id, aead: g})
	}
	return r, nil
}

// Parse reads a key file: one key a line, "<id> <base64 of 32 bytes>", the
// sealing key first; blank lines and lines starting with # are skipped.
func Parse(data []byte) (*Keyring, error) {
	var ids []string
	var secrets [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want \"<id> <base64 key>\"", n)
		}
		s, err := base64.StdEncoding.DecodeString(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: key %q: %w", n, f[0], err)
		}
		ids, secrets = append(ids, f[0]), append(secrets, s)
	}
	return New(ids, secrets)
}

// Load reads a key file (see Parse).
func Load(path string) (*Keyring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	r, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("secrets key file %s: %w", path, err)
	}
	return r, nil
}

// NewLine returns a key file line with a fresh random key under id.
func NewLine(id string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return id + " " + base64.StdEncoding.EncodeToString(b) + "\n"
}

// LoadOrCreate loads path, first creating it (mode 0600, its folder 0700) with one
// fresh key if it does not exist: the local default of kommerce dev.
func LoadOrCreate(path string) (*Keyring, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("secrets key file: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = f.WriteString(NewLine("k1"))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("secrets key file: %w", err)
		}
	}
	return Load(path)
}

// KeyID is the id of the sealing key ("" for a nil keyring).
func (r *Keyring) KeyID() string {
	if r == nil {
		return ""
	}
	return r.keys[0].id
}

func aad(tenantID, column string) []byte { return []byte(tenantID + "\x00" + column) }

// Sealed reports whether v is a sealed value, and the id of its key.
func Sealed(v []byte) (id string, ok bool) {
	rest, ok := bytes.CutPrefix(v, []byte(prefix))
	if !ok {
		return "", false
	}
	id, _, ok = strings.Cut(string(rest), ":")
	return id, ok
}

// Seal encrypts plain for the tenant's column with the first key. A nil keyring
// returns plain unchanged (no key configured).
func (r *Keyring) Seal(tenantID, column string, plain []byte) ([]byte, error) {
	if r == nil {
		return plain, nil
	}
	k := r.keys[0]
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	ct := k.aead.Seal(nonce, nonce, plain, aad(tenantID, column))
	return []byte(prefix + k.id + ":" + base64.RawStdEncoding.EncodeToString(ct)), nil
}

// Open decrypts a sealed value of the tenant's column; a legacy plaintext value is
// returned as it is, with legacy true.
func (r *Keyring) Open(tenantID, column string, v []byte) (plain []byte, legacy bool, err error) {
	id, ok := Sealed(v)
	if !ok {
		return v, true, nil
	}
	if r == nil {
		return nil, false, fmt.Errorf("%s of tenant %s: %w: %q (no secrets key file configured: KOMMERCE_SECRETS_KEY_FILE)", column, tenantID, ErrUnknownKey, id)
	}
	for _, k := range r.keys {
		if k.id != id {
			continue
		}
		ct, err := base64.RawStdEncoding.DecodeString(string(v[len(prefix)+len(id)+1:]))
		if err != nil || len(ct) < k.aead.NonceSize() {
			return nil, false, fmt.Errorf("%s of tenant %s: %w", column, tenantID, ErrOpen)
		}
		n := k.aead.NonceSize()
		plain, err := k.aead.Open(nil, ct[:n], ct[n:], aad(tenantID, column))
		if err != nil {
			return nil, false, fmt.Errorf("%s of tenant %s under key %q: %w", column, tenantID, id, ErrOpen)
		}
		return plain, false, nil
	}
	return nil, false, fmt.Errorf("%s of tenant %s: %w: %q", column, tenantID, ErrUnknownKey, id)
}
