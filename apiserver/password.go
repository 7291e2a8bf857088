package apiserver

import (
	"strings"

	"github.com/trustelem/zxcvbn"
)

// Password length bounds: long enough to matter, short enough that hashing it (and
// estimating its strength) is not a denial-of-service lever.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 128
)

// MinPasswordGuesses is the fewest guesses zxcvbn must estimate an attacker needs, its
// score 3 of 4. Online guessing is throttled, so the number that matters is an offline
// attack on a leaked argon2id hash: at ~50 ms of one core per guess, 10^8 guesses cost
// about 1,400 core-hours per account, while the passwords below it (the common-password
// and word lists, keyboard walks, repeats, dates, the user's own e-mail or name) fall
// to the first few million guesses of any cracking list.
const MinPasswordGuesses = 1e8

// CheckPassword refuses a password a guessing attack would find early: outside the
// length bounds, or estimated by zxcvbn (with its lists of common passwords, names and
// English words) to need fewer than MinPasswordGuesses guesses. guessable lists what an
// attacker knows about the account (e-mail, name, the shop's slug); zxcvbn counts
// words from it as the cheapest guesses. The message says why but never echoes the
// password.
func CheckPassword(pw string, guessable ...string) error {
	if n := len([]rune(pw)); n < MinPasswordLen || n > MaxPasswordLen {
		return FieldErrorf("password", "Password must be %d to %d characters long.", MinPasswordLen, MaxPasswordLen)
	}
	var inputs []string
	for _, g := range guessable {
		if g = strings.ToLower(strings.TrimSpace(g)); len(g) >= 3 && len(g) <= 254 {
			inputs = append(inputs, g)
		}
	}
	res := zxcvbn.PasswordStrength(pw, inputs)
	if res.Guesses >= MinPasswordGuesses {
		return nil
	}
	for _, m := range res.Sequence {
		// A match covering most of the password is the reason it is weak.
		if m.Pattern != "dictionary" || 2*len([]rune(m.Token)) < len([]rune(pw)) {
			continue
		}
		switch m.DictionaryName {
		case "user_inputs":
			return FieldErrorf("password", "Password must not be based on your e-mail address, your name or the shop's name.")
		case "passwords":
			return FieldErrorf("password", "This password is one of the most common passwords: choose another, such as several unrelated words.")
		}
	}
	return FieldErrorf("password", "This password is too easy to guess: use a longer one, such as several unrelated words.")
}

// passwordGuessable lists the words of an account an attacker would try first.
func passwordGuessable(email, name, tenantSlug string) []string {
	out := []string{email, name, tenantSlug}
	if at := strings.LastIndexByte(email, '@'); at > 0 {
		local, domain := email[:at], email[at+1:]
		out = append(out, local, domain)
		out = append(out, strings.FieldsFunc(local, func(r rune) bool { return r == '.' || r == '_' || r == '-' || r == '+' })...)
		if dot := strings.IndexByte(domain, '.'); dot > 0 {
			out = append(out, domain[:dot])
		}
	}
	out = append(out, strings.Fields(name)...)
	return out
}
