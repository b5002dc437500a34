package admission_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
	"github.com/redis/go-redis/v9"
)

// TestWaitersAreToldTheirTurn: a waiter who left a contact is sent a
// confirmation and nothing else until they confirm; then they are told
// once that their turn is near and once that it has come, with a link that
// brings them back to their place, through notify's channels.
func TestWaitersAreToldTheirTurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := queuetest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	ctl, store, keys, rdb := newNotifier(t, clock)
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
	token := keys.QueueToken("launch", last)
	if err := ctl.AskToNotify(ctx, "launch", token, queue.Contact{Email: "fan@example.com"}); err != nil {
		t.Fatal(err)
	}
	outbox := notify.Named("waiters.launch").Outbox()
	if err := admission.NotifyWaiters(ctl, ctx); err != nil {
		t.Fatal(err)
	}
	if n := rdb.XLen(ctx, outbox).Val(); n != 1 {
		t.Fatalf("%d messages, want only the confirmation", n)
	}
	for _, id := range ids[:2] {
		if _, err := store.Leave(ctx, "launch", id); err != nil {
			t.Fatal(err)
		}
	}
	// Near now, but unconfirmed: still nothing.
	if err := admission.NotifyWaiters(ctl, ctx); err != nil {
		t.Fatal(err)
	}
	msgs, err := rdb.XRange(ctx, outbox, "-", "+").Result()
	if err != nil || len(msgs) != 1 || msgs[0].Values["kind"] != "contact.confirm" {
		t.Fatalf("before confirming: %v %v", msgs, err)
	}
	link, _ := msgs[0].Values["link"].(string)
	_, code, ok := strings.Cut(link, "&confirm=")
	if !ok || !strings.HasPrefix(link, "https://tickets.example/rooms/launch#resume="+token) {
		t.Fatalf("confirmation link %q", link)
	}
	if _, err := ctl.ConfirmNotify(ctx, "launch", token, code+"x"); !errors.Is(err, queue.ErrBadConfirmation) {
		t.Fatalf("a wrong code: %v", err)
	}
	if _, err := ctl.ConfirmNotify(ctx, "launch", token, code); err != nil {
		t.Fatal(err)
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
		token, _, _ := strings.Cut(m.Link, "&")
		token, ok := strings.CutPrefix(token, "https://tickets.example/rooms/launch#resume=")
		if !ok || m.Room != "launch" || m.Stream != "waiters.launch" || m.Email != "fan@example.com" {
			t.Errorf("message %+v", m)
			continue
		}
		if id, err := keys.ParseQueueToken("launch", token); err != nil || id != last {
			t.Errorf("link's token names %q (%v), want the waiter %q", id, err, last)
		}
	}
	if strings.Join(kinds, " ") != "contact.confirm queue.near queue.admitted" {
		t.Fatalf("told %v, want the confirmation, then near and admitted, once each", kinds)
	}
	if got[1].Position != 10 {
		t.Errorf("near at position %d, want 10", got[1].Position)
	}
}

// TestAskToNotifyRefusals: a phone number of a country not allowed, a
// closed room, a forged token and a spent budget are refused, and nothing
// is sent.
func TestAskToNotifyRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ctl, store, keys, rdb := newNotifier(t, queuetest.NewClock(time.Now()))
	if _, _, err := ctl.PutRoom(ctx, queue.Room{Name: "r", AdmitPerMinute: 0}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	p, err := store.Join(ctx, "r", "")
	if err != nil {
		t.Fatal(err)
	}
	token := keys.QueueToken("r", p.ID)
	if err := ctl.AskToNotify(ctx, "r", token, queue.Contact{Phone: "+15550100"}); !errors.Is(err, queue.ErrInvalidContact) {
		t.Errorf("a US number with +91 and +44 allowed: %v", err)
	}
	if err := ctl.AskToNotify(ctx, "r", "1.AAAAAAAAAAAAAAAAAAAAAA", queue.Contact{Email: "a@example.com"}); !errors.Is(err, admission.ErrQueueToken) {
		t.Errorf("a forged token: %v", err)
	}
	// The budget of a room admitting nobody is 100 an hour.
	if ok, err := store.TakeNotifyBudget(ctx, "r", 100, 100); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := ctl.AskToNotify(ctx, "r", token, queue.Contact{Phone: "+447700900123"}); crowdgate.KindOf(err) != crowdgate.RateLimited {
		t.Errorf("over the budget: %v", err)
	}
	if _, err := ctl.UpdateRoom(ctx, "r", func(r queue.Room) queue.Room { r.Closed = true; return r }); err != nil {
		t.Fatal(err)
	}
	if err := ctl.AskToNotify(ctx, "r", token, queue.Contact{Email: "a@example.com"}); crowdgate.KindOf(err) != crowdgate.RoomClosed {
		t.Errorf("a closed room: %v", err)
	}
	if n := rdb.XLen(ctx, notify.Named("waiters.r").Outbox()).Val(); n != 0 {
		t.Errorf("%d messages sent", n)
	}
}

// TestRefusedAsksSpendNoBudget: only a confirmation that goes out counts
// against the room's budget; asks refused for a contact another place
// holds do not drain it, and an ask the budget refuses leaves no contact
// behind.
func TestRefusedAsksSpendNoBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ctl, store, keys, _ := newNotifier(t, queuetest.NewClock(time.Now()))
	if _, _, err := ctl.PutRoom(ctx, queue.Room{Name: "r", AdmitPerMinute: 0}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for range 3 {
		p, err := store.Join(ctx, "r", "")
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, keys.QueueToken("r", p.ID))
	}
	if err := ctl.AskToNotify(ctx, "r", tokens[0], queue.Contact{Email: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := ctl.AskToNotify(ctx, "r", tokens[1], queue.Contact{Email: "a@example.com"}); !errors.Is(err, queue.ErrContactTaken) {
			t.Fatalf("a contact another place holds: %v", err)
		}
	}
	// One confirmation went out: 99 of the 100 an hour are left.
	if ok, err := store.TakeNotifyBudget(ctx, "r", 99, 100); err != nil || !ok {
		t.Fatalf("the refusals spent budget: %v %v", ok, err)
	}
	if err := ctl.AskToNotify(ctx, "r", tokens[2], queue.Contact{Email: "c@example.com"}); crowdgate.KindOf(err) != crowdgate.RateLimited {
		t.Fatalf("over the budget: %v", err)
	}
	ws, err := store.NotifyWaiters(ctx, "r")
	if err != nil || len(ws) != 1 || ws[0].Email != "a@example.com" {
		t.Fatalf("after the refusals: %+v %v, want only the first contact", ws, err)
	}
}

// newNotifier is a Controller (its loops not running) that tells waiters
// through notify, on clock, with phone numbers of +91 and +44.
func newNotifier(t *testing.T, clock *queuetest.Clock) (*admission.Controller, *queue.Store, *admission.Keyring, redis.UniversalClient) {
	t.Helper()
	rdb := queuetest.Run(t).Client(t)
	store, err := queue.NewStore(rdb, queue.Config{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	keys, err := admission.NewKeyring(context.Background(), store, admission.KeyringConfig{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := admission.NewController(store, keys, admission.Config{
		Now: clock.Now, Notify: notify.NewOutbox(rdb), PhoneCodes: []string{"+91", "+44"},
		ResumeURL: func(room, token string) string { return "https://tickets.example/rooms/" + room + "#resume=" + token },
	})
	if err != nil {
		t.Fatal(err)
	}
	return ctl, store, keys, rdb
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
