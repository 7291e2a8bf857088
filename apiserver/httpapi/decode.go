package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
)

// decode reads the JSON body into v, refusing unknown fields. The validator has
// already checked the body against the spec; this is the second line, so a handler
// never acts on fields the spec does not allow (mass assignment).
func decode(c *gin.Context, v any) error {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return apiserver.Errorf(apiserver.ErrPayloadTooLarge, "The body is larger than %d bytes.", mbe.Limit)
		case errors.As(err, &te):
			return &apiserver.Error{Code: apiserver.ErrInvalid, Field: te.Field, Message: "A field has the wrong type."}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return &apiserver.Error{Code: apiserver.ErrUnknownField, Field: name, Message: "A field is not part of this operation's input."}
		case errors.Is(err, io.EOF):
			return &apiserver.Error{Code: apiserver.ErrInvalid, Field: "body", Message: "This operation needs a JSON body."}
		default:
			return apiserver.Errorf(apiserver.ErrMalformedJSON, "The body is not valid JSON.")
		}
	}
	if dec.More() {
		return apiserver.Errorf(apiserver.ErrMalformedJSON, "The body must hold exactly one JSON value.")
	}
	return nil
}
