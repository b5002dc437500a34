package admission

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

func TestAdaptStepFollowsTheOrigin(t *testing.T) {
	ms := time.Millisecond
	origin := queue.Room{AdmitPerMinute: 1000, Adaptive: true, AdaptiveOriginP99Ms: 500, AdaptiveOriginErrorPercent: 2}
	latencyOnly := queue.Room{AdmitPerMinute: 1000, Adaptive: true, AdaptiveOriginP99Ms: 500}
	errorsOnly := queue.Room{AdmitPerMinute: 1000, Adaptive: true, AdaptiveOriginErrorPercent: 2}
	withBooking := queue.Room{AdmitPerMinute: 1000, Adaptive: true, AdaptiveP99Ms: 250, AdaptiveOriginP99Ms: 500}
	healthy := OriginHealth{P99: 120 * ms, Answers: 1000}
	booking := BookingHealth{P99: 100 * ms, Samples: 500}
	for _, tc := range []struct {
		name  string
		room  queue.Room
		h     BookingHealth
		known bool
		o     OriginHealth
		want  float64
		why   string
	}{
		// Rises shrink as the origin nears a target: at 24% of the p99
		// target, 70% of a tenth of the organizer's rate.
		{"healthy origin: step up", origin, BookingHealth{}, false, healthy, 570, "origin p99 120 ms, origin 5xx 0%: room to grow"},
		{"nearly near: the smallest rise", origin, BookingHealth{}, false, OriginHealth{P99: 395 * ms, Answers: 1000}, 520, "origin p99 395 ms, origin 5xx 0%: room to grow"},
		{"errors count towards the load", errorsOnly, BookingHealth{}, false, OriginHealth{Answers: 1000, Failed: 8}, 550, "origin 5xx 0.8%: room to grow"},
		{"slow origin: back off", origin, BookingHealth{}, false, OriginHealth{P99: 812 * ms, Answers: 1000}, 350, "origin p99 812 ms > 500 ms"},
		{"failing origin: back off", origin, BookingHealth{}, false, OriginHealth{P99: 120 * ms, Answers: 1000, Failed: 70}, 350, "origin 5xx 7% > 2%"},
		{"slow and failing", origin, BookingHealth{}, false, OriginHealth{P99: 900 * ms, Answers: 200, Failed: 5}, 350, "origin p99 900 ms > 500 ms; origin 5xx 2.5% > 2%"},
		{"near the latency target: hold", origin, BookingHealth{}, false, OriginHealth{P99: 420 * ms, Answers: 1000}, 500, "origin p99 420 ms, near 500 ms: holding"},
		{"near the error target: hold", origin, BookingHealth{}, false, OriginHealth{P99: 120 * ms, Answers: 1000, Failed: 17}, 500, "origin 5xx 1.7%, near 2%: holding"},
		{"exactly at the error target: hold", errorsOnly, BookingHealth{}, false, OriginHealth{Answers: 1000, Failed: 20}, 500, "origin 5xx 2%, near 2%: holding"},
		{"too few answers: not known", origin, BookingHealth{}, false, OriginHealth{P99: 5 * time.Second, Answers: 49, Failed: 49}, 600, "origin not known (49 answers): room to grow"},
		{"latency alone ignores errors", latencyOnly, BookingHealth{}, false, OriginHealth{P99: 120 * ms, Answers: 1000, Failed: 900}, 570, "origin p99 120 ms: room to grow"},
		{"errors alone ignore latency", errorsOnly, BookingHealth{}, false, OriginHealth{P99: time.Minute, Answers: 1000}, 600, "origin 5xx 0%: room to grow"},
		{"beside the booking core: both read", withBooking, booking, true, healthy, 570, "p99 100 ms, origin p99 120 ms: room to grow"},
		{"beside the booking core: the origin alone over", withBooking, booking, true, OriginHealth{P99: 600 * ms, Answers: 1000}, 350, "origin p99 600 ms > 500 ms"},
		{"beside the booking core: the booking core alone over", withBooking, BookingHealth{P99: 300 * ms, Samples: 500}, true, healthy, 350, "p99 300 ms > 250 ms"},
		{"booking targets without a booking reading: hold", withBooking, BookingHealth{}, false, OriginHealth{P99: 600 * ms, Answers: 1000}, 500, "no reading of the booking core"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := adaptStep(500, tc.room, tc.h, tc.known, tc.o, 10, recentNone)
			if math.Abs(got-tc.want) > 1e-9 || !strings.Contains(why, tc.why) {
				t.Fatalf("adaptStep = %v %q, want %v %q", got, why, tc.want, tc.why)
			}
		})
	}
}

// TestAdaptStepWaitsOutItsLag: a room that steers by its origin cuts
// again only once its last cut has had time to show in the reading, and
// rises only once its last change has; over the target just after a rise,
// it cuts at once. A room that steers by the booking core alone steps
// every period, as before.
func TestAdaptStepWaitsOutItsLag(t *testing.T) {
	ms := time.Millisecond
	origin := queue.Room{AdmitPerMinute: 1000, Adaptive: true, AdaptiveOriginP99Ms: 500}
	booking := queue.Room{AdmitPerMinute: 1000, Adaptive: true, AdaptiveP99Ms: 250}
	slowOrigin, fastOrigin := OriginHealth{P99: 800 * ms, Answers: 1000}, OriginHealth{P99: 100 * ms, Answers: 1000}
	slowBooking, fastBooking := BookingHealth{P99: 400 * ms, Samples: 500}, BookingHealth{P99: 50 * ms, Samples: 500}
	for _, tc := range []struct {
		name   string
		room   queue.Room
		h      BookingHealth
		o      OriginHealth
		recent int
		want   float64
		why    string
	}{
		{"over after a cut: wait", origin, BookingHealth{}, slowOrigin, recentCut, 500, "origin p99 800 ms > 500 ms: waiting out the last cut"},
		{"over after a rise: cut at once", origin, BookingHealth{}, slowOrigin, recentRise, 350, "origin p99 800 ms > 500 ms"},
		{"over, settled: cut", origin, BookingHealth{}, slowOrigin, recentNone, 350, "origin p99 800 ms > 500 ms"},
		{"room to grow after a rise: wait", origin, BookingHealth{}, fastOrigin, recentRise, 500, "origin p99 100 ms: room to grow, waiting out the last change"},
		{"room to grow after a cut: wait", origin, BookingHealth{}, fastOrigin, recentCut, 500, "waiting out the last change"},
		{"room to grow, settled: rise", origin, BookingHealth{}, fastOrigin, recentNone, 575, "origin p99 100 ms: room to grow"},
		{"booking core: cut after a cut", booking, slowBooking, OriginHealth{}, recentCut, 350, "p99 400 ms > 250 ms"},
		{"booking core: rise after a rise", booking, fastBooking, OriginHealth{}, recentRise, 600, "p99 50 ms: room to grow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := adaptStep(500, tc.room, tc.h, true, tc.o, 10, tc.recent)
			if math.Abs(got-tc.want) > 1e-9 || why != tc.why && !strings.HasPrefix(why, tc.why+":") && !strings.HasSuffix(why, tc.why) {
				t.Fatalf("adaptStep = %v %q, want %v %q", got, why, tc.want, tc.why)
			}
		})
	}
}

func TestMergeOriginReadings(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name string
		in   []queue.OriginReading
		want OriginHealth
	}{
		{"none", nil, OriginHealth{}},
		{"one", []queue.OriginReading{{Answers: 300, Failed: 3, P99: 80 * ms}}, OriginHealth{P99: 80 * ms, Answers: 300, Failed: 3}},
		{"answers and failures add up; the slowest p99 of those with enough answers",
			[]queue.OriginReading{{Answers: 300, Failed: 3, P99: 80 * ms}, {Answers: 60, Failed: 6, P99: 200 * ms}, {Answers: 10, P99: 900 * ms}},
			OriginHealth{P99: 200 * ms, Answers: 370, Failed: 9}},
		{"none with enough: the slowest outright",
			[]queue.OriginReading{{Answers: 30, P99: 80 * ms}, {Answers: 40, P99: 300 * ms}, {}},
			OriginHealth{P99: 300 * ms, Answers: 70}},
		{"an instance without answers counts for nothing", []queue.OriginReading{{}, {P99: time.Hour}}, OriginHealth{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mergeOrigin(tc.in); got != tc.want {
				t.Fatalf("mergeOrigin = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestAdaptiveOriginAcrossInstances: two instances steer a room by its
// origin, and only one of them proxies its visitors (it alone sees the
// origin's answers). The other takes every step, on the first one's
// shared reading: the rate falls while the origin is slow, then while it
// fails, and climbs back once it is healthy, each rise waited out for
// adaptSettleSteps periods before the next. A room that does not steer by
// its origin keeps no reading of it.
func TestAdaptiveOriginAcrossInstances(t *testing.T) {
	rs := queuetest.Run(t)
	clk := newClock()
	ctx := context.Background()
	ctls, _, store := adaptiveInstances(t, rs, 2, Config{Now: clk.Now})
	proxy, stepper := ctls[0], ctls[1]
	if _, err := store.PutRoom(ctx, queue.Room{Name: "r", AdmitPerMinute: 600, Adaptive: true,
		AdaptiveOriginP99Ms: 250, AdaptiveOriginErrorPercent: 5}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	if _, err := store.PutRoom(ctx, queue.Room{Name: "plain", AdmitPerMinute: 600}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := store.Join(ctx, "r", ""); err != nil {
			t.Fatal(err)
		}
	}
	adaptRound(t, ctls...) // both know the rooms
	state := func() queue.AdaptiveState {
		t.Helper()
		st, _, err := store.Adaptive(ctx, "r", 0)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// round: the proxying instance sees 100 answers and, 2 s on, shares
	// its reading (as its own adaptAll would); then the stepper steps. The
	// window holds two rounds of answers.
	round := func(took time.Duration, failed int) queue.AdaptiveState {
		t.Helper()
		for i := range 100 {
			proxy.ObserveOrigin("r", took, i < failed)
			proxy.ObserveOrigin("plain", took, false)
		}
		clk.Add(2 * time.Second)
		if _, err := proxy.originHealth(ctx, "r", clk.Now()); err != nil {
			t.Fatal(err)
		}
		adaptRound(t, stepper)
		return state()
	}
	if _, ok := proxy.origins.windows.Load("plain"); ok {
		t.Fatal("a room that does not steer by its origin keeps a reading of it")
	}

	// Healthy: two periods wait out the last change (the start, then each
	// rise), then a rise: a p99 of 20 ms is 8% of the target, so each is
	// 90% of a tenth of 600.
	want := 60.0
	for want < 600 {
		for range adaptSettleSteps - 1 {
			if st := round(20*time.Millisecond, 0); st.Rate != want || !strings.HasSuffix(st.Reason, "room to grow, waiting out the last change") {
				t.Fatalf("healthy origin, just after a change: rate %v (%s), want %v, waiting", st.Rate, st.Reason, want)
			}
		}
		st := round(20*time.Millisecond, 0)
		if want = math.Min(600, want+54); st.Rate != want {
			t.Fatalf("healthy origin: rate %v (%s), want %v", st.Rate, st.Reason, want)
		}
	}
	if st := round(400*time.Millisecond, 0); st.Rate >= 600 || !strings.HasPrefix(st.Reason, "origin p99 ") || !strings.Contains(st.Reason, "> 250 ms") {
		t.Fatalf("slow origin: %+v", st)
	}
	// The slow answers age out of the 5-s window, and the cut is waited
	// out (then a rise); then errors.
	for range adaptSettleSteps {
		round(20*time.Millisecond, 0)
	}
	before := state().Rate
	if st := round(20*time.Millisecond, 20); st.Rate >= before || !strings.Contains(st.Reason, "origin 5xx") {
		t.Fatalf("failing origin: from %v to %+v", before, st)
	}
	low := state().Rate
	if st := round(20*time.Millisecond, 0); st.Rate != low || !strings.HasSuffix(st.Reason, ": waiting out the last cut") {
		t.Fatalf("still failing, just after a cut: from %v to %+v, want waiting", low, st)
	}
	for range 8 * adaptSettleSteps {
		round(20*time.Millisecond, 0)
	}
	if st := state(); st.Rate != 600 {
		t.Fatalf("recovered origin: from %v back to only %+v", low, st)
	}
	_, log, err := store.Adaptive(ctx, "r", queue.AdaptiveDecisionsKept)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range log {
		if d.To > d.From && d.Reason != "origin p99 20 ms, origin 5xx 0%: room to grow" {
			t.Fatalf("a step up without the origin's reading: %+v", d)
		}
	}
}
