package gateway

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/queue"
)

// "Notify me": a waiter leaves an email address or a phone number and may
// close the page. The contact is sent a confirmation first and nothing
// else; once its link comes back (POST notify/confirm), the admission
// controller tells them when their turn is near and when they are
// admitted, with a link back to their place, and the place is kept
// without signs of life for queue.NotifyKeep. The routes exist only where
// a channel reaches people (Config.Notify): offering the form with only
// the log channel would make fans believe they will be told.
//
// Asks are counted against the asking address in the store's own call
// (queue.NotifyAsksPerAddress a minute, and per /24 or /48), the address
// the join's gate counts (gateAddr: the real client's behind
// --trusted-proxies, none for --limit-bypass networks): past it, 429
// rate_limited with Retry-After, and nothing is sent or changed.

func (s *Server) notifyRoutes(fan *echo.Group) {
	if !s.cfg.Notify {
		return
	}
	fan.POST("/notify", s.setNotify)
	fan.POST("/notify/confirm", s.confirmNotify)
	fan.DELETE("/notify", s.cancelNotify)
}

// waiterToken returns the caller's queue token in room.
func (s *Server) waiterToken(c echo.Context) (string, error) {
	room := c.Param("room")
	token := queueToken(c, room)
	if token == "" {
		return "", unauthorized("a queue token for room " + room + " is required: join first")
	}
	return token, nil
}

func (s *Server) setNotify(c echo.Context) error {
	var b api.NotifyRequest
	if err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	token, err := s.waiterToken(c)
	if err != nil {
		return err
	}
	ctx := queue.WithNotifyAddress(c.Request().Context(), s.gateAddr(c))
	err = s.ctl.AskToNotify(ctx, c.Param("room"), token, queue.Contact{Email: b.Email, Phone: b.Phone})
	var lim *queue.NotifyLimited
	if errors.As(err, &lim) {
		return &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: crowdgate.MessageOf(err),
			RetryAfter: max(1, int((lim.RetryAfter+time.Second-1)/time.Second))}
	}
	if err != nil {
		return s.ticketError(c, c.Param("room"), err)
	}
	return c.JSON(http.StatusAccepted, api.Notify{Notify: true})
}

func (s *Server) confirmNotify(c echo.Context) error {
	var b api.NotifyConfirmRequest
	if err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	token, err := s.waiterToken(c)
	if err != nil {
		return err
	}
	until, err := s.ctl.ConfirmNotify(c.Request().Context(), c.Param("room"), token, b.Code)
	if err != nil {
		return s.ticketError(c, c.Param("room"), err)
	}
	until = until.UTC()
	return c.JSON(http.StatusOK, api.Notify{Notify: true, Confirmed: true, PlaceKeptUntil: &until})
}

func (s *Server) cancelNotify(c echo.Context) error {
	token, err := s.waiterToken(c)
	if err != nil {
		return err
	}
	if err := s.ctl.CancelNotify(c.Request().Context(), c.Param("room"), token); err != nil {
		return s.ticketError(c, c.Param("room"), err)
	}
	return c.NoContent(http.StatusNoContent)
}
