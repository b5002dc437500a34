package gateway

import (
	"errors"
	"net/http"

	"github.com/crowdgate/crowdgate/admission"
)

// errNoAdmission means the request carries no admission token for the room.
var errNoAdmission = errors.New("gateway: no admission token")

// admissionOf is the one door for admissions. Every path that lets a
// visitor through on an admission token (forward auth, the reverse proxy,
// the booking API, the fans' release) asks here, so a fix lands on all of
// them at once; fan status and the WebSocket reach the same revocation
// check through admission.Controller.Admits.
//
// The token comes from "Authorization: Bearer", else from the room's
// cookie; a bearer token that is not an admission for room (a site's own
// API token, say) does not hide a valid cookie. Errors: errNoAdmission,
// or what admission.PassCache.Verify and admission.Controller.Admits
// return (ErrTokenInvalid, ErrTokenExpired, ErrWrongRoom, ErrRevoked).
func (s *Server) admissionOf(r *http.Request, room string) (admission.Pass, error) {
	bearerToken, _ := bearer(r)
	var cookieToken string
	if ck, err := r.Cookie(admissionCookie(room)); err == nil {
		cookieToken = ck.Value
	}
	var first error
	for _, token := range [2]string{bearerToken, cookieToken} {
		if token == "" {
			continue
		}
		p, err := s.passes.Verify(token, room)
		if err == nil {
			err = s.ctl.Admits(r.Context(), p)
		}
		if err == nil {
			return p, nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = errNoAdmission
	}
	return admission.Pass{}, first
}

// admissionError is the answer to a request the door turned away.
func admissionError(room string, err error) error {
	switch {
	case errors.Is(err, errNoAdmission):
		return unauthorized("an admission token for room " + room + " is required: wait your turn at /rooms/" + room)
	case errors.Is(err, admission.ErrWrongRoom):
		return forbidden("this admission is for another room; this one admits through room " + room)
	case errors.Is(err, admission.ErrRevoked):
		return unauthorized("this admission has ended")
	}
	return unauthorized("the admission token is invalid or has expired")
}
