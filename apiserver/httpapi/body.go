package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/kommerce/kommerce/apiserver"
)

// readBody reads a JSON request body of at most limit bytes into memory and puts it
// back as r.Body, so that the validator and the handler read the same bytes. It reads
// limit+1 bytes at most: a larger body is refused with 413 before anything parses it.
// The text is then checked for what encoding/json would silently turn into U+FFFD
// (invalid UTF-8 and lone UTF-16 surrogate escapes): such a body is refused with the
// field at fault instead of being stored altered.
func readBody(r *http.Request, limit int64) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	tooLarge := apiserver.Errorf(apiserver.ErrPayloadTooLarge, "The body is larger than %d bytes.", limit)
	if r.ContentLength > limit {
		return tooLarge
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apiserver.Errorf(apiserver.ErrPayloadTooLarge, "The body is larger than %d bytes.", mbe.Limit)
		}
		return apiserver.Errorf(apiserver.ErrInvalid, "The body could not be read.")
	}
	if int64(len(raw)) > limit {
		return tooLarge
	}
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(raw))
	r.ContentLength = int64(len(raw))
	if field, bad := badText(raw); bad {
		if field == "" {
			field = "body"
		}
		return &apiserver.Error{Code: apiserver.ErrInvalid, Field: field,
			Message: "Text must be valid UTF-8; unpaired UTF-16 surrogate escapes (\\ud800-\\udfff) are not characters."}
	}
	return nil
}

// badText reports whether the JSON text holds a string that is not valid Unicode, and
// the path of the first such value (items[2].name), or of the object holding such a
// property name. Bodies that are not JSON are left to the validator (false).
func badText(raw []byte) (string, bool) {
	if utf8.Valid(raw) && !hasSurrogateEscape(raw) {
		return "", false // the common case: one pass, no allocation
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	type frame struct {
		array bool
		index int
		key   string
		inKey bool // an object expecting a key next
	}
	var stack []*frame
	path := func() string {
		p := ""
		for _, f := range stack {
			if f.array {
				p += "[" + strconv.Itoa(f.index) + "]"
			} else if f.key != "" {
				if p != "" {
					p += "."
				}
				p += f.key
			}
		}
		return p
	}
	// afterValue moves the innermost container past one complete value.
	afterValue := func() {
		if len(stack) == 0 {
			return
		}
		f := stack[len(stack)-1]
		if f.array {
			f.index++
		} else {
			f.inKey = true
		}
	}
	prev := dec.InputOffset()
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", !utf8.Valid(raw) || hasLoneSurrogate(raw) // not JSON, or cut short: the validator says why
		}
		end := dec.InputOffset()
		span := raw[prev:end]
		prev = end
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, &frame{inKey: true})
			case '[':
				stack = append(stack, &frame{array: true})
			default:
				stack = stack[:len(stack)-1]
				afterValue()
			}
		case string:
			bad := !utf8.Valid(span) || hasLoneSurrogate(span)
			if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].inKey {
				f := stack[n-1]
				if bad {
					return path(), true // a property name: name the object holding it
				}
				f.key, f.inKey = v, false
				continue
			}
			if bad {
				return path(), true
			}
			afterValue()
		default:
			afterValue()
		}
	}
}

// hasSurrogateEscape is a quick test for \uD800-\uDFFF anywhere in the text.
func hasSurrogateEscape(b []byte) bool {
	for i := bytes.Index(b, []byte(`\u`)); i >= 0; {
		if i+2 < len(b) && (b[i+2] == 'd' || b[i+2] == 'D') {
			return true
		}
		j := bytes.Index(b[i+2:], []byte(`\u`))
		if j < 0 {
			return false
		}
		i += 2 + j
	}
	return false
}

// hasLoneSurrogate reports whether JSON text holds a \uXXXX escape of a UTF-16
// surrogate that is not half of a high-low pair. It follows escapes, so `\\ud800`
// (a backslash, then the text "ud800") is not one.
func hasLoneSurrogate(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 >= len(b) || b[i+1] != 'u' {
			i++ // a two-character escape: skip what it escapes
			continue
		}
		r, ok := hex4(b, i+2)
		if !ok {
			return false // not JSON: the validator says why
		}
		i += 5
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return true // a low half with no high half before it
		case r >= 0xD800 && r <= 0xDBFF:
			if i+2 >= len(b) || b[i+1] != '\\' || b[i+2] != 'u' {
				return true
			}
			lo, ok := hex4(b, i+3)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 6
		}
	}
	return false
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[at:at+4]), 16, 16)
	return rune(n), err == nil
}
