package gateway_test

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMissingRoomsAreLoud: a route and an event that name a room that
// does not exist are on the dashboard's problems and in
// crowdgate_misconfigured once the check has run (as serve runs it at
// start); each request they turn away is counted, logged once a minute per
// room, and told to Config.RoomMissing; and once the room exists, all of it
// is gone.
func TestMissingRoomsAreLoud(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	var mu sync.Mutex
	var told []string
	s := newStackWith(t, stackOptions{
		routes: []string{"/checkout/=launch,shop.example.com/vip/=ghost"}, booking: true,
		logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		roomMissing: func(room string) {
			mu.Lock()
			told = append(told, room)
			mu.Unlock()
		},
	})
	s.putRoom("launch", `{"admit_per_minute": 60}`)
	ev := s.admin("PUT", "/admin/v1/events/gig", `{"room": "nowhere", "ticket_types": [{"id": "ga", "name": "GA", "capacity": 5, "price_minor": 100, "currency": "INR", "per_order_limit": 2}]}`)
	if ev.status != 201 {
		t.Fatalf("put event: %d %s", ev.status, ev.body)
	}
	if w := warnings(t, ev); len(w) != 1 || w[0] != "room_not_found" {
		t.Fatalf("an event whose room does not exist: warnings %v, want room_not_found", w)
	}

	problems := func() []any {
		t.Helper()
		r := s.admin("GET", "/admin/v1/dashboard?brief=1", "")
		if r.status != 200 {
			t.Fatalf("dashboard: %d %s", r.status, r.body)
		}
		return r.json(t)["problems"].([]any)
	}
	got := problems()
	if len(got) != 2 || got[0].(map[string]any)["kind"] != "route" || got[0].(map[string]any)["name"] != "shop.example.com/vip/" ||
		got[0].(map[string]any)["room"] != "ghost" || got[1].(map[string]any)["kind"] != "event" || got[1].(map[string]any)["name"] != "gig" ||
		got[1].(map[string]any)["room"] != "nowhere" {
		t.Fatalf("dashboard problems: %v", got)
	}

	if err := s.gw.CheckProblems(context.Background()); err != nil {
		t.Fatal(err)
	}
	metrics := string(s.do("GET", "/metrics", "").body)
	for _, want := range []string{
		`crowdgate_misconfigured{kind="route",name="shop.example.com/vip/",room="ghost"} 1`,
		`crowdgate_misconfigured{kind="event",name="gig",room="nowhere"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if n := strings.Count(logs.String(), `"kind":"route","name":"shop.example.com/vip/","room":"ghost"`); n != 1 {
		t.Errorf("route logged %d times at the check, want 1:\n%s", n, logs.String())
	}

	// Requests: three to the route, one hold at the event.
	for range 3 {
		if r := s.do("GET", "/auth/v1/check", "", "X-Forwarded-Uri", "/vip/lounge", "X-Forwarded-Host", "shop.example.com"); r.status != 401 {
			t.Fatalf("check of a route to a missing room: %d", r.status)
		}
	}
	if r := s.do("POST", "/api/v1/events/gig/holds", `{"ticket_type": "ga", "quantity": 1}`, "Content-Type", "application/json"); r.status != 401 {
		t.Fatalf("hold at an event whose room is missing: %d %s", r.status, r.body)
	}
	metrics = string(s.do("GET", "/metrics", "").body)
	for _, want := range []string{
		`crowdgate_missing_room_requests_total{room="ghost",via="route"} 3`,
		`crowdgate_missing_room_requests_total{room="nowhere",via="event"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if n := strings.Count(logs.String(), `"room":"ghost","via":"route"`); n != 1 {
		t.Errorf("requests to ghost logged %d times, want once a minute:\n%s", n, logs.String())
	}
	mu.Lock()
	if !strings.Contains(strings.Join(told, ","), "ghost") || !strings.Contains(strings.Join(told, ","), "nowhere") {
		t.Errorf("RoomMissing was told %v", told)
	}
	mu.Unlock()

	// The rooms come: nothing is left to report.
	s.putRoom("ghost", `{"admit_per_minute": 60}`)
	s.putRoom("nowhere", `{"admit_per_minute": 60}`)
	if got := problems(); len(got) != 0 {
		t.Fatalf("problems once the rooms exist: %v", got)
	}
	if err := s.gw.CheckProblems(context.Background()); err != nil {
		t.Fatal(err)
	}
	if metrics := string(s.do("GET", "/metrics", "").body); strings.Contains(metrics, "crowdgate_misconfigured{") {
		t.Errorf("crowdgate_misconfigured still has series once the rooms exist")
	}
}

// TestMissingRoomParamIsCountedNotLabelled: a room= a client may have made
// up (a proxy that passes the client's query on) is counted, but only the
// first rooms get a series and a log line of their own.
func TestMissingRoomParamIsCountedNotLabelled(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	for i := range 80 {
		if r := s.do("GET", "/auth/v1/check?room=made-up-"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+string(rune('a'+i/26)), ""); r.status != 401 {
			t.Fatalf("check: %d", r.status)
		}
	}
	metrics := string(s.do("GET", "/metrics", "").body)
	if n := strings.Count(metrics, `crowdgate_missing_room_requests_total{room="made-up-`); n != 64 {
		t.Errorf("%d made-up rooms have a series of their own, want 64", n)
	}
	if !strings.Contains(metrics, `crowdgate_missing_room_requests_total{room="",via="room_param"} 16`) {
		t.Errorf("the other 16 are not counted together:\n%s", metrics)
	}
}

// TestScheduleWarnings: a PUT or PATCH that sets a queue_opens_at or
// sale_starts_at already past is made, with a warning; one that leaves
// such a time as it was, or sets a future one, has none; and a room
// created after its schedule is on the dashboard's problems.
func TestScheduleWarnings(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, c := range []struct {
		method, body string
		want         int
	}{
		{"PUT", `{"queue_opens_at": "` + past + `", "sale_starts_at": "` + past + `", "mode": "random_prequeue"}`, 2},
		{"PUT", `{"queue_opens_at": "` + past + `", "sale_starts_at": "` + past + `", "mode": "random_prequeue"}`, 0}, // as it was
		{"PATCH", `{"title": "Launch"}`, 0},
		{"PATCH", `{"sale_starts_at": "` + future + `"}`, 0},
		{"PATCH", `{"sale_starts_at": "` + past + `"}`, 1},
	} {
		r := s.admin(c.method, "/admin/v1/rooms/late", c.body)
		if r.status/100 != 2 {
			t.Fatalf("%s %s: %d %s", c.method, c.body, r.status, r.body)
		}
		w := warnings(t, r)
		if len(w) != c.want || len(w) > 0 && w[0] != "schedule_in_past" {
			t.Errorf("%s %s: warnings %v, want %d schedule_in_past", c.method, c.body, w, c.want)
		}
	}
	r := s.admin("GET", "/admin/v1/dashboard?brief=1", "")
	got, _ := r.json(t)["problems"].([]any)
	if len(got) != 2 || got[0].(map[string]any)["kind"] != "schedule" || got[0].(map[string]any)["room"] != "late" ||
		!strings.Contains(got[1].(map[string]any)["message"].(string), "nobody in its pre-queue") {
		t.Fatalf("dashboard problems of a room created after its schedule: %v", got)
	}
	if r := s.admin("GET", "/admin/v1/rooms/late", ""); strings.Contains(string(r.body), "warnings") {
		t.Errorf("GET shows warnings: %s", r.body)
	}
}

// TestOriginTargetsWithoutUpstreamAreLoud: an adaptive room with an origin
// target on an instance without --upstream, whose autopilot can never read
// the origin, is warned of in every PUT and PATCH answer while that holds,
// listed on the dashboard's problems, in crowdgate_misconfigured and the
// log once the check has run; once the room no longer steers by the
// origin, all of it is gone. With --upstream, none of it.
func TestOriginTargetsWithoutUpstreamAreLoud(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	s := newStackWith(t, stackOptions{routes: []string{"/shop/=shop"}, logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	const code = "origin_targets_without_upstream"
	for _, c := range []struct {
		method, body string
		want         []string
	}{
		{"PUT", `{"admit_per_minute": 600, "adaptive": true, "adaptive_origin_p99_ms": 500}`, []string{code}},
		{"PATCH", `{"title": "Shop"}`, []string{code}}, // still true: said again
		{"PATCH", `{"adaptive_origin_p99_ms": 0, "adaptive_origin_error_percent": 2}`, []string{code}},
		{"PATCH", `{"sale_starts_at": "` + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) + `"}`, []string{"schedule_in_past", code}},
	} {
		r := s.admin(c.method, "/admin/v1/rooms/shop", c.body)
		if r.status/100 != 2 {
			t.Fatalf("%s %s: %d %s", c.method, c.body, r.status, r.body)
		}
		if w := warnings(t, r); strings.Join(w, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s %s: warnings %v, want %v", c.method, c.body, w, c.want)
		}
	}
	if msg := s.admin("PATCH", "/admin/v1/rooms/shop", `{"title": "Shop"}`).json(t)["warnings"].([]any)[0].(map[string]any)["message"].(string); !strings.Contains(msg, "room shop") || !strings.Contains(msg, "--upstream") {
		t.Errorf("warning message %q names neither the room nor --upstream", msg)
	}

	problems := func() []any { // the origin's: the past sale_starts_at is one too
		t.Helper()
		all, _ := s.admin("GET", "/admin/v1/dashboard?brief=1", "").json(t)["problems"].([]any)
		var got []any
		for _, p := range all {
			if p.(map[string]any)["kind"] != "schedule" {
				got = append(got, p)
			}
		}
		return got
	}
	got := problems()
	if len(got) != 1 || got[0].(map[string]any)["kind"] != "origin" || got[0].(map[string]any)["name"] != "shop" ||
		got[0].(map[string]any)["room"] != "shop" || !strings.Contains(got[0].(map[string]any)["message"].(string), "--upstream") {
		t.Fatalf("dashboard problems: %v", got)
	}
	if err := s.gw.CheckProblems(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.gw.CheckProblems(context.Background()); err != nil { // found again: not logged again
		t.Fatal(err)
	}
	if metrics := string(s.do("GET", "/metrics", "").body); !strings.Contains(metrics, `crowdgate_misconfigured{kind="origin",name="shop",room="shop"} 1`) {
		t.Errorf("metrics lack the origin problem:\n%s", metrics)
	}
	if n := strings.Count(logs.String(), `"kind":"origin","name":"shop","room":"shop"`); n != 1 || !strings.Contains(logs.String(), "without --upstream") {
		t.Errorf("origin problem logged %d times at two checks, want 1:\n%s", n, logs.String())
	}

	// The autopilot off: no warning, nothing listed, the series gone.
	if w := warnings(t, s.admin("PATCH", "/admin/v1/rooms/shop", `{"adaptive": false}`)); len(w) != 0 {
		t.Errorf("PATCH adaptive=false: warnings %v", w)
	}
	if got := problems(); len(got) != 0 {
		t.Errorf("still a problem once the room does not steer by the origin: %v", got)
	}
	if err := s.gw.CheckProblems(context.Background()); err != nil {
		t.Fatal(err)
	}
	if metrics := string(s.do("GET", "/metrics", "").body); strings.Contains(metrics, `crowdgate_misconfigured{kind="origin"`) {
		t.Errorf("crowdgate_misconfigured still has the origin series")
	}
	if !strings.Contains(logs.String(), "resolved: the room no longer steers by its origin") {
		t.Errorf("not logged as resolved:\n%s", logs.String())
	}

	// With --upstream the instance measures the origin: nothing to say.
	up, err := url.Parse("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	proxied := newStackWith(t, stackOptions{routes: []string{"/shop/=shop"}, upstream: up})
	if w := warnings(t, proxied.admin("PUT", "/admin/v1/rooms/shop", `{"admit_per_minute": 600, "adaptive": true, "adaptive_origin_p99_ms": 500}`)); len(w) != 0 {
		t.Errorf("with --upstream: warnings %v", w)
	}
	if got, _ := proxied.admin("GET", "/admin/v1/dashboard?brief=1", "").json(t)["problems"].([]any); len(got) != 0 {
		t.Errorf("with --upstream: problems %v", got)
	}
	// ... but only for the rooms its routes name.
	if w := warnings(t, proxied.admin("PUT", "/admin/v1/rooms/unrouted", `{"admit_per_minute": 600, "adaptive": true, "adaptive_origin_error_percent": 2}`)); strings.Join(w, ",") != "origin_targets_without_route" {
		t.Errorf("a room no route names: warnings %v", w)
	}
	got, _ = proxied.admin("GET", "/admin/v1/dashboard?brief=1", "").json(t)["problems"].([]any)
	if len(got) != 1 || got[0].(map[string]any)["room"] != "unrouted" || !strings.Contains(got[0].(map[string]any)["message"].(string), "no route") {
		t.Errorf("a room no route names: problems %v", got)
	}
}

func warnings(t *testing.T, r response) []string {
	t.Helper()
	var codes []string
	ws, _ := r.json(t)["warnings"].([]any)
	for _, w := range ws {
		codes = append(codes, w.(map[string]any)["code"].(string))
	}
	return codes
}
