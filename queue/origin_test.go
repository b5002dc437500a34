package queue_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// TestShareOriginReadings: every instance's reading of a room's origin is
// read back by every instance until it is a ttl old; then it counts for
// nothing and is dropped, and a room nobody writes for loses them all.
func TestShareOriginReadings(t *testing.T) {
	t.Parallel()
	rs := queuetest.Run(t)
	clk := queuetest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	s, err := queue.NewStore(rs.Client(t), queue.Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ctx := context.Background()
	const ttl = 6 * time.Second
	share := func(instance string, r queue.OriginReading) []queue.OriginReading {
		t.Helper()
		got, err := s.ShareOrigin(ctx, "r", instance, r, ttl)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, func(a, b queue.OriginReading) int { return a.Answers - b.Answers })
		return got
	}
	slow := queue.OriginReading{Answers: 300, Failed: 12, P99: 812 * time.Millisecond}
	fast := queue.OriginReading{Answers: 100, P99: 1500 * time.Microsecond}
	if got := share("a", slow); !slices.Equal(got, []queue.OriginReading{slow}) {
		t.Fatalf("first reading: %+v", got)
	}
	clk.Add(2 * time.Second)
	if got := share("b", fast); !slices.Equal(got, []queue.OriginReading{fast, slow}) {
		t.Fatalf("two instances: %+v", got)
	}
	// a's next reading replaces its last.
	clk.Add(2 * time.Second)
	idle := queue.OriginReading{}
	if got := share("a", idle); !slices.Equal(got, []queue.OriginReading{idle, fast}) {
		t.Fatalf("a again: %+v", got)
	}
	// b stopped writing: a ttl after its last reading, it is gone.
	clk.Add(ttl - time.Second)
	if got := share("a", slow); !slices.Equal(got, []queue.OriginReading{slow}) {
		t.Fatalf("after b's ttl: %+v", got)
	}
	if n, err := rs.Client(t).HLen(ctx, "cg:{r}:oh").Result(); err != nil || n != 1 {
		t.Fatalf("stale reading kept: %d fields %v", n, err)
	}
	if d, err := rs.Client(t).PTTL(ctx, "cg:{r}:oh").Result(); err != nil || d <= 0 || d > ttl {
		t.Fatalf("the readings expire in %v (%v), want within %v", d, err, ttl)
	}
}

// TestRoomOriginTargets: a room keeps its origin targets, which make
// adaptive admission's target alone or beside the booking core's, within
// their bounds.
func TestRoomOriginTargets(t *testing.T) {
	t.Parallel()
	rs := queuetest.Run(t)
	s, err := queue.NewStore(rs.Client(t), queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ctx := context.Background()
	want := queue.Room{Name: "r", AdmitPerMinute: 600, Adaptive: true, AdaptiveOriginP99Ms: 500, AdaptiveOriginErrorPercent: 2}.WithDefaults()
	if _, err := s.PutRoom(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRoom(ctx, "r")
	if err != nil || got.AdaptiveOriginP99Ms != 500 || got.AdaptiveOriginErrorPercent != 2 || !got.AdaptiveOrigin() {
		t.Fatalf("got %+v %v", got, err)
	}

	for _, tc := range []struct {
		name string
		edit func(*queue.Room)
		ok   bool
	}{
		{"origin p99 alone", func(r *queue.Room) { r.AdaptiveOriginErrorPercent = 0 }, true},
		{"origin errors alone", func(r *queue.Room) { r.AdaptiveOriginP99Ms = 0 }, true},
		{"beside the booking core's", func(r *queue.Room) { r.AdaptiveP99Ms, r.AdaptiveMaxCheckouts = 250, 100 }, true},
		{"no target", func(r *queue.Room) { r.AdaptiveOriginP99Ms, r.AdaptiveOriginErrorPercent = 0, 0 }, false},
		{"no target, not adaptive", func(r *queue.Room) { r.Adaptive, r.AdaptiveOriginP99Ms, r.AdaptiveOriginErrorPercent = false, 0, 0 }, true},
		{"p99 under 10 ms", func(r *queue.Room) { r.AdaptiveOriginP99Ms = 9 }, false},
		{"p99 over a minute", func(r *queue.Room) { r.AdaptiveOriginP99Ms = 60_001 }, false},
		{"errors at 100%", func(r *queue.Room) { r.AdaptiveOriginErrorPercent = 100 }, false},
		{"errors negative", func(r *queue.Room) { r.AdaptiveOriginErrorPercent = -1 }, false},
		{"errors at the bounds", func(r *queue.Room) { r.AdaptiveOriginErrorPercent = 99 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := want
			tc.edit(&r)
			if err := r.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
