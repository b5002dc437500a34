package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// spin keeps Redis busy for ARGV[1] microseconds: every command from every
// client waits behind it, as behind a Redis (or a booking core) overloaded
// for real.
const spin = `local t = redis.call('TIME')
local start = t[1] * 1000000 + t[2]
repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - start >= tonumber(ARGV[1])
return 0`

// TestAdaptiveAdmissionSlowBookingCore runs the admission controller with
// a real booking core on one private redis-server, wired as serve wires
// them, while fans keep placing holds. An adaptive room climbs to the
// organizer's rate; slowing Redis down on purpose (a script that holds it
// busy 60 ms in every 80) pushes the booking p99 over the room's 40 ms
// target, and the rate falls below the organizer's; once the slowdown
// stops, it climbs back. Steps are every 250 ms here (2 s in production).
func TestAdaptiveAdmissionSlowBookingCore(t *testing.T) {
	if testing.Short() {
		t.Skip("about 20 s of real time")
	}
	rs := queuetest.Run(t)
	if !rs.Real {
		t.Skip("needs a real redis-server to slow down")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb := rs.Client(t)
	store, err := queue.NewStore(rdb, queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	keys, err := admission.NewKeyring(ctx, store, admission.KeyringConfig{})
	if err != nil {
		t.Fatal(err)
	}
	core, err := booking.NewCore(rdb, booking.Config{})
	if err != nil {
		t.Fatal(err)
	}
	const step = 250 * time.Millisecond
	ctl, err := admission.NewController(store, keys, admission.Config{
		Tick: 20 * time.Millisecond, Refresh: 50 * time.Millisecond, AdaptEvery: step, Health: bookingHealth(core),
	})
	if err != nil {
		t.Fatal(err)
	}
	const organizer = 600
	if _, err := store.PutRoom(ctx, queue.Room{Name: "sale", AdmitPerMinute: organizer, Adaptive: true, AdaptiveP99Ms: 40}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	if _, err := core.PutEvent(ctx, booking.Event{ID: "gig", Room: "sale", TicketTypes: []booking.TicketType{
		{ID: "ga", Name: "GA", Capacity: booking.MaxCapacity, PriceMinor: 100, Currency: "INR", PerOrderLimit: 1},
	}}); err != nil {
		t.Fatal(err)
	}
	for range 1000 { // more than the test admits: the line never empties
		if _, err := store.Join(ctx, "sale", ""); err != nil {
			t.Fatal(err)
		}
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		if err := ctl.Run(ctx); err != nil {
			t.Errorf("controller: %v", err)
		}
	})
	// Fans checking out: hold a ticket, give it back, again.
	var holds, failed atomic.Int64
	for f := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				visitor := fmt.Sprintf("fan-%d-%d", f, i)
				h, _, err := core.PlaceHold(ctx, booking.HoldRequest{
					Event: "gig", Room: "sale", TicketType: "ga", Quantity: 1, Visitor: visitor,
					AdmissionExpires: time.Now().Add(time.Hour),
				})
				if err == nil {
					holds.Add(1)
					err = core.Release(ctx, h.ID, visitor)
				}
				if err != nil && ctx.Err() == nil {
					failed.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	// Redis slowed down on purpose while slow is set.
	var slow atomic.Bool
	wg.Go(func() {
		for ctx.Err() == nil {
			if slow.Load() {
				_ = rdb.Eval(ctx, spin, nil, 60000).Err()
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	rate := func() queue.AdaptiveState {
		st, _, err := store.Adaptive(ctx, "sale", 0)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	health := func() string {
		h := core.Health("sale")
		return fmt.Sprintf("p99 %v over %d holds", h.P99.Round(time.Millisecond), h.Samples)
	}
	waitFor := func(what string, within time.Duration, cond func(queue.AdaptiveState) bool) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			st := rate()
			if cond(st) {
				return time.Since(start)
			}
			if time.Since(start) > within {
				t.Fatalf("%s: not within %v; rate %.3f/min (%s), booking %s", what, within, st.Rate, st.Reason, health())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	climb := waitFor("climb to the organizer's rate", 20*time.Second, func(st queue.AdaptiveState) bool { return st.Rate == organizer })
	t.Logf("healthy: 60 → %d/min in %v; booking %s", organizer, climb.Round(time.Millisecond), health())

	slow.Store(true)
	fell := waitFor("fall below the organizer's rate", 10*time.Second, func(st queue.AdaptiveState) bool { return st.Rate < organizer })
	st := rate()
	t.Logf("slowed: below %d/min after %v (%.1f/min: %s)", organizer, fell.Round(time.Millisecond), st.Rate, st.Reason)
	half := waitFor("fall to half", 10*time.Second, func(st queue.AdaptiveState) bool { return st.Rate <= organizer/2 })
	time.Sleep(3 * time.Second)
	st = rate()
	t.Logf("slowed: at half (%d/min) %v after the slowdown began, %.1f/min 3 s later; booking %s", organizer/2, (fell + half).Round(time.Millisecond), st.Rate, health())
	if st.Rate > organizer/2 {
		t.Fatalf("the rate came back up while Redis was slow: %.1f/min (%s)", st.Rate, st.Reason)
	}

	slow.Store(false)
	low := st.Rate
	back := waitFor("climb back to the organizer's rate", 40*time.Second, func(st queue.AdaptiveState) bool {
		low = min(low, st.Rate)
		return st.Rate == organizer
	})
	t.Logf("recovered: back at %d/min %v after the slowdown stopped (lowest %.1f/min); booking %s", organizer, back.Round(time.Millisecond), low, health())

	_, log, err := store.Adaptive(ctx, "sale", queue.AdaptiveDecisionsKept)
	if err != nil {
		t.Fatal(err)
	}
	over := 0
	for _, d := range log {
		if d.To < d.From && len(d.Reason) > 4 && d.Reason[:4] == "p99 " {
			over++
		}
	}
	if over == 0 {
		t.Fatalf("no decrease for the booking p99 among %+v", log)
	}
	t.Logf("%d holds placed (%d failed); latest decision: %v → %v/min, %q", holds.Load(), failed.Load(), log[0].From, log[0].To, log[0].Reason)
}
