package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gin-gonic/gin"
	swaggerfiles "github.com/swaggo/files/v2"

	"github.com/kommerce/kommerce/apiserver"
)

// validator checks requests against openapi.yaml: the route exists, the caller has
// the role the operation names in x-kommerce-role, and parameters and body match
// their schemas. Operations whose security list lacks {} need a token.
type validator struct {
	doc    *openapi3.T
	router routers.Router
	ops    map[*openapi3.Operation]opPolicy
	opts   *openapi3filter.Options
	// byGin finds the spec route of a gin route ("GET /api/v1/products/:id") without
	// matching the path a second time.
	byGin map[string]*routers.Route
	// maxBody bounds the body of operations without x-kommerce-max-body-bytes
	// (New sets it to Config.MaxBodyBytes).
	maxBody int64
	// fast checks the parameters of the bodiless operations it can model before
	// kin-openapi is asked (fastcheck.go).
	fast map[*openapi3.Operation]*fastCheck
}

var specParam = regexp.MustCompile(`\{([A-Za-z_]+)\}`)

type opPolicy struct {
	needsAuth bool
	role      apiserver.Role
	hasBody   bool
	// maxBody is the operation's own, smaller body limit (x-kommerce-max-body-bytes):
	// the body is refused with 413 after reading at most that many bytes plus one,
	// before anything parses it. 0: the server's limit.
	maxBody int64
	// streamed (x-kommerce-streamed-body: true) marks uploads (CSV imports, images)
	// larger than any JSON body: neither limitBody nor the validator reads the body;
	// the handler streams it under its own limit and checks its content itself.
	streamed bool
}

// formatFunc is a string format checked by a function instead of a regular expression:
// the id and tenant formats are checked on nearly every request.
type formatFunc func(string) bool

func (f formatFunc) Validate(s string) error {
	if !f(s) {
		return errors.New("not in the expected format")
	}
	return nil
}

// validURI is the uri format of JSON Schema (RFC 3986): an absolute URI, so a scheme,
// and only the ASCII characters a URI may hold; "https://Ï" is an IRI, not a URI.
// Without it kin-openapi would not check the format at all.
func validURI(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"<>\\^`+"`"+`{|}`, c) >= 0 {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme != ""
}

func newValidator(spec []byte) (*validator, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	formats := map[string]openapi3.StringFormatValidator{
		"uuid":        formatFunc(apiserver.ValidID),
		"tenant-slug": formatFunc(apiserver.ValidSlug),
		"email":       openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForEmail),
		"uri":         formatFunc(validURI),
	}
	doc.SetStringFormatValidators(formats)
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not valid: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi router: %w", err)
	}
	v := &validator{doc: doc, router: router, ops: map[*openapi3.Operation]opPolicy{}, byGin: map[string]*routers.Route{},
		maxBody: apiserver.DefaultMaxBodyBytes, fast: map[*openapi3.Operation]*fastCheck{}}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			v.byGin[method+" "+specParam.ReplaceAllString(path, ":$1")] = &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}
			var p opPolicy
			sec := doc.Security
			if op.Security != nil {
				sec = *op.Security
			}
			if len(sec) > 0 {
				p.needsAuth = true
				for _, req := range sec {
					if len(req) == 0 {
						p.needsAuth = false
					}
				}
			}
			if r, ok := op.Extensions["x-kommerce-role"].(string); ok {
				p.role = apiserver.Role(r)
				if !p.role.Valid() {
					return nil, fmt.Errorf("openapi.yaml: %s %s: unknown x-kommerce-role %q", method, path, r)
				}
			}
			p.hasBody = op.RequestBody != nil
			if n, ok := op.Extensions["x-kommerce-max-body-bytes"].(float64); ok {
				if n < 1 || n != float64(int64(n)) {
					return nil, fmt.Errorf("openapi.yaml: %s %s: x-kommerce-max-body-bytes must be a positive integer", method, path)
				}
				p.maxBody = int64(n)
			}
			p.streamed, _ = op.Extensions["x-kommerce-streamed-body"].(bool)
			v.ops[op] = p
			if fc := compileFastCheck(item, op); fc != nil && !p.streamed {
				v.fast[op] = fc
			}
		}
	}
	v.opts = &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidators(formats)}}
	return v, nil
}

// streamedBody reports whether the route of c takes a streamed upload
// (x-kommerce-streamed-body), whose handler applies its own size limit.
func (v *validator) streamedBody(c *gin.Context) bool {
	route := v.byGin[c.Request.Method+" "+c.FullPath()]
	return route != nil && v.ops[route.Operation].streamed
}

// validate is the gin middleware around validator.
func (h *handler) validate(c *gin.Context) {
	var params map[string]string
	route := h.validator.byGin[c.Request.Method+" "+c.FullPath()]
	if route != nil && len(c.Params) > 0 {
		params = make(map[string]string, len(c.Params))
		for _, p := range c.Params {
			params[p.Key] = p.Value
		}
	}
	if err := h.validator.check(c.Request, route, params); err != nil {
		h.writeError(c, err)
		return
	}
	c.Next()
}

func (v *validator) check(r *http.Request, route *routers.Route, params map[string]string) error {
	if route == nil {
		var err error
		route, params, err = v.router.FindRoute(r)
		if errors.Is(err, routers.ErrMethodNotAllowed) {
			return apiserver.Errorf(apiserver.ErrMethodNotAllowed, "This path does not accept %s.", r.Method)
		}
		if err != nil {
			return apiserver.Errorf(apiserver.ErrNotFound, "No route matches this path.")
		}
	}
	pol := v.ops[route.Operation]
	p := apiserver.PrincipalFromContext(r.Context())
	if pol.needsAuth && p == nil {
		return apiserver.Errorf(apiserver.ErrUnauthenticated, "Sign in: this operation needs an access token.")
	}
	if pol.role != "" && (p == nil || !p.Role.AtLeast(pol.role)) {
		return apiserver.Errorf(apiserver.ErrForbidden, "This operation needs the %s role.", pol.role)
	}
	if pol.streamed {
		opts := *v.opts
		opts.ExcludeRequestBody = true
		err := openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
			Request: r, PathParams: params, Route: route, Options: &opts,
		})
		if err != nil {
			return requestError(err)
		}
		return nil
	}
	if pol.hasBody {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || mt != "application/json" {
				return apiserver.Errorf(apiserver.ErrUnsupportedMediaType, "Send the body as application/json.")
			}
		} else if r.ContentLength != 0 {
			return apiserver.Errorf(apiserver.ErrUnsupportedMediaType, "Send the body as application/json.")
		}
		limit := v.maxBody
		if pol.maxBody > 0 && pol.maxBody < limit {
			limit = pol.maxBody
		}
		if err := readBody(r, limit); err != nil {
			return err
		}
	}
	if fc := v.fast[route.Operation]; fc != nil && fc.accept(r, params) {
		return nil
	}
	err := openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route, Options: v.opts,
	})
	if err != nil {
		return requestError(err)
	}
	return nil
}

var unsupportedProp = regexp.MustCompile(`property "([^"]+)" is unsupported`)

// requestError turns a kin-openapi validation error into an *apiserver.Error that
// names the field, without echoing the offending value.
func requestError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apiserver.Errorf(apiserver.ErrPayloadTooLarge, "The body is larger than %d bytes.", mbe.Limit)
	}
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		var se *openapi3filter.SecurityRequirementsError
		if errors.As(err, &se) {
			return apiserver.Errorf(apiserver.ErrUnauthenticated, "Sign in: this operation needs an access token.")
		}
		return apiserver.Errorf(apiserver.ErrInvalid, "The request does not match the API contract.")
	}
	field := ""
	if re.Parameter != nil {
		field = re.Parameter.Name
	}
	var se *openapi3.SchemaError
	if errors.As(re.Err, &se) {
		path := jsonPath(se.JSONPointer())
		if m := unsupportedProp.FindStringSubmatch(se.Reason); m != nil {
			f := joinPath(field, path)
			if !strings.HasSuffix(f, m[1]) {
				f = joinPath(f, m[1])
			}
			return &apiserver.Error{Code: apiserver.ErrUnknownField, Field: f, Message: fmt.Sprintf("Field %q is not part of this operation's input.", m[1])}
		}
		if se.SchemaField == "required" {
			if m := requiredProp.FindStringSubmatch(se.Reason); m != nil {
				f := joinPath(field, path)
				if !strings.HasSuffix(f, m[1]) {
					f = joinPath(f, m[1])
				}
				return &apiserver.Error{Code: apiserver.ErrInvalid, Field: f, Message: fmt.Sprintf("Field %q is required.", m[1])}
			}
		}
		f := joinPath(field, path)
		if f == "" {
			f = "body"
		}
		e := &apiserver.Error{Code: apiserver.ErrInvalid, Field: f, Message: sentence("Field " + f + ": " + se.Reason)}
		if field != "" {
			// A parameter is the field a client knows by name; the message says which
			// of its values (items[2]) is at fault.
			e.Field = field
		}
		return e
	}
	var pe *openapi3filter.ParseError
	if errors.As(re.Err, &pe) {
		if re.RequestBody != nil {
			return apiserver.Errorf(apiserver.ErrMalformedJSON, "The body is not valid JSON.")
		}
		return &apiserver.Error{Code: apiserver.ErrInvalid, Field: field, Message: sentence(field + ": the value cannot be read as the expected type")}
	}
	if errors.Is(re.Err, openapi3filter.ErrInvalidEmptyValue) {
		return &apiserver.Error{Code: apiserver.ErrInvalid, Field: field, Message: sentence(field + " must not be empty; leave it out instead")}
	}
	if errors.Is(re.Err, openapi3filter.ErrInvalidRequired) {
		if re.RequestBody != nil {
			return &apiserver.Error{Code: apiserver.ErrInvalid, Field: "body", Message: "This operation needs a JSON body."}
		}
		return &apiserver.Error{Code: apiserver.ErrInvalid, Field: field, Message: sentence(field + " is required")}
	}
	if re.RequestBody != nil && (strings.Contains(re.Reason, "Content-Type") || strings.Contains(re.Reason, "content type")) {
		return apiserver.Errorf(apiserver.ErrUnsupportedMediaType, "Send the body as application/json.")
	}
	if re.RequestBody != nil {
		return apiserver.Errorf(apiserver.ErrMalformedJSON, "The body is not valid JSON.")
	}
	return &apiserver.Error{Code: apiserver.ErrInvalid, Field: field, Message: "A parameter does not match the API contract."}
}

var requiredProp = regexp.MustCompile(`property "([^"]+)" is missing`)

func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// jsonPath renders a JSON pointer as variants[0].prices[1].amount.
func jsonPath(ptr []string) string {
	var b strings.Builder
	for _, p := range ptr {
		if _, err := strconv.Atoi(p); err == nil {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	case strings.HasPrefix(b, "["):
		return a + b
	}
	return a + "." + b
}

func (h *handler) openAPIDocument(c *gin.Context) {
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "application/yaml", apiserver.OpenAPISpec)
}

// The docs page loads Swagger UI from files embedded in the binary and starts it from
// a script file, not an inline script, so the page's CSP can forbid inline scripts.
const docsHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>kommerce API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-ui-standalone-preset.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`

const docsInit = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  });
};
`

var docsAssets = map[string]string{
	"swagger-ui.css":                  "text/css; charset=utf-8",
	"swagger-ui-bundle.js":            "text/javascript; charset=utf-8",
	"swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
	"favicon-16x16.png":               "image/png",
	"favicon-32x32.png":               "image/png",
	"init.js":                         "text/javascript; charset=utf-8",
}

func (h *handler) docsPage(c *gin.Context) {
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(docsHTML))
}

func (h *handler) docsAsset(c *gin.Context) {
	name := c.Param("file")
	ct, ok := docsAssets[name]
	if !ok {
		h.writeError(c, apiserver.Errorf(apiserver.ErrNotFound, "No such file."))
		return
	}
	body := []byte(docsInit)
	if name != "init.js" {
		b, err := fs.ReadFile(swaggerfiles.FS, name)
		if err != nil {
			h.writeError(c, fmt.Errorf("swagger ui asset %s: %w", name, err))
			return
		}
		body = b
	}
	c.Header("Cache-Control", "public, max-age=3600")
	c.Data(http.StatusOK, ct, body)
}
