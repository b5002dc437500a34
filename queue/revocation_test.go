package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

// TestARevocationIsKeptUntilItsTokenExpires: a released admission is
// recorded with its own expiry and admission time, kept while the room's
// session_seconds goes down and up, and pruned once it has expired (plus
// the slack for clocks), not before.
func TestARevocationIsKeptUntilItsTokenExpires(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		room := queue.Room{Name: "r", Passthrough: true, SessionSeconds: 600}.WithDefaults()
		mustRoom(t, s, room)
		setSession := func(secs int) {
			t.Helper()
			prev, err := s.GetRoom(ctx, "r")
			if err != nil {
				t.Fatal(err)
			}
			next := prev
			next.SessionSeconds = secs
			if err := s.UpdateRoom(ctx, prev, next); err != nil {
				t.Fatal(err)
			}
		}
		release := func(id string) queue.Revocation {
			t.Helper()
			rev, ended, err := s.Release(ctx, "r", id)
			if err != nil || !ended {
				t.Fatalf("release %s: ended=%v %v", id, ended, err)
			}
			return rev
		}

		a := mustJoin(t, s, "r", "")
		clk.Add(time.Second)
		rev := release(a.ID)
		want := queue.Revocation{Room: "r", ID: a.ID, AdmittedAt: a.AdmittedAt, Expires: a.Expires}
		if rev != want {
			t.Fatalf("release: %+v, want %+v", rev, want)
		}
		if _, ended, err := s.Release(ctx, "r", a.ID); err != nil || ended {
			t.Fatalf("releasing twice: ended=%v %v", ended, err)
		}
		revoked := func(known int) ([]queue.Revocation, bool) {
			t.Helper()
			revs, read, err := s.Revoked(ctx, "r", known)
			if err != nil {
				t.Fatal(err)
			}
			return revs, read
		}
		if revs, read := revoked(0); !read || len(revs) != 1 || revs[0] != want {
			t.Fatalf("revoked: %+v (read %v), want [%+v]", revs, read, want)
		}
		if revs, read := revoked(1); read || revs != nil {
			t.Fatalf("revoked, holding all: %+v (read %v), want nothing read", revs, read)
		}

		// Shorter sessions, and a release under them that prunes the set:
		// a's revocation stays, a later poll still finds it.
		setSession(1)
		clk.Add(10 * time.Second)
		b := mustJoin(t, s, "r", "")
		release(b.ID)
		setSession(600)
		if revs, _ := revoked(0); len(revs) != 2 || revs[0].ID != a.ID && revs[1].ID != a.ID {
			t.Fatalf("after session_seconds went down and up: %+v, want a's revocation kept", revs)
		}

		// Past b's expiry: only a is counted; past a's expiry and the slack,
		// the next release prunes it from the store.
		clk.Add(2 * time.Second)
		if revs, _ := revoked(0); len(revs) != 1 || revs[0].ID != a.ID {
			t.Fatalf("after b expired: %+v", revs)
		}
		clk.Set(a.Expires)
		if revs, read := revoked(0); read || len(revs) != 0 {
			t.Fatalf("at a's expiry: %+v, want none", revs)
		}
		clk.Add(2 * time.Minute)
		c := mustJoin(t, s, "r", "")
		release(c.ID)
		if n := rdb.ZCard(ctx, "cg:{r}:rev").Val(); n != 1 {
			t.Fatalf("the store keeps %d revocations, want only c's", n)
		}
	})
}

// TestRevocationsAreAnnouncedWithTheirExpiry: every instance hears an ended
// admission with what it needs to hold it until it expires.
func TestRevocationsAreAnnouncedWithTheirExpiry(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r", Passthrough: true, SessionSeconds: 60})
		heard := make(chan queue.Revocation, 1)
		done := make(chan error, 1)
		go func() { done <- s.WatchRevocations(ctx, func(r queue.Revocation) { heard <- r }) }()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if n := rdb.PubSubNumSub(ctx, queue.RevocationChannel).Val()[queue.RevocationChannel]; n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("not subscribed within 10 s")
			}
		}
		a := mustJoin(t, s, "r", "")
		if _, err := s.Leave(ctx, "r", a.ID); err != nil {
			t.Fatal(err)
		}
		want := queue.Revocation{Room: "r", ID: a.ID, AdmittedAt: a.AdmittedAt, Expires: a.Expires}
		select {
		case got := <-heard:
			if got != want {
				t.Fatalf("heard %+v, want %+v", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no announcement within 10 s")
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("WatchRevocations: %v", err)
		}
	})
}
