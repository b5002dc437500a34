package gateway

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// wsRoutes registers the fans' WebSocket, when this server has a hub.
func (s *Server) wsRoutes(e *echo.Echo) {
	if s.cfg.Sockets == nil {
		return
	}
	e.GET("/ws/v1/rooms/:room", s.websocket, s.roomParam)
}

// websocket hands a fan's request to the hub. The queue token comes from
// ?queue_token= (apps), the Authorization header, or the cookie (browsers).
func (s *Server) websocket(c echo.Context) error {
	room := c.Param("room")
	token := c.QueryParam("queue_token")
	if token == "" {
		token = queueToken(c, room)
	}
	if token == "" {
		return unauthorized("a queue token is required (cookie, bearer or ?queue_token=)")
	}
	if err := s.cfg.Sockets.Serve(c.Response(), c.Request(), room, token, c.RealIP()); err != nil {
		return s.ticketError(c, room, err)
	}
	return nil
}

var _ http.Hijacker = (*echo.Response)(nil)
