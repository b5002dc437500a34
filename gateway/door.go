package gateway

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

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

// enter is the door of the paths that let a visitor through to the site
// (forward auth, the reverse proxy without forwardAuth): admissionOf, and
// then, in a room with sliding sessions, the admission renewed once half
// spent; for a request without a valid admission, the room's bypass rules
// (errBypassed: it passes, with no admission made); for a visitor with no
// admission (or an expired one) in a quiet traffic-triggered room, an
// admission made at once. A new or renewed admission goes back to the
// browser as the room's cookie (forward auth: the proxy passes the check's
// Set-Cookie on, docs/integrating.md).
func (s *Server) enter(c echo.Context, room string, forwardAuth bool) (admission.Pass, error) {
	r := c.Request()
	p, err := s.admissionOf(r, room)
	if err == nil {
		if renewed, token, ok := s.ctl.Renew(r.Context(), p); ok {
			s.handOver(c, renewed, token)
			return renewed, nil
		}
		return p, nil
	}
	if s.bypassed(c, room, forwardAuth) {
		return admission.Pass{}, errBypassed
	}
	if !errors.Is(err, errNoAdmission) && !errors.Is(err, admission.ErrTokenExpired) {
		return p, err // a revoked or forged admission is not replaced at once
	}
	t, ok, eerr := s.ctl.Enter(r.Context(), room, s.gateAddr(c))
	if eerr != nil || !ok {
		return admission.Pass{}, err
	}
	s.handOver(c, t.Admission, t.AdmissionToken)
	return t.Admission, nil
}

// handOver gives the visitor's browser admission p, signed as token.
func (s *Server) handOver(c echo.Context, p admission.Pass, token string) {
	s.setCookie(c, admissionCookie(p.Room), token, time.Until(p.Expires))
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
