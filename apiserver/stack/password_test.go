package stack_test

import (
	"strings"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
)

// TestRegistrationRefusesWeakPasswords: the passwords a guessing attack tries first
// (repeats, common passwords, the e-mail address itself, blanks, the shop's name) are
// refused at registration with a 400 on the password field that says why without
// echoing the password, and no account is created; a passphrase is accepted.
func TestRegistrationRefusesWeakPasswords(t *testing.T) {
	e := startAPI(t, nil)
	e.tenant("harbourview")
	users := e.count("users")
	for _, tc := range []struct{ password, why string }{
		{"aaaaaaaaaa", "too easy to guess"},
		{"password12", "most common passwords"},
		{"jane.doe@shop.test", "e-mail address"},
		{"          ", "too easy to guess"},
		{"jane.doe1987", "e-mail address"},
		{"harbourview2024", "shop's name"},
	} {
		r := e.do("POST", "/api/v1/auth/register", "harbourview", "", map[string]string{"email": "jane.doe@shop.test", "password": tc.password, "name": "Jane Doe"})
		r.want(400, apiserver.ErrInvalid)
		if r.field() != "password" {
			t.Fatalf("password %q: field %q, want password", tc.password, r.field())
		}
		if !strings.Contains(string(r.raw), tc.why) {
			t.Fatalf("password %q: answer %s does not say %q", tc.password, r.raw, tc.why)
		}
		if strings.TrimSpace(tc.password) != "" && strings.Contains(string(r.raw), tc.password) {
			t.Fatalf("answer %s echoes the password", r.raw)
		}
	}
	if n := e.count("users"); n != users {
		t.Fatalf("users went from %d to %d on refused registrations", users, n)
	}
	e.do("POST", "/api/v1/auth/register", "harbourview", "", map[string]string{"email": "jane.doe@shop.test", "password": "violet harbour lantern", "name": "Jane Doe"}).want(202, "")
	e.do("POST", "/api/v1/auth/login", "harbourview", "", map[string]string{"email": "jane.doe@shop.test", "password": "violet harbour lantern"}).want(200, "")
}
