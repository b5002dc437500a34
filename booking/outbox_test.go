package booking

import (
	"context"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/notify"
)

// TestOutboxesAreDelivered: Outboxes lists every event's outbox, and the
// waiters' outboxes an instance older than notify wrote, so that a rolling
// upgrade loses none of their messages; a Notifier given it as its Source
// delivers both, with the fields the scripts wrote.
func TestOutboxesAreDelivered(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.event(t, 10, 2)
	h, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 1))
	if err != nil {
		t.Fatal(err)
	}
	o, err := f.core.Checkout(ctx, CheckoutRequest{HoldID: h.ID, Visitor: "a", Provider: "fake", Email: "fan@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	hd, body := f.pay.webhook(t, "evt-1", WebhookSucceeded, o.Payment.ID, f.clock.Now())
	if _, err := f.core.Webhook(ctx, "fake", hd, body); err != nil {
		t.Fatal(err)
	}
	// What an older instance wrote for a waiter.
	if err := f.rdb.SAdd(ctx, legacyWaiterStreamsKey, "room.launch").Err(); err != nil {
		t.Fatal(err)
	}
	if err := f.rdb.XAdd(ctx, &redis.XAddArgs{Stream: "cgb:{ev:room.launch}:outbox", Values: []any{
		"kind", "queue.near", "room", "launch", "position", "3", "phone", "+919800000000", "at", "1773500966000",
	}}).Err(); err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		got = map[string]notify.Message{}
	)
	rec := notifyFunc(func(m notify.Message) {
		mu.Lock()
		defer mu.Unlock()
		got[m.Kind] = m
	})
	n, err := notify.New(f.rdb, notify.Config{Channels: []notify.Channel{rec}, Sources: []notify.Source{f.core.Outboxes}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Process(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("delivered %v, want order.paid and the old waiter's queue.near", got)
	}
	for kind, m := range got {
		switch {
		case kind == "queue.near" && m.Stream == "room.launch" && m.Room == "launch" && m.Position == 3:
		case kind == "order.paid" && m.Stream == "gig" && m.Event == "gig" && m.Order == o.ID && m.Hold == h.ID && m.Email == "fan@example.com":
		default:
			t.Errorf("%s: %+v", kind, m)
		}
	}
}
