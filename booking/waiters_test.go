package booking

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/queue"
)

// channelRecorder keeps every notification it is given.
type channelRecorder struct {
	mu   sync.Mutex
	got  []Notification
	name string
}

func (r *channelRecorder) Name() string { return r.name }

func (r *channelRecorder) Deliver(_ context.Context, n Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, n)
	return nil
}

// TestWaitersAreToldTheirTurn: a waiter who left a contact is told once
// that their turn is near and once that it has come, with a link back to
// their place, through the notification channels.
func TestWaitersAreToldTheirTurn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	store, err := queue.NewStore(f.rdb, queue.Config{Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	f.core.cfg.Queue = store
	f.core.cfg.ResumeURL = func(room, id string) string { return "https://tickets.example/rooms/" + room + "?resume=tok-" + id }
	if _, err := store.PutRoom(ctx, queue.Room{Name: "launch", AdmitPerMinute: 1}.WithDefaults()); err != nil {
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
	last := ids[11] // 12th in line: not near at 1/min (near = 10 places)
	if _, err := store.SetNotify(ctx, "launch", last, queue.Contact{Email: "fan@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := f.core.NotifyWaiters(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.rdb.XLen(ctx, keysFor(roomStream("launch")).outbox).Val(); n != 0 {
		t.Fatalf("told 12th in line at 1/min that the turn is near (%d messages)", n)
	}
	if _, err := store.Leave(ctx, "launch", ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Leave(ctx, "launch", ids[1]); err != nil {
		t.Fatal(err)
	}
	for range 3 { // asked again, told once
		if err := f.core.NotifyWaiters(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Admit everyone.
	if _, err := store.PutRoom(ctx, queue.Room{Name: "launch", AdmitPerMinute: 60000}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Second)
	if _, err := store.Admit(ctx, "launch", 100); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := f.core.NotifyWaiters(ctx); err != nil {
			t.Fatal(err)
		}
	}

	rec := &channelRecorder{name: "rec"}
	n, err := NewNotifier(f.rdb, NotifierConfig{Channels: []Channel{rec}, Now: f.clock.Now, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Process(ctx); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, m := range rec.got {
		kinds = append(kinds, m.Kind)
		if m.Room != "launch" || m.Email != "fan@example.com" || !strings.HasSuffix(m.Link, "?resume=tok-"+last) {
			t.Errorf("message %+v", m)
		}
	}
	if strings.Join(kinds, " ") != "queue.near queue.admitted" {
		t.Fatalf("told %v, want near then admitted, once each", kinds)
	}
	if rec.got[0].Position != 10 {
		t.Errorf("near at position %d, want 10", rec.got[0].Position)
	}
	subject, body := notificationText(rec.got[0])
	if !strings.Contains(subject, "turn is near") || !strings.Contains(body, rec.got[0].Link) {
		t.Errorf("email: %q\n%s", subject, body)
	}
}
