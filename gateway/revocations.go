package gateway

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/queue"
)

const (
	// revocationsEvery is how often a room's list is rendered at most,
	// whatever the number of origins polling it.
	revocationsEvery = time.Second
	// revocationsMaxAge is the Cache-Control max-age, for a CDN in front.
	// With the rendering and a poll every 2 s, a release reaches origins
	// within about five seconds.
	revocationsMaxAge = "public, max-age=2"
	// revocationsGzipOver: smaller lists are sent as they are.
	revocationsGzipOver = 1024
)

// revocationLists renders each room's list from the admission controller's
// memory (no store round trip per request) at most once per
// revocationsEvery; requests meanwhile get the last rendering.
type revocationLists struct {
	s     *Server
	mu    sync.Mutex
	rooms map[string]*revocationList
}

// revocationList is one room's: rendered is replaced whole, so readers
// never lock; render is held by the one request re-rendering it.
type revocationList struct {
	render   sync.Mutex
	rendered atomic.Pointer[renderedRevocations]
}

type renderedRevocations struct {
	at       time.Time
	created  time.Time // the room's, so a room made again is rendered at once
	body, gz []byte    // gz is nil for small lists
	etag     string    // strong, of body; gz's carries a suffix
}

// revocationRoutes serves rooms' revocation lists:
//
//	GET /api/v1/rooms/{room}/revocations   {"room","exists","min_iat","revoked":[{"jti","exp"}]}
//
// with a strong ETag (If-None-Match → 304), Cache-Control max-age=2, and
// gzip for clients that take it. A room that does not exist answers 200
// with exists false.
func (s *Server) revocationRoutes(e *echo.Echo) {
	l := &revocationLists{s: s, rooms: map[string]*revocationList{}}
	e.GET(fanRoomRoute+"/revocations", l.serve, s.roomParam)
}

func (l *revocationLists) serve(c echo.Context) error {
	room, err := l.s.ctl.Room(c.Request().Context(), c.Param("room"))
	var doc *renderedRevocations
	switch {
	case errors.Is(err, queue.ErrRoomNotFound):
		// Tiny, and the controller keeps the store from being asked
		// about one name more than once per refresh period.
		doc = renderRevocations(queue.Room{Name: c.Param("room")}, false, nil, l.s.cfg.Now())
	case err != nil:
		return err
	default:
		doc = l.get(room)
	}
	body, etag := doc.body, doc.etag
	h := c.Response().Header()
	h.Set("Vary", "Accept-Encoding")
	gz := doc.gz != nil && acceptsGzip(c.Request().Header.Get("Accept-Encoding"))
	if gz {
		body, etag = doc.gz, strings.TrimSuffix(doc.etag, `"`)+`-gz"`
	}
	h.Set("ETag", etag)
	h.Set("Cache-Control", revocationsMaxAge)
	h.Set("Access-Control-Allow-Origin", "*")
	if noneMatch(c.Request().Header.Get("If-None-Match"), etag) {
		return c.NoContent(http.StatusNotModified)
	}
	if gz {
		h.Set("Content-Encoding", "gzip")
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
}

// get returns room's list, rendered within revocationsEvery. Only the first
// request for a room waits for a rendering; later ones get the last one
// while another request renders.
func (l *revocationLists) get(room queue.Room) *renderedRevocations {
	l.mu.Lock()
	rl := l.rooms[room.Name]
	if rl == nil {
		if len(l.rooms) >= 10000 { // rooms exist to be here; bound it anyway
			clear(l.rooms)
		}
		rl = &revocationList{}
		l.rooms[room.Name] = rl
	}
	l.mu.Unlock()
	now := l.s.cfg.Now()
	fresh := func(d *renderedRevocations) bool {
		return d != nil && d.created.Equal(room.CreatedAt) && now.Sub(d.at) < revocationsEvery && !now.Before(d.at)
	}
	d := rl.rendered.Load()
	switch {
	case fresh(d):
		return d
	case d != nil && d.created.Equal(room.CreatedAt):
		// Stale: one request renders, the others take the last one meanwhile.
		if !rl.render.TryLock() {
			return d
		}
	default:
		// Nothing to give this room yet: wait for the rendering.
		rl.render.Lock()
	}
	defer rl.render.Unlock()
	if d := rl.rendered.Load(); fresh(d) {
		return d
	}
	d = renderRevocations(room, true, l.s.ctl.Revocations(room.Name), now)
	rl.rendered.Store(d)
	return d
}

func renderRevocations(room queue.Room, exists bool, revs []admission.Revocation, now time.Time) *renderedRevocations {
	slices.SortFunc(revs, func(a, b admission.Revocation) int {
		return cmp.Or(a.Expires.Compare(b.Expires), strings.Compare(a.ID, b.ID))
	})
	doc := api.Revocations{Room: room.Name, Exists: exists, Revoked: make([]api.Revocation, len(revs))}
	if exists {
		doc.MinIAT = room.CreatedAt.Unix()
	}
	for i, r := range revs {
		doc.Revoked[i] = api.Revocation{JTI: r.ID, Exp: r.Expires.Unix()}
	}
	body, _ := json.Marshal(doc) // strings and numbers only: cannot fail
	sum := sha256.Sum256(body)
	d := &renderedRevocations{at: now, created: room.CreatedAt, body: body, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`}
	if len(body) > revocationsGzipOver {
		var buf bytes.Buffer // writes to a bytes.Buffer cannot fail
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		_, _ = zw.Write(body)
		_ = zw.Close()
		d.gz = buf.Bytes()
	}
	return d
}

// noneMatch reports whether an If-None-Match header matches etag, by the
// weak comparison RFC 9110 prescribes for it.
func noneMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}
