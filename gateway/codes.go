package gateway

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/queue"
)

// addCodes is POST /admin/v1/rooms/{room}/codes: it stores access codes
// (hashed, queue/codes.go) and answers 201 with the room's counts. A room
// that does not exist is 404: codes are uploaded after the room is made.
func (s *Server) addCodes(c echo.Context) error {
	var b api.CodesRequest
	if err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	n, err := s.cfg.Store.AddCodes(c.Request().Context(), c.Param("room"), b.Codes, b.Uses)
	if errors.Is(err, queue.ErrBadCodes) {
		return invalid(fmt.Sprintf("give 1 to %d codes, each %d to %d visible ASCII characters, and uses from 1 to %d",
			queue.MaxCodesPerUpload, queue.MinCodeLength, queue.MaxCodeLength, queue.MaxCodeUses))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toCodes(n))
}

// countCodes is GET /admin/v1/rooms/{room}/codes: counts, never the codes.
func (s *Server) countCodes(c echo.Context) error {
	n, err := s.cfg.Store.Codes(c.Request().Context(), c.Param("room"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toCodes(n))
}

// clearCodes is DELETE /admin/v1/rooms/{room}/codes: every code stops
// working at once; the count of uses is kept.
func (s *Server) clearCodes(c echo.Context) error {
	if _, err := s.cfg.Store.ClearCodes(c.Request().Context(), c.Param("room")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func toCodes(n queue.CodeCounts) api.Codes {
	return api.Codes{Codes: n.Codes, UsesLeft: n.UsesLeft, Used: n.Used}
}
