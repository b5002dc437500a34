package queue_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

func withCode(g queue.Gate, code string) queue.Gate {
	g.Code = code
	return g
}

func mustCodes(t *testing.T, s *queue.Store, room string) queue.CodeCounts {
	t.Helper()
	c, err := s.Codes(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAccessCodesAreUsedUpOnePlaceAtATime: in a room that requires a code,
// a join without one or with a wrong one is refused and changes nothing; a
// good code makes places until its uses run out; a caller who holds a place
// needs no code to ask again.
func TestAccessCodesAreUsedUpOnePlaceAtATime(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		s := mustStore(t, rdb, newClock())
		mustRoom(t, s, queue.Room{Name: "r", AccessCodeRequired: true})
		if c, err := s.AddCodes(ctx, "r", []string{"presale-one", "presale-two"}, 2); err != nil || c != (queue.CodeCounts{Codes: 2, UsesLeft: 4}) {
			t.Fatalf("AddCodes = %+v, %v", c, err)
		}
		g := gate("203.0.113.7")
		_, err := s.JoinGated(ctx, "r", "", g)
		if r := refusalOf(t, err); r.Reason != queue.RefusedBadCode || !r.NoCode {
			t.Fatalf("no code: %+v", r)
		}
		_, err = s.JoinGated(ctx, "r", "", withCode(g, "presale-six"))
		if r := refusalOf(t, err); r.Reason != queue.RefusedBadCode || r.NoCode {
			t.Fatalf("wrong code: %+v", r)
		}
		if n := waiting(t, s, "r"); n != 0 {
			t.Fatalf("refused joins made %d places", n)
		}
		p, err := s.JoinGated(ctx, "r", "", withCode(g, "presale-one"))
		if err != nil {
			t.Fatal(err)
		}
		if again, err := s.JoinGated(ctx, "r", p.ID, g); err != nil || again.ID != p.ID {
			t.Fatalf("re-join without a code = %+v, %v", again, err)
		}
		if _, err := s.JoinGated(ctx, "r", "", withCode(g, "presale-one")); err != nil {
			t.Fatal(err)
		}
		_, err = s.JoinGated(ctx, "r", "", withCode(g, "presale-one"))
		if r := refusalOf(t, err); r.Reason != queue.RefusedBadCode {
			t.Fatalf("used-up code: %+v", r)
		}
		if c := mustCodes(t, s, "r"); c != (queue.CodeCounts{Codes: 2, UsesLeft: 2, Used: 2}) {
			t.Fatalf("Codes = %+v", c)
		}
		ref, err := s.Refusals(ctx, "r")
		if err != nil || ref[queue.RefusedBadCode] != 3 {
			t.Fatalf("Refusals = %v, %v", ref, err)
		}
		if c, err := s.ClearCodes(ctx, "r"); err != nil || c != (queue.CodeCounts{Used: 2}) {
			t.Fatalf("ClearCodes = %+v, %v", c, err)
		}
		_, err = s.JoinGated(ctx, "r", "", withCode(g, "presale-two"))
		if r := refusalOf(t, err); r.Reason != queue.RefusedBadCode {
			t.Fatalf("cleared code: %+v", r)
		}
	})
}

// TestAccessCodeRaceGivesEachUseOnce: 50 joins racing for a code good for
// 10 make exactly 10 places.
func TestAccessCodeRaceGivesEachUseOnce(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		s := mustStore(t, rdb, newClock())
		mustRoom(t, s, queue.Room{Name: "r", AccessCodeRequired: true})
		if _, err := s.AddCodes(ctx, "r", []string{"ten-uses-only"}, 10); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		placed, refused := 0, 0
		for range 50 {
			wg.Go(func() {
				// Uncounted address: the wrong-code limit is not what is tested.
				_, err := s.JoinGated(ctx, "r", "", queue.Gate{Code: "ten-uses-only"})
				mu.Lock()
				defer mu.Unlock()
				var r *queue.Refusal
				switch {
				case err == nil:
					placed++
				case errors.As(err, &r) && r.Reason == queue.RefusedBadCode:
					refused++
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if placed != 10 || refused != 40 || waiting(t, s, "r") != 10 {
			t.Fatalf("placed %d, refused %d, waiting %d; want 10, 40, 10", placed, refused, waiting(t, s, "r"))
		}
		if c := mustCodes(t, s, "r"); c != (queue.CodeCounts{Codes: 1, UsesLeft: 0, Used: 10}) {
			t.Fatalf("Codes = %+v", c)
		}
	})
}

// TestAccessCodeGuessingIsRateLimited: after BadCodesPerMinute wrong codes
// an address is refused before its code is looked at, even a good one;
// another address is not.
func TestAccessCodeGuessingIsRateLimited(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		s := mustStore(t, rdb, newClock())
		mustRoom(t, s, queue.Room{Name: "r", AccessCodeRequired: true})
		if _, err := s.AddCodes(ctx, "r", []string{"the-real-code"}, 5); err != nil {
			t.Fatal(err)
		}
		g := gate("198.51.100.9")
		for i := range queue.BadCodesPerMinute {
			_, err := s.JoinGated(ctx, "r", "", withCode(g, "guess-"+strings.Repeat("x", i)))
			if r := refusalOf(t, err); r.Reason != queue.RefusedBadCode {
				t.Fatalf("guess %d: %+v", i, r)
			}
		}
		_, err := s.JoinGated(ctx, "r", "", withCode(g, "the-real-code"))
		if r := refusalOf(t, err); r.Reason != queue.RefusedRateLimited || r.RetryAfter <= 0 {
			t.Fatalf("after %d guesses: %+v", queue.BadCodesPerMinute, r)
		}
		if _, err := s.JoinGated(ctx, "r", "", withCode(gate("198.51.100.10"), "the-real-code")); err != nil {
			t.Fatal(err)
		}
		if c := mustCodes(t, s, "r"); c.Used != 1 {
			t.Fatalf("Codes = %+v", c)
		}
	})
}

func TestAddCodesRefusesBadInput(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		s := mustStore(t, rdb, newClock())
		mustRoom(t, s, queue.Room{Name: "r"})
		for name, tc := range map[string]struct {
			codes []string
			uses  int
		}{
			"none":      {nil, 1},
			"short":     {[]string{"abc"}, 1},
			"space":     {[]string{"abc def"}, 1},
			"no uses":   {[]string{"abcdefg"}, 0},
			"many uses": {[]string{"abcdefg"}, queue.MaxCodeUses + 1},
			"non-ascii": {[]string{"abcdéfg"}, 1},
			"long":      {[]string{strings.Repeat("a", queue.MaxCodeLength+1)}, 1},
		} {
			if _, err := s.AddCodes(ctx, "r", tc.codes, tc.uses); !errors.Is(err, queue.ErrBadCodes) {
				t.Errorf("%s: err = %v, want ErrBadCodes", name, err)
			}
		}
		if _, err := s.AddCodes(ctx, "nope", []string{"abcdefg"}, 1); !errors.Is(err, queue.ErrRoomNotFound) {
			t.Errorf("no room: err = %v", err)
		}
	})
}

// TestAccessCodesOnRedisCluster runs the codes script and the join that
// uses a code on a cluster, for rooms on different nodes: every key the
// join touches shares the room's hash tag.
func TestAccessCodesOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	rdb := queuetest.ClusterClient(t)
	ctx := context.Background()
	s := mustStore(t, rdb, newClock())
	for _, room := range []string{"launch", "final", "semi"} {
		mustRoom(t, s, queue.Room{Name: room, AccessCodeRequired: true})
		if _, err := s.AddCodes(ctx, room, []string{"cluster-code"}, 1); err != nil {
			t.Fatalf("%s: add: %v", room, err)
		}
		g := gate("203.0.113.7")
		if _, err := s.JoinGated(ctx, room, "", withCode(g, "cluster-code")); err != nil {
			t.Fatalf("%s: join: %v", room, err)
		}
		_, err := s.JoinGated(ctx, room, "", withCode(g, "cluster-code"))
		if r := refusalOf(t, err); r.Reason != queue.RefusedBadCode {
			t.Fatalf("%s: used-up code: %+v", room, r)
		}
		if _, err := s.ClearCodes(ctx, room); err != nil {
			t.Fatalf("%s: clear: %v", room, err)
		}
		if err := s.DeleteRoom(ctx, room); err != nil {
			t.Fatalf("%s: delete: %v", room, err)
		}
	}
}
