package queue_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

// checkPositions compares every tracked position with the truth in Redis.
func checkPositions(t *testing.T, rdb redis.UniversalClient, tr *queue.Tracker, room string, ids []string) {
	t.Helper()
	ctx := context.Background()
	if err := tr.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		score, err := tr.Score(id)
		if err != nil {
			t.Fatal(err)
		}
		want := int64(0)
		if r, err := rdb.ZRank(ctx, "cg:{"+room+"}:q", id).Result(); err == nil {
			want = r + 1
		}
		if got := tr.Position(score); got != want {
			t.Fatalf("id %s (score %d): tracked position %d, true position %d (head %d)", id, score, got, want, tr.Head())
		}
	}
}

// TestTrackerFollowsTheLine: joins, leaves, admissions and sweeps in random
// order; after every Sync each tracked position equals ZRANK + 1. Two
// trackers: one from the start, one started late (rebuild from the line).
func TestTrackerFollowsTheLine(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r", AdmitPerMinute: 600})
		early := s.NewTracker("r")
		if err := early.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		var ids []string
		var late *queue.Tracker
		for step := range 300 {
			switch op := rng.IntN(10); {
			case op < 5:
				ids = append(ids, mustJoin(t, s, "r", "").ID)
			case op < 7 && len(ids) > 0:
				if _, err := s.Leave(ctx, "r", ids[rng.IntN(len(ids))]); err != nil {
					t.Fatal(err)
				}
			case op < 9:
				clk.Add(time.Duration(rng.IntN(500)) * time.Millisecond)
				if _, err := s.Admit(ctx, "r", 1000); err != nil {
					t.Fatal(err)
				}
			default:
				// Keep a random half alive, then sweep two epochs later.
				var alive []string
				for _, id := range ids {
					if rng.IntN(2) == 0 {
						alive = append(alive, id)
					}
				}
				for range 4 {
					clk.Add(30 * time.Second)
					if err := s.Heartbeat(ctx, "r", alive); err != nil {
						t.Fatal(err)
					}
				}
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
			if step == 150 {
				late = s.NewTracker("r")
			}
			checkPositions(t, rdb, early, "r", ids)
			if late != nil {
				checkPositions(t, rdb, late, "r", ids)
			}
		}
	})
}

// TestTrackerRebuildsAfterTrim: a tracker that falls behind a trimmed log
// notices the gap and rebuilds, and stays exact.
func TestTrackerRebuildsAfterTrim(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s, err := queue.NewStore(rdb, queue.Config{Now: clk.Now, LogLength: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		mustRoom(t, s, queue.Room{Name: "r"})
		var ids []string
		for range 50 {
			ids = append(ids, mustJoin(t, s, "r", "").ID)
		}
		tr := s.NewTracker("r")
		checkPositions(t, rdb, tr, "r", ids)
		before := tr.Resets()
		for i := 0; i < 40; i += 3 {
			if _, err := s.Leave(ctx, "r", ids[i]); err != nil {
				t.Fatal(err)
			}
		}
		// Force trimming on the real server (MAXLEN ~ trims whole nodes only).
		_ = rdb.XTrimMaxLen(ctx, "cg:{r}:log", 1).Err()
		if err := tr.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		checkPositions(t, rdb, tr, "r", ids)
		if tr.Resets() == before {
			t.Fatal("the tracker never rebuilt after missing trimmed entries")
		}
	})
}

// TestTrackerPassthroughJoins: numbers taken by passthrough joins never
// join the line and must not count as people ahead once the room queues
// again.
func TestTrackerPassthroughJoins(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		room := queue.Room{Name: "r", Passthrough: true}.WithDefaults()
		mustRoom(t, s, room)
		tr := s.NewTracker("r")
		if err := tr.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			mustJoin(t, s, "r", "")
		}
		queued := room
		queued.Passthrough = false
		if err := s.UpdateRoom(ctx, room, queued); err != nil {
			t.Fatal(err)
		}
		p := mustJoin(t, s, "r", "")
		checkPositions(t, rdb, tr, "r", []string{p.ID})
		score, _ := queue.Score(p.ID)
		if got := tr.Position(score); got != 1 {
			t.Fatalf("first waiter after passthrough: position %d", got)
		}
	})
}
