package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue"
)

// RoomHookBody is the body posted to the organizer's room webhook for a
// room hook message (queue.Store.RecordHooks): an api.RoomHook, whose id
// is the message's Idempotency-Key. It is that webhook's
// notify.WebhookConfig.Render. A message whose data cannot be read is an
// error (the webhook gives up on it: it never will be read).
func RoomHookBody(m notify.Message) ([]byte, error) {
	var d queue.HookData
	if err := json.Unmarshal([]byte(m.Data), &d); err != nil {
		return nil, fmt.Errorf("room hook %s:%s: data: %w", m.Stream, m.ID, err)
	}
	st := d.State
	h := api.RoomHook{
		ID: m.Stream + ":" + m.ID, Type: m.Kind, Room: m.Room, At: m.At.UTC(), Seq: d.Seq,
		From: d.From, To: d.To, Source: d.Source, Reason: d.Reason,
		QueueOpensAt: msTime(d.QueueOpensAt), SaleStartsAt: msTime(d.SaleStartsAt),
		State: api.RoomHookState{
			QueueOpen: st.QueueOpen, SaleStarted: st.SaleStarted, Paused: st.Paused,
			Closed: st.Closed, ClosedReason: st.ClosedReason, TriggerState: st.Trigger,
			AdmitPerMinute: st.AdmitPerMinute, RatePerMinute: st.RatePerMinute,
		},
	}
	// Reasons read "p99 412 ms > 250 ms": no HTML escapes, the body is
	// no page.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return nil, fmt.Errorf("room hook %s:%s: %w", m.Stream, m.ID, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// msTime is a Unix time in ms, nil for 0.
func msTime(ms int64) *time.Time {
	if ms == 0 {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	return &t
}

// hookDeadLetters is GET /admin/v1/rooms/{room}/hooks/dead?limit=: the
// room's hook messages given up on, newest first, each as the body the
// webhook would have been posted, with the last error.
func (s *Server) hookDeadLetters(c echo.Context) error {
	stream, limit, err := s.hookLetters(c)
	if err != nil {
		return err
	}
	dead, err := notify.NewOutbox(s.cfg.Store.Client()).DeadLetters(c.Request().Context(), stream, limit)
	if err != nil {
		return err
	}
	out := api.RoomHookDeadLetters{Dead: []api.RoomHookDeadLetter{}}
	for _, d := range dead {
		body, err := RoomHookBody(d.Message)
		if err != nil {
			body = nil // unreadable data: shown with its error, never posted
		}
		out.Dead = append(out.Dead, api.RoomHookDeadLetter{Hook: json.RawMessage(bytes.TrimSpace(body)), Error: d.Error, Attempts: d.Attempts})
	}
	return c.JSON(http.StatusOK, out)
}

// retryHookDeadLetters is POST /admin/v1/rooms/{room}/hooks/dead/retry?limit=:
// up to limit of the room's dead letters, oldest first, go back to be
// delivered again (once the organizer's receiver is fixed).
func (s *Server) retryHookDeadLetters(c echo.Context) error {
	stream, limit, err := s.hookLetters(c)
	if err != nil {
		return err
	}
	n, err := notify.NewOutbox(s.cfg.Store.Client()).Redrive(c.Request().Context(), stream, limit)
	if err != nil {
		return err
	}
	s.log.Info("room hooks: dead letters sent again", "room", c.Param("room"), "count", n)
	return c.JSON(http.StatusOK, api.RoomHookRedrive{Retried: n})
}

// hookLetters is the hook stream of the request's room, which must exist,
// and its ?limit=.
func (s *Server) hookLetters(c echo.Context) (notify.Stream, int, error) {
	limit, err := limitParam(c, 100)
	if err != nil {
		return notify.Stream{}, 0, err
	}
	name := c.Param("room")
	if _, err := s.cfg.Store.GetRoom(c.Request().Context(), name); err != nil {
		return notify.Stream{}, 0, err
	}
	return admission.HookStream(name), limit, nil
}
