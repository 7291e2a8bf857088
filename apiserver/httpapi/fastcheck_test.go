package httpapi

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/kommerce/kommerce/apiserver"
)

// TestFastCheckAcceptsOnlyWhatKinAccepts: on random requests to every operation the
// fast check models — valid, boundary and invalid values, missing, repeated and empty
// parameters — whatever it accepts, kin-openapi accepts too, and leaves the same URL
// (defaults written in). What it does not accept goes to kin-openapi, whose refusals
// the other tests pin down; so the client sees the same 400 either way.
func TestFastCheckAcceptsOnlyWhatKinAccepts(t *testing.T) {
	v, err := newValidator(apiserver.OpenAPISpec)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	modelled, accepted := 0, 0
	for key, route := range v.byGin {
		fc := v.fast[route.Operation]
		if fc == nil {
			continue
		}
		modelled++
		path := key[strings.IndexByte(key, ' ')+1:]
		for range 400 {
			query := url.Values{}
			headers := map[string][]string{}
			pathParams := map[string]string{}
			for _, ref := range route.Operation.Parameters {
				p := ref.Value
				vals := candidates(p.Schema.Value)
				var pick []string
				switch n := rng.IntN(6); {
				case n == 0 && p.In != openapi3.ParameterInPath: // absent
				case n == 1: // repeated
					pick = []string{vals[rng.IntN(len(vals))], vals[rng.IntN(len(vals))]}
				default:
					pick = []string{vals[rng.IntN(len(vals))]}
				}
				switch p.In {
				case openapi3.ParameterInQuery:
					if pick != nil {
						query[p.Name] = pick
					}
				case openapi3.ParameterInHeader:
					if pick != nil {
						headers[p.Name] = pick
					}
				case openapi3.ParameterInPath:
					if pick != nil {
						pathParams[p.Name] = pick[0]
					}
				}
			}
			target := path + "?" + query.Encode()
			if rng.IntN(8) == 0 {
				target = path + "?limit=%zz&" + query.Encode() // a bad escape
			}
			fastReq := httptest.NewRequest(route.Method, "http://shop.test/", nil)
			fastReq.URL, _ = url.Parse(target)
			for k, vs := range headers {
				for _, h := range vs {
					fastReq.Header.Add(k, h)
				}
			}
			kinReq := fastReq.Clone(context.Background())
			kinURL := *fastReq.URL
			kinReq.URL = &kinURL
			ok := fc.accept(fastReq, pathParams)
			kinErr := openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
				Request: kinReq, PathParams: pathParams, Route: route, Options: v.opts,
			})
			if !ok {
				continue
			}
			accepted++
			if kinErr != nil {
				t.Fatalf("%s %s, headers %v, path %v: fast check accepts, kin-openapi refuses: %v", route.Method, target, headers, pathParams, kinErr)
			}
			if fastReq.URL.RawQuery != kinReq.URL.RawQuery {
				t.Fatalf("%s %s: query %q after the fast check, %q after kin-openapi", route.Method, target, fastReq.URL.RawQuery, kinReq.URL.RawQuery)
			}
		}
	}
	list := v.byGin["GET /api/v1/products"]
	if list == nil || v.fast[list.Operation] == nil {
		t.Fatal("the product list is not checked by the fast path")
	}
	if modelled < 5 || accepted < modelled*20 {
		t.Fatalf("fast path used on %d operations, accepted %d requests: too few for the test to mean something", modelled, accepted)
	}
	t.Logf("%d operations modelled, %d random requests accepted by the fast check", modelled, accepted)
}

// candidates are values around a parameter schema's constraints.
func candidates(s *openapi3.Schema) []string {
	out := []string{"", "x", "0", "1", "20", "100", "101", "-1", "+1", "01", "1.0", "1e2", " 1", "99999999999999999999",
		"00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-00000000000A", "shop", "Shop", "-shop", "a\x00b", "\xff",
		"draft", "published", "name", "-name", "created_at", "-created_at", `"v1"`, "*", "ü", strings.Repeat("a", 63), strings.Repeat("a", 64)}
	for _, e := range s.Enum {
		out = append(out, fmt.Sprint(e))
	}
	if s.MaxLength != nil {
		n := int(*s.MaxLength)
		out = append(out, strings.Repeat("é", n), strings.Repeat("é", n+1), strings.Repeat("b", n+1))
	}
	return out
}
