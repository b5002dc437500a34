package queue_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

func asUser(id string) queue.Gate { return queue.Gate{UserID: id} }

func mustJoinAs(t *testing.T, s *queue.Store, room, queueID, user string) queue.Place {
	t.Helper()
	p, err := s.JoinGated(context.Background(), room, queueID, asUser(user))
	if err != nil {
		t.Fatalf("join %s as %q: %v", room, user, err)
	}
	return p
}

// TestOneUserHoldsOnePlace: a user id's second join, from a device with no
// queue token, gets the first place; another user gets their own; a queue
// token of another user's place does not hand it over.
func TestOneUserHoldsOnePlace(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		s := mustStore(t, rdb, newClock())
		mustRoom(t, s, queue.Room{Name: "r"})
		first := mustJoinAs(t, s, "r", "", "alice")
		if first.UserID != "alice" {
			t.Fatalf("place %+v does not name its user", first)
		}
		if again := mustJoinAs(t, s, "r", "", "alice"); again.ID != first.ID {
			t.Fatalf("second device got %s, want %s", again.ID, first.ID)
		}
		bob := mustJoinAs(t, s, "r", first.ID, "bob") // alice's browser, bob's token
		if bob.ID == first.ID || bob.UserID != "bob" {
			t.Fatalf("bob got %+v on alice's queue token", bob)
		}
		if st := mustStatus(t, s, "r", first.ID); st.ID != first.ID {
			t.Fatalf("status %+v", st)
		}
		if waiting(t, s, "r") != 2 {
			t.Fatalf("waiting %d, want 2", waiting(t, s, "r"))
		}
	})
}

// TestAPlaceWithoutAUserIsAdopted: a place made before its fan signed in
// becomes that user's, and their other devices get it.
func TestAPlaceWithoutAUserIsAdopted(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		s := mustStore(t, rdb, newClock())
		mustRoom(t, s, queue.Room{Name: "r"})
		anon := mustJoin(t, s, "r", "")
		if p := mustJoinAs(t, s, "r", anon.ID, "alice"); p.ID != anon.ID || p.UserID != "alice" {
			t.Fatalf("adopted %+v, want %s for alice", p, anon.ID)
		}
		if p := mustJoinAs(t, s, "r", "", "alice"); p.ID != anon.ID {
			t.Fatalf("alice's other device got %s, want %s", p.ID, anon.ID)
		}
	})
}

// TestARequiredTokenGuardsNewPlacesOnly: a room that requires enqueue
// tokens makes no place without one (counted, nothing else changed), and
// still answers a queue token's place.
func TestARequiredTokenGuardsNewPlacesOnly(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		s := mustStore(t, rdb, newClock())
		mustRoom(t, s, queue.Room{Name: "r", EnqueueTokenRequired: true, EnqueueSecret: "0123456789abcdef0123456789abcdef"})
		_, err := s.JoinGated(ctx, "r", "", gate("203.0.113.7"))
		if r := refusalOf(t, err); r.Reason != queue.RefusedBadEnqueueToken {
			t.Fatalf("refusal %+v", r)
		}
		if waiting(t, s, "r") != 0 {
			t.Fatal("a refused join made a place")
		}
		p := mustJoinAs(t, s, "r", "", "alice")
		if again, err := s.JoinGated(ctx, "r", p.ID, queue.Gate{}); err != nil || again.ID != p.ID {
			t.Fatalf("rejoin with the queue token: %+v %v", again, err)
		}
		refused, err := s.Refusals(ctx, "r")
		if err != nil || refused[queue.RefusedBadEnqueueToken] != 1 {
			t.Fatalf("refusals %v %v", refused, err)
		}
	})
}

// TestAUsersPlaceEndsWithThePlace: leaving, being swept and an admission
// that expires each free the user id, whose next join is a new place; and
// the room keeps no user id of a place that ended.
func TestAUsersPlaceEndsWithThePlace(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r", AdmitPerMinute: 60, SessionSeconds: 60})

		left := mustJoinAs(t, s, "r", "", "leaver")
		if _, err := s.Leave(ctx, "r", left.ID); err != nil {
			t.Fatal(err)
		}
		if p := mustJoinAs(t, s, "r", "", "leaver"); p.ID == left.ID {
			t.Fatal("a place given up was handed back")
		}

		admitted := mustJoinAs(t, s, "r", "", "buyer")
		clk.Add(2 * time.Second)
		for range 3 {
			if _, err := s.Admit(ctx, "r", 100); err != nil {
				t.Fatal(err)
			}
		}
		if p := mustJoinAs(t, s, "r", "", "buyer"); p.ID != admitted.ID || !p.Admitted {
			t.Fatalf("second device got %+v, want the admission of %s", p, admitted.ID)
		}
		// An admission's status names its user (the admission token carries it).
		if p := mustStatus(t, s, "r", admitted.ID); p.UserID != "buyer" {
			t.Fatalf("status of the admission %+v, want user buyer", p)
		}
		clk.Add(61 * time.Second)
		if _, err := s.Admit(ctx, "r", 0); err != nil {
			t.Fatal(err)
		}
		if p := mustJoinAs(t, s, "r", "", "buyer"); p.ID == admitted.ID {
			t.Fatal("an expired admission was handed back")
		}

		silent := mustJoinAs(t, s, "r", "", "silent")
		for range 5 {
			clk.Add(40 * time.Second)
			if _, _, err := s.Sweep(ctx, "r"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Status(ctx, "r", silent.ID); err == nil {
			t.Fatal("the silent waiter was not swept")
		}
		// Every place above has ended (all were silent): no user id is left.
		for _, key := range []string{"cg:{r}:users", "cg:{r}:owners"} {
			if n, err := rdb.HLen(ctx, key).Result(); err != nil || n != 0 {
				t.Errorf("%s holds %d entries (%v), want 0", key, n, err)
			}
		}
	})
}

// TestConcurrentDevicesOfOneUserGetOnePlace: joins racing for one user id
// make one place.
func TestConcurrentDevicesOfOneUserGetOnePlace(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		s := mustStore(t, rdb, newClock())
		mustRoom(t, s, queue.Room{Name: "r"})
		racing(t, s, "r")
	})
}

// racing joins one user from 32 goroutines and checks they share a place.
func racing(t *testing.T, s *queue.Store, room string) {
	t.Helper()
	const n = 32
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, err := s.JoinGated(context.Background(), room, "", asUser("racer"))
			ids[i], errs[i] = p.ID, err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("join %d: %s %v, want %s", i, ids[i], errs[i], ids[0])
		}
	}
}

// TestUserPlacesOnRedisCluster runs the user-id scripts on a cluster, for
// rooms on different nodes.
func TestUserPlacesOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	rdb := queuetest.ClusterClient(t)
	ctx := context.Background()
	clk := newClock()
	s := mustStore(t, rdb, clk)
	for _, room := range []string{"launch", "final", "semi"} {
		mustRoom(t, s, queue.Room{Name: room, AdmitPerMinute: 600, EnqueueTokenRequired: true, EnqueueJWKSURL: "https://shop.example/jwks.json"})
		racing(t, s, room)
		p := mustJoinAs(t, s, room, "", "other")
		clk.Add(2 * time.Second)
		if _, err := s.Admit(ctx, room, 1); err != nil {
			t.Fatalf("%s: admit: %v", room, err)
		}
		if _, err := s.Leave(ctx, room, p.ID); err != nil {
			t.Fatalf("%s: leave: %v", room, err)
		}
		for range 5 {
			clk.Add(40 * time.Second)
			if _, _, err := s.Sweep(ctx, room); err != nil {
				t.Fatalf("%s: sweep: %v", room, err)
			}
		}
		if err := s.DeleteRoom(ctx, room); err != nil {
			t.Fatalf("%s: delete: %v", room, err)
		}
	}
}

func mustStatus(t *testing.T, s *queue.Store, room, id string) queue.Place {
	t.Helper()
	p, err := s.Status(context.Background(), room, id)
	if err != nil {
		t.Fatalf("status %s %s: %v", room, id, err)
	}
	return p
}
