package gateway

import (
	"net/http"

	"github.com/labstack/echo/v4"

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
	err = s.ctl.AskToNotify(c.Request().Context(), c.Param("room"), token, queue.Contact{Email: b.Email, Phone: b.Phone})
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
