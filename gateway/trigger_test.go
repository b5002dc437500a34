package gateway_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
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

// admissionCookieOf is the value of the admission cookie r sets for room.
func admissionCookieOf(r response, room string) string {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "cg_a_"+room && c.MaxAge > 0 {
			return c.Value
		}
	}
	return ""
}

// TestQuietRoomLetsVisitorsThrough: behind forward auth and the reverse
// proxy, a visitor without an admission passes a quiet triggered room at
// once and is handed the room's cookie; past the threshold they are sent to
// the waiting room; with sliding sessions, an active visitor's admission is
// renewed on the way through once half spent.
func TestQuietRoomLetsVisitorsThrough(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{routes: []string{"/checkout/=shop"}, running: true})
	s.putRoom("shop", `{"admit_per_minute": 600, "trigger": {"active_users": 2}, "session_seconds": 6, "session_max_seconds": 60}`)
	waitFor(t, "the room cached", func() bool {
		st := s.admin("GET", "/admin/v1/rooms/shop", "").json(t)["stats"].(map[string]any)
		return st["trigger_state"] == "quiet"
	})
	time.Sleep(200 * time.Millisecond) // a refresh past the PUT: the controller's cache holds the room
	check := func(cookie string) response {
		h := []string{"X-Original-URI", "/checkout/cart"}
		if cookie != "" {
			h = append(h, "Cookie", "cg_a_shop="+cookie)
		}
		return s.do("GET", "/auth/v1/check", "", h...)
	}
	first := check("")
	token := admissionCookieOf(first, "shop")
	if first.status != http.StatusOK || token == "" || first.header.Get("X-Crowdgate-Room") != "shop" {
		t.Fatalf("a newcomer to a quiet room: %d %v", first.status, first.header)
	}
	if again := check(token); again.status != http.StatusOK || admissionCookieOf(again, "shop") != "" {
		t.Fatalf("with the cookie: %d %v, want a pass and no new cookie", again.status, again.header)
	}
	if second := check(""); second.status != http.StatusOK || admissionCookieOf(second, "shop") == "" {
		t.Fatalf("the second newcomer: %d", second.status)
	}
	third := check("")
	if third.status != http.StatusUnauthorized || !strings.Contains(third.header.Get("X-Crowdgate-Waiting-Room"), "/rooms/shop") || admissionCookieOf(third, "shop") != "" {
		t.Fatalf("past the threshold: %d %v, want 401 to the waiting room", third.status, third.header)
	}
	// Half the 6 s session spent: the way through renews it. (Tokens
	// carry whole seconds, which can take up to a second off a session: a
	// shorter one could end before its half on a busy box.)
	time.Sleep(3100 * time.Millisecond)
	renewed := check(token)
	if renewed.status != http.StatusOK || admissionCookieOf(renewed, "shop") == "" || admissionCookieOf(renewed, "shop") == token {
		t.Fatalf("half spent: %d %v, want a pass with a renewed cookie", renewed.status, renewed.header)
	}
}
