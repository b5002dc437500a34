package gateway_test

import (
	"net/http"
	"testing"
)

// TestTriggeredRoomThroughTheAPI: a traffic-triggered room lets fans in at
// once up to its threshold, then queues them; organizers read its state in
// the room's stats and in the metrics.
func TestTriggeredRoomThroughTheAPI(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{trusted: "127.0.0.1/32", running: true, metered: true})
	s.putRoom("shop", `{"admit_per_minute": 600, "trigger": {"active_users": 2}, "session_seconds": 60}`)
	join := func(from string) map[string]any {
		r := s.do("POST", "/api/v1/rooms/shop/join", "", "X-Forwarded-For", from)
		if r.status != http.StatusOK {
			t.Fatalf("join from %s: %d %s", from, r.status, r.body)
		}
		return r.json(t)
	}
	for _, from := range []string{"203.0.113.1", "203.0.113.2"} {
		if tk := join(from); tk["status"] != "admitted" || tk["admission_token"] == "" {
			t.Fatalf("a fan of a quiet room: %v, want admitted at once", tk)
		}
	}
	if tk := join("203.0.113.3"); tk["status"] != "waiting" || tk["position"] != 1.0 {
		t.Fatalf("the fan at the threshold: %v, want the first place in line", tk)
	}
	st := s.admin("GET", "/admin/v1/rooms/shop", "").json(t)["stats"].(map[string]any)
	if st["trigger_state"] != "queueing" || st["trigger_state_since"] == nil {
		t.Fatalf("stats %v, want queueing since now", st)
	}
	waitFor(t, "crowdgate_room_queueing 1", func() bool {
		return series(t, s)[`crowdgate_room_queueing{room="shop"}`] == "1"
	})
	// A room without a trigger shows no state.
	s.putRoom("plain", `{"admit_per_minute": 600}`)
	if st := s.admin("GET", "/admin/v1/rooms/plain", "").json(t)["stats"].(map[string]any); st["trigger_state"] != nil {
		t.Fatalf("a plain room's stats: %v", st)
	}
	for _, bad := range []string{
		`{"admit_per_minute": 600, "trigger": {"active_users": 5}, "passthrough": true}`,
		`{"admit_per_minute": 0, "trigger": {"active_users": 5}}`,
		`{"admit_per_minute": 600, "trigger": {"active_users": 50}, "max_active": 10}`,
		`{"admit_per_minute": 600, "trigger": {"active_users": 5, "surge": 1}}`,
		`{"session_seconds": 600, "session_max_seconds": 60}`,
	} {
		if r := s.admin("PUT", "/admin/v1/rooms/shop", bad); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", bad, r.status, r.body)
		}
	}
	if got := s.admin("GET", "/admin/v1/rooms/shop", "").json(t)["trigger"].(map[string]any); got["active_users"] != 2.0 || got["low_watermark_percent"] != 80.0 {
		t.Fatalf("a refused change changed the room: %v", got)
	}
}
