package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// maxBody is the contract's limit on request bodies.
const maxBody = 64 << 10

// decodeJSON reads exactly one JSON object into v: at most 64 KiB, no
// unknown fields, nothing after it. The Content-Type is not insisted on
// (curl -d sends a form type); the body is JSON or it is refused. An empty body leaves v untouched when
// allowEmpty, else it is an error.
func decodeJSON(c echo.Context, v any, allowEmpty bool) error {
	r := c.Request()
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		if allowEmpty {
			return nil
		}
		return invalid("a JSON body is required")
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err, allowEmpty)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if err == nil {
			return invalid("the body must be one JSON object")
		}
		return bodyError(err, false)
	}
	return nil
}

func bodyError(err error, allowEmpty bool) error {
	if errors.Is(err, io.EOF) {
		if allowEmpty {
			return nil
		}
		return invalid("a JSON body is required")
	}
	var maxErr *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	var synErr *json.SyntaxError
	switch {
	case errors.As(err, &maxErr):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Message: "the body is over 64 KiB"}
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return invalid("the body must be a JSON object")
		}
		return invalid("field " + field + ": expected " + typeErr.Type.String())
	case errors.As(err, &synErr), errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("malformed JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return invalid("unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return invalid(err.Error())
}

// decodeStrict reads one JSON object from doc as decodeJSON does from a
// request: no unknown fields, nothing after it.
func decodeStrict(doc []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err, false)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return invalid("the document must be one JSON object")
	}
	return nil
}

// readBody returns the raw request body, at most 64 KiB: webhooks are
// verified on the exact bytes that were signed.
func readBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, maxBody))
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Message: "the body is over 64 KiB"}
	}
	return b, err
}

// limitParam reads the ?limit= of a listing: 1 to 1000, def when absent.
func limitParam(c echo.Context, def int) (int, error) {
	l := c.QueryParam("limit")
	if l == "" {
		return def, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > 1000 {
		return 0, invalid("limit must be between 1 and 1000")
	}
	return n, nil
}
