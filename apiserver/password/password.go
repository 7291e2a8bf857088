// Package password hashes and checks passwords with argon2id (RFC 9106), storing the
// parameters with each hash in the PHC string format so they can be raised later
// without invalidating existing accounts.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// Default follows the OWASP password storage recommendation (19 MiB, 2 passes, 1 lane).
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// slots bounds concurrent hashing: each hash holds Params.Memory, so a burst of logins
// must queue instead of exhausting memory.
var slots = make(chan struct{}, 2*runtime.GOMAXPROCS(0))

func acquire(ctx context.Context) error {
	select {
	case slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func release() { <-slots }

var b64 = base64.RawStdEncoding

// Hash returns the PHC string of password under p.
func Hash(ctx context.Context, password string, p Params) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if err := acquire(ctx); err != nil {
		return "", err
	}
	defer release()
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// ErrMalformed is returned for a hash this package did not produce.
var ErrMalformed = errors.New("malformed argon2id hash")

// Verify reports whether password matches the PHC string hash, in constant time.
func Verify(ctx context.Context, password, hash string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrMalformed
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false, ErrMalformed
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, ErrMalformed
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, ErrMalformed
	}
	if err := acquire(ctx); err != nil {
		return false, err
	}
	defer release()
	if len(want) > 1024 {
		return false, ErrMalformed
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want))) //nolint:gosec // bounded above
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummy is a valid hash of a random password, verified when an email is unknown so
// that a login takes as long whether or not the account exists.
var dummy string

func init() {
	var err error
	dummy, err = Hash(context.Background(), "not-a-real-password-"+rand.Text(), Default)
	if err != nil {
		panic(err)
	}
}

// VerifyDummy spends the time of one Verify and always fails.
func VerifyDummy(ctx context.Context, password string) {
	_, _ = Verify(ctx, password, dummy)
}
