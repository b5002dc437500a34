package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

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
