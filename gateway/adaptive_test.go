package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// TestAdminAdaptiveRoom: the admin API takes and shows a room's adaptive
// admission, refuses it without a target or with absurd ones, and the
// dashboard shows the adaptive rate against the organizer's, its last
// reading and its decisions; the target rate (and the history's) is the
// lower of the two.
func TestAdminAdaptiveRoom(t *testing.T) {
	t.Parallel()
	clk := queuetest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	s, g := newClockStack(t, queuetest.Run(t), adminToken, clk.Now)
	s.putRoom("r", `{"admit_per_minute": 600, "adaptive": true, "adaptive_p99_ms": 250}`)
	m := s.admin("GET", "/admin/v1/rooms/r", "").json(t)
	if m["adaptive"] != true || m["adaptive_p99_ms"] != 250.0 || m["adaptive_max_checkouts"] != 0.0 {
		t.Fatalf("room: %v", m)
	}
	for body, msg := range map[string]string{
		`{"adaptive_p99_ms": 0}`:                       "needs a target",
		`{"adaptive_p99_ms": 5}`:                       "adaptive_p99_ms must be",
		`{"adaptive_max_checkouts": 10000001}`:         "adaptive_max_checkouts must be",
		`{"adaptive_max_checkouts": -1}`:               "adaptive_max_checkouts must be",
		`{"adaptive": "yes"}`:                          "",
		`{"adaptive": true, "adaptive_p99_ms": 61000}`: "adaptive_p99_ms must be",
	} {
		r := s.admin("PATCH", "/admin/v1/rooms/r", body)
		if r.status != 400 || !strings.Contains(string(r.body), msg) {
			t.Errorf("PATCH %s: %d %s", body, r.status, r.body)
		}
	}

	type dash struct {
		Rooms []struct {
			Room  string
			Stats struct {
				TargetRatePerMinute int64 `json:"target_rate_per_minute"`
			}
			Adaptive      bool
			AdaptiveState *struct {
				RatePerMinute float64    `json:"rate_per_minute"`
				StepAt        *time.Time `json:"step_at"`
				Reason        string
				Decisions     []queue.AdaptiveDecision
			} `json:"adaptive_state"`
		}
	}
	read := func() dash {
		t.Helper()
		var d dash
		if err := json.Unmarshal(s.admin("GET", "/admin/v1/dashboard?brief=1", "").body, &d); err != nil || len(d.Rooms) != 1 {
			t.Fatalf("dashboard: %+v %v", d, err)
		}
		return d
	}
	d := read().Rooms[0]
	if a := d.AdaptiveState; !d.Adaptive || a == nil || a.RatePerMinute != 60 || a.StepAt == nil ||
		len(a.Decisions) != 1 || a.Decisions[0].From != 600 || a.Decisions[0].To != 60 || !strings.Contains(a.Reason, "start") {
		t.Fatalf("adaptive on the dashboard: %+v", d.AdaptiveState)
	}
	if d.Stats.TargetRatePerMinute != 60 {
		t.Fatalf("target %d, want the adaptive 60", d.Stats.TargetRatePerMinute)
	}
	ctx := context.Background()
	st, _, _ := s.store.Adaptive(ctx, "r", 0)
	if ok, err := s.store.StepAdaptive(ctx, "r", st, 42, "p99 412 ms > 250 ms", 0); !ok || err != nil {
		t.Fatalf("step: %v %v", ok, err)
	}
	if a := read().Rooms[0].AdaptiveState; a.RatePerMinute != 42 || a.Reason != "p99 412 ms > 250 ms" || len(a.Decisions) != 2 || a.Decisions[0].To != 42 {
		t.Fatalf("after a step: %+v", a)
	}
	if err := g.SampleHistory(ctx); err != nil {
		t.Fatal(err)
	}
	if h, err := s.store.History(ctx, "r", clk.Now().Add(-time.Minute)); err != nil || len(h) != 1 || h[0].TargetRate != 42 {
		t.Fatalf("history %+v %v", h, err)
	}

	if r := s.admin("PATCH", "/admin/v1/rooms/r", `{"adaptive": false}`); r.status != 200 {
		t.Fatalf("switch off: %d %s", r.status, r.body)
	}
	if d := read().Rooms[0]; d.Adaptive || d.AdaptiveState != nil || d.Stats.TargetRatePerMinute != 600 {
		t.Fatalf("switched off: %+v", d)
	}
}

// TestDecodeAdaptiveRoom: CROWDGATE_CONFIG declares adaptive rooms through
// the admin API's decoder, with its checks.
func TestDecodeAdaptiveRoom(t *testing.T) {
	t.Parallel()
	r, err := gateway.DecodeRoom("r", []byte(`{"admit_per_minute": 900, "adaptive": true, "adaptive_max_checkouts": 4000, "adaptive_p99_ms": 300}`))
	if err != nil || !r.Adaptive || r.AdaptiveMaxCheckouts != 4000 || r.AdaptiveP99Ms != 300 {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := gateway.DecodeRoom("r", []byte(`{"adaptive": true}`)); !errors.Is(err, queue.ErrInvalidRoom) {
		t.Fatalf("adaptive without a target: %v", err)
	}
}
