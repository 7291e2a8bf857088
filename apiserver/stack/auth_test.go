package stack_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/token"
)

func TestRegisterLoginRefreshReuseLogout(t *testing.T) {
	e := startAPI(t, nil)
	shop := e.tenant("shop")
	reg := map[string]string{"email": "jane@example.com", "password": "correct horse battery", "name": "Jane"}

	r := e.do("POST", "/api/v1/auth/register", "shop", "", reg).want(202, "")
	if r.json["email"] != "jane@example.com" {
		t.Fatalf("registration answer %s", r.raw)
	}
	if strings.Contains(string(r.raw), "argon2") || strings.Contains(string(r.raw), "password") {
		t.Fatalf("register response leaks the password hash: %s", r.raw)
	}
	// Taken: the same answer, and the account keeps its password.
	e.do("POST", "/api/v1/auth/register", "shop", "", map[string]string{"email": "JANE@example.com", "password": "another password"}).want(202, "")
	e.do("POST", "/api/v1/auth/login", "shop", "", map[string]string{"email": "jane@example.com", "password": "another password"}).want(401, apiserver.ErrInvalidCredentials)

	e.do("POST", "/api/v1/auth/login", "shop", "", map[string]string{"email": "jane@example.com", "password": "wrong password!"}).want(401, apiserver.ErrInvalidCredentials)
	e.do("POST", "/api/v1/auth/login", "shop", "", map[string]string{"email": "nobody@example.com", "password": "correct horse battery"}).want(401, apiserver.ErrInvalidCredentials)
	login := e.do("POST", "/api/v1/auth/login", "shop", "", map[string]string{"email": "jane@example.com", "password": "correct horse battery"}).want(200, "")
	if login.str("token_type") != "Bearer" || login.json["expires_in"].(float64) != 900 || login.str("refresh_token") == "" {
		t.Fatalf("login response %s", login.raw)
	}
	if cc := login.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("tokens served with Cache-Control %q", cc)
	}

	me := e.do("GET", "/api/v1/me", "shop", login.str("access_token"), nil).want(200, "")
	if me.json["email"] != "jane@example.com" || me.json["role"] != "customer" || me.json["tenant_id"] != shop.ID {
		t.Fatalf("/me = %s", me.raw)
	}
	e.do("GET", "/api/v1/me", "shop", "", nil).want(401, apiserver.ErrUnauthenticated)

	// Rotation: the first refresh token gives a new pair and stops working.
	rt1 := login.str("refresh_token")
	second := e.do("POST", "/api/v1/auth/refresh", "shop", "", map[string]string{"refresh_token": rt1}).want(200, "")
	rt2 := second.str("refresh_token")
	if rt2 == rt1 || second.str("access_token") == "" {
		t.Fatalf("refresh did not rotate: %s", second.raw)
	}
	e.do("GET", "/api/v1/me", "shop", second.str("access_token"), nil).want(200, "")
	// Reuse of the rotated token revokes the whole family, including rt2.
	e.do("POST", "/api/v1/auth/refresh", "shop", "", map[string]string{"refresh_token": rt1}).want(401, apiserver.ErrRefreshTokenReused)
	e.do("POST", "/api/v1/auth/refresh", "shop", "", map[string]string{"refresh_token": rt2}).want(401, apiserver.ErrInvalidToken)

	// Another session is unaffected by that revocation; logout ends it.
	other := e.do("POST", "/api/v1/auth/login", "shop", "", map[string]string{"email": "jane@example.com", "password": "correct horse battery"}).want(200, "")
	e.do("POST", "/api/v1/auth/logout", "shop", "", map[string]string{"refresh_token": other.str("refresh_token")}).want(204, "")
	e.do("POST", "/api/v1/auth/logout", "shop", "", map[string]string{"refresh_token": other.str("refresh_token")}).want(204, "")
	e.do("POST", "/api/v1/auth/refresh", "shop", "", map[string]string{"refresh_token": other.str("refresh_token")}).want(401, apiserver.ErrInvalidToken)
	e.do("POST", "/api/v1/auth/refresh", "shop", "", map[string]string{"refresh_token": "rt_made_up"}).want(401, apiserver.ErrInvalidToken)

	// A refresh token of one tenant means nothing to another.
	e.tenant("other")
	third := e.do("POST", "/api/v1/auth/login", "shop", "", map[string]string{"email": "jane@example.com", "password": "correct horse battery"}).want(200, "")
	e.do("POST", "/api/v1/auth/refresh", "other", "", map[string]string{"refresh_token": third.str("refresh_token")}).want(401, apiserver.ErrInvalidToken)
	e.do("POST", "/api/v1/auth/refresh", "shop", "", map[string]string{"refresh_token": third.str("refresh_token")}).want(200, "")
}

func TestBadTokensAreRefused(t *testing.T) {
	e := startAPI(t, nil)
	shop := e.tenant("shop")
	other := e.tenant("other")
	admin := e.user(shop, "admin@example.com", apiserver.RoleAdmin)
	otherAdmin := e.user(other, "admin@example.com", apiserver.RoleAdmin)
	ctx := apiserver.NewContextWithTenant(context.Background(), shop)
	key, err := e.st.Keys.SigningKey(ctx, shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	past := &token.Service{Keys: e.st.Tokens.Keys, Issuer: "kommerce", Audience: "kommerce-api", TTL: time.Minute, Now: func() time.Time { return time.Now().Add(-time.Hour) }}
	expired, _, err := past.Sign(ctx, apiserver.Principal{UserID: "00000000-0000-4000-8000-000000000001", TenantID: shop.ID, Role: apiserver.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(admin, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+key.KID+`"}`)) + "." + parts[1] + "."
	claims := jwt.MapClaims{"iss": "kommerce", "aud": "kommerce-api", "sub": "x", "tid": shop.ID, "role": "admin", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	hs.Header["typ"], hs.Header["kid"] = "at+jwt", key.KID
	confused, _ := hs.SignedString([]byte(key.Private.Public().(ed25519.PublicKey)))
	_, stranger, _ := ed25519.GenerateKey(nil)
	forged := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	forged.Header["typ"], forged.Header["kid"] = "at+jwt", key.KID
	forgedTok, _ := forged.SignedString(stranger)

	tests := []struct {
		name   string
		tenant string
		token  string
		code   string
	}{
		{"expired", "shop", expired, apiserver.ErrInvalidToken},
		{"alg none", "shop", none, apiserver.ErrInvalidToken},
		{"HS256 keyed with the public key", "shop", confused, apiserver.ErrInvalidToken},
		{"signed by a stranger's key", "shop", forgedTok, apiserver.ErrInvalidToken},
		{"tampered payload", "shop", parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2], apiserver.ErrInvalidToken},
		{"token of another tenant", "shop", otherAdmin, apiserver.ErrInvalidToken},
		{"garbage", "shop", "abc", apiserver.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("GET", "/api/v1/me", tt.tenant, tt.token, nil).want(401, tt.code)
			if !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
				t.Fatalf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
			// The same token cannot write either.
			e.do("POST", "/api/v1/products", tt.tenant, tt.token, product("X", "X-1", "draft", nil)).want(401, tt.code)
		})
	}
	t.Run("basic auth scheme", func(t *testing.T) {
		r := e.do("GET", "/api/v1/me", "shop", "", nil, "Authorization", "Basic YWRtaW46YWRtaW4=")
		r.want(401, apiserver.ErrUnauthenticated)
	})
	if n := e.count("products"); n != 0 {
		t.Fatalf("%d products were written with bad tokens", n)
	}
}

// TestConcurrentRefreshIsReuse: two refreshes racing with one token cannot both win;
// the loser is treated as reuse and the family, including the winner's new token, is
// revoked (the safe reading of a token presented twice).
func TestConcurrentRefreshIsReuse(t *testing.T) {
	e := startAPI(t, nil)
	e.tenant("shop")
	e.do("POST", "/api/v1/auth/register", "shop", "", map[string]string{"email": "jane@example.com", "password": "correct horse battery"}).want(202, "")
	login := e.do("POST", "/api/v1/auth/login", "shop", "", map[string]string{"email": "jane@example.com", "password": "correct horse battery"}).want(200, "")
	rt := login.str("refresh_token")
	results := make(chan *resp, 2)
	for range 2 {
		go func() {
			results <- e.do("POST", "/api/v1/auth/refresh", "shop", "", map[string]string{"refresh_token": rt})
		}()
	}
	a, b := <-results, <-results
	if a.status == 401 {
		a, b = b, a
	}
	if a.status != 200 || b.status != 401 || b.code() != apiserver.ErrRefreshTokenReused {
		t.Fatalf("racing refreshes: %d %s / %d %s", a.status, a.raw, b.status, b.raw)
	}
	e.do("POST", "/api/v1/auth/refresh", "shop", "", map[string]string{"refresh_token": a.str("refresh_token")}).want(401, apiserver.ErrInvalidToken)
}
