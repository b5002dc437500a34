package gateway_test

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/notify"
)

// TestRoomHookBody: a room hook message becomes the documented body
// (docs/hooks.md), its id the message's Idempotency-Key.
func TestRoomHookBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		m    notify.Message
		want string
	}{
		{
			name: "rate changed",
			m: notify.Message{
				Stream: "hooks.launch", ID: "1764583200123-0", Kind: "room.rate_changed", Room: "launch",
				At:   time.UnixMilli(1764583200123),
				Data: `{"seq":7,"from":100,"to":70,"source":"adaptive","reason":"p99 412 ms > 250 ms","state":{"queue_open":true,"sale_started":true,"paused":false,"closed":false,"admit_per_minute":1000,"rate_per_minute":70}}`,
			},
			want: `{"id":"hooks.launch:1764583200123-0","type":"room.rate_changed","room":"launch","at":"2025-12-01T10:00:00.123Z","seq":7,` +
				`"from":100,"to":70,"source":"adaptive","reason":"p99 412 ms > 250 ms",` +
				`"state":{"queue_open":true,"sale_started":true,"paused":false,"closed":false,"admit_per_minute":1000,"rate_per_minute":70}}`,
		},
		{
			name: "queue opened, sold out, triggered",
			m: notify.Message{
				Stream: "hooks.r", ID: "1-0", Kind: "room.queue_opened", Room: "r", At: time.UnixMilli(1764583200000),
				Data: `{"seq":2,"queue_opens_at":1764583200000,"state":{"queue_open":true,"sale_started":false,"paused":true,"closed":true,"closed_reason":"sold_out","trigger_state":"quiet","admit_per_minute":60,"rate_per_minute":60}}`,
			},
			want: `{"id":"hooks.r:1-0","type":"room.queue_opened","room":"r","at":"2025-12-01T10:00:00Z","seq":2,"queue_opens_at":"2025-12-01T10:00:00Z",` +
				`"state":{"queue_open":true,"sale_started":false,"paused":true,"closed":true,"closed_reason":"sold_out","trigger_state":"quiet","admit_per_minute":60,"rate_per_minute":60}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := gateway.RoomHookBody(tc.m)
			if err != nil || string(got) != tc.want {
				t.Fatalf("got  %s (%v)\nwant %s", got, err, tc.want)
			}
			var h api.RoomHook
			if err := json.Unmarshal(got, &h); err != nil || h.ID != tc.m.Stream+":"+tc.m.ID || !h.At.Equal(tc.m.At) {
				t.Fatalf("read back %+v (%v)", h, err)
			}
		})
	}
	if _, err := gateway.RoomHookBody(notify.Message{Kind: "room.paused", Data: "{"}); err == nil {
		t.Error("a message with broken data rendered")
	}
}

// FuzzRoomHookBody: whatever a hook message holds, the body is valid JSON
// that reads back as a RoomHook with the message's id, or an error.
func FuzzRoomHookBody(f *testing.F) {
	f.Add("hooks.r", "1-0", "room.paused", "r", int64(1764583200000), `{"seq":1,"state":{"paused":true}}`)
	f.Add("hooks.r", "1-0", "room.rate_changed", "r", int64(0), `{"seq":1,"from":1e308,"to":-0,"state":{}}`)
	f.Add("", "", "", "", int64(-1), `{"queue_opens_at":9223372036854775807}`)
	f.Add("s", "i", "k", "\xff", int64(1), `null`)
	f.Fuzz(func(t *testing.T, stream, id, kind, room string, at int64, data string) {
		m := notify.Message{Stream: stream, ID: id, Kind: kind, Room: room, At: time.UnixMilli(at), Data: data}
		body, err := gateway.RoomHookBody(m)
		if err != nil {
			return
		}
		var h api.RoomHook
		if err := json.Unmarshal(body, &h); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		if want := stream + ":" + id; utf8.ValidString(want) && h.ID != want {
			t.Fatalf("id %q, want %q", h.ID, want)
		}
	})
}
