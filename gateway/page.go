package gateway

import "github.com/labstack/echo/v4"

// pageRoutes registers the fans' waiting-room page (being written).
func (s *Server) pageRoutes(e *echo.Echo) {}
