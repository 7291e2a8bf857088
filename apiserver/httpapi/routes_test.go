package httpapi

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
)

var ginParam = regexp.MustCompile(`[:*]([A-Za-z_]+)`)

// TestRoutesMatchSpec fails when a gin route is not in openapi.yaml or a spec
// operation has no route: the spec is the contract, so neither may drift.
func TestRoutesMatchSpec(t *testing.T) {
	h, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]bool{}
	v, err := newValidator(apiserver.OpenAPISpec)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range h.(*gin.Engine).Routes() {
		routes[r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}")] = true
		if v.byGin[r.Method+" "+r.Path] == nil {
			t.Errorf("gin route %s %s has no spec route for validation", r.Method, r.Path)
		}
	}
	spec := map[string]bool{}
	for path, item := range v.doc.Paths.Map() {
		for method := range item.Operations() {
			spec[strings.ToUpper(method)+" "+path] = true
		}
	}
	var missing, undocumented []string
	for op := range spec {
		if !routes[op] {
			missing = append(missing, op)
		}
	}
	for r := range routes {
		if !spec[r] {
			undocumented = append(undocumented, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(undocumented)
	if len(missing) > 0 || len(undocumented) > 0 {
		t.Fatalf("spec operations without a route: %v\nroutes the spec does not describe: %v", missing, undocumented)
	}
	if len(routes) < 18 {
		t.Fatalf("only %d routes: the comparison is not looking at the real router", len(routes))
	}
}

func TestEveryErrorCodeHasAStatusAndIsInTheSpec(t *testing.T) {
	v, err := newValidator(apiserver.OpenAPISpec)
	if err != nil {
		t.Fatal(err)
	}
	enum := v.doc.Components.Schemas["Error"].Value.Properties["error"].Value.Properties["code"].Value.Enum
	if len(enum) != len(statusOf) {
		t.Fatalf("spec lists %d error codes, the status table %d", len(enum), len(statusOf))
	}
	for _, c := range enum {
		if _, ok := statusOf[c.(string)]; !ok {
			t.Errorf("code %v in the spec has no status", c)
		}
	}
}

func TestJSONPath(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"name"}, "name"},
		{[]string{"variants", "0", "prices", "1", "amount"}, "variants[0].prices[1].amount"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := jsonPath(tt.in); got != tt.want {
				t.Fatalf("jsonPath(%v) = %q", tt.in, got)
			}
		})
	}
}

func TestValidURI(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"https URL", "https://img.example.com/a.png?x=1#y", true},
		{"other scheme", "mailto:a@example.com", true},
		{"relative", "/a.png", false},
		{"empty", "", false},
		{"non-ASCII host", "https://\u00cf", false},
		{"space", "https://example.com/a b.png", false},
		{"angle bracket", "https://example.com/<script>", false},
		{"backslash", `https://example.com\a`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validURI(tt.in); got != tt.want {
				t.Fatalf("validURI(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// TestValidInputRefusalsAreDocumented keeps x-kommerce-valid-input-refused honest:
// hack/e2e/schemathesis.sh accepts these statuses for schema-valid input, so each one
// must be a status the operation documents, with a reason a reader can check.
func TestValidInputRefusalsAreDocumented(t *testing.T) {
	v, err := newValidator(apiserver.OpenAPISpec)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, item := range v.doc.Paths.Map() {
		for method, op := range item.Operations() {
			ext, ok := op.Extensions["x-kommerce-valid-input-refused"]
			if !ok {
				continue
			}
			refused, ok := ext.(map[string]any)
			if !ok || len(refused) == 0 {
				t.Errorf("%s %s: x-kommerce-valid-input-refused is not a map of status to reason", method, path)
				continue
			}
			for status, reason := range refused {
				n++
				if op.Responses.Value(status) == nil {
					t.Errorf("%s %s: refuses valid input with %s, which it does not document", method, path, status)
				}
				if s, _ := reason.(string); len(strings.TrimSpace(s)) < 20 {
					t.Errorf("%s %s: the reason for %s is missing or too short to explain anything: %q", method, path, status, reason)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no operation names a refusal: the test is not reading the extension")
	}
}
