package booking

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// buy takes a hold of qty for visitor, checks out and pays it, and
// returns the paid order; the hold's refusal, if any, is returned as is.
func (f *fixture) buy(t testing.TB, req HoldRequest) (Order, error) {
	t.Helper()
	ctx := context.Background()
	h, _, err := f.core.PlaceHold(ctx, req)
	if err != nil {
		return Order{}, err
	}
	o, err := f.core.Checkout(ctx, CheckoutRequest{HoldID: h.ID, Visitor: req.Visitor, Provider: "fake"})
	if err != nil {
		t.Fatal(err)
	}
	if what, err := f.deliver(t, "evt-"+o.ID, WebhookSucceeded, o); err != nil || what != "paid" {
		t.Fatalf("payment of %s: %q %v", o.ID, what, err)
	}
	return o, nil
}

// limitLeft fails the test unless err is a refusal over the per-admission
// limit that leaves left of limit.
func limitLeft(t testing.TB, err error, limit, left int64) {
	t.Helper()
	var lr *LimitReachedError
	if !errors.As(err, &lr) || !errors.Is(err, ErrLimitReached) || lr.Limit != limit || lr.Left != left {
		t.Fatalf("err = %v, want the per-admission limit of %d with %d left", err, limit, left)
	}
	if crowdgate.KindOf(err) != crowdgate.LimitReached || crowdgate.MessageOf(err) == "" {
		t.Fatalf("err = %v: kind %q, message %q", err, crowdgate.KindOf(err), crowdgate.MessageOf(err))
	}
}

// counted reads the buyer's count of tickets, as the scripts keep it.
func (f *fixture) counted(t testing.TB, buyer string) int64 {
	t.Helper()
	n, err := f.rdb.HGet(context.Background(), keysFor("gig").buyers, buyer).Int64()
	if err != nil && err.Error() != "redis: nil" {
		t.Fatal(err)
	}
	return n
}

// TestThreeRoundsWithOneAdmissionStopAtTheLimit is issue 14's finding:
// with one admission, three rounds of hold → checkout → paid webhook
// bought 12 tickets against a per-order limit of 4. The event sets no
// per-admission limit, so the default, the per-order limit, applies.
func TestThreeRoundsWithOneAdmissionStopAtTheLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 100, 4)
	for round := range 3 {
		_, err := f.buy(t, f.holdReq("a", 4))
		switch {
		case round == 0 && err != nil:
			t.Fatalf("round 1: %v", err)
		case round > 0:
			limitLeft(t, err, 4, 0)
		}
	}
	if got := f.inventory(t); got != (Inventory{Available: 96, Sold: 4}) {
		t.Fatalf("inventory = %+v, want 4 sold", got)
	}
	v, err := f.core.Event(context.Background(), "gig")
	if err != nil || v.PerAdmissionLimit != 4 || v.Stats["limit_reached"] != 2 {
		t.Fatalf("event = %+v, %v; want the default limit 4 and 2 refusals counted", v, err)
	}
	// Smaller holds do not slip under it either, and another visitor is
	// not affected.
	_, _, err = f.core.PlaceHold(context.Background(), f.holdReq("a", 1))
	limitLeft(t, err, 4, 0)
	if _, err := f.buy(t, f.holdReq("b", 4)); err != nil {
		t.Fatal(err)
	}
	f.balanced(t)
}

// TestLimitCountsHoldsAndOrdersTogether: what is left is the limit less
// the tickets in live holds and paid orders, whatever their types.
func TestLimitCountsHoldsAndOrdersTogether(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	e := Event{ID: "gig", Room: "launch", HoldSeconds: 600, PerAdmissionLimit: 5, TicketTypes: []TicketType{
		{ID: "ga", Name: "General", Capacity: 100, PriceMinor: 150000, Currency: "INR", PerOrderLimit: 4},
		{ID: "vip", Name: "VIP", Capacity: 10, PriceMinor: 500000, Currency: "INR", PerOrderLimit: 2},
	}}
	if _, err := f.core.PutEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, err := f.buy(t, f.holdReq("a", 2)); err != nil {
		t.Fatal(err)
	}
	vip := f.holdReq("a", 2)
	vip.TicketType = "vip"
	if _, _, err := f.core.PlaceHold(ctx, vip); err != nil {
		t.Fatal(err) // 2 paid + 2 held
	}
	if n := f.counted(t, "v:a"); n != 4 {
		t.Fatalf("counted %d, want 4", n)
	}
	// The live hold is refused as a second hold first.
	if _, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 1)); !errors.Is(err, ErrHoldExists) {
		t.Fatalf("err = %v, want hold_exists", err)
	}
	f.clock.Add(601 * time.Second) // the VIP hold expires; its 2 come back
	_, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 4))
	limitLeft(t, err, 5, 3)
	if _, err := f.buy(t, f.holdReq("a", 3)); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.core.PlaceHold(ctx, vip)
	limitLeft(t, err, 5, 0)
	if got := f.inventory(t); got != (Inventory{Available: 105, Sold: 5}) {
		t.Fatalf("inventory = %+v", got)
	}
	f.balanced(t)
}

// TestEndedHoldsGiveTicketsBack walks every path that ends a hold or an
// order: each gives the buyer's tickets back, or keeps them, as the
// tickets themselves go.
func TestEndedHoldsGiveTicketsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// end ends the visitor's hold of 4, with an order pending on it.
		end func(t *testing.T, f *fixture, h Hold, o Order)
		// want is the count after end.
		want int64
	}{
		{"released by the fan", func(t *testing.T, f *fixture, h Hold, _ Order) {
			if err := f.core.Release(ctx, h.ID, "a"); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"released by the organizer", func(t *testing.T, f *fixture, h Hold, _ Order) {
			if err := f.core.Release(ctx, h.ID, ""); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"expired by the sweeper, order and all", func(t *testing.T, f *fixture, _ Hold, o Order) {
			f.clock.Add(600 * time.Second)
			if err := f.core.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if s := f.status(t, o.ID); s != StatusExpired {
				t.Fatalf("order %s", s)
			}
		}, 0},
		{"a failed payment keeps the hold", func(t *testing.T, f *fixture, _ Hold, o Order) {
			if what, err := f.deliver(t, "evt-f", WebhookFailed, o); err != nil || what != "failed" {
				t.Fatalf("%q %v", what, err)
			}
		}, 4},
		{"paid", func(t *testing.T, f *fixture, _ Hold, o Order) {
			if what, err := f.deliver(t, "evt-p", WebhookSucceeded, o); err != nil || what != "paid" {
				t.Fatalf("%q %v", what, err)
			}
		}, 4},
		{"paid late takes them again", func(t *testing.T, f *fixture, _ Hold, o Order) {
			f.clock.Add(600 * time.Second)
			if err := f.core.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if n := f.counted(t, "v:a"); n != 0 {
				t.Fatalf("counted %d after expiry, want 0", n)
			}
			if what, err := f.deliver(t, "evt-late", WebhookSucceeded, o); err != nil || what != "paid_late" {
				t.Fatalf("%q %v", what, err)
			}
		}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.event(t, 10, 4)
			h, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 4))
			if err != nil {
				t.Fatal(err)
			}
			o, err := f.core.Checkout(ctx, CheckoutRequest{HoldID: h.ID, Visitor: "a", Provider: "fake"})
			if err != nil {
				t.Fatal(err)
			}
			tc.end(t, f, h, o)
			if n := f.counted(t, "v:a"); n != tc.want {
				t.Fatalf("counted %d, want %d", n, tc.want)
			}
			f.balanced(t)
			// What was given back can be held again, and no more.
			f.clock.Add(time.Second)
			if tc.want == 0 {
				if _, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 4)); err != nil {
					t.Fatalf("holding again: %v", err)
				}
			} else if f.status(t, o.ID) == StatusPaid {
				_, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 1))
				limitLeft(t, err, 4, 0)
			}
			f.balanced(t)
		})
	}
}

// TestAHoldExpiredInPlaceGivesBack: a hold whose time is up but that no
// sweep has reached yet is expired by the visitor's next hold, and its
// tickets count no more.
func TestAHoldExpiredInPlaceGivesBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 10, 4)
	ctx := context.Background()
	if _, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 4)); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(600 * time.Second)
	if _, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 4)); err != nil {
		t.Fatalf("hold after the first expired: %v", err)
	}
	if n := f.counted(t, "v:a"); n != 4 {
		t.Fatalf("counted %d, want 4", n)
	}
	f.balanced(t)
}

// TestALatePaymentPastTheLimitIsRefunded: a payment that lands after its
// hold expired, when the buyer has since bought up to the limit, is
// refunded rather than sold past it, though tickets are available; the
// refund changes no count.
func TestALatePaymentPastTheLimitIsRefunded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 10, 4)
	ctx := context.Background()
	first := f.checkout(t, "a", 4)
	f.clock.Add(600 * time.Second)
	if err := f.core.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.buy(t, f.holdReq("a", 3)); err != nil {
		t.Fatal(err)
	}
	if what, err := f.deliver(t, "evt-late", WebhookSucceeded, first); err != nil || what != "refunded" {
		t.Fatalf("late payment past the limit: %q %v, want refunded", what, err)
	}
	if n := f.counted(t, "v:a"); n != 3 {
		t.Fatalf("counted %d, want 3", n)
	}
	if got := f.inventory(t); got != (Inventory{Available: 7, Sold: 3}) {
		t.Fatalf("inventory = %+v", got)
	}
	if _, err := f.buy(t, f.holdReq("a", 1)); err != nil {
		t.Fatalf("the last ticket under the limit: %v", err)
	}
	f.balanced(t)
}

// TestLimitRefusalsReplay: an Idempotency-Key replays a refusal over the
// limit as it replays any refusal of the sale, even after the limit is
// raised; a hold taken under a key replays as that hold, though the limit
// is reached since.
func TestLimitRefusalsReplay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.event(t, 10, 4)
	ctx := context.Background()
	taken := f.holdReq("a", 4)
	taken.IdempotencyKey = "k-taken"
	h, _, err := f.core.PlaceHold(ctx, taken)
	if err != nil {
		t.Fatal(err)
	}
	again, replay, err := f.core.PlaceHold(ctx, taken)
	if err != nil || !replay || again.ID != h.ID {
		t.Fatalf("replay of the hold: %+v %v %v", again, replay, err)
	}
	if err := f.core.Release(ctx, h.ID, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.buy(t, f.holdReq("a", 4)); err != nil {
		t.Fatal(err)
	}
	over := f.holdReq("a", 2)
	over.IdempotencyKey = "k-over"
	_, _, err = f.core.PlaceHold(ctx, over)
	limitLeft(t, err, 4, 0)
	e.PerAdmissionLimit = 8
	if _, err := f.core.PutEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.core.PlaceHold(ctx, over)
	limitLeft(t, err, 4, 0)
	// A new request sees the new limit.
	_, _, err = f.core.PlaceHold(ctx, f.holdReq("a", 2))
	if err != nil {
		t.Fatalf("under the raised limit: %v", err)
	}
	f.balanced(t)
}

// TestTheOrganizerSetsTheLimit: a limit above the per-order ones is kept;
// one below a per-order limit, negative or absurd is refused and changes
// nothing; lowering it takes nothing back.
func TestTheOrganizerSetsTheLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	e := f.event(t, 20, 4)
	if _, err := f.buy(t, f.holdReq("a", 4)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []int{-1, 3, MaxPerAdmissionLimit + 1} {
		e.PerAdmissionLimit = bad
		if _, err := f.core.PutEvent(ctx, e); !errors.Is(err, ErrInvalid) {
			t.Fatalf("per-admission limit %d: %v, want invalid", bad, err)
		}
	}
	if v, _ := f.core.Event(ctx, "gig"); v.PerAdmissionLimit != 4 {
		t.Fatalf("limit %d after refused changes, want 4", v.PerAdmissionLimit)
	}
	e.PerAdmissionLimit = 6
	if _, err := f.core.PutEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 3))
	limitLeft(t, err, 6, 2)
	if _, err := f.buy(t, f.holdReq("a", 2)); err != nil {
		t.Fatal(err)
	}
	e.PerAdmissionLimit = 0 // back to the default, below what a has
	if _, err := f.core.PutEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.core.PlaceHold(ctx, f.holdReq("a", 1))
	limitLeft(t, err, 4, 0)
	if got := f.inventory(t); got != (Inventory{Available: 14, Sold: 6}) {
		t.Fatalf("inventory = %+v: lowering the limit takes nothing back", got)
	}
	f.balanced(t)
}

// TestLimitPerUserID: with a user id, the count is the user's over every
// admission (visitor) they buy with; without one, each visitor's own.
func TestLimitPerUserID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 20, 4)
	ctx := context.Background()
	as := func(visitor, user string, qty int64) HoldRequest {
		r := f.holdReq(visitor, qty)
		r.UserID = user
		return r
	}
	if _, err := f.buy(t, as("phone", "user-7", 3)); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.core.PlaceHold(ctx, as("laptop", "user-7", 2))
	limitLeft(t, err, 4, 1)
	if _, err := f.buy(t, as("laptop", "user-7", 1)); err != nil {
		t.Fatal(err)
	}
	// Another user on the same device, and the device on its own, are
	// counted apart.
	if _, err := f.buy(t, as("laptop", "user-8", 4)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.buy(t, f.holdReq("laptop", 4)); err != nil {
		t.Fatal(err)
	}
	if n := f.counted(t, "u:user-7"); n != 4 {
		t.Fatalf("user-7 counted %d, want 4", n)
	}
	for _, bad := range []string{"a\nb", "\x00", string(make([]byte, 256)), "\xff"} {
		if _, _, err := f.core.PlaceHold(ctx, as("x", bad, 1)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("user id %q: %v, want invalid", bad, err)
		}
	}
	if _, err := f.buy(t, as("x", "ユーザー@example.com", 1)); err != nil {
		t.Fatalf("a UTF-8 user id: %v", err)
	}
	f.balanced(t)
}

// TestLimitHoldsUnderRaces: one visitor races rounds of hold → checkout →
// pay through two Cores on one Redis, and many admissions of one user
// race single holds: neither ever gets past the limit.
func TestLimitHoldsUnderRaces(t *testing.T) {
	t.Parallel()
	srv := queuetest.Run(t)
	clk, pay := newClock(), newFakeProvider()
	var cores [2]*fixture
	for i := range cores {
		rdb := srv.Client(t)
		core, err := NewCore(rdb, Config{Providers: []Provider{pay}, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		cores[i] = &fixture{core: core, rdb: rdb, clock: clk, pay: pay}
	}
	cores[0].event(t, 1000, 4)
	ctx := context.Background()

	var wg sync.WaitGroup
	var bought, refused atomic.Int64
	for w := range 16 {
		f := cores[w%2]
		wg.Go(func() {
			for {
				h, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 1))
				var lr *LimitReachedError
				switch {
				case errors.As(err, &lr):
					refused.Add(1)
					return
				case errors.Is(err, ErrHoldExists):
					runtime.Gosched() // another worker's round is under way
					continue
				case err != nil:
					t.Error(err)
					return
				}
				o, err := f.core.Checkout(ctx, CheckoutRequest{HoldID: h.ID, Visitor: "a", Provider: "fake"})
				if err != nil {
					t.Error(err)
					return
				}
				hd, body := f.pay.webhook(t, "evt-"+o.ID, WebhookSucceeded, o.Payment.ID, clk.Now())
				if what, err := f.core.Webhook(ctx, "fake", hd, body); err != nil || what != "paid" {
					t.Errorf("payment: %q %v", what, err)
					return
				}
				bought.Add(1)
			}
		})
	}
	var users atomic.Int64
	for i := range 64 {
		f := cores[i%2]
		wg.Go(func() {
			r := f.holdReq(fmt.Sprintf("device-%d", i), 1)
			r.UserID = "user-1"
			_, _, err := f.core.PlaceHold(ctx, r)
			switch {
			case err == nil:
				users.Add(1)
			case !errors.Is(err, ErrLimitReached):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if bought.Load() != 4 || refused.Load() != 16 || users.Load() != 4 {
		t.Fatalf("visitor bought %d (%d workers refused), user held %d; want 4, 16 and 4", bought.Load(), refused.Load(), users.Load())
	}
	if got := cores[1].inventory(t); got != (Inventory{Available: 992, Held: 4, Sold: 4}) {
		t.Fatalf("inventory = %+v", got)
	}
	cores[1].balanced(t)
}

// TestAuditFindsACountThatDrifted: a buyer's count that disagrees with
// their holds and orders is reported, as a ticket count is.
func TestAuditFindsACountThatDrifted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 10, 4)
	ctx := context.Background()
	if _, err := f.buy(t, f.holdReq("a", 2)); err != nil {
		t.Fatal(err)
	}
	f.balanced(t)
	k := keysFor("gig").buyers
	if err := f.rdb.HSet(ctx, k, "v:a", 3, "v:ghost", 1).Err(); err != nil {
		t.Fatal(err)
	}
	a, err := f.core.Audit(ctx, "gig")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"buyer v:a: counted 3 tickets, but live holds and paid orders have 2",
		"buyer v:ghost: counted 1 tickets, but live holds and paid orders have 0",
	}
	if fmt.Sprint(a.Problems) != fmt.Sprint(want) {
		t.Fatalf("problems = %q, want %q", a.Problems, want)
	}
}
