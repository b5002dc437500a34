package admission_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// TestWaitersAreToldTheirTurn: a waiter who left a contact is told once
// that their turn is near and once that it has come, with a link that
// brings them back to their place, through notify's channels.
func TestWaitersAreToldTheirTurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := queuetest.Run(t).Client(t)
	clock := queuetest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	store, err := queue.NewStore(rdb, queue.Config{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	keys, err := admission.NewKeyring(ctx, store, admission.KeyringConfig{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := admission.NewController(store, keys, admission.Config{
		Now: clock.Now, Notify: notify.NewOutbox(rdb),
		ResumeURL: func(room, token string) string { return "https://tickets.example/rooms/" + room + "#resume=" + token },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ctl.PutRoom(ctx, queue.Room{Name: "launch", AdmitPerMinute: 1}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 12 {
		p, err := store.Join(ctx, "launch", "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	last := ids[11] // 12th in line at 1/min: 12 minutes away, not near
	if _, err := store.SetNotify(ctx, "launch", last, queue.Contact{Email: "fan@example.com"}); err != nil {
		t.Fatal(err)
	}
	outbox := notify.Named("waiters.launch").Outbox()
	if err := admission.NotifyWaiters(ctl, ctx); err != nil {
		t.Fatal(err)
	}
	if n := rdb.XLen(ctx, outbox).Val(); n != 0 {
		t.Fatalf("told the 12th in line at 1/min that the turn is near (%d messages)", n)
	}
	for _, id := range ids[:2] {
		if _, err := store.Leave(ctx, "launch", id); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 { // asked again, told once
		if err := admission.NotifyWaiters(ctl, ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Admit everyone.
	if _, err := ctl.UpdateRoom(ctx, "launch", func(r queue.Room) queue.Room { r.AdmitPerMinute = 60000; return r }); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Second)
	if _, err := store.Admit(ctx, "launch", 100); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := admission.NotifyWaiters(ctl, ctx); err != nil {
			t.Fatal(err)
		}
	}

	var got []notify.Message // Concurrency 1 and one pass: no race
	rec := recorder{name: "rec", got: &got}
	n, err := notify.New(rdb, notify.Config{Channels: []notify.Channel{rec}, Now: clock.Now, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Process(ctx); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, m := range got {
		kinds = append(kinds, m.Kind)
		token, ok := strings.CutPrefix(m.Link, "https://tickets.example/rooms/launch#resume=")
		if !ok || m.Room != "launch" || m.Stream != "waiters.launch" || m.Email != "fan@example.com" {
			t.Errorf("message %+v", m)
			continue
		}
		if id, err := keys.ParseQueueToken("launch", token); err != nil || id != last {
			t.Errorf("link's token names %q (%v), want the waiter %q", id, err, last)
		}
	}
	if strings.Join(kinds, " ") != "queue.near queue.admitted" {
		t.Fatalf("told %v, want near then admitted, once each", kinds)
	}
	if got[0].Position != 10 {
		t.Errorf("near at position %d, want 10", got[0].Position)
	}
}

// recorder keeps every message it is given.
type recorder struct {
	name string
	got  *[]notify.Message
}

func (r recorder) Name() string { return r.name }

func (r recorder) Deliver(_ context.Context, m notify.Message) error {
	*r.got = append(*r.got, m)
	return nil
}

// TestTurnNear: near is the next ten places, or an expected wait of at
// most three minutes at the room's rate, and only while the room admits.
func TestTurnNear(t *testing.T) {
	t.Parallel()
	ctl, _, _ := newController(t)
	now := time.Now()
	open := queue.Room{Name: "r", AdmitPerMinute: 10}.WithDefaults()
	paused := open
	paused.Paused = true
	for _, tc := range []struct {
		room     queue.Room
		position int64
		want     bool
	}{
		{open, 1, true},
		{open, 10, true},
		{open, 30, true},  // 3 min at 10/min
		{open, 31, false}, // just over
		{paused, 1, false},
	} {
		if got := admission.TurnNear(ctl, tc.room, tc.position, now); got != tc.want {
			t.Errorf("paused=%v position %d: near %v, want %v", tc.room.Paused, tc.position, got, tc.want)
		}
	}
}
