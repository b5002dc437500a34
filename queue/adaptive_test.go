package queue_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

func TestAdaptiveRoomValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		room queue.Room
		bad  string
	}{
		{"off", queue.Room{Name: "r"}, ""},
		{"p99 only", queue.Room{Name: "r", Adaptive: true, AdaptiveP99Ms: 250}, ""},
		{"checkouts only", queue.Room{Name: "r", Adaptive: true, AdaptiveMaxCheckouts: 4000}, ""},
		{"targets kept while off", queue.Room{Name: "r", AdaptiveMaxCheckouts: 4000, AdaptiveP99Ms: 250}, ""},
		{"no target", queue.Room{Name: "r", Adaptive: true}, "needs a target"},
		{"negative checkouts", queue.Room{Name: "r", AdaptiveMaxCheckouts: -1}, "adaptive_max_checkouts"},
		{"too many checkouts", queue.Room{Name: "r", Adaptive: true, AdaptiveMaxCheckouts: queue.MaxAdaptiveCheckouts + 1}, "adaptive_max_checkouts"},
		{"p99 too low", queue.Room{Name: "r", Adaptive: true, AdaptiveP99Ms: 9}, "adaptive_p99_ms"},
		{"p99 too high", queue.Room{Name: "r", Adaptive: true, AdaptiveP99Ms: 60001}, "adaptive_p99_ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.room.WithDefaults().Validate()
			if tc.bad == "" && err != nil || tc.bad != "" && (!errors.Is(err, queue.ErrInvalidRoom) || !strings.Contains(err.Error(), tc.bad)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.bad)
			}
		})
	}
}

// TestAdmitAdaptiveRate: an adaptive room admits at exactly the lower of
// the organizer's rate and its adaptive rate, with one instance and with
// three; switching adaptive admission on starts the rate at a tenth, and
// steps are compare-and-set.
func TestAdmitAdaptiveRate(t *testing.T) {
	t.Parallel()
	for _, instances := range []int{1, 3} {
		backends(t, func(t *testing.T, rdb redis.UniversalClient) {
			ctx := context.Background()
			clk := newClock()
			stores := make([]*queue.Store, instances)
			for i := range stores {
				stores[i] = mustStore(t, rdb, clk)
			}
			s := stores[0]
			mustRoom(t, s, queue.Room{Name: "r", AdmitPerMinute: 600, Adaptive: true, AdaptiveP99Ms: 250})
			for range 3000 {
				mustJoin(t, s, "r", "")
			}
			minute := func(want int) {
				t.Helper()
				admitted := 0
				for range 120 { // a decision every 500 ms: the bucket holds 2 s of rate
					clk.Add(500 * time.Millisecond)
					for _, s := range stores {
						a, err := s.Admit(ctx, "r", 1000)
						if err != nil {
							t.Fatal(err)
						}
						admitted += len(a.IDs)
					}
				}
				if admitted < want-1 || admitted > want+1 {
					t.Fatalf("%d instances: admitted %d in a minute, want %d", instances, admitted, want)
				}
			}
			state := func() queue.AdaptiveState {
				t.Helper()
				st, _, err := s.Adaptive(ctx, "r", 0)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
			step := func(rate float64) {
				t.Helper()
				if ok, err := s.StepAdaptive(ctx, "r", state(), rate, "test", time.Second); err != nil || !ok {
					t.Fatalf("step to %v: %v %v", rate, ok, err)
				}
			}

			if st := state(); st.Rate != 60 || st.At.IsZero() {
				t.Fatalf("started at %+v, want 60/min", st)
			}
			minute(60)
			step(300)
			minute(300)
			step(900) // above the organizer's 600: the organizer's rate bounds it
			minute(600)

			// Compare-and-set: a step from a stale reading, or too soon
			// after the last, is not taken.
			stale := state()
			step(420)
			if ok, _ := s.StepAdaptive(ctx, "r", stale, 100, "stale", time.Second); ok {
				t.Fatal("a step from a stale reading was taken")
			}
			if ok, _ := s.StepAdaptive(ctx, "r", state(), 100, "soon", time.Second); ok {
				t.Fatal("a step within the gap was taken")
			}
			if st := state(); st.Rate != 420 || st.Reason != "test" {
				t.Fatalf("state %+v", st)
			}
			minute(420)

			// Off: the organizer's rate alone, and no steps.
			prev, err := s.GetRoom(ctx, "r")
			if err != nil {
				t.Fatal(err)
			}
			off := prev
			off.Adaptive = false
			if err := s.UpdateRoom(ctx, prev, off); err != nil {
				t.Fatal(err)
			}
			if ok, _ := s.StepAdaptive(ctx, "r", state(), 100, "off", time.Second); ok {
				t.Fatal("stepped a room with adaptive admission off")
			}
			minute(600)
			// On again: it starts afresh at a tenth.
			if err := s.UpdateRoom(ctx, off, prev); err != nil {
				t.Fatal(err)
			}
			if st := state(); st.Rate != 60 {
				t.Fatalf("restarted at %+v", st)
			}
			minute(60)

			_, log, err := s.Adaptive(ctx, "r", 100)
			if err != nil {
				t.Fatal(err)
			}
			var got []float64
			for _, d := range log {
				got = append(got, d.To)
			}
			want := []float64{60, 420, 900, 300, 60} // newest first
			if len(got) != len(want) {
				t.Fatalf("decisions %+v", log)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("decisions %+v", log)
				}
			}
			if log[0].From != 600 || !strings.Contains(log[0].Reason, "start") || log[1].From != 900 || log[1].Reason != "test" {
				t.Fatalf("decisions %+v", log)
			}
		})
	}
}

// TestAdaptiveDecisionsAreCapped: the dashboard's list keeps the last 50.
func TestAdaptiveDecisionsAreCapped(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r", AdmitPerMinute: 6000, Adaptive: true, AdaptiveMaxCheckouts: 100})
		for i := range 80 {
			clk.Add(2 * time.Second)
			st, _, err := s.Adaptive(ctx, "r", 0)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := s.StepAdaptive(ctx, "r", st, float64(100+i), "up", time.Second); !ok || err != nil {
				t.Fatalf("step %d: %v %v", i, ok, err)
			}
		}
		_, log, err := s.Adaptive(ctx, "r", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(log) != queue.AdaptiveDecisionsKept || log[0].To != 179 || !log[0].At.Equal(clk.Now()) {
			t.Fatalf("%d decisions, newest %+v", len(log), log[0])
		}
		if err := s.DeleteRoom(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		if st, log, _ := s.Adaptive(ctx, "r", 10); !st.At.IsZero() || len(log) != 0 {
			t.Fatalf("after delete: %+v %v", st, log)
		}
	})
}

// TestRoomStoredBeforeAdaptive: a room stored before adaptive admission
// existed (no adaptive fields in its hash) reads as off and admits at its
// own rate.
func TestRoomStoredBeforeAdaptive(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "old", AdmitPerMinute: 600})
		if err := rdb.HDel(ctx, "cg:{old}:cfg", "adaptive", "ad_checkouts", "ad_p99_ms").Err(); err != nil {
			t.Fatal(err)
		}
		r, err := s.GetRoom(ctx, "old")
		if err != nil || r.Adaptive || r.AdaptiveMaxCheckouts != 0 || r.AdaptiveP99Ms != 0 {
			t.Fatalf("%+v %v", r, err)
		}
		mustJoin(t, s, "old", "")
		clk.Add(time.Second)
		if a, err := s.Admit(ctx, "old", 10); err != nil || len(a.IDs) != 1 {
			t.Fatalf("admit: %+v %v", a, err)
		}
	})
}
