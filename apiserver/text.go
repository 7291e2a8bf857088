package apiserver

import (
	"strings"
	"unicode/utf8"
)

// ValidText checks a free-text value: valid UTF-8, no NUL (PostgreSQL text cannot hold
// one, so letting it through would turn bad input into a 500) and at most max runes.
func ValidText(field, s string, max int) error {
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return FieldErrorf(field, "Text must be valid UTF-8 without NUL characters.")
	}
	if utf8.RuneCountInString(s) > max {
		return FieldErrorf(field, "Text must be at most %d characters long.", max)
	}
	return nil
}
