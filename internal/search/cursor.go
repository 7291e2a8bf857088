package search

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// cursor is the decoded form of Result.NextCursor. It is opaque to clients: base64url
// of a small JSON object, checked strictly when it comes back.
type cursor struct {
	V int    `json:"v"` // format version
	F uint32 `json:"f"` // fingerprint of the query it belongs to
	O int    `json:"o,omitempty"`
	A []any  `json:"a,omitempty"` // keyset: sort values of the last hit
}

const cursorVersion = 1

func encodeCursor(c cursor) string {
	c.V = cursorVersion
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	bad := func(why string) error {
		return invalid("cursor", "cursor is not valid (%s); pass the next_cursor of the previous page unchanged", why)
	}
	if len(s) > 1024 {
		return c, bad("too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, bad("not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, bad("not a cursor")
	}
	if c.V != cursorVersion {
		return c, bad("unknown version")
	}
	if c.O < 0 || c.O > MaxDepth {
		return c, bad(fmt.Sprintf("offset beyond %d", MaxDepth))
	}
	if c.O > 0 && len(c.A) > 0 {
		return c, bad("mixed pagination")
	}
	if len(c.A) > 4 {
		return c, bad("too many sort values")
	}
	for i, v := range c.A {
		switch x := v.(type) {
		case json.Number:
			if n, err := x.Int64(); err == nil {
				c.A[i] = n
			} else if f, err := x.Float64(); err == nil {
				c.A[i] = f
			} else {
				return c, bad("bad number")
			}
		case string:
			if len(x) > 4*MaxValueLen {
				return c, bad("sort value too long")
			}
		default:
			return c, bad("bad sort value")
		}
	}
	return c, nil
}
