package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/ws"
)

// apiError is an error with its place in the contract: status, code, text.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter int                // seconds; sent as Retry-After when > 0
	HoldID     string             // the live hold, for hold_exists
	Places     *api.Places        // the two places of a join that must choose
	Limit      *api.PurchaseLimit // what is left to the buyer, for limit_reached

	// Challenge is the puzzle a join must solve, for challenge_required.
	Challenge *api.Challenge
	// Captcha is the widget a join must solve, for captcha_required.
	Captcha *api.Captcha
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func invalid(msg string) error { return &crowdgate.Error{Kind: crowdgate.Invalid, Message: msg} }

func unauthorized(msg string) error {
	return &crowdgate.Error{Kind: crowdgate.Unauthorized, Message: msg}
}

// invalidRoom refuses a room document for a reason queue.Room.Validate does
// not see (the document itself, a value apply cannot represent).
func invalidRoom(msg string) error {
	return &crowdgate.Error{Kind: crowdgate.Invalid, Message: msg, Err: queue.ErrInvalidRoom}
}

func forbidden(msg string) error { return &crowdgate.Error{Kind: crowdgate.Forbidden, Message: msg} }

func notFound(msg string) error { return &crowdgate.Error{Kind: crowdgate.NotFound, Message: msg} }

func rateLimited(msg string) error {
	return &crowdgate.Error{Kind: crowdgate.RateLimited, Message: msg}
}

// kinds is the one table from an error's kind to its place in the contract.
// A kind missing here (Internal) is a 500 with a request id.
var kinds = map[crowdgate.Kind]struct {
	status     int
	code       string
	retryAfter int // seconds; 0 sends no Retry-After
}{
	crowdgate.Invalid:      {http.StatusBadRequest, "invalid_request", 0},
	crowdgate.Unauthorized: {http.StatusUnauthorized, "unauthorized", 0},
	crowdgate.Forbidden:    {http.StatusForbidden, "forbidden", 0},
	crowdgate.NotFound:     {http.StatusNotFound, "not_found", 0},
	crowdgate.Conflict:     {http.StatusConflict, "conflict", 0},
	crowdgate.SoldOut:      {http.StatusConflict, "sold_out", 0},
	crowdgate.HoldExists:   {http.StatusConflict, "hold_exists", 0},
	crowdgate.LimitReached: {http.StatusConflict, "limit_reached", 0},
	crowdgate.HoldExpired:  {http.StatusConflict, "hold_expired", 0},
	crowdgate.RateLimited:  {http.StatusTooManyRequests, "rate_limited", 1},
	crowdgate.RoomClosed:   {http.StatusConflict, "room_closed", 0},
	crowdgate.Unavailable:  {http.StatusServiceUnavailable, "unavailable", 1},

	crowdgate.ChallengeRequired: {http.StatusPreconditionRequired, "challenge_required", 0},
	crowdgate.ChallengeFailed:   {http.StatusBadRequest, "challenge_failed", 0},
	crowdgate.CaptchaRequired:   {http.StatusPreconditionRequired, "captcha_required", 0},
	crowdgate.CaptchaFailed:     {http.StatusBadRequest, "captcha_failed", 0},

	crowdgate.EnqueueTokenRequired: {http.StatusUnauthorized, "enqueue_token_required", 0},
	crowdgate.EnqueueTokenInvalid:  {http.StatusUnauthorized, "enqueue_token_invalid", 0},

	crowdgate.CodeRequired: {http.StatusForbidden, "code_required", 0},
	crowdgate.BadCode:      {http.StatusForbidden, "bad_code", 0},
}

// fromKind is the contract form of a *crowdgate.Error, or nil for a kind
// the table does not know.
func fromKind(e *crowdgate.Error) *apiError {
	k, ok := kinds[e.Kind]
	if !ok {
		return nil
	}
	return &apiError{Status: k.status, Code: k.code, Message: e.Message, RetryAfter: k.retryAfter}
}

// toAPIError maps every error a handler can return to its HTTP form. It is
// the one place that knows which failure is which status: errors that carry
// more than a kind and a message (a time to retry at) first, then every
// *crowdgate.Error through the kinds table (with the hold id of a
// booking.HoldExistsError), then the few sentinels of packages that carry no
// kind.
func toAPIError(err error) *apiError {
	var ae *apiError
	var he *echo.HTTPError
	var notOpen *admission.NotOpenError
	var refused *admission.JoinRefused
	var typeErr *json.UnmarshalTypeError
	var holdExists *booking.HoldExistsError
	var limit *booking.LimitReachedError
	var ce *crowdgate.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &refused):
		return joinRefusal(refused)
	case errors.As(err, &notOpen):
		wait := int(time.Until(notOpen.OpensAt).Seconds()) + 1
		return &apiError{Status: http.StatusConflict, Code: "conflict", Message: notOpen.Error(), RetryAfter: max(wait, 1)}
	case errors.As(err, &ce):
		ae := fromKind(ce)
		if ae != nil && errors.As(err, &holdExists) {
			ae.HoldID = holdExists.HoldID
		}
		if ae != nil && errors.As(err, &limit) {
			ae.Limit = &api.PurchaseLimit{PerAdmission: limit.Limit, Left: limit.Left}
		}
		return ae
	case errors.Is(err, ws.ErrTooMany):
		return &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many open sockets from this address", RetryAfter: 5}
	case errors.Is(err, ws.ErrShuttingDown):
		return &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "restarting; reconnect shortly", RetryAfter: 2}
	case errors.Is(err, ws.ErrOrigin):
		return &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: "WebSockets are accepted from this site's own pages only"}
	case errors.As(err, &typeErr):
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: "field " + typeErr.Field + ": wrong type"}
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
	if wantsPage(c.Request()) {
		// A browser's page load: never raw JSON (an admitted fan sent to a
		// path that is not there, a page that failed).
		if err := s.errorPage(c, ae); err != nil {
			s.log.Warn("error page", "request_id", id, "err", err)
		}
		return
	}
	if ae.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
	}
	body := api.ErrorResponse{Error: api.Error{Code: ae.Code, Message: ae.Message}, HoldID: ae.HoldID, Places: ae.Places, Limit: ae.Limit}
	body.Challenge = ae.Challenge
	body.Captcha = ae.Captcha
	if ae.Status >= 500 {
		body.Error.RequestID = id
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(ae.Status)
		return
	}
	_ = c.JSON(ae.Status, body)
}
