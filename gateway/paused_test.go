package gateway_test

import (
	"testing"
)

// TestPausedRoomSaysSo: a fan waiting in a room the organizer paused is
// told so by the join and status answers ("paused": true, the ETA
// unknown), so the page can say that places are kept; a running room's
// answers carry no "paused" at all, as before.
func TestPausedRoomSaysSo(t *testing.T) {
	s := newStack(t)
	s.putRoom("stopped", `{"admit_per_minute": 60, "paused": true}`)
	s.putRoom("running", `{"admit_per_minute": 60}`)

	for _, tc := range []struct {
		room   string
		paused bool
	}{{"stopped", true}, {"running", false}} {
		join := s.do("POST", "/api/v1/rooms/"+tc.room+"/join", "")
		if join.status != 200 {
			t.Fatalf("%s: join %d %s", tc.room, join.status, join.body)
		}
		j := join.json(t)
		status := s.do("GET", "/api/v1/rooms/"+tc.room+"/status", "", "Authorization", "Bearer "+j["queue_token"].(string))
		if status.status != 200 {
			t.Fatalf("%s: status %d %s", tc.room, status.status, status.body)
		}
		for what, m := range map[string]map[string]any{"join": j, "status": status.json(t)} {
			p, has := m["paused"]
			switch {
			case tc.paused && (p != true || m["eta_seconds"] != -1.0):
				t.Errorf("%s %s: paused %v, eta %v; want true and -1", tc.room, what, p, m["eta_seconds"])
			case !tc.paused && has:
				t.Errorf("%s %s: a running room's answer has paused %v", tc.room, what, p)
			}
		}
	}
}
