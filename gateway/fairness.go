package gateway

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/queue"
)

// fifoAlgorithm is what a fifo room does instead of a draw.
const fifoAlgorithm = "fifo: places in order of joining (queue ids ascending)"

// drawnCache keeps the encoded proof of finished draws: they never change,
// anyone may ask, and the participant list of a big room is a megabyte
// that should not be read from the store on every request. Keyed by room
// and creation time, so a room made again under the same name is new.
type drawnCache struct {
	mu    sync.Mutex
	rooms map[drawnRoom]*drawnProof
}

type drawnRoom struct {
	name    string
	created int64
}

type drawnProof struct {
	doc, ids []byte
}

// drawnCacheMax bounds the cache; it is emptied when full.
const drawnCacheMax = 16

func (dc *drawnCache) get(k drawnRoom) *drawnProof {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	return dc.rooms[k]
}

func (dc *drawnCache) put(k drawnRoom, p *drawnProof) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if len(dc.rooms) >= drawnCacheMax {
		clear(dc.rooms)
	}
	dc.rooms[k] = p
}

// fairnessRoutes serves the public proof of random_prequeue draws, so
// anyone can check that the pre-queue was shuffled as documented:
//
//	GET /api/v1/rooms/{room}/fairness               commitment; seed after the draw
//	GET /api/v1/rooms/{room}/fairness/participants  the queue ids drawn (409 before)
func (s *Server) fairnessRoutes(e *echo.Echo) {
	dc := &drawnCache{rooms: map[drawnRoom]*drawnProof{}}
	g := e.Group(fanRoomRoute+"/fairness", s.roomParam)
	g.GET("", func(c echo.Context) error { return s.fairness(c, dc) })
	g.GET("/participants", func(c echo.Context) error { return s.fairnessParticipants(c, dc) })
}

func (s *Server) fairness(c echo.Context, dc *drawnCache) error {
	ctx := c.Request().Context()
	room, err := s.ctl.Room(ctx, c.Param("room"))
	if err != nil {
		return err
	}
	key := drawnRoom{room.Name, room.CreatedAt.UnixMilli()}
	if p := dc.get(key); p != nil && p.doc != nil {
		return writeProof(c, p.doc, true)
	}
	f, err := s.cfg.Store.Fairness(ctx, room.Name)
	if err != nil {
		return err
	}
	out := api.Fairness{Room: f.Room, Mode: f.Mode, Algorithm: fifoAlgorithm, Commitment: f.Commitment}
	if f.Mode == queue.ModeRandomPrequeue || f.Commitment != "" {
		out.Algorithm = queue.DrawAlgorithm
	}
	if !f.CommittedAt.IsZero() {
		out.CommittedAt = &f.CommittedAt
	}
	if !f.Drawn() {
		body, err := json.Marshal(out)
		if err != nil {
			return err
		}
		return writeProof(c, body, false)
	}
	out.Algorithm = queue.DrawAlgorithm
	out.Seed = hex.EncodeToString(f.Seed)
	out.DrawnAt = &f.DrawnAt
	out.Participants = &f.Participants
	if f.Cutoff > 0 {
		out.CutoffQueueID = strconv.FormatInt(f.Cutoff, 36)
	}
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	p := &drawnProof{doc: body}
	if old := dc.get(key); old != nil {
		p.ids = old.ids
	}
	dc.put(key, p)
	return writeProof(c, body, true)
}

func (s *Server) fairnessParticipants(c echo.Context, dc *drawnCache) error {
	ctx := c.Request().Context()
	room, err := s.ctl.Room(ctx, c.Param("room"))
	if err != nil {
		return err
	}
	key := drawnRoom{room.Name, room.CreatedAt.UnixMilli()}
	if p := dc.get(key); p != nil && p.ids != nil {
		return writeProof(c, p.ids, true)
	}
	ids, err := s.cfg.Store.DrawParticipants(ctx, room.Name)
	if err != nil {
		return err
	}
	body, err := json.Marshal(api.Participants{Room: room.Name, QueueIDs: ids})
	if err != nil {
		return err
	}
	p := &drawnProof{ids: body}
	if old := dc.get(key); old != nil {
		p.doc = old.doc
	}
	dc.put(key, p)
	return writeProof(c, body, true)
}

// writeProof answers with a fairness document. It carries no secret and no
// credential, so any site may read it (a verifier page elsewhere); a
// finished draw never changes, so it may be cached.
func writeProof(c echo.Context, body []byte, final bool) error {
	h := c.Response().Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if final {
		h.Set("Cache-Control", "public, max-age=60")
	} else {
		h.Set("Cache-Control", "no-store")
	}
	return c.JSONBlob(http.StatusOK, body)
}
