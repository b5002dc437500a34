package queue_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// hookMessage is one entry of a room's hook outbox, as notify reads it.
type hookMessage struct {
	kind, room string
	at         time.Time
	data       queue.HookData
}

// hookMessages reads room's whole hook outbox.
func hookMessages(t *testing.T, rdb redis.UniversalClient, room string) []hookMessage {
	t.Helper()
	_, prefix := queue.HookOutbox(room)
	xs, err := rdb.XRange(context.Background(), prefix+"outbox", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []hookMessage
	for _, x := range xs {
		m := hookMessage{kind: x.Values["kind"].(string), room: x.Values["room"].(string)}
		var ms int64
		if err := json.Unmarshal([]byte(x.Values["at"].(string)), &ms); err != nil {
			t.Fatalf("at of %v: %v", x.Values, err)
		}
		m.at = time.UnixMilli(ms).UTC()
		if err := json.Unmarshal([]byte(x.Values["data"].(string)), &m.data); err != nil {
			t.Fatalf("data of %v: %v", x.Values, err)
		}
		out = append(out, m)
	}
	return out
}

// mustRecord records room's hooks and checks that they are want, and that
// recording again right away finds nothing more.
func mustRecord(t *testing.T, s *queue.Store, room string, want ...string) {
	t.Helper()
	got, err := s.RecordHooks(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("recorded %q, want %q", got, want)
	}
	if again, err := s.RecordHooks(context.Background(), room); err != nil || len(again) != 0 {
		t.Fatalf("recorded again: %q %v", again, err)
	}
}

// change applies f to room's configuration as the admin API's PATCH does.
func change(t *testing.T, s *queue.Store, room string, f func(r *queue.Room)) {
	t.Helper()
	prev, err := s.GetRoom(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	next := prev
	f(&next)
	if err := s.UpdateRoom(context.Background(), prev, next); err != nil {
		t.Fatal(err)
	}
}

// TestRoomHooksTellEachChangeOnce: each change an organizer can see is
// recorded once, whoever made it (the organizer, the booking core, the
// clock), in order, with the room's state after it.
func TestRoomHooksTellEachChangeOnce(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		created := clk.Now()
		opens, sale := created.Add(time.Minute), created.Add(2*time.Minute)
		mustRoom(t, s, queue.Room{Name: "launch", AdmitPerMinute: 60, QueueOpensAt: opens, SaleStartsAt: sale})
		mustRecord(t, s, "launch", queue.HookCreated)

		steps := []struct {
			name string
			do   func()
			want []string
		}{
			{"nothing", func() { clk.Add(time.Second) }, nil},
			{"pause", func() { change(t, s, "launch", func(r *queue.Room) { r.Paused = true }) }, []string{queue.HookPaused}},
			{"resume", func() { change(t, s, "launch", func(r *queue.Room) { r.Paused = false }) }, []string{queue.HookResumed}},
			{"the queue opens", func() { clk.Set(opens) }, []string{queue.HookQueueOpened}},
			{"the sale starts", func() { clk.Set(sale.Add(time.Second)) }, []string{queue.HookSaleStarted}},
			{"a new rate", func() { change(t, s, "launch", func(r *queue.Room) { r.AdmitPerMinute = 120 }) }, []string{queue.HookRateChanged}},
			{"sold out", func() {
				if err := s.CloseSoldOut(ctx, "launch"); err != nil {
					t.Fatal(err)
				}
			}, []string{queue.HookSoldOut}},
			{"on sale again", func() {
				clk.Add(time.Second)
				if ok, err := s.ReopenSoldOut(ctx, "launch", clk.Now()); !ok || err != nil {
					t.Fatalf("reopen: %v %v", ok, err)
				}
			}, []string{queue.HookReopened}},
			{"closed by the organizer", func() { change(t, s, "launch", func(r *queue.Room) { r.Closed = true }) }, []string{queue.HookClosed}},
			{"reopened by the organizer", func() { change(t, s, "launch", func(r *queue.Room) { r.Closed = false }) }, []string{queue.HookReopened}},
			{"two changes at once", func() {
				change(t, s, "launch", func(r *queue.Room) { r.Paused, r.AdmitPerMinute = true, 30 })
			}, []string{queue.HookPaused, queue.HookRateChanged}},
			{"a change undone before anyone looked", func() {
				change(t, s, "launch", func(r *queue.Room) { r.Paused = false })
				change(t, s, "launch", func(r *queue.Room) { r.Paused = true })
			}, nil},
			{"the queue and sale moved to later: no message", func() {
				change(t, s, "launch", func(r *queue.Room) {
					r.QueueOpensAt, r.SaleStartsAt = clk.Now().Add(time.Hour), clk.Now().Add(2*time.Hour)
				})
			}, nil},
			{"and it opens again", func() { clk.Add(time.Hour) }, []string{queue.HookQueueOpened}},
		}
		want := []string{queue.HookCreated}
		for _, st := range steps {
			st.do()
			got, err := s.RecordHooks(ctx, "launch")
			if err != nil || !slices.Equal(got, st.want) {
				t.Fatalf("%s: recorded %q (%v), want %q", st.name, got, err, st.want)
			}
			if again, err := s.RecordHooks(ctx, "launch"); err != nil || len(again) != 0 {
				t.Fatalf("%s: recorded again %q (%v)", st.name, again, err)
			}
			want = append(want, st.want...)
		}

		msgs := hookMessages(t, rdb, "launch")
		var kinds []string
		for i, m := range msgs {
			kinds = append(kinds, m.kind)
			if m.room != "launch" || m.data.Seq != int64(i+1) {
				t.Errorf("message %d: %+v, want room launch, seq %d", i, m, i+1)
			}
		}
		if !slices.Equal(kinds, want) {
			t.Fatalf("outbox %q\nwant   %q", kinds, want)
		}
		first := msgs[0]
		if !first.at.Equal(created) || first.data.State != (queue.HookState{AdmitPerMinute: 60, RatePerMinute: 60}) {
			t.Errorf("room.created: %+v, want at creation, queue not open, sale not started", first)
		}
		if m := msgs[3]; m.data.QueueOpensAt != opens.UnixMilli() || !m.data.State.QueueOpen || m.data.State.SaleStarted {
			t.Errorf("room.queue_opened: %+v", m)
		}
		if m := msgs[5]; m.data.From == nil || *m.data.From != 60 || *m.data.To != 120 || m.data.Source != queue.HookByOrganizer || m.data.State.RatePerMinute != 120 {
			t.Errorf("room.rate_changed: %+v", m)
		}
		if m := msgs[6]; !m.data.State.Closed || m.data.State.ClosedReason != queue.ClosedSoldOut {
			t.Errorf("room.sold_out: %+v", m)
		}
		if m := msgs[8]; !m.data.State.Closed || m.data.State.ClosedReason != "" {
			t.Errorf("room.closed: %+v", m)
		}
		// Both changes of one call carry the state after both.
		if a, b := msgs[10], msgs[11]; a.data.State != b.data.State || !a.data.State.Paused || a.data.State.RatePerMinute != 30 {
			t.Errorf("one call's messages: %+v and %+v", a, b)
		}

		// A deleted room takes its messages along; made again, it is new.
		if err := s.DeleteRoom(ctx, "launch"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.RecordHooks(ctx, "launch"); err != nil || len(got) != 0 {
			t.Fatalf("a deleted room recorded %q (%v)", got, err)
		}
		if msgs := hookMessages(t, rdb, "launch"); len(msgs) != 0 {
			t.Fatalf("a deleted room kept %d messages", len(msgs))
		}
		clk.Add(time.Second)
		mustRoom(t, s, queue.Room{Name: "launch", AdmitPerMinute: 60, Paused: true})
		mustRecord(t, s, "launch", queue.HookCreated)
		if msgs := hookMessages(t, rdb, "launch"); len(msgs) != 1 || msgs[0].data.Seq != 1 || !msgs[0].data.State.Paused || !msgs[0].data.State.QueueOpen {
			t.Fatalf("the room made again: %+v", msgs)
		}
	})
}

// TestRoomHooksFirstSightOfAnOldRoom: hooks turned on in a deployment with
// rooms: those created long ago are recorded without a message, and their
// first change is their first message.
func TestRoomHooksFirstSightOfAnOldRoom(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "old", AdmitPerMinute: 60})
		clk.Add(queue.HookCreatedWithin + time.Second)
		mustRecord(t, s, "old")
		change(t, s, "old", func(r *queue.Room) { r.Paused = true })
		mustRecord(t, s, "old", queue.HookPaused)
		if msgs := hookMessages(t, rdb, "old"); len(msgs) != 1 || msgs[0].data.Seq != 1 {
			t.Fatalf("outbox %+v", msgs)
		}
	})
}

// TestRoomHooksTrafficTrigger: a traffic-triggered room's activation and
// return to quiet are each told once, at the moment the scripts stamped,
// and both are told when they came between two calls.
func TestRoomHooksTrafficTrigger(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r", AdmitPerMinute: 6000, TriggerActiveUsers: 1, SessionSeconds: 60})
		mustRecord(t, s, "r", queue.HookCreated)
		// activate lets one fan in, queues the next (the room activates),
		// then lets both leave, and the line empties: the room is quiet again.
		activate := func() time.Time {
			first := mustJoin(t, s, "r", "")
			clk.Add(time.Second)
			at := clk.Now()
			second := mustJoin(t, s, "r", "")
			if !first.Admitted || second.Admitted {
				t.Fatalf("joins %+v %+v, want the second queued", first, second)
			}
			return at
		}
		quiet := func(ids ...string) time.Time {
			for _, id := range ids {
				if _, err := s.Leave(ctx, "r", id); err != nil {
					t.Fatal(err)
				}
			}
			clk.Add(time.Second)
			if _, err := s.Admit(ctx, "r", 10); err != nil {
				t.Fatal(err)
			}
			return clk.Now()
		}
		activated := activate()
		mustRecord(t, s, "r", queue.HookActivated)
		// The one in line is admitted as the first leaves; once they leave
		// too, the room is quiet.
		quiet("1")
		st, _ := s.Stats(ctx, "r")
		if st.Trigger.State != queue.TriggerQueueing {
			t.Fatalf("state %+v with one fan active", st.Trigger)
		}
		mustRecord(t, s, "r")
		quieted := quiet("2")
		mustRecord(t, s, "r", queue.HookQuiet)

		// Both ways between two calls.
		clk.Add(time.Minute)
		activate()
		again := quiet("3", "4")
		if again == quieted {
			t.Fatal("the clock did not move")
		}
		mustRecord(t, s, "r", queue.HookActivated, queue.HookQuiet)

		msgs := hookMessages(t, rdb, "r")
		if len(msgs) != 5 || !msgs[1].at.Equal(activated) || !msgs[2].at.Equal(quieted) || !msgs[4].at.Equal(again) {
			t.Fatalf("outbox %+v, want activated at %v, quiet at %v, then at %v", msgs, activated, quieted, again)
		}
		if msgs[1].data.State.Trigger != queue.TriggerQueueing || msgs[2].data.State.Trigger != queue.TriggerQuiet {
			t.Errorf("states %+v, %+v", msgs[1].data.State, msgs[2].data.State)
		}
	})
}

// TestRoomHooksAdaptiveRateAtMostOncePerMinute: the adaptive rate's own
// steps are told at most once per HookAdaptiveEvery, each from the rate
// last told; the organizer's change is told at once.
func TestRoomHooksAdaptiveRateAtMostOncePerMinute(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r", AdmitPerMinute: 1000, Adaptive: true, AdaptiveP99Ms: 250})
		mustRecord(t, s, "r", queue.HookCreated)
		step := func(rate float64) {
			t.Helper()
			clk.Add(2 * time.Second)
			st, _, err := s.Adaptive(ctx, "r", 0)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := s.StepAdaptive(ctx, "r", st, rate, "p99 12 ms: room to grow", time.Second); !ok || err != nil {
				t.Fatalf("step to %v: %v %v", rate, ok, err)
			}
		}
		step(200)
		mustRecord(t, s, "r", queue.HookRateChanged)
		step(300)
		mustRecord(t, s, "r")
		step(400)
		mustRecord(t, s, "r")
		clk.Add(queue.HookAdaptiveEvery)
		mustRecord(t, s, "r", queue.HookRateChanged)
		// Back and forth within the minute: nothing to tell.
		step(500)
		step(400)
		clk.Add(queue.HookAdaptiveEvery)
		mustRecord(t, s, "r")
		change(t, s, "r", func(r *queue.Room) { r.AdmitPerMinute = 250 })
		mustRecord(t, s, "r", queue.HookRateChanged)

		msgs := hookMessages(t, rdb, "r")
		type rc struct {
			from, to float64
			source   string
		}
		var got []rc
		for _, m := range msgs[1:] {
			got = append(got, rc{*m.data.From, *m.data.To, m.data.Source})
		}
		want := []rc{{100, 200, queue.HookByAdaptive}, {200, 400, queue.HookByAdaptive}, {400, 250, queue.HookByOrganizer}}
		if !slices.Equal(got, want) {
			t.Fatalf("rate changes %+v, want %+v", got, want)
		}
		if r := msgs[1].data.Reason; r != "p99 12 ms: room to grow" {
			t.Errorf("reason %q", r)
		}
		if st := msgs[3].data.State; st.AdmitPerMinute != 250 || st.RatePerMinute != 250 {
			t.Errorf("state after the organizer's change %+v", st)
		}
	})
}

// TestRoomHooksClockSkew: an instance whose clock lags the one that saw
// the queue open does not take the opening back, nor tell it again.
func TestRoomHooksClockSkew(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ahead, behind := newClock(), newClock()
		opens := ahead.Now().Add(time.Minute)
		sa, sb := mustStore(t, rdb, ahead), mustStore(t, rdb, behind)
		mustRoom(t, sa, queue.Room{Name: "r", AdmitPerMinute: 60, QueueOpensAt: opens})
		mustRecord(t, sa, "r", queue.HookCreated)
		ahead.Set(opens)
		behind.Set(opens.Add(-time.Second))
		mustRecord(t, sa, "r", queue.HookQueueOpened)
		mustRecord(t, sb, "r")
		behind.Set(opens)
		mustRecord(t, sb, "r")
		mustRecord(t, sa, "r")
	})
}

// TestRoomHooksThreeInstancesRecordOnce: three instances recording the
// same room at once append each change once.
func TestRoomHooksThreeInstancesRecordOnce(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		clk := newClock()
		stores := []*queue.Store{mustStore(t, rdb, clk), mustStore(t, rdb, clk), mustStore(t, rdb, clk)}
		mustRoom(t, stores[0], queue.Room{Name: "r", AdmitPerMinute: 60})
		change(t, stores[1], "r", func(r *queue.Room) { r.Paused = true })
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			all []string
		)
		for _, s := range stores {
			wg.Go(func() {
				for range 20 {
					kinds, err := s.RecordHooks(context.Background(), "r")
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					all = append(all, kinds...)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		// The first sight of a new room tells its state, paused: one
		// message in all.
		if !slices.Equal(all, []string{queue.HookCreated}) {
			t.Fatalf("recorded %q", all)
		}
		change(t, stores[2], "r", func(r *queue.Room) { r.Paused = false })
		all = nil
		for _, s := range stores {
			wg.Go(func() {
				kinds, err := s.RecordHooks(context.Background(), "r")
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				all = append(all, kinds...)
				mu.Unlock()
			})
		}
		wg.Wait()
		if !slices.Equal(all, []string{queue.HookResumed}) {
			t.Fatalf("recorded %q", all)
		}
		if msgs := hookMessages(t, rdb, "r"); len(msgs) != 2 || !msgs[0].data.State.Paused {
			t.Fatalf("outbox %+v", msgs)
		}
	})
}

// TestRoomHooksOnRedisCluster: the hooks' script keeps to the room's slot,
// for rooms on every node.
func TestRoomHooksOnRedisCluster(t *testing.T) {
	rdb := queuetest.ClusterClient(t)
	clk := newClock()
	s := mustStore(t, rdb, clk)
	for _, room := range []string{"launch", "final", "semi", "draw"} {
		mustRoom(t, s, queue.Room{Name: room, AdmitPerMinute: 60, TriggerActiveUsers: 10, Adaptive: true, AdaptiveP99Ms: 250})
		mustRecord(t, s, room, queue.HookCreated)
		change(t, s, room, func(r *queue.Room) { r.Paused = true })
		mustRecord(t, s, room, queue.HookPaused)
		if msgs := hookMessages(t, rdb, room); len(msgs) != 2 {
			t.Fatalf("%s: outbox %+v", room, msgs)
		}
		if err := s.DeleteRoom(context.Background(), room); err != nil {
			t.Fatalf("%s: delete: %v", room, err)
		}
	}
}

// TestRoomHooksWriteNothingWhenNothingChanged: the call every instance
// makes once a second per room writes nothing to Redis (nor its AOF and
// replicas) while the room stays as it is.
func TestRoomHooksWriteNothingWhenNothingChanged(t *testing.T) {
	t.Parallel()
	srv := queuetest.Run(t)
	if !srv.Real {
		t.Skip("no redis-server on this machine")
	}
	rdb := srv.Client(t)
	clk := newClock()
	s := mustStore(t, rdb, clk)
	mustRoom(t, s, queue.Room{Name: "r", AdmitPerMinute: 600, TriggerActiveUsers: 1000, Adaptive: true, AdaptiveP99Ms: 250})
	mustRecord(t, s, "r", queue.HookCreated)
	dirty := func() string {
		info, err := rdb.Info(context.Background(), "persistence").Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "rdb_changes_since_last_save:"); ok {
				return v
			}
		}
		t.Fatalf("no rdb_changes_since_last_save in %q", info)
		return ""
	}
	before := dirty()
	for range 10 {
		clk.Add(time.Second)
		mustRecord(t, s, "r")
	}
	if after := dirty(); after != before {
		t.Fatalf("changes since the last save went from %s to %s", before, after)
	}
}

// BenchmarkRecordHooks is the steady state every instance pays once a
// second per room: a room that did not change (a triggered, adaptive
// room, the most reads), against a real redis-server.
func BenchmarkRecordHooks(b *testing.B) {
	srv := queuetest.Run(b)
	if !srv.Real {
		b.Skip("no redis-server on this machine")
	}
	s, err := queue.NewStore(srv.Client(b), queue.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	ctx := context.Background()
	r := queue.Room{Name: "r", AdmitPerMinute: 600, TriggerActiveUsers: 1000, Adaptive: true, AdaptiveP99Ms: 250}
	if _, err := s.PutRoom(ctx, r.WithDefaults()); err != nil {
		b.Fatal(err)
	}
	if _, err := s.RecordHooks(ctx, "r"); err != nil {
		b.Fatal(err)
	}
	rdb := srv.Client(b)
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if kinds, err := s.RecordHooks(ctx, "r"); err != nil || len(kinds) != 0 {
			b.Fatalf("%q %v", kinds, err)
		}
	}
	// The time Redis itself spent, which is what every instance's call
	// costs the one Redis they share; the rest of ns/op is the round trip.
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:"); ok {
			for f := range strings.SplitSeq(rest, ",") {
				if v, ok := strings.CutPrefix(f, "usec_per_call="); ok {
					us, _ := strconv.ParseFloat(v, 64)
					b.ReportMetric(us, "redis-µs/op")
				}
			}
		}
	}
}
