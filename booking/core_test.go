package booking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/internal/latency"
	"github.com/crowdgate/crowdgate/queue/queuetest"
	"github.com/crowdgate/crowdgate/webhooksig"
)

// clock is a settable test clock.
type clock = queuetest.Clock

func newClock() *clock { return queuetest.NewClock(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)) }

// fakeProvider is a payment provider whose outcomes the test decides. It
// signs its webhooks like the sandbox, so Core's verification path is the
// real one.
type fakeProvider struct {
	secret []byte
	mu     sync.Mutex
	state  map[string]PaymentState
	refund map[string]int
	seq    int
}

func newFakeProvider() *fakeProvider {
	return &fakeProvider{secret: []byte("test-secret"), state: map[string]PaymentState{}, refund: map[string]int{}}
}

func (p *fakeProvider) Name() string { return "fake" }

func (p *fakeProvider) Start(_ context.Context, req PaymentRequest) (Payment, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	id := fmt.Sprintf("pay-%s-%d", req.OrderID, p.seq)
	p.state[id] = PaymentPending
	return Payment{ID: id, Provider: "fake", RedirectURL: "https://pay.example/" + id}, nil
}

func (p *fakeProvider) Lookup(_ context.Context, id string) (PaymentState, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.state[id]
	if !ok {
		return "", ErrUnknownPayment
	}
	return s, nil
}

func (p *fakeProvider) Refund(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refund[id]++
	return nil
}

func (p *fakeProvider) ParseWebhook(h http.Header, body []byte, now time.Time) (WebhookEvent, error) {
	if err := webhooksig.Verify(p.secret, h.Get(webhooksig.Header), body, now, 300*time.Second); err != nil {
		return WebhookEvent{}, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return ParseWebhookBody(body)
}

// webhook returns a signed webhook for a payment outcome, as of now.
func (p *fakeProvider) webhook(t testing.TB, evID, typ, paymentID string, now time.Time) (http.Header, []byte) {
	t.Helper()
	body, err := json.Marshal(map[string]string{"id": evID, "type": typ, "payment_id": paymentID})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(webhooksig.Header, webhooksig.Sign(p.secret, now, body))
	return h, body
}

type fixture struct {
	core  *Core
	rdb   *redis.Client
	clock *clock
	pay   *fakeProvider
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	rdb := queuetest.Run(t).Client(t)
	f := &fixture{rdb: rdb, clock: newClock(), pay: newFakeProvider()}
	core, err := NewCore(rdb, Config{Providers: []Provider{f.pay}, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.core = core
	return f
}

func (f *fixture) event(t testing.TB, capacity int64, limit int) Event {
	t.Helper()
	e := Event{ID: "gig", Room: "launch", HoldSeconds: 600, TicketTypes: []TicketType{
		{ID: "ga", Name: "General", Capacity: capacity, PriceMinor: 150000, Currency: "INR", PerOrderLimit: limit},
	}}
	if _, err := f.core.PutEvent(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	return e
}

func (f *fixture) holdReq(visitor string, qty int64) HoldRequest {
	return HoldRequest{Event: "gig", Visitor: visitor, Room: "launch", TicketType: "ga", Quantity: qty,
		AdmissionExpires: f.clock.Now().Add(15 * time.Minute)}
}

func (f *fixture) inventory(t testing.TB) Inventory {
	t.Helper()
	v, err := f.core.Event(context.Background(), "gig")
	if err != nil {
		t.Fatal(err)
	}
	_, inv := v.Totals()
	return inv
}

// balanced fails the test unless the books of "gig" balance.
func (f *fixture) balanced(t testing.TB) {
	t.Helper()
	a, err := f.core.Audit(context.Background(), "gig")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Problems {
		t.Errorf("audit: %s", p)
	}
}

func (f *fixture) outbox(t testing.TB) []string {
	t.Helper()
	msgs, err := f.rdb.XRange(context.Background(), Outbox("gig").Outbox(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, m := range msgs {
		kinds = append(kinds, m.Values["kind"].(string))
	}
	return kinds
}

func TestHoldRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 6, 4)
	ctx := context.Background()
	tests := []struct {
		name string
		req  HoldRequest
		want error
	}{
		{"zero", f.holdReq("a", 0), ErrInvalid},
		{"negative", f.holdReq("a", -2), ErrInvalid},
		{"huge", f.holdReq("a", 1<<40), ErrInvalid},
		{"over limit", f.holdReq("a", 5), ErrInvalid},
		{"unknown type", HoldRequest{Event: "gig", Visitor: "a", Room: "launch", TicketType: "vip", Quantity: 1, AdmissionExpires: f.clock.Now().Add(time.Minute)}, ErrInvalid},
		{"bad type id", HoldRequest{Event: "gig", Visitor: "a", Room: "launch", TicketType: "V I P", Quantity: 1, AdmissionExpires: f.clock.Now().Add(time.Minute)}, ErrInvalid},
		{"no event", HoldRequest{Event: "nope", Visitor: "a", Room: "launch", TicketType: "ga", Quantity: 1, AdmissionExpires: f.clock.Now().Add(time.Minute)}, ErrEventNotFound},
		{"admission over", HoldRequest{Event: "gig", Visitor: "a", Room: "launch", TicketType: "ga", Quantity: 1, AdmissionExpires: f.clock.Now().Add(-time.Second)}, ErrAdmissionExpired},
		{"bad email", HoldRequest{Event: "gig", Visitor: "a", Room: "launch", TicketType: "ga", Quantity: 1, AdmissionExpires: f.clock.Now().Add(time.Minute), Email: "x@y\r\nBcc: z@q"}, ErrInvalid},
		{"other room", HoldRequest{Event: "gig", Visitor: "a", Room: "elsewhere", TicketType: "ga", Quantity: 1, AdmissionExpires: f.clock.Now().Add(time.Minute)}, ErrWrongRoom},
		{"ok", f.holdReq("a", 4), nil},
		{"second hold", f.holdReq("a", 1), ErrHoldExists},
		{"more than left", f.holdReq("b", 3), ErrSoldOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := f.core.PlaceHold(ctx, tt.req)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if got := f.inventory(t); got != (Inventory{Available: 2, Held: 4}) {
		t.Fatalf("inventory = %+v, want 2 available, 4 held: refused holds must change nothing", got)
	}
	var exists *HoldExistsError
	_, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 1))
	if !errors.As(err, &exists) || exists.HoldID == "" {
		t.Fatalf("a second hold should name the first: %v", err)
	}
	f.balanced(t)
}

func TestIdempotencyKeyReplaysTheFirstHold(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 10, 4)
	ctx := context.Background()
	req := f.holdReq("a", 2)
	req.IdempotencyKey = "k-1"
	first, replay, err := f.core.PlaceHold(ctx, req)
	if err != nil || replay {
		t.Fatalf("first: %v replay=%v", err, replay)
	}
	f.clock.Add(time.Second)
	again, replay, err := f.core.PlaceHold(ctx, req)
	if err != nil || !replay || again.ID != first.ID || !again.ExpiresAt.Equal(first.ExpiresAt) {
		t.Fatalf("replay = %+v, %v, %v; want the first hold %s", again, replay, err, first.ID)
	}
	if got := f.inventory(t); got.Held != 2 {
		t.Fatalf("held = %d after a replay, want 2", got.Held)
	}
	// Another visitor's identical key is theirs alone.
	other := f.holdReq("b", 1)
	other.IdempotencyKey = "k-1"
	h, replay, err := f.core.PlaceHold(ctx, other)
	if err != nil || replay || h.ID == first.ID {
		t.Fatalf("other visitor's key: %+v %v %v", h, replay, err)
	}
}

// TestNoOversellUnderContention races 10,000 hold attempts of one ticket
// each for 1,000 tickets: exactly 1,000 may win.
func TestNoOversellUnderContention(t *testing.T) {
	if testing.Short() {
		t.Skip("races 10,000 holds")
	}
	f := newFixture(t)
	f.event(t, 1000, 1)
	const attempts, workers = 10_000, 64
	var won, soldOut, other atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > attempts {
					return
				}
				_, _, err := f.core.PlaceHold(context.Background(), f.holdReq(fmt.Sprintf("v%d", i), 1))
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, ErrSoldOut):
					soldOut.Add(1)
				default:
					other.Add(1)
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if won.Load() != 1000 || soldOut.Load() != attempts-1000 || other.Load() != 0 {
		t.Fatalf("won %d, sold out %d, other %d; want exactly 1000 winners", won.Load(), soldOut.Load(), other.Load())
	}
	if got := f.inventory(t); got != (Inventory{Held: 1000}) {
		t.Fatalf("inventory = %+v", got)
	}
	f.balanced(t)
}

func TestExpiredHoldsGoBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 5, 4)
	ctx := context.Background()
	h, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 3))
	if err != nil {
		t.Fatal(err)
	}
	o, err := f.core.Checkout(ctx, CheckoutRequest{HoldID: h.ID, Visitor: "a", Provider: "fake", Email: "fan@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(599 * time.Second)
	if err := f.core.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.inventory(t); got.Held != 3 {
		t.Fatalf("swept a live hold: %+v", got)
	}
	f.clock.Add(time.Second)
	if err := f.core.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.inventory(t); got != (Inventory{Available: 5}) {
		t.Fatalf("after expiry: %+v, want all 5 available", got)
	}
	o, err = f.core.Order(ctx, o.ID)
	if err != nil || o.Status != StatusExpired {
		t.Fatalf("order = %+v, %v; want expired", o, err)
	}
	if _, err := f.core.Checkout(ctx, CheckoutRequest{HoldID: h.ID, Visitor: "a", Provider: "fake"}); !errors.Is(err, ErrHoldExpired) {
		t.Fatalf("checkout of an expired hold: %v", err)
	}
	// The visitor may hold again.
	if _, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 1)); err != nil {
		t.Fatal(err)
	}
	want := []string{"hold.expiring", "order.expired"}
	if got := f.outbox(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outbox = %v, want %v", got, want)
	}
	f.balanced(t)
}

func (f *fixture) checkout(t testing.TB, visitor string, qty int64) Order {
	t.Helper()
	ctx := context.Background()
	h, _, err := f.core.PlaceHold(ctx, f.holdReq(visitor, qty))
	if err != nil {
		t.Fatal(err)
	}
	o, err := f.core.Checkout(ctx, CheckoutRequest{HoldID: h.ID, Visitor: visitor, Provider: "fake",
		ReturnURL: func(id string) string { return "/orders/" + id }})
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != StatusPending || o.Payment.ID == "" || o.AmountMinor != 150000*qty {
		t.Fatalf("order = %+v", o)
	}
	return o
}

func (f *fixture) deliver(t testing.TB, evID, typ string, o Order) (string, error) {
	t.Helper()
	h, body := f.pay.webhook(t, evID, typ, o.Payment.ID, f.clock.Now())
	return f.core.Webhook(context.Background(), "fake", h, body)
}

func (f *fixture) status(t testing.TB, id string) string {
	t.Helper()
	o, err := f.core.Order(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return o.Status
}

func TestPaymentSucceeds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 5, 4)
	o := f.checkout(t, "a", 2)
	if what, err := f.deliver(t, "evt_1", WebhookSucceeded, o); err != nil || what != "paid" {
		t.Fatalf("webhook: %q %v", what, err)
	}
	if what, err := f.deliver(t, "evt_1", WebhookSucceeded, o); err != nil || what != "duplicate" {
		t.Fatalf("redelivery: %q %v", what, err)
	}
	// Another event id with the other outcome cannot undo a payment.
	if what, err := f.deliver(t, "evt_2", WebhookFailed, o); err != nil || what != "ignored" {
		t.Fatalf("failure after success: %q %v", what, err)
	}
	if s := f.status(t, o.ID); s != StatusPaid {
		t.Fatalf("status = %s", s)
	}
	if got := f.inventory(t); got != (Inventory{Available: 3, Sold: 2}) {
		t.Fatalf("inventory = %+v", got)
	}
	if err := f.core.Release(context.Background(), o.HoldID, "a"); !errors.Is(err, ErrConflict) {
		t.Fatalf("releasing a paid hold: %v", err)
	}
	if got := f.outbox(t); fmt.Sprint(got) != "[order.paid]" {
		t.Fatalf("outbox = %v", got)
	}
	f.balanced(t)
}

func TestBadWebhooksChangeNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 5, 4)
	o := f.checkout(t, "a", 1)
	ctx := context.Background()
	good, body := f.pay.webhook(t, "evt_1", WebhookSucceeded, o.Payment.ID, f.clock.Now())
	stale, _ := f.pay.webhook(t, "evt_1", WebhookSucceeded, o.Payment.ID, f.clock.Now().Add(-301*time.Second))
	tests := []struct {
		name   string
		header http.Header
		body   []byte
		want   error
	}{
		{"no signature", http.Header{}, body, ErrBadSignature},
		{"stale", stale, body, ErrBadSignature},
		{"forged", http.Header{"Crowdgate-Signature": {"t=1,v1=00"}}, body, ErrBadSignature},
		{"body changed", good, []byte(string(body) + " "), ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.core.Webhook(ctx, "fake", tt.header, tt.body); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	h, unknown := f.pay.webhook(t, "evt_9", WebhookSucceeded, "pay-nobody", f.clock.Now())
	if _, err := f.core.Webhook(ctx, "fake", h, unknown); !errors.Is(err, ErrUnknownPayment) {
		t.Fatalf("unknown payment: %v", err)
	}
	if _, err := f.core.Webhook(ctx, "stripe", good, body); !errors.Is(err, ErrUnknownProvider) {
		t.Fatalf("unknown provider: %v", err)
	}
	if s := f.status(t, o.ID); s != StatusPending {
		t.Fatalf("status = %s after bad webhooks", s)
	}
	// The genuine one still works: the forged ones did not burn its id.
	if what, err := f.core.Webhook(ctx, "fake", good, body); err != nil || what != "paid" {
		t.Fatalf("genuine: %q %v", what, err)
	}
}

func TestLatePayment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("tickets still there: paid", func(t *testing.T) {
		f := newFixture(t)
		f.event(t, 5, 4)
		o := f.checkout(t, "a", 2)
		f.clock.Add(11 * time.Minute)
		if err := f.core.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if what, err := f.deliver(t, "evt_1", WebhookSucceeded, o); err != nil || what != "paid_late" {
			t.Fatalf("late webhook: %q %v", what, err)
		}
		got, _ := f.core.Order(ctx, o.ID)
		if got.Status != StatusPaid || !got.Late {
			t.Fatalf("order = %+v", got)
		}
		if inv := f.inventory(t); inv != (Inventory{Available: 3, Sold: 2}) {
			t.Fatalf("inventory = %+v", inv)
		}
		f.balanced(t)
	})
	t.Run("not swept yet: the webhook expires it first", func(t *testing.T) {
		f := newFixture(t)
		f.event(t, 5, 4)
		o := f.checkout(t, "a", 2)
		f.clock.Add(11 * time.Minute)
		if what, err := f.deliver(t, "evt_1", WebhookSucceeded, o); err != nil || what != "paid_late" {
			t.Fatalf("late webhook: %q %v", what, err)
		}
		f.balanced(t)
	})
	t.Run("tickets gone: refunded", func(t *testing.T) {
		f := newFixture(t)
		f.event(t, 2, 2)
		o := f.checkout(t, "a", 2)
		f.clock.Add(11 * time.Minute)
		if err := f.core.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.core.PlaceHold(ctx, f.holdReq("b", 2)); err != nil {
			t.Fatal(err)
		}
		if what, err := f.deliver(t, "evt_1", WebhookSucceeded, o); err != nil || what != "refunded" {
			t.Fatalf("late webhook: %q %v", what, err)
		}
		got, _ := f.core.Order(ctx, o.ID)
		if got.Status != StatusRefunded || got.Refund != "done" || f.pay.refund[o.Payment.ID] != 1 {
			t.Fatalf("order = %+v, refunds %d", got, f.pay.refund[o.Payment.ID])
		}
		if inv := f.inventory(t); inv != (Inventory{Held: 2}) {
			t.Fatalf("inventory = %+v: a late payment must never oversell", inv)
		}
		// No hold.expiring: the clock jumped past the warning and the end.
		if got := f.outbox(t); fmt.Sprint(got) != "[order.expired order.refunded]" {
			t.Fatalf("outbox = %v", got)
		}
		f.balanced(t)
	})
}

func TestPaymentFailsThenRetries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 5, 4)
	ctx := context.Background()
	o := f.checkout(t, "a", 1)
	if what, err := f.deliver(t, "evt_1", WebhookFailed, o); err != nil || what != "failed" {
		t.Fatalf("%q %v", what, err)
	}
	if inv := f.inventory(t); inv.Held != 1 {
		t.Fatalf("a failed payment keeps the hold while it lasts: %+v", inv)
	}
	again, err := f.core.Checkout(ctx, CheckoutRequest{HoldID: o.HoldID, Visitor: "a", Provider: "fake"})
	if err != nil || again.ID == o.ID || again.Status != StatusPending {
		t.Fatalf("second checkout: %+v %v", again, err)
	}
	// Checking out again while that order is pending returns it.
	same, err := f.core.Checkout(ctx, CheckoutRequest{HoldID: o.HoldID, Visitor: "a", Provider: "fake"})
	if err != nil || same.ID != again.ID {
		t.Fatalf("repeat checkout: %+v %v", same, err)
	}
	if what, err := f.deliver(t, "evt_2", WebhookSucceeded, again); err != nil || what != "paid" {
		t.Fatalf("%q %v", what, err)
	}
	// The first payment succeeding after all would charge twice: refunded.
	if what, err := f.deliver(t, "evt_3", WebhookSucceeded, o); err != nil || what != "refunded" {
		t.Fatalf("old payment: %q %v", what, err)
	}
	if inv := f.inventory(t); inv != (Inventory{Available: 4, Sold: 1}) {
		t.Fatalf("inventory = %+v", inv)
	}
	f.balanced(t)
}

func TestRelease(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 5, 4)
	ctx := context.Background()
	o := f.checkout(t, "a", 3)
	if err := f.core.Release(ctx, o.HoldID, "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("someone else's hold: %v", err)
	}
	if _, err := f.core.Checkout(ctx, CheckoutRequest{HoldID: o.HoldID, Visitor: "b", Provider: "fake"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("someone else's checkout: %v", err)
	}
	if err := f.core.Release(ctx, o.HoldID, "a"); err != nil {
		t.Fatal(err)
	}
	if err := f.core.Release(ctx, o.HoldID, "a"); err != nil {
		t.Fatalf("releasing twice: %v", err)
	}
	if err := f.core.Release(ctx, "hld-nope", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown hold: %v", err)
	}
	if s := f.status(t, o.ID); s != StatusCanceled {
		t.Fatalf("order = %s, want canceled", s)
	}
	if inv := f.inventory(t); inv != (Inventory{Available: 5}) {
		t.Fatalf("inventory = %+v", inv)
	}
	f.balanced(t)
}

func TestReconcilerSettlesWithoutWebhook(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 5, 4)
	ctx := context.Background()
	paid, failed, pending := f.checkout(t, "a", 1), f.checkout(t, "b", 1), f.checkout(t, "c", 1)
	f.pay.state[paid.Payment.ID] = PaymentSucceeded
	f.pay.state[failed.Payment.ID] = PaymentFailed
	if err := f.core.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if s := f.status(t, paid.ID); s != StatusPending {
		t.Fatalf("reconciled too early: %s", s)
	}
	f.clock.Add(3 * time.Minute)
	if err := f.core.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{paid.ID: StatusPaid, failed.ID: StatusFailed, pending.ID: StatusPending} {
		if s := f.status(t, id); s != want {
			t.Errorf("order %s = %s, want %s", id, s, want)
		}
	}
	// The webhook that comes after all changes nothing.
	if what, err := f.deliver(t, "evt_1", WebhookSucceeded, paid); err != nil || what != "ignored" {
		t.Fatalf("%q %v", what, err)
	}
	f.balanced(t)
}

func TestCapacityChanges(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.event(t, 5, 4)
	ctx := context.Background()
	if _, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 3)); err != nil {
		t.Fatal(err)
	}
	e.TicketTypes[0].Capacity = 2
	if _, err := f.core.PutEvent(ctx, e); !errors.Is(err, ErrConflict) {
		t.Fatalf("capacity below held: %v", err)
	}
	e.TicketTypes[0].Capacity = 10
	if _, err := f.core.PutEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	if inv := f.inventory(t); inv != (Inventory{Available: 7, Held: 3}) {
		t.Fatalf("inventory = %+v", inv)
	}
	e.TicketTypes = []TicketType{{ID: "vip", Name: "VIP", Capacity: 1, PriceMinor: 1, Currency: "INR", PerOrderLimit: 1}}
	if _, err := f.core.PutEvent(ctx, e); !errors.Is(err, ErrConflict) {
		t.Fatalf("dropping a type with holds: %v", err)
	}
	f.balanced(t)
}

func TestEventValidation(t *testing.T) {
	t.Parallel()
	ok := Event{ID: "gig", Room: "launch", TicketTypes: []TicketType{{ID: "ga", Name: "GA", Capacity: 1, Currency: "INR", PerOrderLimit: 1}}}
	tests := []struct {
		name string
		edit func(*Event)
	}{
		{"bad id", func(e *Event) { e.ID = "Gig" }},
		{"bad room", func(e *Event) { e.Room = "" }},
		{"negative hold", func(e *Event) { e.HoldSeconds = -5 }},
		{"no types", func(e *Event) { e.TicketTypes = nil }},
		{"negative capacity", func(e *Event) { e.TicketTypes[0].Capacity = -1 }},
		{"huge capacity", func(e *Event) { e.TicketTypes[0].Capacity = MaxCapacity + 1 }},
		{"negative price", func(e *Event) { e.TicketTypes[0].PriceMinor = -1 }},
		{"currency", func(e *Event) { e.TicketTypes[0].Currency = "rupees" }},
		{"limit 0", func(e *Event) { e.TicketTypes[0].PerOrderLimit = 0 }},
		{"no name", func(e *Event) { e.TicketTypes[0].Name = "" }},
		{"duplicate type", func(e *Event) { e.TicketTypes = append(e.TicketTypes, e.TicketTypes[0]) }},
	}
	if err := ok.WithDefaults().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok
			e.TicketTypes = append([]TicketType(nil), ok.TicketTypes...)
			tt.edit(&e)
			if err := e.WithDefaults().Validate(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestSoldOutIsReportedOnlyWhenNothingCanComeBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var closed []string
	f.core.cfg.SoldOut = func(_ context.Context, room string) error {
		closed = append(closed, room)
		return nil
	}
	f.event(t, 2, 2)
	ctx := context.Background()
	if err := f.core.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if left, ok := f.core.Tickets("launch"); !ok || left.Available != 2 || left.Held != 0 || left.HoldSeconds != 600 {
		t.Fatalf("tickets left = %+v, %v", left, ok)
	}
	o := f.checkout(t, "a", 2)
	if err := f.core.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if left, _ := f.core.Tickets("launch"); left.Available != 0 || left.Held != 2 || len(closed) != 0 {
		t.Fatalf("held tickets may come back: left %+v, closed %v", left, closed)
	}
	if _, err := f.deliver(t, "evt_1", WebhookSucceeded, o); err != nil {
		t.Fatal(err)
	}
	if err := f.core.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(closed) != "[launch]" {
		t.Fatalf("sold out: closed %v, want [launch]", closed)
	}
	if _, ok := f.core.Tickets("elsewhere"); ok {
		t.Fatal("a room without events has no tickets")
	}
}

func TestHealthReportsRecentLatency(t *testing.T) {
	t.Parallel()
	var w latency.Window
	now := time.Unix(1000, 0)
	for i := range 100 {
		w.Add(now, time.Duration(i+1)*time.Millisecond, false)
	}
	w.Add(now.Add(-time.Minute), time.Hour, false) // too old to count
	if l := w.Read(now.Add(-healthWindow)); l.Samples != 100 || l.P99 != 100*time.Millisecond {
		t.Fatalf("p99 = %v over %d samples, want 100ms over 100", l.P99, l.Samples)
	}
	for range 5000 { // the ring keeps the newest
		w.Add(now, time.Millisecond, false)
	}
	if l := w.Read(now.Add(-healthWindow)); l.Samples != latency.Size || l.P99 != time.Millisecond {
		t.Fatalf("p99 = %v over %d samples after wrapping", l.P99, l.Samples)
	}
}

// TestIdempotencyKeyReplaysARefusal: the first answer to a key is the
// answer, a refusal of the sale included.
func TestIdempotencyKeyReplaysARefusal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.event(t, 2, 2)
	ctx := context.Background()
	if _, _, err := f.core.PlaceHold(ctx, f.holdReq("a", 2)); err != nil {
		t.Fatal(err)
	}
	req := f.holdReq("b", 1)
	req.IdempotencyKey = "k"
	if _, _, err := f.core.PlaceHold(ctx, req); !errors.Is(err, ErrSoldOut) {
		t.Fatalf("first: %v", err)
	}
	if err := f.core.Release(ctx, mustHoldOf(t, f, "a"), "a"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.core.PlaceHold(ctx, req); !errors.Is(err, ErrSoldOut) {
		t.Fatalf("the same key after tickets came back: %v, want the first answer, sold out", err)
	}
	req.IdempotencyKey = "k2"
	if _, replay, err := f.core.PlaceHold(ctx, req); err != nil || replay {
		t.Fatalf("a new key: %v %v", replay, err)
	}
}

// mustHoldOf returns the id of visitor's live hold on "gig".
func mustHoldOf(t *testing.T, f *fixture, visitor string) string {
	t.Helper()
	_, _, err := f.core.PlaceHold(context.Background(), f.holdReq(visitor, 1))
	var exists *HoldExistsError
	if !errors.As(err, &exists) {
		t.Fatalf("%s has no live hold: %v", visitor, err)
	}
	return exists.HoldID
}

// TestInventoryMetrics: the sweep publishes each type's tickets by state
// and the books' drift, which must read 0.
func TestInventoryMetrics(t *testing.T) {
	t.Parallel()
	rdb := queuetest.Run(t).Client(t)
	reg := prometheus.NewRegistry()
	core, err := NewCore(rdb, Config{Providers: []Provider{newFakeProvider()}, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{core: core, rdb: rdb, clock: newClock(), pay: newFakeProvider()}
	f.clock.Set(time.Now())
	f.event(t, 10, 4)
	if _, _, err := core.PlaceHold(context.Background(), f.holdReq("a", 3)); err != nil {
		t.Fatal(err)
	}
	if err := core.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		`crowdgate_booking_tickets{event="gig",state="available",ticket_type="ga"}`: 7,
		`crowdgate_booking_tickets{event="gig",state="held",ticket_type="ga"}`:      3,
		`crowdgate_booking_tickets{event="gig",state="sold",ticket_type="ga"}`:      0,
		`crowdgate_booking_inventory_drift{event="gig",ticket_type="ga"}`:           0,
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			got[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}
