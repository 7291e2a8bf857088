package stack_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/apiserver/token"
)

// TestKeysFromTenantSecret: in a cluster the signing key comes from the tenant's
// kommerce-identity Secret mounted as a directory; tokens are signed with it (its kid)
// and a tenant without a Secret falls back to its database key.
func TestKeysFromTenantSecret(t *testing.T) {
	dir := t.TempDir()
	// Tenants first (as the operator does), then the Secret, then the API starts.
	e := startAPI(t, nil)
	shop := e.tenant("shop")
	plain := e.tenant("plain")
	k, err := token.NewKey(shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	secretKID := "secret-" + k.KID
	pemKey, _ := k.MarshalPEM()
	td := filepath.Join(dir, "shop")
	if err := os.MkdirAll(td, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{token.SecretTenantID: shop.ID, token.SecretTenantSlug: "shop", token.SecretKeyID: secretKID, token.SecretSigningKey: string(pemKey)} {
		if err := os.WriteFile(filepath.Join(td, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.start(func(o *stack.Options) { o.KeysDir = dir })

	kidOf := func(tok string) string {
		h, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
		var hdr map[string]string
		_ = json.Unmarshal(h, &hdr)
		return hdr["kid"]
	}
	tok := e.user(shop, "jane@shop.test", apiserver.RoleCustomer)
	if kidOf(tok) != secretKID {
		t.Fatalf("token signed with kid %q, want the Secret's %q", kidOf(tok), secretKID)
	}
	e.do("GET", "/api/v1/me", "shop", tok, nil).want(200, "")
	ptok := e.user(plain, "joe@plain.test", apiserver.RoleCustomer)
	if kidOf(ptok) == secretKID || kidOf(ptok) == "" {
		t.Fatalf("tenant without a Secret signed with kid %q", kidOf(ptok))
	}
	e.do("GET", "/api/v1/me", "plain", ptok, nil).want(200, "")
	// The Secret's key is the shop's only: a token it signed is refused by "plain".
	e.do("GET", "/api/v1/me", "plain", tok, nil).want(401, apiserver.ErrInvalidToken)
	// A broken Secret stops the API at start instead of failing logins later.
	if err := os.WriteFile(filepath.Join(td, token.SecretSigningKey), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := stack.New(stack.Options{Pool: e.db.Pool, KeysDir: dir}); err == nil {
		t.Fatal("stack started with a broken key Secret")
	}
}
