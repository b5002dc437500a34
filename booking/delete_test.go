package booking

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// eventKeysLeft lists the keys under an event's hash tag, on every node.
func eventKeysLeft(t testing.TB, rdb redis.UniversalClient, event string) []string {
	t.Helper()
	ctx := context.Background()
	var (
		mu   sync.Mutex
		left []string
	)
	scan := func(ctx context.Context, c *redis.Client) error {
		keys, err := c.Keys(ctx, keysFor(event).prefix+"*").Result()
		mu.Lock()
		left = append(left, keys...)
		mu.Unlock()
		return err
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	default:
		t.Fatalf("client %T", rdb)
	}
	if err != nil {
		t.Fatal(err)
	}
	return left
}

// TestDeletingAnEventRemovesEverything: an event whose holds ended and
// whose only order failed is deleted with every key of it; it, its holds
// and its order are not found afterwards, and the id starts afresh.
func TestDeletingAnEventRemovesEverything(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 10, 4)
	ctx := context.Background()
	if _, err := f.core.PutEvent(ctx, Event{ID: "other", Room: "launch", TicketTypes: []TicketType{
		{ID: "ga", Name: "General", Capacity: 5, PriceMinor: 100, Currency: "INR", PerOrderLimit: 2},
	}}); err != nil {
		t.Fatal(err)
	}
	req := f.holdReq("a", 2)
	req.IdempotencyKey = "click-1"
	released, _, err := f.core.PlaceHold(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.core.Release(ctx, released.ID, "a"); err != nil {
		t.Fatal(err)
	}
	o := f.checkout(t, "b", 1)
	if what, err := f.deliver(t, "evt_failed", WebhookFailed, o); err != nil || what != "failed" {
		t.Fatalf("failed payment: %q %v", what, err)
	}
	if err := f.core.Release(ctx, o.HoldID, "b"); err != nil {
		t.Fatal(err)
	}
	otherReq := f.holdReq("a", 1)
	otherReq.Event = "other"
	kept, _, err := f.core.PlaceHold(ctx, otherReq)
	if err != nil {
		t.Fatal(err)
	}
	otherKeys := len(eventKeysLeft(t, f.rdb, "other"))

	if err := f.core.DeleteEvent(ctx, "gig"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := f.core.Event(ctx, "gig"); !errors.Is(err, ErrEventNotFound) {
		t.Fatalf("event after delete: %v", err)
	}
	if _, err := f.core.EventRoom(ctx, "gig"); !errors.Is(err, ErrEventNotFound) {
		t.Fatalf("event room after delete: %v", err)
	}
	if evs, err := f.core.Events(ctx); err != nil || len(evs) != 1 || evs[0].ID != "other" {
		t.Fatalf("events after delete: %+v %v", evs, err)
	}
	if _, err := f.core.Hold(ctx, released.ID, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("hold after delete: %v", err)
	}
	if _, err := f.core.Order(ctx, o.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("order after delete: %v", err)
	}
	if left := eventKeysLeft(t, f.rdb, "gig"); len(left) > 0 {
		t.Fatalf("keys left: %v", left)
	}
	for _, k := range []string{indexKey("hold", released.ID), indexKey("hold", o.HoldID), indexKey("order", o.ID), indexKey("pay", o.Payment.ID)} {
		if n, err := f.rdb.Exists(ctx, k).Result(); err != nil || n != 0 {
			t.Errorf("index entry %s left: %d %v", k, n, err)
		}
	}
	if ids, err := f.rdb.SMembers(ctx, eventsKey).Result(); err != nil || strings.Join(ids, ",") != "other" {
		t.Fatalf("listed events: %v %v", ids, err)
	}
	if _, _, err := f.core.PlaceHold(ctx, req); !errors.Is(err, ErrEventNotFound) {
		t.Fatalf("a hold on the deleted event, with an old idempotency key: %v", err)
	}
	if err := f.core.DeleteEvent(ctx, "gig"); !errors.Is(err, ErrEventNotFound) {
		t.Fatalf("delete again: %v", err)
	}
	for _, bad := range []string{"", "Gig", "gig/../other", strings.Repeat("x", 65)} {
		if err := f.core.DeleteEvent(ctx, bad); !errors.Is(err, ErrEventNotFound) {
			t.Errorf("delete %q: %v", bad, err)
		}
	}

	// The other event did not notice.
	if n := len(eventKeysLeft(t, f.rdb, "other")); n != otherKeys {
		t.Fatalf("the other event has %d keys, had %d", n, otherKeys)
	}
	if h, err := f.core.Hold(ctx, kept.ID, ""); err != nil || h.State != "active" {
		t.Fatalf("the other event's hold: %+v %v", h, err)
	}

	// The id starts afresh: created, an empty log, no replay of the old key.
	if created, err := f.core.PutEvent(ctx, Event{ID: "gig", Room: "launch", TicketTypes: []TicketType{
		{ID: "ga", Name: "General", Capacity: 10, PriceMinor: 150000, Currency: "INR", PerOrderLimit: 4},
	}}); err != nil || !created {
		t.Fatalf("create again: %v %v", created, err)
	}
	if log, err := f.core.Log(ctx, "gig", "", 100); err != nil || len(log) != 1 || log[0].What != "event.created" {
		t.Fatalf("log of the new event: %+v %v", log, err)
	}
	if h, replay, err := f.core.PlaceHold(ctx, req); err != nil || replay || h.ID == released.ID {
		t.Fatalf("hold on the new event: %+v %v %v", h, replay, err)
	}
	f.balanced(t)
}

// TestAnEventThatOwesIsNotDeleted: a paid order, a live hold, a payment
// that may still land, a refund not yet confirmed: each keeps the event,
// which is left exactly as it was.
func TestAnEventThatOwesIsNotDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, f *fixture)
		want  EventInUseError
		says  string
	}{
		{"a paid order", func(t *testing.T, f *fixture) {
			if what, err := f.deliver(t, "evt_1", WebhookSucceeded, f.checkout(t, "a", 2)); err != nil || what != "paid" {
				t.Fatalf("pay: %q %v", what, err)
			}
		}, EventInUseError{PaidOrders: 1, Sold: 2}, "1 paid order (2 tickets sold)"},
		{"a live hold", func(t *testing.T, f *fixture) {
			if _, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 3)); err != nil {
				t.Fatal(err)
			}
		}, EventInUseError{LiveHolds: 1, Held: 3}, "1 live hold (3 tickets held)"},
		{"a payment that may still land", func(t *testing.T, f *fixture) {
			f.checkout(t, "a", 1)
			f.clock.Add(11 * time.Minute) // the hold expires, the order with it
			if err := f.core.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
		}, EventInUseError{PendingPayments: 1}, "1 order that may still be paid"},
		{"a refund not confirmed", func(t *testing.T, f *fixture) {
			if err := f.rdb.ZAdd(ctx, keysFor("gig").refunds, redis.Z{Score: 1, Member: "ord-x"}).Err(); err != nil {
				t.Fatal(err)
			}
		}, EventInUseError{RefundsOwed: 1}, "1 refund not yet confirmed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.event(t, 10, 4)
			tc.setup(t, f)
			before, err := f.core.Event(ctx, "gig")
			if err != nil {
				t.Fatal(err)
			}
			keys := len(eventKeysLeft(t, f.rdb, "gig"))

			err = f.core.DeleteEvent(ctx, "gig")
			var inUse *EventInUseError
			if !errors.As(err, &inUse) || !errors.Is(err, ErrEventInUse) || crowdgate.KindOf(err) != crowdgate.Conflict {
				t.Fatalf("delete: %v, want an *EventInUseError of kind Conflict", err)
			}
			tc.want.Event = "gig"
			if *inUse != tc.want {
				t.Fatalf("refusal %+v, want %+v", *inUse, tc.want)
			}
			if msg := inUse.Message(); !strings.Contains(msg, tc.says) || !strings.HasPrefix(msg, "event gig has ") {
				t.Fatalf("message %q does not say %q", msg, tc.says)
			}
			after, err := f.core.Event(ctx, "gig")
			if err != nil || fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("event after a refused delete: %+v %v\nwas %+v", after, err, before)
			}
			if n := len(eventKeysLeft(t, f.rdb, "gig")); n != keys {
				t.Fatalf("%d keys after a refused delete, %d before", n, keys)
			}
			if _, err := f.core.PutEvent(ctx, Event{ID: "gig", Room: "launch", TicketTypes: []TicketType{
				{ID: "ga", Name: "General", Capacity: 10, PriceMinor: 150000, Currency: "INR", PerOrderLimit: 4},
			}}); err != nil {
				t.Fatalf("the event is still the organizer's to change: %v", err)
			}
		})
	}
}

// TestAnUnpaidOrderIsWaitedForADay: an order whose hold expired keeps the
// event while its payment may land, and no longer once the reconciler has
// given up on it.
func TestAnUnpaidOrderIsWaitedForADay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 10, 4)
	ctx := context.Background()
	o := f.checkout(t, "a", 1)
	f.clock.Add(11 * time.Minute)
	if err := f.core.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.core.DeleteEvent(ctx, "gig"); !errors.Is(err, ErrEventInUse) {
		t.Fatalf("delete with a payment under way: %v", err)
	}
	f.clock.Add(25 * time.Hour)
	if err := f.core.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.core.DeleteEvent(ctx, "gig"); err != nil {
		t.Fatalf("delete after the reconciler gave up: %v", err)
	}
	// A payment that lands after all finds no order: nothing is sold
	// on a deleted event, and no refund is owed where nobody looks.
	if _, err := f.deliver(t, "evt_late", WebhookSucceeded, o); !errors.Is(err, ErrUnknownPayment) {
		t.Fatalf("a payment for a deleted event's order: %v", err)
	}
}

// TestADeletionCutShortIsFinished: when a deletion stops after the event
// is gone (a crash, a timeout), the id is not created again over its
// leftovers; deleting again finishes, and then it is.
func TestADeletionCutShortIsFinished(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 10, 4)
	ctx := context.Background()
	h, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.core.Release(ctx, h.ID, "a"); err != nil {
		t.Fatal(err)
	}
	// Only the first step, as if the process died right after it.
	if res, err := f.core.scripts.deleteEvent.Run(ctx, f.rdb, []string{keysFor("gig").cfg}, f.core.now()).Slice(); err != nil || res[0] != "ok" {
		t.Fatalf("first step: %v %v", res, err)
	}
	if _, err := f.core.Event(ctx, "gig"); !errors.Is(err, ErrEventNotFound) {
		t.Fatalf("event after the first step: %v", err)
	}
	e := Event{ID: "gig", Room: "launch", TicketTypes: []TicketType{
		{ID: "ga", Name: "General", Capacity: 10, PriceMinor: 150000, Currency: "INR", PerOrderLimit: 4},
	}}
	if _, err := f.core.PutEvent(ctx, e); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "delete it again") {
		t.Fatalf("create over a deletion cut short: %v", err)
	}
	if err := f.core.DeleteEvent(ctx, "gig"); err != nil {
		t.Fatalf("delete again: %v", err)
	}
	if left := eventKeysLeft(t, f.rdb, "gig"); len(left) > 0 {
		t.Fatalf("keys left: %v", left)
	}
	if created, err := f.core.PutEvent(ctx, e); err != nil || !created {
		t.Fatalf("create after the deletion finished: %v %v", created, err)
	}
}

// TestDeletingRacesHolds races a deletion against holds placed at the
// same moment, many times: either the deletion wins and no hold was
// taken, or a hold won and the event is whole, with every ticket counted.
// A hold must never land in an event that is then deleted.
func TestDeletingRacesHolds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	const rounds, fans = 40, 6
	outcomes := map[string]int{}
	for round := range rounds {
		id := fmt.Sprintf("race-%d", round)
		if _, err := f.core.PutEvent(ctx, Event{ID: id, Room: "launch", TicketTypes: []TicketType{
			{ID: "ga", Name: "General", Capacity: 100, PriceMinor: 100, Currency: "INR", PerOrderLimit: 2},
		}}); err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			taken   []Hold
			holdErr []error
			delErr  error
		)
		for i := range fans {
			wg.Go(func() {
				req := f.holdReq(fmt.Sprintf("v%d", i), 2)
				req.Event = id
				<-start
				h, _, err := f.core.PlaceHold(ctx, req)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					taken = append(taken, h)
				} else {
					holdErr = append(holdErr, err)
				}
			})
		}
		wg.Go(func() {
			<-start
			if round%2 == 1 {
				time.Sleep(time.Duration(round) * 20 * time.Microsecond) // let some holds go first
			}
			delErr = f.core.DeleteEvent(ctx, id)
		})
		close(start)
		wg.Wait()

		switch {
		case delErr == nil:
			outcomes["deleted"]++
			if len(taken) > 0 {
				t.Fatalf("round %d: the event was deleted, yet %d holds were taken: %+v", round, len(taken), taken)
			}
			for _, err := range holdErr {
				if !errors.Is(err, ErrEventNotFound) {
					t.Fatalf("round %d: hold refused with %v, want ErrEventNotFound", round, err)
				}
			}
			if left := eventKeysLeft(t, f.rdb, id); len(left) > 0 {
				t.Fatalf("round %d: keys left: %v", round, left)
			}
		case errors.Is(delErr, ErrEventInUse):
			outcomes["refused"]++
			v, err := f.core.Event(ctx, id)
			if err != nil {
				t.Fatalf("round %d: the refused deletion lost the event: %v", round, err)
			}
			if _, inv := v.Totals(); len(taken) == 0 || inv.Held != int64(2*len(taken)) || inv.Available != 100-inv.Held {
				t.Fatalf("round %d: %d holds taken, inventory %+v", round, len(taken), inv)
			}
			for _, h := range taken {
				if got, err := f.core.Hold(ctx, h.ID, ""); err != nil || got.State != "active" {
					t.Fatalf("round %d: hold %s after the refusal: %+v %v", round, h.ID, got, err)
				}
			}
			if a, err := f.core.Audit(ctx, id); err != nil || len(a.Problems) > 0 {
				t.Fatalf("round %d: audit %+v %v", round, a, err)
			}
		default:
			t.Fatalf("round %d: delete: %v", round, delErr)
		}
	}
	t.Logf("outcomes over %d rounds: %v", rounds, outcomes)
}

// TestDeletingOnRedisCluster: the deletion's scripts stay in the event's
// slot, and the keys named by ids are found on the node that serves it.
func TestDeletingOnRedisCluster(t *testing.T) {
	rdb := queuetest.ClusterClient(t)
	ctx := context.Background()
	clock := newClock()
	pay := newFakeProvider()
	core, err := NewCore(rdb, Config{Providers: []Provider{pay}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{core: core, clock: clock, pay: pay}
	events := []string{"gig", "final", "semi"} // on different nodes
	for _, ev := range events {
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
		if _, err := core.Checkout(ctx, CheckoutRequest{HoldID: h.ID, Visitor: "a", Provider: "fake"}); err != nil {
			t.Fatalf("checkout on %s: %v", ev, err)
		}
		if err := core.DeleteEvent(ctx, ev); !errors.Is(err, ErrEventInUse) {
			t.Fatalf("delete %s with a hold in checkout: %v", ev, err)
		}
		if err := core.Release(ctx, h.ID, "a"); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(25 * time.Hour) // the canceled orders' payments are given up on
	if err := core.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if err := core.DeleteEvent(ctx, ev); err != nil {
			t.Fatalf("delete %s: %v", ev, err)
		}
		if left := eventKeysLeft(t, rdb, ev); len(left) > 0 {
			t.Fatalf("%s: keys left: %v", ev, left)
		}
	}
	if ids, err := rdb.SMembers(ctx, eventsKey).Result(); err != nil || len(ids) != 0 {
		t.Fatalf("listed events: %v %v", ids, err)
	}
}
