package admission

import (
	"context"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

func TestAdaptStep(t *testing.T) {
	ms := time.Millisecond
	both := queue.Room{AdmitPerMinute: 1000, Adaptive: true, AdaptiveMaxCheckouts: 4000, AdaptiveP99Ms: 250}
	p99 := queue.Room{AdmitPerMinute: 1000, Adaptive: true, AdaptiveP99Ms: 250}
	held := queue.Room{AdmitPerMinute: 1000, Adaptive: true, AdaptiveMaxCheckouts: 4000}
	healthy := BookingHealth{HeldTickets: 1000, P99: 100 * ms, Samples: 500}
	for _, tc := range []struct {
		name    string
		rate    float64
		room    queue.Room
		h       BookingHealth
		known   bool
		waiting int64
		want    float64
		why     string
	}{
		{"healthy: add a tenth of the organizer's rate", 500, both, healthy, true, 10, 600, "1,000 held, p99 100 ms: room to grow"},
		{"no further than the organizer's rate", 950, both, healthy, true, 10, 1000, "room to grow"},
		{"at the organizer's rate", 1000, both, healthy, true, 10, 1000, "at the organizer's rate"},
		{"organizer lowered the rate", 1000, queue.Room{AdmitPerMinute: 300, Adaptive: true, AdaptiveP99Ms: 250}, healthy, true, 10, 300, "at the organizer's rate"},
		{"nobody waiting: no creeping up", 500, both, healthy, true, 0, 500, "nobody waiting"},
		{"p99 over the target", 500, both, BookingHealth{HeldTickets: 1000, P99: 412 * ms, Samples: 500}, true, 10, 350, "p99 412 ms > 250 ms"},
		{"checkouts over the target", 500, both, BookingHealth{HeldTickets: 4001, P99: 100 * ms, Samples: 500}, true, 10, 350, "4,001 held > 4,000"},
		{"both over", 500, both, BookingHealth{HeldTickets: 5000, P99: 300 * ms, Samples: 500}, true, 10, 350, "5,000 held > 4,000; p99 300 ms > 250 ms"},
		{"floor: 1% of the organizer's rate", 12, both, BookingHealth{HeldTickets: 5000, Samples: 0}, true, 10, 10, "5,000 held > 4,000"},
		{"at the floor", 10, both, BookingHealth{HeldTickets: 5000}, true, 10, 10, "at the floor"},
		{"floor at least 1/min", 1.2, queue.Room{AdmitPerMinute: 30, Adaptive: true, AdaptiveMaxCheckouts: 10}, BookingHealth{HeldTickets: 11}, true, 10, 1, "11 held > 10"},
		{"near the p99 target: hold", 500, p99, BookingHealth{P99: 210 * ms, Samples: 500}, true, 10, 500, "p99 210 ms, near 250 ms: holding"},
		{"near the checkout target: hold", 500, held, BookingHealth{HeldTickets: 3200}, true, 10, 500, "3,200 held, near 4,000: holding"},
		{"exactly at the checkout target: hold", 500, held, BookingHealth{HeldTickets: 4000}, true, 10, 500, "holding"},
		{"few samples: p99 is noise", 500, p99, BookingHealth{P99: 900 * ms, Samples: 49}, true, 10, 600, "p99 not known (49 requests): room to grow"},
		{"fast: a decimal", 500, p99, BookingHealth{P99: 420 * time.Microsecond, Samples: 500}, true, 10, 600, "p99 0.4 ms: room to grow"},
		{"checkouts alone ignore latency", 500, held, BookingHealth{HeldTickets: 10, P99: time.Second, Samples: 500}, true, 10, 600, "10 held: room to grow"},
		{"no reading: hold", 500, both, BookingHealth{}, false, 10, 500, "no reading"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := adaptStep(tc.rate, tc.room, tc.h, tc.known, OriginHealth{}, tc.waiting, recentNone)
			if math.Abs(got-tc.want) > 1e-9 || !strings.Contains(why, tc.why) {
				t.Fatalf("adaptStep = %v %q, want %v %q", got, why, tc.want, tc.why)
			}
		})
	}
}

// TestAdaptiveControllersShareSteps: two instances' controllers steer one
// room over a shared Redis. While the booking core reports a slow p99 the
// rate falls by 0.7 a step, and while it is healthy it climbs back to the
// organizer's rate by a tenth of it a step; however the two race, exactly
// one step lands per interval, never two compounded.
func TestAdaptiveControllersShareSteps(t *testing.T) {
	rs := queuetest.Run(t)
	clk := newClock()
	ctx := context.Background()
	var slow atomic.Bool
	health := func(string) (BookingHealth, bool) {
		if slow.Load() {
			return BookingHealth{HeldTickets: 10, P99: 400 * time.Millisecond, Samples: 800}, true
		}
		return BookingHealth{HeldTickets: 10, P99: 40 * time.Millisecond, Samples: 800}, true
	}
	ctls, regs, store := adaptiveInstances(t, rs, 2, Config{Now: clk.Now, Health: health})
	if _, err := store.PutRoom(ctx, queue.Room{Name: "r", AdmitPerMinute: 600, Adaptive: true, AdaptiveP99Ms: 250}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := store.Join(ctx, "r", ""); err != nil {
			t.Fatal(err)
		}
	}
	rate := func() float64 {
		st, _, err := store.Adaptive(ctx, "r", 0)
		if err != nil {
			t.Fatal(err)
		}
		return st.Rate
	}
	// round lets both controllers propose a step at once, AdaptEvery after
	// the last round.
	round := func(d time.Duration) {
		t.Helper()
		clk.Add(d)
		adaptRound(t, ctls...)
	}
	if r := rate(); r != 60 {
		t.Fatalf("started at %v/min, want a tenth of 600", r)
	}
	want := 60.0
	for want < 600 {
		round(2 * time.Second)
		want += 60
		if r := rate(); r != want {
			t.Fatalf("healthy: rate %v, want %v", r, want)
		}
	}
	round(2 * time.Second)
	if r := rate(); r != 600 {
		t.Fatalf("past the organizer's rate: %v", r)
	}

	slow.Store(true)
	for want > 6 {
		round(2 * time.Second)
		want = math.Max(6, math.Round(want*0.7*1000)/1000)
		if r := rate(); r != want {
			t.Fatalf("slow: rate %v, want %v", r, want)
		}
		round(time.Second) // within the gap: no step
		if r := rate(); r != want {
			t.Fatalf("stepped within the gap: %v, want %v", r, want)
		}
	}
	for _, reg := range regs {
		if g := adaptiveGauges(t, reg); len(g) != 1 || g["r"] != 6 {
			t.Fatalf("gauges %v, want r: 6", g)
		}
	}
	_, log, err := store.Adaptive(ctx, "r", 1)
	if err != nil || len(log) != 1 || log[0].Reason != "p99 400 ms > 250 ms" || log[0].To != 6 {
		t.Fatalf("latest decision %+v %v", log, err)
	}

	slow.Store(false)
	steps := 0
	for rate() < 600 {
		round(2 * time.Second)
		steps++
	}
	if steps != 10 { // 6 → 66 → … → 546 → 600
		t.Fatalf("recovered in %d steps, want 10", steps)
	}
	if e := ctls[0].Estimate(queue.Room{Name: "r", AdmitPerMinute: 600, Adaptive: true}, 600, clk.Now()); e.Expected != time.Minute {
		t.Fatalf("ETA of 600th at 600/min: %v", e.Expected)
	}

	// Paused: the rate holds, whatever the reading.
	prev, _ := store.GetRoom(ctx, "r")
	next := prev
	next.Paused = true
	if err := store.UpdateRoom(ctx, prev, next); err != nil {
		t.Fatal(err)
	}
	slow.Store(true)
	round(2 * time.Second)
	if r := rate(); r != 600 {
		t.Fatalf("paused room stepped to %v", r)
	}
	// Off: the gauge goes.
	prev = next
	next.Adaptive = false
	if err := store.UpdateRoom(ctx, prev, next); err != nil {
		t.Fatal(err)
	}
	round(2 * time.Second)
	if g := adaptiveGauges(t, regs[0]); len(g) != 0 {
		t.Fatalf("adaptive gauges %v after switching it off", g)
	}
}

// adaptiveInstances returns n instances' controllers, configured as cfg
// with a registry each, and one of their stores, all over rs.
func adaptiveInstances(t *testing.T, rs *queuetest.Server, n int, cfg Config) ([]*Controller, []*prometheus.Registry, *queue.Store) {
	t.Helper()
	var ctls []*Controller
	var regs []*prometheus.Registry
	var store *queue.Store
	for range n {
		s, err := queue.NewStore(rs.Client(t), queue.Config{Now: cfg.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		keys, err := NewKeyring(context.Background(), s, KeyringConfig{Now: cfg.Now})
		if err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.Registerer = prometheus.NewRegistry()
		ctl, err := NewController(s, keys, c)
		if err != nil {
			t.Fatal(err)
		}
		ctls, regs, store = append(ctls, ctl), append(regs, c.Registerer.(*prometheus.Registry)), s
	}
	return ctls, regs, store
}

// adaptRound refreshes each controller's rooms, then lets them all
// propose a step at once.
func adaptRound(t *testing.T, ctls ...*Controller) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, c := range ctls {
		if err := c.refresh(ctx); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { c.adaptAll(ctx) })
	}
	wg.Wait()
}

// adaptiveGauges reads crowdgate_adaptive_rate_per_minute by room.
func adaptiveGauges(tb testing.TB, reg *prometheus.Registry) map[string]float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "crowdgate_adaptive_rate_per_minute" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "room" {
					out[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}
