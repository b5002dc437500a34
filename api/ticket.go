package api

import "time"

// Ticket is a fan's place in a room's line: POST /api/v1/rooms/{room}/join
// and GET /api/v1/rooms/{room}/status.
type Ticket struct {
	Room           string     `json:"room"`
	Status         string     `json:"status"`
	Position       int64      `json:"position"`
	ETASeconds     int64      `json:"eta_seconds"`
	ETALowSeconds  int64      `json:"eta_low_seconds"`
	ETAHighSeconds int64      `json:"eta_high_seconds"`
	QueueID        string     `json:"queue_id,omitempty"`
	QueueToken     string     `json:"queue_token,omitempty"`
	AdmissionToken string     `json:"admission_token,omitempty"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	ClosedReason   string     `json:"closed_reason,omitempty"` // "sold_out" when the room closed by itself
	// Paused is true while the organizer has paused a room one waits in:
	// nobody is admitted, places are kept, the ETA is unknown (-1).
	Paused bool `json:"paused,omitempty"`
	// What is left to buy behind the room, when an event sells there.
	TicketsAvailable *int64 `json:"tickets_available,omitempty"`
	TicketsHeld      *int64 `json:"tickets_held,omitempty"`
}

// JoinRequest is the optional body of POST /api/v1/rooms/{room}/join. Keep
// settles two places (a bearer queue token and the browser's cookie naming
// different places): "bearer" keeps the place the Authorization header
// names and gives up the cookie's; "cookie" keeps the cookie's and gives
// up the other.
//
// Challenge and Solution answer a 428 challenge_required: the challenge's
// token as given, and a decimal nonce such that SHA-256(challenge + ":" +
// solution) starts with at least Challenge.Bits zero bits.
type JoinRequest struct {
	Keep      string `json:"keep"`
	Challenge string `json:"challenge,omitempty"`
	Solution  string `json:"solution,omitempty"`
	// EnqueueToken is the JWT the organizer's site signed for the fan
	// (user id, room, expiry), for rooms that take enqueue tokens.
	EnqueueToken string `json:"enqueue_token,omitempty"`
	// Captcha answers a 428 captcha_required: the response (token) of the
	// room's CAPTCHA widget.
	Captcha string `json:"captcha,omitempty"`
	// Code is an access code the organizer gave out, for rooms that
	// require one (403 code_required); a wrong or used-up one is 403
	// bad_code. A join with the queue token of a place it holds needs none.
	Code string `json:"code,omitempty"`
}

// Captcha is the CAPTCHA a join must solve before it gets a new place
// (ErrorResponse of a 428 captcha_required, and of the refusals that
// concern it): the provider whose widget to draw ("turnstile", "hcaptcha",
// "recaptcha"), the room's public site key, and the action to give the
// widget ("" for none).
type Captcha struct {
	Provider string `json:"provider"`
	SiteKey  string `json:"site_key"`
	Action   string `json:"action,omitempty"`
}

// Challenge is a proof-of-work puzzle a join must solve before it gets a
// new place (ErrorResponse of a 428 challenge_required).
type Challenge struct {
	Token string `json:"token"`
	// Bits is how many leading zero bits SHA-256(token + ":" + solution) needs.
	Bits int `json:"bits"`
	// Algorithm is "sha256-leading-zero-bits".
	Algorithm string    `json:"algorithm"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Places are the two places of a join that must choose (ErrorResponse of
// a 409 conflict), without their tokens.
type Places struct {
	Cookie Ticket `json:"cookie"`
	Bearer Ticket `json:"bearer"`
}

// NotifyRequest is the body of POST /api/v1/rooms/{room}/notify: where to
// tell a waiter that their turn is near.
type NotifyRequest struct {
	Email string `json:"email"`
	Phone string `json:"phone"`
}

// NotifyConfirmRequest is the body of POST
// /api/v1/rooms/{room}/notify/confirm: the code the confirmation's link
// carried.
type NotifyConfirmRequest struct {
	Code string `json:"code"`
}

// Notify answers POST /api/v1/rooms/{room}/notify (202: a confirmation was
// sent to the contact, nothing else will be until it is confirmed) and
// POST .../notify/confirm (200: confirmed; the waiter will be told, and
// their place is kept without signs of life until PlaceKeptUntil).
type Notify struct {
	Notify         bool       `json:"notify"`
	Confirmed      bool       `json:"confirmed"`
	PlaceKeptUntil *time.Time `json:"place_kept_until,omitempty"`
}
