package queue_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

func triggerState(t *testing.T, s *queue.Store, room string) string {
	t.Helper()
	st, err := s.Stats(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	return st.Trigger.State
}

// TestTriggeredRoomQueuesOnlyWhenBusy: a quiet room admits on arrival up to
// its active-users threshold; the join that finds it reached queues and
// turns the room to queueing; the line moves as active users leave, never
// above the threshold; once the line is empty and the active users are
// under the low watermark, the room is quiet again.
func TestTriggeredRoomQueuesOnlyWhenBusy(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r", AdmitPerMinute: 6000, TriggerActiveUsers: 5, SessionSeconds: 60})
		if st := triggerState(t, s, "r"); st != queue.TriggerQuiet {
			t.Fatalf("a new room is %s", st)
		}
		var admitted []string
		for i := range 5 {
			p := mustJoin(t, s, "r", "")
			if !p.Admitted {
				t.Fatalf("join %d of a quiet room: %+v, want admitted on arrival", i, p)
			}
			admitted = append(admitted, p.ID)
		}
		p := mustJoin(t, s, "r", "")
		if p.Admitted || p.Position != 1 {
			t.Fatalf("the join at the threshold: %+v, want the first place in line", p)
		}
		st, _ := s.Stats(ctx, "r")
		if st.Trigger.State != queue.TriggerQueueing || !st.Trigger.Since.Equal(clk.Now()) {
			t.Fatalf("state %+v, want queueing since now", st.Trigger)
		}
		// Queueing: admitted as active users leave, never above 5.
		clk.Add(time.Second)
		if a, err := s.Admit(ctx, "r", 1000); err != nil || len(a.IDs) != 0 {
			t.Fatalf("admitted %v (%v) at the threshold", a.IDs, err)
		}
		if _, _, err := s.Release(ctx, "r", admitted[0]); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)
		if a, err := s.Admit(ctx, "r", 1000); err != nil || len(a.IDs) != 1 || a.IDs[0] != p.ID {
			t.Fatalf("admitted %v (%v), want the waiter once a slot freed", a.IDs, err)
		}
		if st := triggerState(t, s, "r"); st != queue.TriggerQueueing {
			t.Fatalf("at 5 active users: %s, want queueing until under 80%%", st)
		}
		// Under the low watermark (80% of 5: 3 active) with nobody in line.
		for _, id := range admitted[1:3] {
			if _, _, err := s.Release(ctx, "r", id); err != nil {
				t.Fatal(err)
			}
		}
		clk.Add(time.Second)
		if _, err := s.Admit(ctx, "r", 1000); err != nil {
			t.Fatal(err)
		}
		if st := triggerState(t, s, "r"); st != queue.TriggerQuiet {
			t.Fatalf("line empty, 3 of 5 active: %s, want quiet", st)
		}
		if p := mustJoin(t, s, "r", ""); !p.Admitted {
			t.Fatalf("a quiet room again: %+v, want admitted on arrival", p)
		}
	})
}

// TestTriggeredRoomNewUsersThreshold: new users per minute are a threshold
// of their own, and a paused room queues whatever its traffic.
func TestTriggeredRoomNewUsersThreshold(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r", AdmitPerMinute: 60, TriggerNewPerMinute: 4, SessionSeconds: 60})
		for i := range 4 {
			if p := mustJoin(t, s, "r", ""); !p.Admitted {
				t.Fatalf("new user %d of 4 a minute: %+v", i, p)
			}
		}
		if p := mustJoin(t, s, "r", ""); p.Admitted {
			t.Fatalf("the fifth new user in a minute: %+v, want queued", p)
		}
		mustRoom(t, s, queue.Room{Name: "p", AdmitPerMinute: 60, TriggerActiveUsers: 100, Paused: true})
		if p := mustJoin(t, s, "p", ""); p.Admitted || triggerState(t, s, "p") != queue.TriggerQueueing {
			t.Fatalf("a paused quiet room: %+v", p)
		}
	})
}

// TestTriggeredRoomNeverOvershoots: joins racing into a quiet room admit
// exactly the threshold, whichever instance runs them.
func TestTriggeredRoomNeverOvershoots(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r", AdmitPerMinute: 6000, TriggerActiveUsers: 50, SessionSeconds: 60})
		var mu sync.Mutex
		admitted := 0
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 25 {
					p, err := s.Join(ctx, "r", "")
					if err != nil {
						t.Error(err)
						return
					}
					if p.Admitted {
						mu.Lock()
						admitted++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		st, err := s.Stats(ctx, "r")
		if err != nil || admitted != 50 || st.Active != 50 || st.Waiting != 150 {
			t.Fatalf("admitted %d, stats %+v (%v): want 50 active, 150 waiting", admitted, st, err)
		}
	})
}

// TestSlidingSessions: in a room with session_max_seconds an admission is
// renewed on activity up to the maximum; elsewhere renewing changes nothing;
// an ended admission cannot be renewed.
func TestSlidingSessions(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "slide", Passthrough: true, SessionSeconds: 60, SessionMaxSeconds: 120})
		mustRoom(t, s, queue.Room{Name: "fixed", Passthrough: true, SessionSeconds: 60})
		t0 := clk.Now()
		p := mustJoin(t, s, "slide", "")
		f := mustJoin(t, s, "fixed", "")
		clk.Add(40 * time.Second)
		exp, at, err := s.Renew(ctx, "slide", p.ID)
		if err != nil || !exp.Equal(t0.Add(100*time.Second)) || !at.Equal(t0) {
			t.Fatalf("renewed at 40 s: expires %v, admitted %v (%v)", exp.Sub(t0), at.Sub(t0), err)
		}
		if exp, _, err := s.Renew(ctx, "fixed", f.ID); err != nil || !exp.Equal(t0.Add(time.Minute)) {
			t.Fatalf("fixed session renewed: %v %v", exp.Sub(t0), err)
		}
		clk.Add(50 * time.Second)
		if exp, _, err = s.Renew(ctx, "slide", p.ID); err != nil || !exp.Equal(t0.Add(120*time.Second)) {
			t.Fatalf("renewed at 90 s: expires %v (%v), want the 120 s maximum", exp.Sub(t0), err)
		}
		if again := mustJoin(t, s, "slide", p.ID); !again.Expires.Equal(exp) {
			t.Fatalf("the place's expiry %v, want the renewed %v", again.Expires.Sub(t0), exp.Sub(t0))
		}
		clk.Add(31 * time.Second)
		if _, _, err := s.Renew(ctx, "slide", p.ID); !errors.Is(err, queue.ErrNotInLine) {
			t.Fatalf("renewing an ended admission: %v", err)
		}
	})
}

// TestTriggerSettingsThatContradict: thresholds and sessions that cannot
// work together are refused.
func TestTriggerSettingsThatContradict(t *testing.T) {
	for _, r := range []queue.Room{
		{Name: "x", AdmitPerMinute: 60, TriggerActiveUsers: -1},
		{Name: "x", AdmitPerMinute: 60, TriggerNewPerMinute: -1},
		{Name: "x", AdmitPerMinute: 60, TriggerActiveUsers: 10, TriggerLowPercent: 5},
		{Name: "x", AdmitPerMinute: 60, TriggerActiveUsers: 10, TriggerLowPercent: 101},
		{Name: "x", AdmitPerMinute: 60, TriggerLowPercent: 50},
		{Name: "x", AdmitPerMinute: 60, TriggerActiveUsers: 10, Passthrough: true},
		{Name: "x", TriggerActiveUsers: 10},
		{Name: "x", AdmitPerMinute: 60, TriggerActiveUsers: 10, MaxActive: 5},
		{Name: "x", AdmitPerMinute: 60, TriggerActiveUsers: 10, Mode: queue.ModeRandomPrequeue, SaleStartsAt: time.Now()},
		{Name: "x", SessionSeconds: 600, SessionMaxSeconds: 300},
		{Name: "x", SessionSeconds: 600, SessionMaxSeconds: queue.MaxSessionMaxSeconds + 1},
	} {
		if err := r.WithDefaults().Validate(); !errors.Is(err, queue.ErrInvalidRoom) {
			t.Errorf("%+v: %v, want refused", r, err)
		}
	}
	ok := queue.Room{Name: "x", AdmitPerMinute: 60, TriggerActiveUsers: 10, MaxActive: 10, SessionSeconds: 60, SessionMaxSeconds: 600}.WithDefaults()
	if err := ok.Validate(); err != nil || ok.TriggerLowPercent != queue.DefaultTriggerLowPercent {
		t.Errorf("%+v: %v", ok, err)
	}
}

// TestPassOnly: a join that asks to pass only is admitted by a quiet room,
// and makes nothing in a room that would queue it (which then queues).
func TestPassOnly(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r", AdmitPerMinute: 60, TriggerActiveUsers: 1, SessionSeconds: 60})
		if p, err := s.JoinGated(ctx, "r", "", queue.Gate{PassOnly: true}); err != nil || !p.Admitted {
			t.Fatalf("pass only, quiet: %+v %v", p, err)
		}
		if _, err := s.JoinGated(ctx, "r", "", queue.Gate{PassOnly: true}); !errors.Is(err, queue.ErrQueueing) {
			t.Fatalf("pass only, at the threshold: %v", err)
		}
		st, err := s.Stats(ctx, "r")
		if err != nil || st.Waiting != 0 || st.Active != 1 || st.Trigger.State != queue.TriggerQueueing {
			t.Fatalf("after a refused pass: %+v %v", st, err)
		}
	})
}
