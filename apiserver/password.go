package apiserver

import (
	"strings"
	"unicode"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/match"
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

// passwordEstimateLen bounds what the estimator sees: its cost grows faster than
// linearly (BenchmarkCheckPassword: 0.3 ms for 22 characters, 2-5 ms for 64, 15-33 ms
// for 128), and 64 characters that are hard to guess make the whole password at
// least as hard.
const passwordEstimateLen = 64

// CheckPassword refuses a password a guessing attack would find early: outside the
// length bounds, or estimated by zxcvbn (with its lists of common passwords, names and
// English words) to need fewer than MinPasswordGuesses guesses. guessable lists what an
// attacker knows about the account (e-mail, name, the shop's slug); zxcvbn counts
// words from it as the cheapest guesses. Only the first 64 characters are estimated
// (a long password must not start with a weak one). The message says why but never
// echoes the password.
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
	if r := []rune(pw); len(r) > passwordEstimateLen {
		pw = string(r[:passwordEstimateLen])
	}
	res := zxcvbn.PasswordStrength(pw, inputs)
	if res.Guesses >= MinPasswordGuesses {
		return nil
	}
	switch weakestPart(pw, res.Sequence) {
	case "user_inputs":
		return FieldErrorf("password", "Password must not be based on your e-mail address, your name or the shop's name.")
	case "passwords":
		return FieldErrorf("password", "This password is one of the most common passwords: choose another, such as several unrelated words.")
	}
	return FieldErrorf("password", "This password is too easy to guess: use a longer one, such as several unrelated words.")
}

// weakestPart names the zxcvbn dictionary ("user_inputs", "passwords", ...) of a match,
// or of the base of a repeat, that covers at least half the password: that part is
// why the password is weak. It returns "" when no single word dominates.
func weakestPart(pw string, seq []*match.Match) string {
	half := (len([]rune(pw)) + 1) / 2
	for _, m := range seq {
		if len([]rune(m.Token)) < half {
			continue
		}
		switch m.Pattern {
		case "dictionary":
			return m.DictionaryName
		case "repeat":
			for _, b := range m.BaseMatches {
				if b.Pattern == "dictionary" {
					return b.DictionaryName
				}
			}
		}
	}
	return ""
}

// passwordGuessable lists the words of an account an attacker would try first: the
// e-mail address, its local part and domain, the name and the shop's slug, each whole,
// split into words and with the separators left out (jane.doe → jane, doe, janedoe).
func passwordGuessable(email, name, tenantSlug string) []string {
	out := []string{email}
	words := func(s string) {
		parts := strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		out = append(out, s, strings.Join(parts, ""))
		out = append(out, parts...)
	}
	if at := strings.LastIndexByte(email, '@'); at > 0 {
		words(email[:at])
		words(email[at+1:])
	}
	words(name)
	words(tenantSlug)
	return out
}
