package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/ws"
)

// apiError is an error with its place in the contract: status, code, text.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter int         // seconds; sent as Retry-After when > 0
	HoldID     string      // the live hold, for hold_exists
	Places     *placesJSON // the two places of a join that must choose
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func invalid(msg string) error {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: msg}
}

func unauthorized(msg string) error {
	return &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: msg}
}

// errorBody is the contract's error shape.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
	// HoldID names the visitor's live hold when the code is hold_exists.
	HoldID string `json:"hold_id,omitempty"`
	// Places are the two places a join must choose between (conflict).
	Places *placesJSON `json:"places,omitempty"`
}

// toAPIError maps every error a handler can return to its HTTP form. It is
// the one place that knows which failure is which status.
func toAPIError(err error) *apiError {
	var ae *apiError
	var he *echo.HTTPError
	var notOpen *admission.NotOpenError
	var typeErr *json.UnmarshalTypeError
	var holdExists *booking.HoldExistsError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &notOpen):
		wait := int(time.Until(notOpen.OpensAt).Seconds()) + 1
		return &apiError{Status: http.StatusConflict, Code: "conflict", Message: notOpen.Error(), RetryAfter: max(wait, 1)}
	case errors.Is(err, admission.ErrQueueToken):
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "missing, forged or other-room queue token"}
	case errors.Is(err, queue.ErrRoomNotFound):
		return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no such room"}
	case errors.Is(err, queue.ErrNotInLine):
		return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no place in this room any more; join again"}
	case errors.Is(err, queue.ErrNotDrawn):
		return &apiError{Status: http.StatusConflict, Code: "conflict", Message: "this room's pre-queue has not been drawn (yet)"}
	case errors.Is(err, queue.ErrInvalidContact):
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: strings.TrimPrefix(err.Error(), queue.ErrInvalidContact.Error()+": ")}
	case errors.Is(err, queue.ErrInvalidRoom):
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: err.Error()}
	case errors.Is(err, admission.ErrRotateFileKey):
		return &apiError{Status: http.StatusConflict, Code: "conflict", Message: "the signing key comes from a file: rotate by replacing the file"}
	case errors.Is(err, ws.ErrTooMany):
		return &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many open sockets from this address", RetryAfter: 5}
	case errors.Is(err, ws.ErrShuttingDown):
		return &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "restarting; reconnect shortly", RetryAfter: 2}
	case errors.Is(err, ws.ErrOrigin):
		return &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: "WebSockets are accepted from this site's own pages only"}
	case errors.As(err, &typeErr):
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: "field " + typeErr.Field + ": wrong type"}
	case errors.As(err, &holdExists):
		return &apiError{Status: http.StatusConflict, Code: "hold_exists", Message: "you already hold tickets; pay for them or release them first", HoldID: holdExists.HoldID}
	case errors.Is(err, booking.ErrInvalid):
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: strings.TrimPrefix(err.Error(), "booking: invalid: ")}
	case errors.Is(err, booking.ErrEventNotFound):
		return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no such event"}
	case errors.Is(err, booking.ErrNotFound):
		return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no such hold or order"}
	case errors.Is(err, booking.ErrSoldOut):
		return &apiError{Status: http.StatusConflict, Code: "sold_out", Message: "not enough tickets left (" + strings.TrimPrefix(err.Error(), "booking: sold out: ") + ")"}
	case errors.Is(err, booking.ErrHoldExpired):
		return &apiError{Status: http.StatusConflict, Code: "hold_expired", Message: "the hold expired and its tickets went back; hold again"}
	case errors.Is(err, booking.ErrConflict):
		return &apiError{Status: http.StatusConflict, Code: "conflict", Message: strings.TrimPrefix(err.Error(), "booking: conflict: ")}
	case errors.Is(err, booking.ErrWrongRoom):
		return &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: strings.TrimPrefix(err.Error(), "booking: admission for another room: ")}
	case errors.Is(err, booking.ErrAdmissionExpired):
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "your admission has ended"}
	case errors.Is(err, booking.ErrBadSignature):
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: "webhook signature missing, wrong or outside the 300 s window"}
	case errors.Is(err, booking.ErrBadWebhook):
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: "webhook body is not a payment event"}
	case errors.Is(err, booking.ErrUnknownProvider):
		return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no such payment provider"}
	case errors.Is(err, booking.ErrUnknownPayment):
		return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no such payment"}
	case errors.As(err, &he):
		return fromEchoError(he)
	case queue.Unavailable(err):
		return &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the store is not answering; try again", RetryAfter: 1}
	}
	return nil
}

func fromEchoError(he *echo.HTTPError) *apiError {
	msg, _ := he.Message.(string)
	if msg == "" {
		msg = http.StatusText(he.Code)
	}
	code := "invalid_request"
	switch he.Code {
	case http.StatusNotFound:
		code = "not_found"
	case http.StatusMethodNotAllowed:
		code = "method_not_allowed"
	case http.StatusUnauthorized:
		code = "unauthorized"
	case http.StatusForbidden:
		code = "forbidden"
	case http.StatusTooManyRequests:
		code = "rate_limited"
	}
	if he.Code >= 500 {
		return nil
	}
	return &apiError{Status: he.Code, Code: code, Message: msg}
}

// handleError is echo's error handler: it writes the contract's body, and
// logs internal errors with the request id, which is all the visitor sees.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	id := c.Response().Header().Get(echo.HeaderXRequestID)
	ae := toAPIError(err)
	if ae == nil {
		s.log.Error("request failed", "request_id", id, "method", c.Request().Method, "path", c.Path(), "err", err)
		ae = &apiError{Status: http.StatusInternalServerError, Code: "internal_error", Message: "internal error; quote request id " + id}
	}
	if ae.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
	}
	var body errorBody
	body.Error.Code, body.Error.Message = ae.Code, ae.Message
	body.HoldID, body.Places = ae.HoldID, ae.Places
	if ae.Status >= 500 {
		body.Error.RequestID = id
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(ae.Status)
		return
	}
	_ = c.JSON(ae.Status, body)
}
