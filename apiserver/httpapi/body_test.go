package httpapi

import (
	"testing"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/discovery"
)

func TestBadText(t *testing.T) {
	tests := []struct {
		name, body, field string
		bad               bool
	}{
		{"plain", `{"a":"b"}`, "", false},
		{"surrogate pair", `{"a":"\ud83d\ude00"}`, "", false},
		{"upper-case pair", `{"a":"\uD83D\uDE00"}`, "", false},
		{"escaped backslash", `{"a":"\\ud800"}`, "", false},
		{"other escapes", `{"a":"\n\"\u00e9\\"}`, "", false},
		{"lone high", `{"a":"\ud800"}`, "a", true},
		{"lone high at the end", `{"a":"x\udbff"}`, "a", true},
		{"high then high", `{"a":"\ud800\ud800"}`, "a", true},
		{"lone low", `{"a":"\udc00"}`, "a", true},
		{"invalid byte", "{\"a\":\"\xff\"}", "a", true},
		{"nested", `{"a":[1,{"b":"x"},{"c":{"d":"\udc00"}}]}`, "a[2].c.d", true},
		{"after other values", `{"n":1,"t":true,"z":null,"o":{},"l":[],"s":"\udc00"}`, "s", true},
		{"in a key", `{"a":{"\ud800":1}}`, "a", true},
		{"top-level array", `["x","\ud800"]`, "[1]", true},
		{"not JSON but bad", "{\"a\":\"\xff", "", true},
		{"not JSON", `{"a":`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			field, bad := badText([]byte(tt.body))
			if bad != tt.bad || field != tt.field {
				t.Fatalf("badText(%q) = %q, %v; want %q, %v", tt.body, field, bad, tt.field, tt.bad)
			}
		})
	}
}

// TestEventsBodyLimit: the spec's cap on the events route is the one the behaviour
// parser applies, so the validator refuses first what the parser would refuse.
func TestEventsBodyLimit(t *testing.T) {
	v, err := newValidator(apiserver.OpenAPISpec)
	if err != nil {
		t.Fatal(err)
	}
	route := v.byGin["POST /api/v1/events"]
	if route == nil {
		t.Fatal("no events route in the spec")
	}
	if got := v.ops[route.Operation].maxBody; got != discovery.MaxBehaviourBody {
		t.Fatalf("x-kommerce-max-body-bytes %d, want discovery.MaxBehaviourBody %d", got, discovery.MaxBehaviourBody)
	}
}
