package gateway

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/api"
)

// Cookie names are per room, so one browser can wait in several rooms.
func queueCookie(room string) string     { return "cg_q_" + room }
func admissionCookie(room string) string { return "cg_a_" + room }

// queueCookieAge outlives any sensible pre-queue; the place itself is kept
// only while the fan shows signs of life.
const queueCookieAge = 7 * 24 * time.Hour

// toTicket is a fan's view of their place.
func toTicket(t admission.Ticket) api.Ticket {
	out := api.Ticket{
		Room: t.Room, Status: t.Status, Position: t.Position, QueueID: t.QueueID,
		QueueToken: t.QueueToken, AdmissionToken: t.AdmissionToken, ClosedReason: t.ClosedReason,
		Paused: t.Paused,
	}
	out.ETASeconds, out.ETALowSeconds, out.ETAHighSeconds = seconds(t.ETA.Expected), seconds(t.ETA.Low), seconds(t.ETA.High)
	if t.Status == admission.StatusAdmitted {
		exp := t.Admission.Expires.UTC()
		out.ExpiresAt = &exp
	}
	return out
}

// twoPlaces returns the tokens of a request whose bearer queue token and
// queue cookie name two different places of the room: a resume link (or an
// app's token) opened in a browser that already holds a place. Neither
// may silently replace the other.
func (s *Server) twoPlaces(c echo.Context, room string) (bearerToken, cookieToken string, ok bool) {
	b, hasBearer := bearer(c.Request())
	ck, err := c.Cookie(queueCookie(room))
	if !hasBearer || err != nil || ck.Value == "" || ck.Value == b {
		return "", "", false
	}
	bid, berr := s.keys.ParseQueueToken(room, b)
	cid, cerr := s.keys.ParseQueueToken(room, ck.Value)
	if berr != nil || cerr != nil || bid == cid {
		return "", "", false
	}
	return b, ck.Value, true
}

// queueToken returns the caller's queue token: the Authorization header
// wins over the cookie, so an app can be explicit.
func queueToken(c echo.Context, room string) string {
	if t, ok := bearer(c.Request()); ok {
		return t
	}
	if ck, err := c.Cookie(queueCookie(room)); err == nil {
		return ck.Value
	}
	return ""
}

func (s *Server) join(c echo.Context) error {
	var b api.JoinRequest
	if err := decodeJSON(c, &b, true); err != nil {
		return err
	}
	if b.Keep != "" && b.Keep != "bearer" && b.Keep != "cookie" {
		return invalid(`keep must be "bearer" or "cookie"`)
	}
	room := c.Param("room")
	token := queueToken(c, room)
	if bt, ct, two := s.twoPlaces(c, room); two {
		var err error
		if token, err = s.choosePlace(c, room, bt, ct, b.Keep); err != nil {
			return err
		}
	}
	failed, err := s.captchaGuard(c, b.Captcha)
	if err != nil {
		return err
	}
	t, err := s.ctl.Join(c.Request().Context(), room, token, admission.Entry{Addr: s.gateAddr(c), Challenge: b.Challenge, Solution: b.Solution, EnqueueToken: b.EnqueueToken,
		Captcha: b.Captcha, RemoteIP: realAddr(c), Host: s.pageHost(c.Request()), Code: b.Code})
	failed(err)
	if err != nil {
		return s.ticketError(c, room, err)
	}
	return s.writeTicket(c, t, true)
}

// choosePlace returns the token a join with two places goes on with. When
// only one of the places is still in the line there is nothing to choose;
// otherwise the caller must have said which to keep (409 conflict, with
// both places, until it does), and the other is given up.
func (s *Server) choosePlace(c echo.Context, room, bearerToken, cookieToken, keep string) (string, error) {
	ctx := c.Request().Context()
	mine, err := s.ctl.Status(ctx, room, cookieToken)
	if err != nil {
		return bearerToken, nil // the browser's place is gone: nothing is replaced
	}
	theirs, err := s.ctl.Status(ctx, room, bearerToken)
	if err != nil {
		return cookieToken, nil
	}
	switch keep {
	case "bearer":
		return bearerToken, s.ctl.Leave(ctx, room, cookieToken)
	case "cookie":
		return cookieToken, s.ctl.Leave(ctx, room, bearerToken)
	}
	places := &api.Places{Cookie: toTicket(mine), Bearer: toTicket(theirs)}
	for _, p := range []*api.Ticket{&places.Cookie, &places.Bearer} {
		p.QueueToken, p.AdmissionToken = "", ""
	}
	return "", &apiError{Status: http.StatusConflict, Code: "conflict", Places: places,
		Message: `this browser already holds another place in this line: join again with {"keep":"cookie"} or {"keep":"bearer"}`}
}

func (s *Server) status(c echo.Context) error {
	room := c.Param("room")
	t, err := s.ctl.Status(c.Request().Context(), room, queueToken(c, room))
	if err != nil {
		return s.ticketError(c, room, err)
	}
	// Asking about another place than the cookie's does not make it the
	// browser's place: only a join that chose does.
	_, _, two := s.twoPlaces(c, room)
	return s.writeTicket(c, t, !two)
}

func (s *Server) leave(c echo.Context) error {
	room := c.Param("room")
	if err := s.ctl.Leave(c.Request().Context(), room, queueToken(c, room)); err != nil {
		return s.ticketError(c, room, err)
	}
	// Giving up another place than the cookie's leaves the browser's own.
	if _, _, two := s.twoPlaces(c, room); !two {
		s.clearCookie(c, queueCookie(room))
		s.clearCookie(c, admissionCookie(room))
	}
	return c.NoContent(http.StatusNoContent)
}

// ticketError clears a queue cookie that can never work again (forged, or
// signed by a keyring that is gone), so the browser's next join starts
// afresh instead of failing forever.
func (s *Server) ticketError(c echo.Context, room string, err error) error {
	if errors.Is(err, admission.ErrQueueToken) {
		if _, cerr := c.Cookie(queueCookie(room)); cerr == nil {
			s.clearCookie(c, queueCookie(room))
		}
	}
	return err
}

// writeTicket answers with t, and sets the browser's cookies to it when
// cookies is true.
func (s *Server) writeTicket(c echo.Context, t admission.Ticket, cookies bool) error {
	if cookies && t.QueueToken != "" {
		s.setCookie(c, queueCookie(t.Room), t.QueueToken, queueCookieAge)
	}
	if cookies && t.Status == admission.StatusAdmitted {
		s.setCookie(c, admissionCookie(t.Room), t.AdmissionToken, time.Until(t.Admission.Expires))
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	out := toTicket(t)
	if s.cfg.Booking != nil && t.Status != admission.StatusAdmitted {
		if left, ok := s.cfg.Booking.Tickets(t.Room); ok {
			out.TicketsAvailable, out.TicketsHeld = &left.Available, &left.Held
		}
	}
	return c.JSON(http.StatusOK, out)
}

// setCookie sets an HttpOnly, SameSite=Lax cookie for the whole site, so the
// origin behind Crowdgate receives the admission cookie too.
// With CookieDomain set, the cookies reach the site's other hosts too (an
// origin on shop.example.com behind Crowdgate on queue.example.com).
func (s *Server) setCookie(c echo.Context, name, value string, age time.Duration) {
	c.SetCookie(&http.Cookie{
		Name: name, Value: value, Path: "/", Domain: s.cfg.CookieDomain, MaxAge: int(age.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(c.Request()),
	})
}

func (s *Server) clearCookie(c echo.Context, name string) {
	s.setCookie(c, name, "", -time.Second)
}

// secure reports whether cookies must be Secure: the public URL is https,
// the request came over TLS, or a trusted proxy says the browser's
// connection was https (a TLS-terminating proxy in front).
func (s *Server) secure(r *http.Request) bool {
	if r.TLS != nil || s.cfg.PublicURL != nil && s.cfg.PublicURL.Scheme == "https" {
		return true
	}
	return r.Header.Get("X-Forwarded-Proto") == "https" && s.fromTrustedProxy(r)
}

// fromTrustedProxy reports whether the connection comes from one of
// cfg.TrustedProxies, whose X-Forwarded-* headers are believed.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	for _, n := range s.cfg.TrustedProxies {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// seconds is a duration in whole seconds, -1 for unknown (negative).
func seconds(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return int64(d / time.Second)
}

// release ends an admission early, for origins: the caller proves it with
// the admission token itself (bearer or cookie). The slot is freed and the
// token stops passing on every instance. Releasing an admission that has
// already ended is not an error.
func (s *Server) release(c echo.Context) error {
	room := c.Param("room")
	p, err := s.admissionOf(c.Request(), room)
	switch {
	case errors.Is(err, admission.ErrRevoked):
		// Already ended: releasing again changes nothing.
	case err != nil:
		return admissionError(room, err)
	default:
		if err := s.ctl.Release(c.Request().Context(), room, p.Subject); err != nil {
			return err
		}
	}
	s.clearCookie(c, admissionCookie(room))
	return c.NoContent(http.StatusNoContent)
}
