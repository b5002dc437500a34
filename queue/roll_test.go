package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

// TestMixedGraceLosesNobody: two instances on one Redis with different
// --grace (a rolling change of CROWDGATE_GRACE) both sweep the line, while
// the live waiters' signs of life reach one instance or the other. Nobody
// alive is dropped; a waiter silent for longer than the longer grace is.
func TestMixedGraceLosesNobody(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		var stores []*queue.Store
		for _, g := range []time.Duration{time.Minute, 2 * time.Minute} {
			s, err := queue.NewStore(rdb, queue.Config{Now: clk.Now, Grace: g})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			stores = append(stores, s)
		}
		a, b := stores[0], stores[1]
		mustRoom(t, a, queue.Room{Name: "r"})
		var live []queue.Place
		for i := range 20 {
			live = append(live, mustJoin(t, stores[i%2], "r", ""))
		}
		silent := mustJoin(t, a, "r", "")

		for step := range 30 { // 5 minutes, a sign of life every 10 s
			clk.Add(10 * time.Second)
			for i, p := range live {
				s := stores[(i+step)%2]
				if i%3 == 0 {
					if err := s.Heartbeat(ctx, "r", []string{p.ID}); err != nil {
						t.Fatal(err)
					}
				} else if _, err := s.Status(ctx, "r", p.ID); err != nil {
					t.Fatalf("step %d: live waiter %s (via instance %d) lost the place: %v", step, p.ID, (i+step)%2, err)
				}
			}
			for _, s := range []*queue.Store{b, a} {
				for {
					_, done, err := s.Sweep(ctx, "r")
					if err != nil {
						t.Fatal(err)
					}
					if done {
						break
					}
				}
			}
		}
		st, err := a.Stats(ctx, "r")
		if err != nil || st.Waiting != 20 || st.AbandonedTotal != 1 {
			t.Fatalf("stats %+v %v: want the 20 live waiters, and the silent one gone", st, err)
		}
		if _, err := a.Status(ctx, "r", silent.ID); !errors.Is(err, queue.ErrNotInLine) {
			t.Fatalf("the silent waiter kept the place: %v", err)
		}
	})
}
