package events

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the envelope to dst exactly as json.Marshal encodes it, byte for
// byte, and returns the result; the error is json.Marshal's.
//
// The outbox relay encodes every row it publishes this way. json.Marshal walks the
// struct by reflection and then validates and compacts Data with its full scanner:
// for a product snapshot of about 1 KiB that was three quarters of the relay's own
// CPU per row (docs/benchmarks.md, Ingest). AppendJSON writes the six fixed fields
// directly and copies Data with only the whitespace between tokens left out.
//
// Data must be valid JSON, as the relay's payloads are (they come from a jsonb
// column): the copy does not check it, and invalid data would make invalid output
// where json.Marshal returns an error. Anything that would make json.Marshal write
// something other than a plain copy goes to json.Marshal itself: a string field
// with a byte it escapes (a quote, a backslash, a control character, <, > or &, or
// any non-ASCII byte), a time outside the years 0–9999 or not in UTC, and data holding <, >, &,
// U+2028 or U+2029 (escaped even inside raw JSON).
func (e Envelope) AppendJSON(dst []byte) ([]byte, error) {
	if !plain(e.ID) || !plain(string(e.Type)) || !plain(e.TenantID) || !plain(e.AggregateType) || !plain(e.AggregateID) {
		return e.appendMarshal(dst)
	}
	if y := e.OccurredAt.Year(); y < 0 || y > 9999 {
		return e.appendMarshal(dst)
	}
	if _, offset := e.OccurredAt.Zone(); offset != 0 {
		return e.appendMarshal(dst) // the relay's times are UTC; json.Marshal checks other offsets
	}
	start := len(dst)
	dst = append(dst, `{"id":"`...)
	dst = append(dst, e.ID...)
	dst = append(dst, `","type":"`...)
	dst = append(dst, e.Type...)
	dst = append(dst, `","tenant_id":"`...)
	dst = append(dst, e.TenantID...)
	dst = append(dst, `","aggregate_type":"`...)
	dst = append(dst, e.AggregateType...)
	dst = append(dst, `","aggregate_id":"`...)
	dst = append(dst, e.AggregateID...)
	dst = append(dst, `","occurred_at":"`...)
	dst = e.OccurredAt.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","data":`...)
	if len(e.Data) == 0 {
		dst = append(dst, "null"...)
	} else {
		var ok bool
		if dst, ok = appendCompact(dst, e.Data); !ok {
			return e.appendMarshal(dst[:start])
		}
	}
	return append(dst, '}'), nil
}

func (e Envelope) appendMarshal(dst []byte) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// plain reports whether json.Marshal writes s as its bytes between quotes: printable
// ASCII without a quote, a backslash or the HTML characters it escapes.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// appendCompact appends valid JSON src to dst without the whitespace between tokens,
// as json.Compact does; false when src holds a byte that json.Marshal's compaction
// would escape rather than copy (<, >, &, or the first byte of U+2028 and U+2029,
// which then may or may not be one of them: the caller hands all of those to
// json.Marshal).
func appendCompact(dst, src []byte) ([]byte, bool) {
	inString := false
	from := 0 // src[from:i] is still to be copied
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '<' || c == '>' || c == '&' || c == 0xE2:
			return dst, false
		case inString:
			switch c {
			case '\\':
				i++ // the escaped byte cannot end the string
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			dst = append(dst, src[from:i]...)
			from = i + 1
		}
	}
	return append(dst, src[from:]...), true
}
