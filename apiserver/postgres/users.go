package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/password"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
)

// UserService implements apiserver.UserService.
type UserService struct {
	DB *DB
	// Params are the argon2id costs for new passwords (password.Default when zero).
	Params password.Params
}

var _ apiserver.UserService = (*UserService)(nil)

func userOf(u dbq.User) *apiserver.User {
	return &apiserver.User{ID: u.ID, TenantID: u.TenantID, Email: u.Email, Name: u.Name, Role: apiserver.Role(u.Role), CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// CreateUser implements apiserver.UserService.
func (s *UserService) CreateUser(ctx context.Context, in apiserver.UserCreate) (*apiserver.User, error) {
	if t := apiserver.TenantFromContext(ctx); t != nil {
		in.TenantSlug = t.Slug
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	params := s.Params
	if params == (password.Params{}) {
		params = password.Default
	}
	// Hash outside the transaction: it is the slow part and needs no connection.
	hash, err := password.Hash(ctx, in.Password, params)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	var out *apiserver.User
	err = s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		u, err := q.CreateUser(ctx, dbq.CreateUserParams{TenantID: tid, Email: in.Email, Name: in.Name, PasswordHash: hash, Role: string(in.Role)})
		out = userOf(u)
		return err
	})
	if code, _ := pgCode(err); code == pgUniqueViolation {
		return nil, &apiserver.Error{Code: apiserver.ErrConflict, Field: "email", Message: "An account with this email already exists."}
	}
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	return out, nil
}

// GetUser implements apiserver.UserService.
func (s *UserService) GetUser(ctx context.Context, id string) (*apiserver.User, error) {
	if !apiserver.ValidID(id) {
		return nil, apiserver.Errorf(apiserver.ErrNotFound, "No user with that id.")
	}
	var out *apiserver.User
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		u, err := q.UserByID(ctx, dbq.UserByIDParams{TenantID: tid, ID: id})
		out = userOf(u)
		return err
	})
	if err != nil {
		return nil, notFound(err, "user")
	}
	return out, nil
}

// AuthService implements apiserver.AuthService: passwords checked here, refresh
// tokens stored hashed in refresh_tokens, access tokens signed by Signer.
type AuthService struct {
	DB         *DB
	Signer     apiserver.TokenSigner
	RefreshTTL time.Duration
}

var _ apiserver.AuthService = (*AuthService)(nil)

func hashToken(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}

// issue stores a new refresh token of family and signs an access token, inside tx.
func (s *AuthService) issue(ctx context.Context, q *dbq.Queries, tid string, u dbq.User, family string) (*apiserver.TokenPair, error) {
	refresh := "rt_" + rand.Text() + rand.Text()
	if err := q.InsertRefreshToken(ctx, dbq.InsertRefreshTokenParams{TenantID: tid, FamilyID: family, UserID: u.ID,
		TokenHash: hashToken(refresh), ExpiresAt: time.Now().Add(s.RefreshTTL)}); err != nil {
		return nil, err
	}
	access, ttl, err := s.Signer.Sign(ctx, apiserver.Principal{UserID: u.ID, TenantID: tid, Role: apiserver.Role(u.Role)})
	if err != nil {
		return nil, err
	}
	return &apiserver.TokenPair{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second)}, nil
}

func newFamily() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Login implements apiserver.AuthService. It is two short transactions, not one: the
// password check between them takes tens of milliseconds of CPU and must not hold a
// connection and a transaction open meanwhile.
func (s *AuthService) Login(ctx context.Context, email, pw string) (*apiserver.TokenPair, error) {
	bad := apiserver.Errorf(apiserver.ErrInvalidCredentials, "Email or password is wrong.")
	if len(pw) > 4*apiserver.MaxPasswordLen || apiserver.ValidText("email", email, 254) != nil {
		return nil, bad
	}
	var u dbq.User
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		var err error
		u, err = q.UserByEmail(ctx, dbq.UserByEmailParams{TenantID: tid, Email: email})
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		password.VerifyDummy(ctx, pw)
		return nil, bad
	}
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	ok, err := password.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	if !ok {
		return nil, bad
	}
	var pair *apiserver.TokenPair
	err = s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		pair, err = s.issue(ctx, q, tid, u, newFamily())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	return pair, nil
}

// Refresh implements apiserver.AuthService.
func (s *AuthService) Refresh(ctx context.Context, raw string) (*apiserver.TokenPair, error) {
	invalid := apiserver.Errorf(apiserver.ErrInvalidToken, "The refresh token is not valid.")
	if len(raw) > 200 {
		return nil, invalid
	}
	var pair *apiserver.TokenPair
	var reused bool
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		// FOR UPDATE: two concurrent refreshes of one token serialise here, and the
		// second one sees the first one's rotation, which is reuse.
		rt, err := q.RefreshTokenByHash(ctx, dbq.RefreshTokenByHashParams{TenantID: tid, TokenHash: hashToken(raw)})
		if errors.Is(err, pgx.ErrNoRows) {
			return invalid
		}
		if err != nil {
			return err
		}
		switch {
		case rt.RevokedAt != nil || time.Now().After(rt.ExpiresAt):
			return invalid
		case rt.RotatedAt != nil:
			reused = true
			return q.RevokeRefreshFamily(ctx, dbq.RevokeRefreshFamilyParams{TenantID: tid, FamilyID: rt.FamilyID})
		}
		if err := q.MarkRefreshTokenRotated(ctx, dbq.MarkRefreshTokenRotatedParams{TenantID: tid, ID: rt.ID}); err != nil {
			return err
		}
		u, err := q.UserByID(ctx, dbq.UserByIDParams{TenantID: tid, ID: rt.UserID})
		if err != nil {
			return err
		}
		pair, err = s.issue(ctx, q, tid, u, rt.FamilyID)
		return err
	})
	switch {
	case reused && err == nil:
		return nil, apiserver.Errorf(apiserver.ErrRefreshTokenReused, "This refresh token was already used; every session it belonged to has been signed out.")
	case apiserver.ErrorCode(err) == apiserver.ErrInvalidToken:
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("refresh: %w", err)
	}
	return pair, nil
}

// Logout implements apiserver.AuthService.
func (s *AuthService) Logout(ctx context.Context, raw string) error {
	if len(raw) > 200 {
		return nil
	}
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		rt, err := q.RefreshTokenByHash(ctx, dbq.RefreshTokenByHashParams{TenantID: tid, TokenHash: hashToken(raw)})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return q.RevokeRefreshFamily(ctx, dbq.RevokeRefreshFamilyParams{TenantID: tid, FamilyID: rt.FamilyID})
	})
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}
