package booking

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// TestOnRedisCluster runs a sale's whole path on a three-master Redis
// Cluster: every script must reach only keys of its event's (or room's)
// slot, or a node refuses it, and the workers must find every event and
// outbox across the nodes.
func TestOnRedisCluster(t *testing.T) {
	rdb := queuetest.ClusterClient(t)
	ctx := context.Background()
	clock := newClock()
	pay := newFakeProvider()
	store, err := queue.NewStore(rdb, queue.Config{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	core, err := NewCore(rdb, Config{Providers: []Provider{pay}, Now: clock.Now, SoldOut: store.CloseSoldOut})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{core: core, clock: clock, pay: pay}
	if _, err := store.PutRoom(ctx, queue.Room{Name: "launch", AdmitPerMinute: 60}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	// Events whose ids hash to different slots, so different nodes.
	for _, ev := range []string{"gig", "final", "semi"} {
		if _, err := core.PutEvent(ctx, Event{ID: ev, Room: "launch", HoldSeconds: 60, TicketTypes: []TicketType{
			{ID: "ga", Name: "General", Capacity: 3, PriceMinor: 100, Currency: "INR", PerOrderLimit: 2},
		}}); err != nil {
			t.Fatalf("put %s: %v", ev, err)
		}
		req := f.holdReq("a", 2)
		req.Event, req.IdempotencyKey = ev, "k1"
		h, _, err := core.PlaceHold(ctx, req)
		if err != nil {
			t.Fatalf("hold on %s: %v", ev, err)
		}
		if _, replay, err := core.PlaceHold(ctx, req); err != nil || !replay {
			t.Fatalf("replay on %s: %v %v", ev, replay, err)
		}
		o, err := core.Checkout(ctx, CheckoutRequest{HoldID: h.ID, Visitor: "a", Provider: "fake", Email: "fan@example.com"})
		if err != nil {
			t.Fatalf("checkout on %s: %v", ev, err)
		}
		hd, body := pay.webhook(t, "evt-"+ev, WebhookSucceeded, o.Payment.ID, clock.Now())
		if what, err := core.Webhook(ctx, "fake", hd, body); err != nil || what != "paid" {
			t.Fatalf("webhook on %s: %q %v", ev, what, err)
		}
		// The buyer's count lives in the event's slot: a bought the
		// per-admission limit (the per-order limit, 2) and may buy no more.
		more := f.holdReq("a", 1)
		more.Event = ev
		if _, _, err := core.PlaceHold(ctx, more); !errors.Is(err, ErrLimitReached) {
			t.Fatalf("hold past the limit on %s: %v", ev, err)
		}
		other := f.holdReq("b", 1)
		other.Event = ev
		if _, _, err := core.PlaceHold(ctx, other); err != nil {
			t.Fatalf("second hold on %s: %v", ev, err)
		}
	}
	clock.Add(2 * time.Minute) // the second holds expire
	if err := core.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if err := core.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{"gig", "final", "semi"} {
		a, err := core.Audit(ctx, ev)
		if err != nil || len(a.Problems) > 0 || a.Orders[StatusPaid] != 1 || a.Holds["expired"] != 1 {
			t.Fatalf("audit %s: %+v %v", ev, a, err)
		}
	}
	if left, ok := core.Tickets("launch"); !ok || left.Available != 3 || left.Held != 0 {
		t.Fatalf("tickets left behind the room: %+v %v", left, ok)
	}

	// The notifier finds every event's outbox across the nodes.
	var (
		mu    sync.Mutex
		kinds = map[string]int{}
	)
	rec := notifyFunc(func(m notify.Message) {
		mu.Lock()
		defer mu.Unlock()
		kinds[m.Kind]++
	})
	n, err := notify.New(rdb, notify.Config{Channels: []notify.Channel{rec}, Sources: []notify.Source{core.Outboxes}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Process(ctx); err != nil {
		t.Fatal(err)
	}
	if kinds["order.paid"] != 3 {
		t.Fatalf("delivered %v, want 3 order.paid", kinds)
	}
}
