package queue_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// clock is a hand-driven time source shared by a test and its Store.
type clock = queuetest.Clock

func newClock() *clock { return queuetest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) }

// backends runs fn against a real redis-server and against the embedded
// store, side by side, so the scripts are proven on both.
func backends(t *testing.T, fn func(t *testing.T, rdb redis.UniversalClient)) {
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		srv := queuetest.Run(t)
		if !srv.Real {
			t.Skip("no redis-server on this machine")
		}
		fn(t, srv.Client(t))
	})
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		m := miniredis.RunT(t)
		c := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { _ = c.Close() })
		fn(t, c)
	})
}

func mustStore(t *testing.T, rdb redis.UniversalClient, clk *clock) *queue.Store {
	t.Helper()
	s, err := queue.NewStore(rdb, queue.Config{Now: clk.Now, Grace: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func mustRoom(t *testing.T, s *queue.Store, r queue.Room) {
	t.Helper()
	if _, err := s.PutRoom(context.Background(), r.WithDefaults()); err != nil {
		t.Fatal(err)
	}
}

func mustJoin(t *testing.T, s *queue.Store, room, id string) queue.Place {
	t.Helper()
	p, err := s.Join(context.Background(), room, id)
	if err != nil {
		t.Fatalf("join %s %q: %v", room, id, err)
	}
	return p
}

func TestJoinIsIdempotentAndFIFO(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "launch"})

		var ids []string
		for i := 1; i <= 5; i++ {
			p := mustJoin(t, s, "launch", "")
			if p.Position != int64(i) {
				t.Fatalf("join %d: position %d", i, p.Position)
			}
			ids = append(ids, p.ID)
		}
		again := mustJoin(t, s, "launch", ids[2])
		if again.ID != ids[2] || again.Position != 3 {
			t.Fatalf("rejoin: got %+v, want same place 3", again)
		}
		st, err := s.Stats(ctx, "launch")
		if err != nil || st.Waiting != 5 {
			t.Fatalf("stats %+v %v: want 5 waiting", st, err)
		}
		if ended, err := s.Leave(ctx, "launch", ids[1]); err != nil || ended {
			t.Fatalf("leave a waiter: ended=%v %v", ended, err)
		}
		p, err := s.Status(ctx, "launch", ids[4])
		if err != nil || p.Position != 4 {
			t.Fatalf("after a leave ahead: %+v %v, want position 4", p, err)
		}
		if _, err := s.Status(ctx, "launch", ids[1]); !errors.Is(err, queue.ErrNotInLine) {
			t.Fatalf("status after leave: %v, want ErrNotInLine", err)
		}
		// A token whose place is gone gets a new place at the end, never the old one.
		if p := mustJoin(t, s, "launch", ids[1]); p.ID == ids[1] || p.Position != 5 {
			t.Fatalf("rejoin after leave: %+v", p)
		}
	})
}

func TestErrors(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		if _, err := s.Join(ctx, "nope", ""); !errors.Is(err, queue.ErrRoomNotFound) {
			t.Fatalf("join missing room: %v", err)
		}
		if _, err := s.GetRoom(ctx, "nope"); !errors.Is(err, queue.ErrRoomNotFound) {
			t.Fatalf("get missing room: %v", err)
		}
		if err := s.DeleteRoom(ctx, "nope"); !errors.Is(err, queue.ErrRoomNotFound) {
			t.Fatalf("delete missing room: %v", err)
		}
		mustRoom(t, s, queue.Room{Name: "later", QueueOpensAt: clk.Now().Add(time.Hour)})
		if _, err := s.Join(ctx, "later", ""); !errors.Is(err, queue.ErrNotOpen) {
			t.Fatalf("join before opening: %v", err)
		}
		mustRoom(t, s, queue.Room{Name: "over", Closed: true})
		if _, err := s.Join(ctx, "over", ""); !errors.Is(err, queue.ErrClosed) {
			t.Fatalf("join closed: %v", err)
		}
		for _, r := range []queue.Room{
			{Name: "x", AdmitPerMinute: -1},
			{Name: "x", MaxActive: -5},
			{Name: "x", SessionSeconds: -1},
			{Name: "x", Mode: "lottery"},
			{Name: "x", QueueOpensAt: clk.Now().Add(time.Hour), SaleStartsAt: clk.Now()},
		} {
			if _, err := s.PutRoom(ctx, r.WithDefaults()); !errors.Is(err, queue.ErrInvalidRoom) {
				t.Errorf("put %+v: %v, want ErrInvalidRoom", r, err)
			}
		}
		if _, err := s.GetRoom(ctx, "x"); !errors.Is(err, queue.ErrRoomNotFound) {
			t.Fatalf("an invalid room was stored: %v", err)
		}
	})
}

// TestAdmitRate drives the admission tick every 100 ms of fake time for a
// minute and counts: the room's rate must hold exactly, spread over the
// minute, and the same whether one or three instances tick.
func TestAdmitRate(t *testing.T) {
	t.Parallel()
	for _, instances := range []int{1, 3} {
		backends(t, func(t *testing.T, rdb redis.UniversalClient) {
			ctx := context.Background()
			clk := newClock()
			stores := make([]*queue.Store, instances)
			for i := range stores {
				stores[i] = mustStore(t, rdb, clk)
			}
			mustRoom(t, stores[0], queue.Room{Name: "r", AdmitPerMinute: 600})
			for range 2000 {
				mustJoin(t, stores[0], "r", "")
			}
			admitted := 0
			perSecond := map[int]int{}
			for tick := range 600 { // 60 s
				clk.Add(100 * time.Millisecond)
				for _, s := range stores {
					a, err := s.Admit(ctx, "r", 1000)
					if err != nil {
						t.Fatal(err)
					}
					admitted += len(a.IDs)
					perSecond[tick/10] += len(a.IDs)
				}
			}
			if admitted < 599 || admitted > 600 {
				t.Fatalf("%d instances: admitted %d in 60 s at 600/min", instances, admitted)
			}
			for sec, n := range perSecond {
				if n < 9 || n > 11 {
					t.Fatalf("second %d admitted %d, want ~10: not smooth", sec, n)
				}
			}
			st, err := stores[0].Stats(ctx, "r")
			if err != nil {
				t.Fatal(err)
			}
			if st.AdmittedTotal != int64(admitted) || st.Waiting != int64(2000-admitted) || st.Active != int64(admitted) {
				t.Fatalf("stats %+v after %d admitted", st, admitted)
			}
			if st.AdmittedLastMinute < 590 || st.AdmittedLastMinute > 600 {
				t.Fatalf("observed rate %d, want ~600", st.AdmittedLastMinute)
			}
		})
	}
}

func TestAdmitRespectsControls(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		room := queue.Room{Name: "r", AdmitPerMinute: 6000, MaxActive: 3, SessionSeconds: 60}.WithDefaults()
		mustRoom(t, s, room)
		var ids []string
		for range 10 {
			ids = append(ids, mustJoin(t, s, "r", "").ID)
		}
		tick := func() []string {
			t.Helper()
			clk.Add(time.Second)
			a, err := s.Admit(ctx, "r", 1000)
			if err != nil {
				t.Fatal(err)
			}
			return a.IDs
		}
		if got := tick(); len(got) != 3 || got[0] != ids[0] || got[2] != ids[2] {
			t.Fatalf("max_active 3: admitted %v", got)
		}
		if got := tick(); len(got) != 0 {
			t.Fatalf("at max_active: admitted %v", got)
		}
		p, err := s.Status(ctx, "r", ids[0])
		if err != nil || !p.Admitted {
			t.Fatalf("admitted status: %+v %v", p, err)
		}
		again := mustJoin(t, s, "r", ids[0])
		if !again.Admitted || !again.Expires.Equal(p.Expires) || !again.AdmittedAt.Equal(p.AdmittedAt) {
			t.Fatalf("second ask: %+v, want the same admission %+v", again, p)
		}
		// Releasing one admission frees one slot.
		if ended, err := s.Leave(ctx, "r", ids[0]); err != nil || !ended {
			t.Fatalf("release an admission: ended=%v %v", ended, err)
		}
		// The release is a revocation, announced and recorded.
		revoked, _, err := s.Revoked(ctx, "r", 0)
		if err != nil || len(revoked) != 1 || revoked[0].ID != ids[0] {
			t.Fatalf("revoked %v %v", revoked, err)
		}
		if got := tick(); len(got) != 1 || got[0] != ids[3] {
			t.Fatalf("after release: admitted %v", got)
		}
		// Sessions expire and free their slots.
		clk.Add(61 * time.Second)
		if got := tick(); len(got) != 3 {
			t.Fatalf("after expiry: admitted %v", got)
		}
		if _, err := s.Status(ctx, "r", ids[1]); !errors.Is(err, queue.ErrNotInLine) {
			t.Fatalf("expired admission: %v", err)
		}

		paused := room
		paused.Paused, paused.MaxActive = true, 0
		if err := s.UpdateRoom(ctx, room, paused); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if got := tick(); len(got) != 0 {
				t.Fatalf("paused: admitted %v", got)
			}
		}
		// Resuming is no burst: nothing accrued while paused.
		if err := s.UpdateRoom(ctx, paused, room); err != nil {
			t.Fatal(err)
		}
		clk.Add(10 * time.Millisecond)
		if a, _ := s.Admit(ctx, "r", 1000); len(a.IDs) > 1 {
			t.Fatalf("resume burst: %v", a.IDs)
		}

		pass := room
		pass.Passthrough, pass.MaxActive = true, 0
		if err := s.UpdateRoom(ctx, room, pass); err != nil {
			t.Fatal(err)
		}
		tick()
		if st, _ := s.Stats(ctx, "r"); st.Waiting != 0 {
			t.Fatalf("passthrough left %d waiting", st.Waiting)
		}
		if p := mustJoin(t, s, "r", ""); !p.Admitted {
			t.Fatalf("passthrough join: %+v", p)
		}

		closed := pass
		closed.Passthrough, closed.Closed = false, true
		if err := s.UpdateRoom(ctx, pass, closed); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Join(ctx, "r", ""); !errors.Is(err, queue.ErrClosed) {
			t.Fatalf("join closed: %v", err)
		}
	})
}

func TestScheduledSale(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r", AdmitPerMinute: 6000, SaleStartsAt: clk.Now().Add(10 * time.Second)})
		mustJoin(t, s, "r", "")
		clk.Add(5 * time.Second)
		if a, _ := s.Admit(ctx, "r", 100); len(a.IDs) != 0 {
			t.Fatalf("admitted before the sale: %v", a.IDs)
		}
		clk.Add(6 * time.Second)
		if a, _ := s.Admit(ctx, "r", 100); len(a.IDs) != 1 {
			t.Fatalf("after the sale starts: %v", a.IDs)
		}
	})
}

// TestSweepDropsSilentWaiters: a waiter who shows no sign of life for the
// grace period loses the place; one who keeps asking keeps it.
func TestSweepDropsSilentWaiters(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r"})
		silent := mustJoin(t, s, "r", "")
		live := mustJoin(t, s, "r", "")
		ws := mustJoin(t, s, "r", "")
		sweep := func() int {
			t.Helper()
			total := 0
			for {
				n, done, err := s.Sweep(ctx, "r")
				if err != nil {
					t.Fatal(err)
				}
				total += n
				if done {
					return total
				}
			}
		}
		for range 10 { // 100 s: past the 60-90 s window in which a silent waiter goes
			clk.Add(10 * time.Second)
			if _, err := s.Status(ctx, "r", live.ID); err != nil {
				t.Fatal(err)
			}
			if err := s.Heartbeat(ctx, "r", []string{ws.ID}); err != nil {
				t.Fatal(err)
			}
			sweep()
		}
		if _, err := s.Status(ctx, "r", silent.ID); !errors.Is(err, queue.ErrNotInLine) {
			t.Fatalf("silent waiter kept the place: %v", err)
		}
		p, err := s.Status(ctx, "r", live.ID)
		if err != nil || p.Position != 1 {
			t.Fatalf("live waiter: %+v %v", p, err)
		}
		if p, err := s.Status(ctx, "r", ws.ID); err != nil || p.Position != 2 {
			t.Fatalf("heartbeat waiter: %+v %v", p, err)
		}
		st, _ := s.Stats(ctx, "r")
		if st.AbandonedTotal != 1 || st.Waiting != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// TestSweepIsStepped: a line longer than one step is swept over several
// calls and every silent waiter is dropped exactly once.
func TestSweepIsStepped(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s, err := queue.NewStore(rdb, queue.Config{Now: clk.Now, Grace: time.Minute, SweepStep: 7})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		mustRoom(t, s, queue.Room{Name: "r"})
		for range 50 {
			mustJoin(t, s, "r", "")
		}
		clk.Add(2 * time.Minute)
		dropped, calls := 0, 0
		for {
			n, done, err := s.Sweep(ctx, "r")
			if err != nil {
				t.Fatal(err)
			}
			dropped += n
			calls++
			if done {
				break
			}
		}
		if dropped != 50 || calls < 8 {
			t.Fatalf("dropped %d in %d calls", dropped, calls)
		}
		if n, done, _ := s.Sweep(ctx, "r"); n != 0 || !done {
			t.Fatalf("second sweep in the same epoch: %d %v", n, done)
		}
	})
}

func TestDeleteRoomNeverReusesIDs(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r"})
		old := mustJoin(t, s, "r", "")
		if err := s.DeleteRoom(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		if rooms, _ := s.ListRooms(ctx); len(rooms) != 0 {
			t.Fatalf("rooms after delete: %v", rooms)
		}
		mustRoom(t, s, queue.Room{Name: "r"})
		if p := mustJoin(t, s, "r", ""); p.ID == old.ID {
			t.Fatalf("recreated room reused queue id %s", p.ID)
		}
		if _, err := s.Status(ctx, "r", old.ID); !errors.Is(err, queue.ErrNotInLine) {
			t.Fatalf("old id in the new room: %v", err)
		}
	})
}

func TestRoomRoundTrip(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		want := queue.Room{
			Name: "launch", AdmitPerMinute: 900, MaxActive: 50, SessionSeconds: 600,
			QueueOpensAt: clk.Now().Add(time.Hour), SaleStartsAt: clk.Now().Add(2 * time.Hour),
			Mode: queue.ModeRandomPrequeue, Paused: true, FailOpen: true,
			Challenge: queue.ChallengeAlways, ChallengeBits: 20, AddressJoinsPerMinute: 50, AddressLivePlaces: 9,
			Title: "Launch <b>", Message: "नमस्ते", PrimaryColor: "#112233", BackgroundColor: "#fafafa", Language: "hi",
			EnqueueSecret: strings.Repeat("n", 32), EnqueuePreviousSecret: strings.Repeat("p", 32), EnqueuePreviousSecretUntil: clk.Now().Add(time.Hour),
		}
		created, err := s.PutRoom(ctx, want)
		if err != nil || !created {
			t.Fatalf("put: %v %v", created, err)
		}
		if created, _ := s.PutRoom(ctx, want); created {
			t.Fatal("second put reported created")
		}
		got, err := s.GetRoom(ctx, "launch")
		if err != nil {
			t.Fatal(err)
		}
		got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}
		if got != want {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
		// Concurrent edits of different fields both survive.
		a, b := got, got
		a.AdmitPerMinute = 1200
		b.Paused = false
		if err := s.UpdateRoom(ctx, got, a); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateRoom(ctx, got, b); err != nil {
			t.Fatal(err)
		}
		got, _ = s.GetRoom(ctx, "launch")
		if got.AdmitPerMinute != 1200 || got.Paused {
			t.Fatalf("after two patches: %+v", got)
		}
		if err := s.UpdateRoom(ctx, queue.Room{Name: "nope"}.WithDefaults(), queue.Room{Name: "nope", AdmitPerMinute: 5}.WithDefaults()); !errors.Is(err, queue.ErrRoomNotFound) {
			t.Fatalf("patch missing room: %v", err)
		}
	})
}

func TestKeyring(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		s := mustStore(t, rdb, newClock())
		if doc, err := s.GetKeyring(ctx); err != nil || doc != nil {
			t.Fatalf("empty: %q %v", doc, err)
		}
		got, err := s.PutKeyringIfAbsent(ctx, []byte("one"))
		if err != nil || string(got) != "one" {
			t.Fatalf("first put: %q %v", got, err)
		}
		if got, _ := s.PutKeyringIfAbsent(ctx, []byte("two")); string(got) != "one" {
			t.Fatalf("second put won: %q", got)
		}
		if err := s.SwapKeyring(ctx, []byte("stale"), []byte("three")); !errors.Is(err, queue.ErrConflict) {
			t.Fatalf("stale swap: %v", err)
		}
		if err := s.SwapKeyring(ctx, []byte("one"), []byte("three")); err != nil {
			t.Fatal(err)
		}
		if doc, _ := s.GetKeyring(ctx); string(doc) != "three" {
			t.Fatalf("after swap: %q", doc)
		}
	})
}

// TestConcurrentJoins: a surge of simultaneous joins (pipelined together)
// gives every caller exactly one place, and the places are 1..N.
func TestConcurrentJoins(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		s := mustStore(t, rdb, newClock())
		mustRoom(t, s, queue.Room{Name: "r"})
		const n = 500
		places := make([]queue.Place, n)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := s.Join(ctx, "r", "")
				if err != nil {
					errs <- err
				}
				places[i] = p
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		ids, positions := map[string]bool{}, map[int64]bool{}
		for _, p := range places {
			ids[p.ID], positions[p.Position] = true, true
		}
		if len(ids) != n || len(positions) != n {
			t.Fatalf("%d joins gave %d ids and %d positions", n, len(ids), len(positions))
		}
		for i := int64(1); i <= n; i++ {
			if !positions[i] {
				t.Fatalf("position %d missing", i)
			}
		}
		// After a SCRIPT FLUSH (or a failover) the scripts load again.
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Skipf("SCRIPT FLUSH: %v", err)
		}
		if p := mustJoin(t, s, "r", ""); p.Position != n+1 {
			t.Fatalf("after SCRIPT FLUSH: %+v", p)
		}
	})
}
