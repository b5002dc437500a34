package gateway

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/queue"
)

// "Notify me": a waiter leaves an email address or a phone number and may
// close the page; the booking core's notifier tells them when their turn
// is near and when they are admitted, with a link back to their place,
// and the place is kept without signs of life for queue.NotifyKeep.

func (s *Server) notifyRoutes(fan *echo.Group) {
	if s.cfg.Booking == nil { // the notifier runs with the booking core
		return
	}
	fan.POST("/notify", s.setNotify)
	fan.DELETE("/notify", s.cancelNotify)
}

// waiterID returns the caller's queue id in room, from their queue token.
func (s *Server) waiterID(c echo.Context) (string, error) {
	room := c.Param("room")
	id, err := s.keys.ParseQueueToken(room, queueToken(c, room))
	if err != nil {
		return "", unauthorized("a queue token for room " + room + " is required: join first")
	}
	return id, nil
}

func (s *Server) setNotify(c echo.Context) error {
	var b api.NotifyRequest
	if err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	id, err := s.waiterID(c)
	if err != nil {
		return err
	}
	until, err := s.cfg.Store.SetNotify(c.Request().Context(), c.Param("room"), id, queue.Contact{Email: b.Email, Phone: b.Phone})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.Notify{Notify: true, PlaceKeptUntil: until.UTC()})
}

func (s *Server) cancelNotify(c echo.Context) error {
	id, err := s.waiterID(c)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.CancelNotify(c.Request().Context(), c.Param("room"), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
