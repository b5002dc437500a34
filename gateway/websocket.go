package gateway

import "github.com/labstack/echo/v4"

// wsRoutes registers the fans' WebSocket (being written).
func (s *Server) wsRoutes(e *echo.Echo) {}
