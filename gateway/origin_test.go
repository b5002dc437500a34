package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
)

// TestAdminAdaptiveOriginTargets: the admin API takes a room's origin
// targets, alone or beside the booking core's, shows them, and refuses
// absurd ones, changing nothing.
func TestAdminAdaptiveOriginTargets(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("r", `{"admit_per_minute": 600, "adaptive": true, "adaptive_origin_p99_ms": 500, "adaptive_origin_error_percent": 2}`)
	m := s.admin("GET", "/admin/v1/rooms/r", "").json(t)
	if m["adaptive"] != true || m["adaptive_origin_p99_ms"] != 500.0 || m["adaptive_origin_error_percent"] != 2.0 || m["adaptive_p99_ms"] != 0.0 {
		t.Fatalf("room: %v", m)
	}
	for body, msg := range map[string]string{
		`{"adaptive_origin_p99_ms": 0, "adaptive_origin_error_percent": 0}`: "needs a target",
		`{"adaptive_origin_p99_ms": 5}`:                                     "adaptive_origin_p99_ms must be",
		`{"adaptive_origin_p99_ms": 60001}`:                                 "adaptive_origin_p99_ms must be",
		`{"adaptive_origin_error_percent": 100}`:                            "adaptive_origin_error_percent must be",
		`{"adaptive_origin_error_percent": -1}`:                             "adaptive_origin_error_percent must be",
		`{"adaptive_origin_error_percent": 2.5}`:                            "",
		`{"adaptive_origin_p99_ms": "fast"}`:                                "",
	} {
		r := s.admin("PATCH", "/admin/v1/rooms/r", body)
		if r.status != 400 || r.errorCode(t) != "invalid_request" || !strings.Contains(string(r.body), msg) {
			t.Errorf("PATCH %s: %d %s", body, r.status, r.body)
		}
	}
	if m := s.admin("GET", "/admin/v1/rooms/r", "").json(t); m["adaptive_origin_p99_ms"] != 500.0 || m["adaptive_origin_error_percent"] != 2.0 {
		t.Fatalf("a refused change changed the room: %v", m)
	}
	// Beside the booking core's target; then the origin's alone go.
	if r := s.admin("PATCH", "/admin/v1/rooms/r", `{"adaptive_p99_ms": 250, "adaptive_origin_error_percent": 0}`); r.status != 200 {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	if r := s.admin("PATCH", "/admin/v1/rooms/r", `{"adaptive_origin_p99_ms": 0}`); r.status != 200 {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	r, err := gateway.DecodeRoom("r", []byte(`{"admit_per_minute": 900, "adaptive": true, "adaptive_origin_error_percent": 5}`))
	if err != nil || !r.Adaptive || r.AdaptiveOriginErrorPercent != 5 || !r.AdaptiveOrigin() {
		t.Fatalf("config file: %+v %v", r, err)
	}
}

// TestOriginAutopilot runs the gateway as a reverse proxy, with its
// admission controller's loops, in front of an origin slowed on purpose,
// while admitted visitors keep browsing. An adaptive room that follows the
// origin climbs to the organizer's rate while the origin is healthy; when
// the origin slows past the room's p99 target, and again when it fails
// more often than the room's error target, the room's rate falls, and once
// the origin recovers (its bad answers have left the 5-s window) it climbs
// back. The dashboard shows why, and /metrics counts the origin's answers.
// Steps are every 100 ms here (2 s in production).
func TestOriginAutopilot(t *testing.T) {
	if testing.Short() {
		t.Skip("about 20 s of real time")
	}
	t.Parallel()
	var delay, failEvery, served atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		time.Sleep(time.Duration(delay.Load()))
		if e := failEvery.Load(); e > 0 && n%e == 0 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("page"))
	}))
	t.Cleanup(origin.Close)
	up, _ := url.Parse(origin.URL)
	s := newStackWith(t, stackOptions{routes: []string{"/shop/*=sale"}, upstream: up, running: true, adaptEvery: 100 * time.Millisecond})
	const organizer = 6000
	s.putRoom("sale", `{"admit_per_minute": 6000, "adaptive": true, "adaptive_origin_p99_ms": 300, "adaptive_origin_error_percent": 10}`)

	// One visitor, admitted by the running controller; then (once the
	// visitor browses) a line that outlasts the test, so the rate is
	// always wanted.
	qt := s.do("POST", "/api/v1/rooms/sale/join", "").json(t)["queue_token"].(string)
	var token string
	waitFor(t, "the visitor admitted", func() bool {
		token, _ = s.do("GET", "/api/v1/rooms/sale/status", "", "Authorization", "Bearer "+qt).json(t)["admission_token"].(string)
		return token != ""
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The visitor's tabs: ten browsing at once, a page every 50 ms or as
	// the origin allows (enough answers in the 5-s window for a p99 even
	// while the origin is slow).
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var proxied, odd atomic.Int64
	for range 10 {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", s.srv.URL+"/shop/item", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				res, err := http.DefaultClient.Do(req)
				if err == nil {
					res.Body.Close()
					if res.StatusCode != 200 && res.StatusCode != 503 {
						odd.Add(1)
					}
					proxied.Add(1)
				} else if !errors.Is(err, context.Canceled) {
					odd.Add(1)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}

	for range 3000 {
		if _, err := s.store.Join(ctx, "sale", ""); err != nil {
			t.Fatal(err)
		}
	}

	state := func() queue.AdaptiveState {
		t.Helper()
		st, _, err := s.store.Adaptive(ctx, "sale", 0)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// until waits for the room's rate to meet cond; it reports the rate on
	// the way when it does not.
	until := func(what string, cond func(queue.AdaptiveState) bool) queue.AdaptiveState {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			st := state()
			if cond(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30 s; rate %.1f/min (%s)", what, st.Rate, st.Reason)
			}
		}
	}
	atOrganizers := func(st queue.AdaptiveState) bool {
		return st.Rate == organizer && strings.HasPrefix(st.Reason, "origin p99 ")
	}
	st := until("healthy origin: climb to the organizer's rate", atOrganizers)
	t.Logf("healthy: %.0f/min (%s)", st.Rate, st.Reason)

	delay.Store(int64(600 * time.Millisecond))
	st = until("slow origin: the rate falls", func(st queue.AdaptiveState) bool { return st.Rate <= organizer/2 })
	if !strings.HasPrefix(st.Reason, "origin p99 ") || !strings.Contains(st.Reason, "> 300 ms") {
		t.Fatalf("slow origin, but the reason is %q", st.Reason)
	}
	t.Logf("slow: %.0f/min (%s)", st.Rate, st.Reason)
	var dash struct {
		Rooms []struct {
			AdaptiveState struct{ Reason string } `json:"adaptive_state"`
		}
	}
	if err := json.Unmarshal(s.admin("GET", "/admin/v1/dashboard?brief=1", "").body, &dash); err != nil || len(dash.Rooms) != 1 ||
		!strings.HasPrefix(dash.Rooms[0].AdaptiveState.Reason, "origin ") {
		t.Fatalf("the dashboard does not say why: %+v %v", dash, err)
	}

	delay.Store(0)
	st = until("recovered origin: back to the organizer's rate", atOrganizers)
	t.Logf("recovered: %.0f/min (%s)", st.Rate, st.Reason)

	failEvery.Store(4) // a quarter of the answers are 503
	st = until("failing origin: the rate falls", func(st queue.AdaptiveState) bool { return st.Rate <= organizer/2 })
	if !strings.Contains(st.Reason, "origin 5xx ") || !strings.Contains(st.Reason, "> 10%") {
		t.Fatalf("failing origin, but the reason is %q", st.Reason)
	}
	t.Logf("failing: %.0f/min (%s)", st.Rate, st.Reason)

	failEvery.Store(0)
	st = until("recovered origin: back to the organizer's rate", atOrganizers)
	t.Logf("recovered: %.0f/min (%s); %d requests proxied", st.Rate, st.Reason, proxied.Load())

	if n := odd.Load(); n > 0 {
		t.Errorf("%d requests got neither the page nor the origin's 503", n)
	}
	m := series(t, s)
	for _, k := range []string{
		`crowdgate_origin_responses_total{class="2xx",room="sale"}`,
		`crowdgate_origin_responses_total{class="5xx",room="sale"}`,
		`crowdgate_origin_request_duration_seconds_count{room="sale"}`,
	} {
		if v, _ := strconv.ParseFloat(m[k], 64); v <= 0 {
			t.Errorf("%s = %q, want some", k, m[k])
		}
	}
}
