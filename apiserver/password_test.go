package apiserver

import (
	"strings"
	"testing"
)

// TestUserCreatePassword: the password rules as registration and create-user apply
// them, for an account jane.doe@example.com named Jane Doe in the shop northwind-outfitters.
func TestUserCreatePassword(t *testing.T) {
	tests := []struct {
		name     string
		password string
		// why is a fragment of the message; "" means the password is accepted.
		why string
	}{
		{"repeated letter", "aaaaaaaaaa", "too easy to guess"},
		{"common password", "password12", "most common passwords"},
		{"common password capitalised", "Password123!", "most common passwords"},
		{"the e-mail itself", "jane.doe@example.com", "e-mail address"},
		{"the e-mail in capitals", "JANE.DOE@EXAMPLE.COM", "e-mail address"},
		{"local part and a year", "jane.doe2024", "e-mail address"},
		{"name and digits", "janedoe1234", "e-mail address"},
		{"shop slug repeated", "northnorthnorth", "too easy to guess"},
		{"shop slug", "northwind-outfitters", "shop's name"},
		{"shop slug joined", "NorthwindOutfitters", "shop's name"},
		{"ten spaces", "          ", "too easy to guess"},
		{"keyboard walk", "qwertyuiop", "most common passwords"},
		{"alphabet", "abcdefghijklm", "too easy to guess"},
		{"too short", "Xk9#q", "10 to 128 characters"},
		{"too long", strings.Repeat("violet harbour lantern ", 6), "10 to 128 characters"},
		{"passphrase", "violet harbour lantern", ""},
		{"long passphrase", "correct horse battery staple", ""},
		{"random", "q7V!m2#rT9zL", ""},
		{"longest allowed", strings.Repeat("violet harbour lantern ", 6)[:MaxPasswordLen], ""},
		// Only the first 64 characters are estimated: a weak start is refused.
		{"long but starts weak", strings.Repeat("x", 100) + "violet harbour lantern 17", "too easy to guess"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := UserCreate{Email: "jane.doe@example.com", Name: "Jane Doe", Password: tt.password, TenantSlug: "northwind-outfitters"}
			err := in.Validate()
			if tt.why == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if ErrorCode(err) != ErrInvalid || ErrorField(err) != "password" {
				t.Fatalf("got %v, want invalid_request on password", err)
			}
			msg := ErrorMessage(err)
			if !strings.Contains(msg, tt.why) {
				t.Fatalf("message %q does not say %q", msg, tt.why)
			}
			if strings.TrimSpace(tt.password) != "" && strings.Contains(strings.ToLower(msg), strings.ToLower(tt.password)) {
				t.Fatalf("message %q echoes the password", msg)
			}
		})
	}
}

// BenchmarkCheckPassword measures the estimator on the longest password allowed, the
// worst case a registration can make the server compute (before the argon2id hash).
func BenchmarkCheckPassword(b *testing.B) {
	inputs := passwordGuessable("jane.doe@example.com", "Jane Doe", "northwind-outfitters")
	for _, pw := range []struct{ name, pw string }{
		{"typical", "violet harbour lantern"},
		{"max-length-words", strings.Repeat("violet harbour lantern ", 6)[:MaxPasswordLen]},
		{"max-length-repeat", strings.Repeat("a", MaxPasswordLen)},
		{"max-length-mixed", strings.Repeat("jane.doe1984!qwerty", 7)[:MaxPasswordLen]},
	} {
		b.Run(pw.name, func(b *testing.B) {
			for b.Loop() {
				_ = CheckPassword(pw.pw, inputs...)
			}
		})
	}
}
