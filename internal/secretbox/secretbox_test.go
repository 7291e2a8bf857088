package secretbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func ring(t *testing.T, lines ...string) *Keyring {
	t.Helper()
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
	}
	r, err := Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSealOpen(t *testing.T) {
	k1, k2 := NewLine("k1"), NewLine("k2")
	old := ring(t, k1)
	rotated := ring(t, k2, k1)
	other := ring(t, NewLine("k1")) // same id, another key
	sealed, err := old.Seal("t1", "signing_keys.private_key", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatalf("sealed value holds the plaintext: %s", sealed)
	}
	if id, ok := Sealed(sealed); !ok || id != "k1" {
		t.Fatalf("Sealed = %q %v", id, ok)
	}
	for _, tc := range []struct {
		name           string
		r              *Keyring
		tenant, column string
		value          []byte
		want           string
		legacy         bool
		err            error
	}{
		{"same key", old, "t1", "signing_keys.private_key", sealed, "secret", false, nil},
		{"old key still loaded after rotation", rotated, "t1", "signing_keys.private_key", sealed, "secret", false, nil},
		{"another tenant", old, "t2", "signing_keys.private_key", sealed, "", false, ErrOpen},
		{"another column", old, "t1", "payment_keys.stripe_secret_key", sealed, "", false, ErrOpen},
		{"wrong key under the same id", other, "t1", "signing_keys.private_key", sealed, "", false, ErrOpen},
		{"key not loaded", ring(t, k2), "t1", "signing_keys.private_key", sealed, "", false, ErrUnknownKey},
		{"no keyring", nil, "t1", "signing_keys.private_key", sealed, "", false, ErrUnknownKey},
		{"damaged", old, "t1", "signing_keys.private_key", append(bytes.Clone(sealed[:len(sealed)-2]), 'A', 'A'), "", false, ErrOpen},
		{"legacy plaintext", old, "t1", "payment_keys.stripe_secret_key", []byte("sk_test_1"), "sk_test_1", true, nil},
		{"legacy plaintext without keyring", nil, "t1", "payment_keys.stripe_secret_key", []byte("sk_test_1"), "sk_test_1", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, legacy, err := tc.r.Open(tc.tenant, tc.column, tc.value)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if string(got) != tc.want || legacy != tc.legacy {
				t.Fatalf("Open = %q legacy %v, want %q legacy %v", got, legacy, tc.want, tc.legacy)
			}
		})
	}
	if id, _ := Sealed(must(rotated.Seal("t1", "c", []byte("x")))); id != "k2" {
		t.Fatalf("rotated keyring seals with %q, want k2 (the first)", id)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		ok         bool
	}{
		{"one key", NewLine("a"), true},
		{"comments and blanks", "# keys\n\n" + NewLine("a") + NewLine("b"), true},
		{"empty", "# nothing\n", false},
		{"short key", "a AAAA\n", false},
		{"not base64", "a !!!\n", false},
		{"duplicate id", NewLine("a") + NewLine("a"), false},
		{"three fields", "a b c\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.data)); (err == nil) != tc.ok {
				t.Fatalf("Parse error %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "secrets.key")
	r, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := r.Seal("t", "c", []byte("x"))
	if _, _, err := again.Open("t", "c", v); err != nil {
		t.Fatalf("second load made another key: %v", err)
	}
}
