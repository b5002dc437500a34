package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// maxBody is the contract's limit on request bodies.
const maxBody = 64 << 10

// bodyTimeout is how long a client may take to send a request body once its
// headers are in: 64 KiB in 5 s is 13 KB/s, slower than any phone that can
// load the waiting room. A client that trickles its body is answered 408 and
// its connection closed, instead of holding it (and, before bodyFirst, a
// booking slot) for the server's 30 s ReadTimeout.
const bodyTimeout = 5 * time.Second

// bufferedBody marks a request body already read into memory.
type bufferedBody struct{ *bytes.Reader }

func (bufferedBody) Close() error { return nil }

// bufferBody reads the request's body (at most 64 KiB) into memory under a
// read deadline of its own, timeout from now, and puts it back as the
// request's body, so whatever reads it next never waits on the client.
// Errors are the contract's: 413 over 64 KiB, 408 when the body is not in
// by the deadline. A body read already, or none, costs nothing.
func bufferBody(c echo.Context, timeout time.Duration) error {
	r := c.Request()
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if _, ok := r.Body.(bufferedBody); ok {
		return nil
	}
	if r.ContentLength > maxBody {
		c.Response().Header().Set(echo.HeaderConnection, "close")
		return errTooLarge
	}
	// The deadline is the connection's; where it cannot be set (HTTP/2, a
	// test recorder) the server's ReadTimeout still bounds the read.
	rc := http.NewResponseController(c.Response())
	deadline := rc.SetReadDeadline(time.Now().Add(timeout)) == nil
	b, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, maxBody))
	if deadline {
		// No deadline from here on: the body is in, and a deadline left
		// behind would cancel the request's context when it passed.
		_ = rc.SetReadDeadline(time.Time{})
	}
	var maxErr *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &maxErr):
		c.Response().Header().Set(echo.HeaderConnection, "close")
		return errTooLarge
	case errors.As(err, &netErr) && netErr.Timeout():
		c.Response().Header().Set(echo.HeaderConnection, "close")
		return &apiError{Status: http.StatusRequestTimeout, Code: "request_timeout",
			Message: "the request body did not arrive within " + strconv.Itoa(int(timeout.Seconds())) + " s"}
	case err != nil:
		return invalid("the body could not be read")
	}
	_ = r.Body.Close()
	r.Body, r.ContentLength = bufferedBody{bytes.NewReader(b)}, int64(len(b))
	return nil
}

var errTooLarge = &apiError{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Message: "the body is over 64 KiB"}

// bodyFirst reads the request body before the handlers behind it run (see
// bufferBody). In front of shed, a request takes a booking slot only once
// its body is in: a client trickling bytes holds its own connection for at
// most timeout, never a slot every other visitor needs.
func bodyFirst(timeout time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := bufferBody(c, timeout); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// decodeJSON reads exactly one JSON object into v: at most 64 KiB, no
// unknown fields, nothing after it. The Content-Type is not insisted on
// (curl -d sends a form type); the body is JSON or it is refused. An empty body leaves v untouched when
// allowEmpty, else it is an error.
func decodeJSON(c echo.Context, v any, allowEmpty bool) error {
	r := c.Request()
	if err := bufferBody(c, bodyTimeout); err != nil {
		return err
	}
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		if allowEmpty {
			return nil
		}
		return invalid("a JSON body is required")
	}
	dec := json.NewDecoder(r.Body)
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
		return errTooLarge
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

// readBody returns the raw request body, at most 64 KiB, read as
// bufferBody reads it: webhooks are verified on the exact bytes that were
// signed.
func readBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	if err := bufferBody(c, bodyTimeout); err != nil {
		return nil, err
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	return io.ReadAll(r.Body)
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
