package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/kommerce/kommerce/apiserver"
)

// fastCheck validates the parameters of a bodiless operation whose parameters are
// all simple (strings with length, enum, pattern and the uuid or tenant-slug format;
// integers with bounds) without kin-openapi, which decodes every parameter through
// its generic machinery on every request — ~14 µs of a list request. It only ever
// accepts: anything it cannot prove valid (a bad or repeated value, a missing
// required one, a shape it does not model) goes to kin-openapi, so every refusal is
// still kin-openapi's, word for word. Like kin-openapi it writes the defaults of
// missing query parameters into the URL. TestFastCheckAcceptsOnlyWhatKinAccepts
// holds it to that.
type fastCheck struct {
	params   []paramCheck
	defaults bool // some query parameter has a default
}

type paramCheck struct {
	name     string
	in       string // openapi3.ParameterInQuery, ParameterInHeader or ParameterInPath
	required bool
	def      string // the default of a query parameter, as kin-openapi writes it
	hasDef   bool

	integer  bool
	min, max *float64
	enum     []string
	minLen   uint64
	maxLen   *uint64
	pattern  *regexp.Regexp
	format   func(string) bool
}

// compileFastCheck returns nil for an operation it does not model.
func compileFastCheck(item *openapi3.PathItem, op *openapi3.Operation) *fastCheck {
	if op.RequestBody != nil || len(item.Parameters) > 0 {
		return nil
	}
	fc := &fastCheck{}
	for _, ref := range op.Parameters {
		p := ref.Value
		if p == nil || p.Content != nil || p.AllowEmptyValue || p.Schema == nil || p.Schema.Value == nil ||
			(p.Style != "" && p.Style != defaultStyle(p.In)) || (p.Explode != nil && !*p.Explode && p.In == openapi3.ParameterInQuery) {
			return nil
		}
		switch p.In {
		case openapi3.ParameterInQuery, openapi3.ParameterInHeader, openapi3.ParameterInPath:
		default:
			return nil
		}
		pc, ok := compileParam(p.Schema.Value)
		if !ok {
			return nil
		}
		pc.name, pc.in, pc.required = p.Name, p.In, p.Required
		if d := p.Schema.Value.Default; d != nil {
			if p.In != openapi3.ParameterInQuery {
				return nil
			}
			switch d.(type) {
			case string, float64:
			default:
				return nil
			}
			pc.def, pc.hasDef, fc.defaults = fmt.Sprint(d), true, true
		}
		fc.params = append(fc.params, pc)
	}
	return fc
}

func defaultStyle(in string) string {
	if in == openapi3.ParameterInQuery {
		return openapi3.SerializationForm
	}
	return openapi3.SerializationSimple
}

// compileParam models a schema of type string or integer with the keywords the spec
// uses on parameters; ok is false for anything else.
func compileParam(s *openapi3.Schema) (paramCheck, bool) {
	var pc paramCheck
	if len(s.AllOf) > 0 || len(s.AnyOf) > 0 || len(s.OneOf) > 0 || s.Not != nil || s.Nullable ||
		s.ExclusiveMin != (openapi3.ExclusiveBound{}) || s.ExclusiveMax != (openapi3.ExclusiveBound{}) || s.MultipleOf != nil {
		return pc, false
	}
	switch {
	case s.Type.Is(openapi3.TypeInteger):
		if s.Format != "" || len(s.Enum) > 0 || s.Pattern != "" || s.MinLength != 0 || s.MaxLength != nil || s.Min == nil || s.Max == nil {
			return pc, false
		}
		pc.integer, pc.min, pc.max = true, s.Min, s.Max
	case s.Type.Is(openapi3.TypeString):
		if s.Min != nil || s.Max != nil {
			return pc, false
		}
		for _, e := range s.Enum {
			str, ok := e.(string)
			if !ok {
				return pc, false
			}
			pc.enum = append(pc.enum, str)
		}
		pc.minLen, pc.maxLen = s.MinLength, s.MaxLength
		if s.Pattern != "" {
			re, err := regexp.Compile(s.Pattern)
			if err != nil {
				return pc, false
			}
			pc.pattern = re
		}
		switch s.Format {
		case "":
		case "uuid":
			pc.format = apiserver.ValidID
		case "tenant-slug":
			pc.format = apiserver.ValidSlug
		default:
			return pc, false
		}
	default:
		return pc, false
	}
	return pc, true
}

// accept reports whether r's parameters are valid; when it is, the defaults of
// missing query parameters have been written into r.URL. false means "ask
// kin-openapi", not "invalid".
func (fc *fastCheck) accept(r *http.Request, pathParams map[string]string) bool {
	var q url.Values
	if r.URL.RawQuery != "" {
		var err error
		if q, err = url.ParseQuery(r.URL.RawQuery); err != nil {
			return false
		}
	}
	missingDefault := false
	for i := range fc.params {
		p := &fc.params[i]
		var v string
		switch p.in {
		case openapi3.ParameterInQuery:
			vs, ok := q[p.name]
			if !ok {
				if p.required {
					return false
				}
				missingDefault = missingDefault || p.hasDef
				continue
			}
			if len(vs) != 1 {
				return false
			}
			v = vs[0]
		case openapi3.ParameterInHeader:
			vs, ok := r.Header[http.CanonicalHeaderKey(p.name)]
			if !ok {
				if p.required {
					return false
				}
				continue
			}
			if len(vs) != 1 {
				return false
			}
			v = vs[0]
		case openapi3.ParameterInPath:
			var ok bool
			if v, ok = pathParams[p.name]; !ok {
				return false
			}
		}
		if v == "" || !p.valid(v) {
			return false
		}
	}
	if missingDefault {
		if q == nil {
			q = url.Values{}
		}
		for i := range fc.params {
			if p := &fc.params[i]; p.hasDef && q[p.name] == nil {
				q.Add(p.name, p.def)
			}
		}
		r.URL.RawQuery = q.Encode()
	}
	return true
}

func (p *paramCheck) valid(v string) bool {
	if p.integer {
		// Plain decimal digits only, which kin-openapi reads the same way.
		if len(v) > 15 || (len(v) > 1 && v[0] == '0') {
			return false
		}
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return false
			}
		}
		n, err := strconv.ParseInt(v, 10, 64)
		return err == nil && float64(n) >= *p.min && float64(n) <= *p.max
	}
	if !utf8.ValidString(v) {
		return false
	}
	if len(p.enum) > 0 && !slices.Contains(p.enum, v) {
		return false
	}
	if p.minLen > 0 || p.maxLen != nil {
		n := uint64(utf8.RuneCountInString(v))
		if n < p.minLen || (p.maxLen != nil && n > *p.maxLen) {
			return false
		}
	}
	if p.pattern != nil && !p.pattern.MatchString(v) {
		return false
	}
	return p.format == nil || p.format(v)
}
