package stack_test

import (
	"strings"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
)

// TestInvalidUnicodeRefused: text that encoding/json would silently turn into U+FFFD
// (invalid UTF-8 bytes, unpaired surrogate escapes) is refused with 400 and the field
// at fault on every JSON operation, and nothing is stored; real surrogate pairs and
// an escaped backslash before "ud800" are text and are accepted.
func TestInvalidUnicodeRefused(t *testing.T) {
	e := startAPI(t, nil)
	shop := e.tenant("shop")
	admin := e.user(shop, "admin@shop.test", apiserver.RoleAdmin)
	tables := []string{"products", "variants", "categories", "users", "carts"}
	before := map[string]int{}
	for _, tb := range tables {
		before[tb] = e.count(tb)
	}
	tests := []struct {
		name, path, token, body, field string
	}{
		{"invalid byte in a product name", "/api/v1/products", admin, "{\"name\":\"a\xffb\",\"variants\":[{\"sku\":\"U-1\",\"prices\":[]}]}", "name"},
		{"truncated sequence in a nested SKU", "/api/v1/products", admin, "{\"name\":\"x\",\"variants\":[{\"sku\":\"U-\xe2\x82\",\"prices\":[]}]}", "variants[0].sku"},
		{"lone high surrogate", "/api/v1/products", admin, `{"name":"a\ud800b","variants":[{"sku":"U-2","prices":[]}]}`, "name"},
		{"lone low surrogate", "/api/v1/products", admin, `{"name":"x","description":"\uDC00","variants":[{"sku":"U-3","prices":[]}]}`, "description"},
		{"high surrogate before a non-surrogate", "/api/v1/products", admin, `{"name":"\ud83d\u0041","variants":[{"sku":"U-4","prices":[]}]}`, "name"},
		{"surrogate in the second array item", "/api/v1/products", admin, `{"name":"x","images":["https://a.test/1.png","https://a.test/\udfff.png"],"variants":[{"sku":"U-5","prices":[]}]}`, "images[1]"},
		{"surrogate in a property name", "/api/v1/products", admin, `{"name":"x","variants":[{"\ud800":"1","sku":"U-6","prices":[]}]}`, "variants[0]"},
		{"category name", "/api/v1/categories", admin, `{"name":"\ud800","slug":"c-1"}`, "name"},
		{"registration name", "/api/v1/auth/register", "", "{\"email\":\"u@shop.test\",\"password\":\"long enough pw\",\"name\":\"J\xc3\"}", "name"},
		{"login e-mail", "/api/v1/auth/login", "", `{"email":"\udc00@shop.test","password":"long enough pw"}`, "email"},
		{"refresh token", "/api/v1/auth/refresh", "", `{"refresh_token":"\ud800"}`, "refresh_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", tt.path, "shop", tt.token, tt.body).want(400, apiserver.ErrInvalid)
			if r.field() != tt.field {
				t.Fatalf("field %q, want %q (%s)", r.field(), tt.field, r.raw)
			}
			if strings.Contains(string(r.raw), "\ufffd") {
				t.Fatalf("the answer echoes the value: %s", r.raw)
			}
		})
	}
	for _, tb := range tables {
		if n := e.count(tb); n != before[tb] {
			t.Errorf("table %s went from %d to %d rows after refused requests", tb, before[tb], n)
		}
	}

	// Not refused: a surrogate pair is one character, and \\ud800 is a backslash and text.
	r := e.do("POST", "/api/v1/products", "shop", admin, `{"name":"smile \ud83d\ude00 \\ud800","variants":[{"sku":"OK-1","prices":[]}]}`).want(201, "")
	if got := r.str("name"); got != "smile \U0001F600 \\ud800" {
		t.Fatalf("name stored as %q", got)
	}
}

// TestEventBodyCapFirst: the events route refuses a body above its 64 KiB cap with 413
// before parsing or validating it, whatever the body holds after the cap.
func TestEventBodyCapFirst(t *testing.T) {
	e := startAPI(t, nil)
	e.tenant("shop")
	// Valid JSON up to the cap, then a field the spec forbids: validated first, it
	// would be a 400 unknown_field.
	body := `{"type":"view","session_id":"s","product_id":"p","context":{"k":"` + strings.Repeat("v", 100<<10) + `"},"tenant_id":"x"}`
	e.do("POST", "/api/v1/events", "shop", "", body).want(413, apiserver.ErrPayloadTooLarge)
	e.do("POST", "/api/v1/events", "shop", "", []byte(body), "Transfer-Encoding", "chunked").want(413, apiserver.ErrPayloadTooLarge)
	// Not JSON at all after the cap.
	e.do("POST", "/api/v1/events", "shop", "", `{"type":"view",`+strings.Repeat(" ", 65<<10)+`garbage`).want(413, apiserver.ErrPayloadTooLarge)
}
