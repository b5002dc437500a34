package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// TestOnRedisCluster runs every kind of room script on a three-master
// Redis Cluster, for rooms on different nodes: a node refuses any script
// that reaches a key outside its room's slot.
func TestOnRedisCluster(t *testing.T) {
	rdb := queuetest.ClusterClient(t)
	ctx := context.Background()
	clk := newClock()
	s := mustStore(t, rdb, clk)
	for _, room := range []string{"launch", "final", "semi", "draw"} {
		r := queue.Room{Name: room, AdmitPerMinute: 600, Adaptive: true, AdaptiveP99Ms: 250}
		if room == "draw" {
			r = queue.Room{Name: room, AdmitPerMinute: 600, Mode: queue.ModeRandomPrequeue, QueueOpensAt: clk.Now(), SaleStartsAt: clk.Now().Add(time.Minute)}
		}
		mustRoom(t, s, r)
		if room == "draw" {
			if _, err := s.Draw(ctx, room); err != nil { // commits to a seed
				t.Fatal(err)
			}
		}
		var ids []string
		for range 20 {
			ids = append(ids, mustJoin(t, s, room, "").ID)
		}
		tr := s.NewTracker(room)
		if err := tr.Sync(ctx); err != nil {
			t.Fatalf("%s: tracker: %v", room, err)
		}
		if err := s.Heartbeat(ctx, room, ids[:10]); err != nil {
			t.Fatalf("%s: heartbeat: %v", room, err)
		}
		if _, err := s.Leave(ctx, room, ids[3]); err != nil {
			t.Fatalf("%s: leave: %v", room, err)
		}
		if err := s.SetNotify(ctx, room, ids[5], queue.Contact{Email: "fan@example.com"}, "code"); err != nil {
			t.Fatalf("%s: notify: %v", room, err)
		}
		if _, err := s.ConfirmNotify(ctx, room, ids[5], "code"); err != nil {
			t.Fatalf("%s: confirm: %v", room, err)
		}
		if ok, err := s.TakeNotifyBudget(ctx, room, 1, 10); err != nil || !ok {
			t.Fatalf("%s: budget: %v %v", room, ok, err)
		}
		if room == "draw" {
			clk.Add(time.Minute)
			if res, err := s.Draw(ctx, room); err != nil || !res.Done {
				t.Fatalf("draw: %+v %v", res, err)
			}
		} else {
			st, _, err := s.Adaptive(ctx, room, 10)
			if err != nil {
				t.Fatalf("%s: adaptive: %v", room, err)
			}
			if _, err := s.StepAdaptive(ctx, room, st, 120, "test", time.Second); err != nil {
				t.Fatalf("%s: step: %v", room, err)
			}
			if rs, err := s.ShareOrigin(ctx, room, "i1", queue.OriginReading{Answers: 1}, time.Minute); err != nil || len(rs) != 1 {
				t.Fatalf("%s: origin reading: %v %v", room, rs, err)
			}
		}
		clk.Add(2 * time.Second)
		if a, err := s.Admit(ctx, room, 100); err != nil || len(a.IDs) == 0 {
			t.Fatalf("%s: admit: %+v %v", room, a, err)
		}
		for range 5 {
			clk.Add(40 * time.Second)
			if _, _, err := s.Sweep(ctx, room); err != nil {
				t.Fatalf("%s: sweep: %v", room, err)
			}
		}
		if err := tr.Sync(ctx); err != nil {
			t.Fatalf("%s: tracker after: %v", room, err)
		}
		if err := s.RecordHistory(ctx, room, queue.HistorySample{At: clk.Now(), Waiting: 1}); err != nil {
			t.Fatalf("%s: history: %v", room, err)
		}
		if err := s.CloseSoldOut(ctx, room); err != nil {
			t.Fatalf("%s: close: %v", room, err)
		}
		if _, err := s.PutPageTemplate(ctx, room, "{{.WaitingRoom}}"); err != nil {
			t.Fatalf("%s: page template: %v", room, err)
		}
		if text, err := s.PageTemplate(ctx, room); err != nil || text != "{{.WaitingRoom}}" {
			t.Fatalf("%s: read the page template: %q %v", room, text, err)
		}
		if err := s.DeleteRoom(ctx, room); err != nil {
			t.Fatalf("%s: delete: %v", room, err)
		}
	}

	// A traffic-triggered room with sliding sessions, on its own slot: the
	// quiet room's joins are admissions, which renew.
	mustRoom(t, s, queue.Room{Name: "quiet", AdmitPerMinute: 600, SessionSeconds: 60, SessionMaxSeconds: 600, TriggerActiveUsers: 1000})
	p := mustJoin(t, s, "quiet", "")
	if !p.Admitted {
		t.Fatalf("a quiet room queued its first visitor: %+v", p)
	}
	clk.Add(30 * time.Second)
	if expires, _, err := s.Renew(ctx, "quiet", p.ID); err != nil || !expires.After(p.Expires) {
		t.Fatalf("renew: %v %v (was %v)", expires, err, p.Expires)
	}
}
