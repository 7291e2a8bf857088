package token

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kommerce/kommerce/apiserver"
)

// mapKeys is an in-memory KeySource for these unit tests.
type mapKeys map[string]*Key

func (m mapKeys) SigningKey(_ context.Context, tid string) (*Key, error) {
	if k := m[tid]; k != nil {
		return k, nil
	}
	return nil, ErrNoKey
}

func (m mapKeys) VerificationKey(_ context.Context, tid, kid string) (ed25519.PublicKey, error) {
	if k := m[tid]; k != nil && k.KID == kid {
		return k.Private.Public().(ed25519.PublicKey), nil
	}
	return nil, ErrNoKey
}

func TestVerifyRejects(t *testing.T) {
	a := &apiserver.Tenant{ID: "11111111-1111-1111-1111-111111111111", Slug: "a"}
	b := &apiserver.Tenant{ID: "22222222-2222-2222-2222-222222222222", Slug: "b"}
	ka, _ := NewKey(a.ID)
	kb, _ := NewKey(b.ID)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	svc := &Service{Keys: mapKeys{a.ID: ka, b.ID: kb}, Issuer: "kommerce", Audience: "kommerce-api", TTL: 15 * time.Minute, Leeway: 30 * time.Second, Now: func() time.Time { return now }}
	ctxA := apiserver.NewContextWithTenant(context.Background(), a)
	ctxB := apiserver.NewContextWithTenant(context.Background(), b)
	good, _, err := svc.Sign(ctxA, apiserver.Principal{UserID: "u1", TenantID: a.ID, Role: apiserver.RoleCustomer})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Verify(ctxA, good)
	if err != nil || p.UserID != "u1" || p.Role != apiserver.RoleCustomer || p.TenantID != a.ID {
		t.Fatalf("valid token: %+v, %v", p, err)
	}

	// craft signs arbitrary claims/headers with a's key (or the given method/key).
	craft := func(method jwt.SigningMethod, key any, header map[string]any, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(method, c)
		for k, v := range header {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "kommerce", "aud": "kommerce-api", "sub": "u1", "tid": a.ID, "role": "admin",
			"exp": now.Add(time.Minute).Unix(), "nbf": now.Unix(), "iat": now.Unix()}
	}
	hdr := map[string]any{"typ": "at+jwt", "kid": ka.KID}
	with := func(k string, v any) jwt.MapClaims { c := base(); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := base(); delete(c, k); return c }
	parts := strings.Split(good, ".")
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"` + ka.KID + `"}`))

	tests := []struct {
		name  string
		ctx   context.Context
		token string
	}{
		{"other tenant", ctxB, good},
		{"alg none", ctxA, noneHeader + "." + parts[1] + "."},
		{"HS256 with the public key as secret", ctxA, craft(jwt.SigningMethodHS256, []byte(ka.Private.Public().(ed25519.PublicKey)), hdr, base())},
		{"forged signature", ctxA, parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))},
		{"signed by other tenant's key", ctxA, craft(jwt.SigningMethodEdDSA, kb.Private, map[string]any{"typ": "at+jwt", "kid": ka.KID}, base())},
		{"expired", ctxA, craft(jwt.SigningMethodEdDSA, ka.Private, hdr, with("exp", now.Add(-time.Minute).Unix()))},
		{"no exp", ctxA, craft(jwt.SigningMethodEdDSA, ka.Private, hdr, without("exp"))},
		{"not yet valid", ctxA, craft(jwt.SigningMethodEdDSA, ka.Private, hdr, with("nbf", now.Add(time.Hour).Unix()))},
		{"wrong issuer", ctxA, craft(jwt.SigningMethodEdDSA, ka.Private, hdr, with("iss", "evil"))},
		{"wrong audience", ctxA, craft(jwt.SigningMethodEdDSA, ka.Private, hdr, with("aud", "other"))},
		{"wrong typ", ctxA, craft(jwt.SigningMethodEdDSA, ka.Private, map[string]any{"typ": "JWT", "kid": ka.KID}, base())},
		{"no kid", ctxA, craft(jwt.SigningMethodEdDSA, ka.Private, map[string]any{"typ": "at+jwt"}, base())},
		{"tenant claim of another tenant", ctxA, craft(jwt.SigningMethodEdDSA, ka.Private, hdr, with("tid", b.ID))},
		{"unknown role", ctxA, craft(jwt.SigningMethodEdDSA, ka.Private, hdr, with("role", "root"))},
		{"garbage", ctxA, "not.a.jwt"},
		{"too long", ctxA, strings.Repeat("a", 5000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := svc.Verify(tt.ctx, tt.token)
			if apiserver.ErrorCode(err) != apiserver.ErrInvalidToken {
				t.Fatalf("Verify = %+v, %v; want %s", p, err, apiserver.ErrInvalidToken)
			}
		})
	}
}

func TestDirKeysReloadKeepsRetiredKey(t *testing.T) {
	dir := t.TempDir()
	tid := "33333333-3333-3333-3333-333333333333"
	write := func(k *Key) {
		td := filepath.Join(dir, "tenant-c")
		_ = os.MkdirAll(td, 0o700)
		pemKey, _ := k.MarshalPEM()
		for name, v := range map[string][]byte{SecretTenantID: []byte(tid), SecretTenantSlug: []byte("c"), SecretKeyID: []byte(k.KID), SecretSigningKey: pemKey} {
			if err := os.WriteFile(filepath.Join(td, name), v, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	k1, _ := NewKey(tid)
	write(k1)
	d, err := LoadDir(dir, 0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got, err := d.SigningKey(ctx, tid); err != nil || got.KID != k1.KID {
		t.Fatalf("SigningKey = %v, %v", got, err)
	}
	k2, _ := NewKey(tid)
	write(k2)
	if got, err := d.SigningKey(ctx, tid); err != nil || got.KID != k2.KID {
		t.Fatalf("after rotation SigningKey = %v, %v; want %s", got, err, k2.KID)
	}
	if _, err := d.VerificationKey(ctx, tid, k1.KID); err != nil {
		t.Fatalf("retired key no longer verifies: %v", err)
	}
	if _, err := d.VerificationKey(ctx, "other", k2.KID); !errors.Is(err, ErrNoKey) {
		t.Fatalf("key of another tenant: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tenant-c", SecretSigningKey), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(dir, 0, time.Hour); err == nil {
		t.Fatal("LoadDir accepted a broken key file")
	}
}
