package gateway

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/admission"
)

// Cookie names are per room, so one browser can wait in several rooms.
func queueCookie(room string) string     { return "cg_q_" + room }
func admissionCookie(room string) string { return "cg_a_" + room }

// queueCookieAge outlives any sensible pre-queue; the place itself is kept
// only while the fan shows signs of life.
const queueCookieAge = 7 * 24 * time.Hour

// ticketJSON is a fan's view of their place.
type ticketJSON struct {
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
	// What is left to buy behind the room, when an event sells there.
	TicketsAvailable *int64 `json:"tickets_available,omitempty"`
	TicketsHeld      *int64 `json:"tickets_held,omitempty"`
}

func toTicketJSON(t admission.Ticket) ticketJSON {
	out := ticketJSON{
		Room: t.Room, Status: t.Status, Position: t.Position, QueueID: t.QueueID,
		QueueToken: t.QueueToken, AdmissionToken: t.AdmissionToken, ClosedReason: t.ClosedReason,
	}
	out.ETASeconds, out.ETALowSeconds, out.ETAHighSeconds = seconds(t.ETA.Expected), seconds(t.ETA.Low), seconds(t.ETA.High)
	if t.Status == admission.StatusAdmitted {
		exp := t.Admission.Expires.UTC()
		out.ExpiresAt = &exp
	}
	return out
}

// joinBody is the (optional) body of a join; it has no fields yet, and
// unknown ones are refused like everywhere else.
type joinBody struct{}

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
	var b joinBody
	if err := decodeJSON(c, &b, true); err != nil {
		return err
	}
	room := c.Param("room")
	t, err := s.ctl.Join(c.Request().Context(), room, queueToken(c, room))
	if err != nil {
		return s.ticketError(c, room, err)
	}
	return s.writeTicket(c, t)
}

func (s *Server) status(c echo.Context) error {
	room := c.Param("room")
	t, err := s.ctl.Status(c.Request().Context(), room, queueToken(c, room))
	if err != nil {
		return s.ticketError(c, room, err)
	}
	return s.writeTicket(c, t)
}

func (s *Server) leave(c echo.Context) error {
	room := c.Param("room")
	if err := s.ctl.Leave(c.Request().Context(), room, queueToken(c, room)); err != nil {
		return s.ticketError(c, room, err)
	}
	s.clearCookie(c, queueCookie(room))
	s.clearCookie(c, admissionCookie(room))
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

func (s *Server) writeTicket(c echo.Context, t admission.Ticket) error {
	if t.QueueToken != "" {
		s.setCookie(c, queueCookie(t.Room), t.QueueToken, queueCookieAge)
	}
	if t.Status == admission.StatusAdmitted {
		s.setCookie(c, admissionCookie(t.Room), t.AdmissionToken, time.Until(t.Admission.Expires))
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	out := toTicketJSON(t)
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
