package crowdgate

import (
	"errors"
	"fmt"
)

// Kind says what sort of failure an error is, in terms a caller can act
// on: refuse the request, say it is not there, ask to retry later. The
// gateway maps each kind to an HTTP status and a contract code in one table;
// domain packages pick the kind and never think about HTTP.
type Kind string

// The kinds of failure. Internal is every error that is not a *Error: a
// bug or a broken dependency, which the visitor sees only as a request id.
const (
	Internal     Kind = "internal"
	Invalid      Kind = "invalid"      // the request or document is wrong; the message says how
	Unauthorized Kind = "unauthorized" // no, or no longer a, valid token or admission
	Forbidden    Kind = "forbidden"    // a valid caller, but not for this
	NotFound     Kind = "not_found"    // no such room, event, hold, order or payment
	Conflict     Kind = "conflict"     // contradicts what is stored, or not now
	SoldOut      Kind = "sold_out"     // fewer tickets left than asked for
	HoldExists   Kind = "hold_exists"  // the visitor already holds tickets
	HoldExpired  Kind = "hold_expired" // the hold's time is up; its tickets went back
	RateLimited  Kind = "rate_limited" // too many requests; retry later
	RoomClosed   Kind = "room_closed"  // the room takes nobody now
	Unavailable  Kind = "unavailable"  // a dependency is not answering; retry later

	// LimitReached: the buyer may hold no more, or not that many, tickets
	// of the sale (a per-admission or per-user purchase limit).
	LimitReached Kind = "limit_reached"

	// ChallengeRequired: a new place needs a solved proof-of-work challenge
	// (the refusal carries one to solve).
	ChallengeRequired Kind = "challenge_required"
	// ChallengeFailed: the challenge or its solution is wrong, expired, for
	// another room, or already used.
	ChallengeFailed Kind = "challenge_failed"

	// EnqueueTokenRequired: the room makes new places only for fans its
	// organizer's site sends with an enqueue token.
	EnqueueTokenRequired Kind = "enqueue_token_required"
	// EnqueueTokenInvalid: the enqueue token is forged, expired, lives too
	// long, is for another room, or names no usable user id.
	EnqueueTokenInvalid Kind = "enqueue_token_invalid"

	// CodeRequired: a new place in this room needs one of the organizer's
	// access codes (invite-only rooms, presales).
	CodeRequired Kind = "code_required"
	// BadCode: the access code is not the room's, or is used up.
	BadCode Kind = "bad_code"

	// CaptchaRequired: a new place in this room needs a CAPTCHA response
	// from the room's provider (the refusal says which, and its site key).
	CaptchaRequired Kind = "captcha_required"
	// CaptchaFailed: the provider, or a check of its answer (hostname,
	// action, age), rejected the CAPTCHA response.
	CaptchaFailed Kind = "captcha_failed"
)

// Error is the one error type that carries a failure's kind and the message
// a fan or organizer may read. Domain packages return it (usually wrapping
// one of their sentinels in Err, so errors.Is keeps working); callers match
// on Kind or on the sentinel, never on the text of Error().
type Error struct {
	// Kind is what sort of failure this is.
	Kind Kind
	// Message is safe to show to whoever made the request, as it stands:
	// no prefix to trim, no internals.
	Message string
	// Err, when set, is the package sentinel or cause this error is an
	// instance of; errors.Is and errors.As see it through Unwrap.
	Err error
}

// Errorf returns an error of kind whose Message is the formatted text.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Error reads "sentinel: message" for logs, or whichever of the two is set.
func (e *Error) Error() string {
	switch {
	case e.Err == nil:
		return e.Message
	case e.Message == "":
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Message
}

// Unwrap returns Err, so errors.Is(err, sentinel) holds for an error built
// on that sentinel.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the outermost *Error in err's chain, Internal
// when there is none, and "" for nil.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// MessageOf returns the Message of the outermost *Error in err's chain, or
// "" when there is none: the text of any other error is not for visitors.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return ""
}
