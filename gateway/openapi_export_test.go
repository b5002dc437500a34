package gateway

import "github.com/labstack/echo/v4"

// EchoRoutes lists the routes s serves, for openapi_test.go's check that
// the API document names every one of them.
func (s *Server) EchoRoutes() []*echo.Route { return s.echo.Routes() }

// PageAssets are the waiting-room page's assets as served (uncompressed),
// for page_test.go's size budget.
func PageAssets() [][]byte {
	var out [][]byte
	for _, a := range pageAssets {
		out = append(out, a.body)
	}
	return out
}
