package apiserver

import (
	"context"
	"time"
)

// Principal is the authenticated caller of a request, taken from its access token.
type Principal struct {
	UserID   string
	TenantID string
	Role     Role
	// TokenID is the access token's jti, for logs.
	TokenID string
}

// TokenPair is what login and refresh return.
type TokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
}

// TokenSigner issues and checks access tokens of the tenant in ctx.
type TokenSigner interface {
	// Sign returns a signed access token for p and its lifetime.
	Sign(ctx context.Context, p Principal) (string, time.Duration, error)
	// Verify checks a token and returns its principal. Errors: ErrInvalidToken.
	Verify(ctx context.Context, token string) (*Principal, error)
}

// AuthService logs users of the tenant in ctx in and out.
type AuthService interface {
	// Login checks a password and starts a refresh token family.
	// Errors: ErrInvalidCredentials.
	Login(ctx context.Context, email, password string) (*TokenPair, error)
	// Refresh rotates a refresh token. Presenting a token that was already rotated
	// revokes its whole family. Errors: ErrInvalidToken, ErrRefreshTokenReused.
	Refresh(ctx context.Context, refreshToken string) (*TokenPair, error)
	// Logout revokes the family of a refresh token; unknown tokens are ignored so
	// that logout is idempotent.
	Logout(ctx context.Context, refreshToken string) error
}
