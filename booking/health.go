package booking

import (
	"sort"
	"sync"
	"time"
)

// latencyWindow keeps the latencies of this instance's recent booking
// requests (holds and checkouts), for the admission controller's adaptive
// mode: a p99 over the last few seconds is the booking core's health as a
// fan feels it. It is a ring of fixed size, so it costs the same at any
// load; at high load it covers less than the window, which only makes it
// react faster.
type latencyWindow struct {
	mu      sync.Mutex
	samples [4096]latencySample
	next    int
	n       int
}

type latencySample struct {
	at time.Time
	d  time.Duration
}

func (w *latencyWindow) add(at time.Time, d time.Duration) {
	w.mu.Lock()
	w.samples[w.next] = latencySample{at, d}
	w.next = (w.next + 1) % len(w.samples)
	w.n = min(w.n+1, len(w.samples))
	w.mu.Unlock()
}

// p99 returns the 99th percentile of the samples newer than since, and how
// many there were.
func (w *latencyWindow) p99(since time.Time) (time.Duration, int) {
	w.mu.Lock()
	ds := make([]time.Duration, 0, w.n)
	for i := 0; i < w.n; i++ {
		if s := w.samples[i]; s.at.After(since) {
			ds = append(ds, s.d)
		}
	}
	w.mu.Unlock()
	if len(ds) == 0 {
		return 0, 0
	}
	sort.Slice(ds, func(a, b int) bool { return ds[a] < ds[b] })
	return ds[(len(ds)*99)/100], len(ds)
}

// healthWindow is how far back Health looks.
const healthWindow = 5 * time.Second

// Health is how the booking core behind a room is doing, for adaptive
// admission.
type Health struct {
	// HeldTickets are tickets in live holds behind the room: fans in the
	// middle of checking out (as of the last sweep).
	HeldTickets int64
	// P99 is this instance's 99th-percentile latency of holds and
	// checkouts over the last 5 s; Samples is how many it saw.
	P99     time.Duration
	Samples int
}

// Health reports the booking core's load behind room.
func (c *Core) Health(room string) Health {
	t, _ := c.Tickets(room)
	p99, n := c.latency.p99(c.cfg.Now().Add(-healthWindow))
	return Health{HeldTickets: t.Held, P99: p99, Samples: n}
}
