// Package token issues and verifies the API's access tokens: JWTs signed with EdDSA
// (Ed25519) under per-tenant keys, checked the way RFC 8725 asks — one fixed
// algorithm, the "at+jwt" type (RFC 9068) so an ID token or another JWT cannot pass
// for an access token, issuer, audience, expiry and not-before, and a key id that must
// belong to the tenant the request is for, so a token of tenant A is refused by B.
package token

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kommerce/kommerce/apiserver"
)

// Key is one signing key of a tenant.
type Key struct {
	TenantID string
	KID      string
	Private  ed25519.PrivateKey
}

// ErrNoKey is returned by a KeySource that has no key for the request.
var ErrNoKey = errors.New("no such signing key")

// KeySource finds tenants' keys.
type KeySource interface {
	// SigningKey returns the key new tokens of the tenant are signed with.
	SigningKey(ctx context.Context, tenantID string) (*Key, error)
	// VerificationKey returns the public key kid of the tenant, or ErrNoKey.
	VerificationKey(ctx context.Context, tenantID, kid string) (ed25519.PublicKey, error)
}

// Service signs and verifies access tokens; it implements apiserver.TokenSigner.
type Service struct {
	Keys     KeySource
	Issuer   string
	Audience string
	TTL      time.Duration
	// Leeway tolerates clock skew between replicas on exp, nbf and iat.
	Leeway time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// The type header of access tokens (RFC 9068).
const typeHeader = "at+jwt"

type claims struct {
	jwt.RegisteredClaims
	Tenant string `json:"tid"`
	Role   string `json:"role"`
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Sign issues an access token for p, which must be of the tenant in ctx.
func (s *Service) Sign(ctx context.Context, p apiserver.Principal) (string, time.Duration, error) {
	t, err := apiserver.RequireTenant(ctx)
	if err != nil {
		return "", 0, err
	}
	if p.TenantID != t.ID {
		return "", 0, fmt.Errorf("sign token: principal of tenant %s in a request of tenant %s", p.TenantID, t.ID)
	}
	key, err := s.Keys.SigningKey(ctx, t.ID)
	if err != nil {
		return "", 0, fmt.Errorf("signing key of tenant %s: %w", t.Slug, err)
	}
	now := s.now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.Issuer,
			Subject:   p.UserID,
			Audience:  jwt.ClaimStrings{s.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(s.TTL)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        rand.Text(),
		},
		Tenant: t.ID,
		Role:   string(p.Role),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["typ"] = typeHeader
	tok.Header["kid"] = key.KID
	signed, err := tok.SignedString(key.Private)
	if err != nil {
		return "", 0, fmt.Errorf("sign token: %w", err)
	}
	return signed, s.TTL, nil
}

// maxTokenLen bounds what is parsed at all; real tokens are ~400 bytes.
const maxTokenLen = 4096

// Verify checks raw against the keys of the tenant in ctx.
func (s *Service) Verify(ctx context.Context, raw string) (*apiserver.Principal, error) {
	t, err := apiserver.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	invalid := func(why string) error {
		return apiserver.Errorf(apiserver.ErrInvalidToken, "The access token is %s.", why)
	}
	if len(raw) > maxTokenLen {
		return nil, invalid("too long")
	}
	var lookupErr error
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(s.Issuer),
		jwt.WithAudience(s.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(s.Leeway),
		jwt.WithTimeFunc(s.now),
	)
	var c claims
	_, err = parser.ParseWithClaims(raw, &c, func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); typ != typeHeader {
			return nil, errors.New("wrong typ")
		}
		kid, _ := tok.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid")
		}
		pub, err := s.Keys.VerificationKey(ctx, t.ID, kid)
		if err != nil && !errors.Is(err, ErrNoKey) {
			lookupErr = err
		}
		return pub, err
	})
	switch {
	case lookupErr != nil:
		return nil, fmt.Errorf("verification key: %w", lookupErr)
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, invalid("expired")
	case err != nil:
		return nil, invalid("not valid for this API")
	}
	// The key already belongs to this tenant; the claim must agree.
	role := apiserver.Role(c.Role)
	if c.Tenant != t.ID || c.Subject == "" || !role.Valid() {
		return nil, invalid("not valid for this API")
	}
	return &apiserver.Principal{UserID: c.Subject, TenantID: c.Tenant, Role: role, TokenID: c.ID}, nil
}
