package api

// ErrorResponse is the body of every error answer (4xx and 5xx) of the
// fans' and the admin API.
type ErrorResponse struct {
	Error Error `json:"error"`
	// HoldID names the visitor's live hold when the code is hold_exists
	// (POST /api/v1/events/{event}/holds).
	HoldID string `json:"hold_id,omitempty"`
	// Places are the two places a join must choose between, when the code
	// is conflict (POST /api/v1/rooms/{room}/join).
	Places *Places `json:"places,omitempty"`
	// Challenge is the puzzle to solve before joining again, when the code
	// is challenge_required (POST /api/v1/rooms/{room}/join).
	Challenge *Challenge `json:"challenge,omitempty"`
	// Captcha is the widget to solve before joining again, when the code
	// is captcha_required (and captcha_failed, or unavailable while the
	// provider cannot be reached).
	Captcha *Captcha `json:"captcha,omitempty"`
	// Limit says how many tickets the buyer may still hold when the code
	// is limit_reached (POST /api/v1/events/{event}/holds).
	Limit *PurchaseLimit `json:"limit,omitempty"`
}

// PurchaseLimit is an event's per-admission limit and what is left of it
// to one buyer: tickets in live holds and paid orders count against it.
type PurchaseLimit struct {
	PerAdmission int64 `json:"per_admission"`
	Left         int64 `json:"left"`
}

// Error is what failed: a stable code to match on (invalid_request,
// not_found, sold_out, …), a sentence for people, and for a 5xx the request
// id to quote.
type Error struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

// Error is "code: message", with the request id when there is one, so a
// script can match the code at the start.
func (e *Error) Error() string {
	if e.RequestID != "" {
		return e.Code + ": " + e.Message + " (request id " + e.RequestID + ")"
	}
	return e.Code + ": " + e.Message
}
