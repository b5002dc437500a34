package booking

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// notifyFunc is a notification channel that hands every message to f.
type notifyFunc func(notify.Message)

func (f notifyFunc) Name() string { return "func" }

func (f notifyFunc) Deliver(_ context.Context, m notify.Message) error {
	f(m)
	return nil
}

// recorder is a notification channel that remembers what it delivered.
type recorder struct {
	mu   sync.Mutex
	seen map[string]int // "kind order" → deliveries
}

func (r *recorder) Name() string { return "recorder" }

func (r *recorder) Deliver(_ context.Context, n notify.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[n.Kind+" "+n.Order]++
	return nil
}

// TestRedisKilledMidCheckout runs a checkout load (hold, checkout, paid
// webhook) against a redis-server with appendfsync always, kills it with
// SIGKILL in the middle, restarts it from its AOF and carries on. Every
// order whose payment was acknowledged must still be paid, the books must
// balance exactly, and every acknowledged payment's notification must be
// delivered.
func TestRedisKilledMidCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts Redis")
	}
	srv := queuetest.Run(t, "--appendonly", "yes", "--appendfsync", "always")
	if !srv.Real {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this against redis-server")
		}
		t.Skip("needs redis-server: the embedded store has no AOF to survive a kill")
	}
	opts := srv.Options()
	opts.MaxRetries = -1 // the test retries by itself and counts what was acknowledged
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 200*time.Millisecond, time.Second, time.Second
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	pay := newFakeProvider()
	core, err := NewCore(rdb, Config{Providers: []Provider{pay}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const capacity = 100_000
	if _, err := core.PutEvent(ctx, Event{ID: "gig", Room: "launch", HoldSeconds: 600, TicketTypes: []TicketType{
		{ID: "ga", Name: "General", Capacity: capacity, PriceMinor: 100, Currency: "INR", PerOrderLimit: 4},
	}}); err != nil {
		t.Fatal(err)
	}

	var (
		paid     sync.Map // order id → true, for each acknowledged payment
		nPaid    atomic.Int64
		failures atomic.Int64
		stop     atomic.Bool
		visitors atomic.Int64
	)
	buy := func() error {
		v := fmt.Sprintf("v%d", visitors.Add(1))
		h, _, err := core.PlaceHold(ctx, HoldRequest{Event: "gig", Visitor: v, Room: "launch", TicketType: "ga", Quantity: 2,
			AdmissionExpires: time.Now().Add(time.Hour)})
		if err != nil {
			return err
		}
		o, err := core.Checkout(ctx, CheckoutRequest{HoldID: h.ID, Visitor: v, Provider: "fake"})
		if err != nil {
			return err
		}
		hd, body := pay.webhook(t, "evt_"+o.Payment.ID, WebhookSucceeded, o.Payment.ID, time.Now())
		what, err := core.Webhook(ctx, "fake", hd, body)
		if err != nil {
			return err
		}
		if what != "paid" {
			return fmt.Errorf("webhook did %q", what)
		}
		paid.Store(o.ID, true)
		nPaid.Add(1)
		return nil
	}
	// A notifier delivers all along, through the crash.
	rec := &recorder{seen: map[string]int{}}
	n, err := notify.New(rdb, notify.Config{Channels: []notify.Channel{rec}, Sources: []notify.Source{core.Outboxes}, Poll: 20 * time.Millisecond, Lease: time.Second, MinBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	nctx, stopNotifier := context.WithCancel(ctx)
	notifierDone := make(chan error)
	go func() { notifierDone <- n.Run(nctx) }()

	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for !stop.Load() {
				if err := buy(); err != nil {
					var netErr interface{ Timeout() bool }
					if !errors.As(err, &netErr) && !isConnErr(err) {
						t.Errorf("not a connection failure: %v", err)
					}
					failures.Add(1)
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	waitFor(t, func() bool { return nPaid.Load() >= 300 })
	before := nPaid.Load()
	srv.Stop() // SIGKILL
	time.Sleep(300 * time.Millisecond)
	srv.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	waitFor(t, func() bool { return nPaid.Load() >= before+300 })
	stop.Store(true)
	wg.Wait()
	if failures.Load() == 0 {
		t.Fatal("no request failed: Redis was not killed under load")
	}

	lost := 0
	paid.Range(func(k, _ any) bool {
		o, err := core.Order(ctx, k.(string))
		if err != nil || o.Status != StatusPaid {
			lost++
			t.Errorf("acknowledged order %s: %+v %v", k, o, err)
		}
		return true
	})
	a, err := core.Audit(ctx, "gig")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Problems {
		t.Errorf("books after the crash: %s", p)
	}

	stopNotifier()
	if err := <-notifierDone; err != nil {
		t.Fatal(err)
	}
	// What was in flight when Redis died is taken back after the lease.
	missing := func() int {
		m := 0
		paid.Range(func(k, _ any) bool {
			if rec.seen["order.paid "+k.(string)] == 0 {
				m++
			}
			return true
		})
		return m
	}
	for deadline := time.Now().Add(20 * time.Second); missing() > 0 && time.Now().Before(deadline); {
		if _, err := n.Process(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("acknowledged paid orders: %d (%d before the kill); failed attempts during the outage: %d; lost orders: %d; orders by status %v; missing notifications: %d",
		nPaid.Load(), before, failures.Load(), lost, a.Orders, missing())
	if m := missing(); m > 0 {
		t.Fatalf("%d acknowledged payments have no delivered notification", m)
	}
}

// isConnErr reports whether err is Redis going away or coming back.
func isConnErr(err error) bool {
	s := err.Error()
	for _, sub := range []string{"connection refused", "EOF", "broken pipe", "connection reset", "no such file", "LOADING", "i/o timeout"} {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
