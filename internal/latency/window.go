package latency

import (
	"slices"
	"sync"
	"time"
)

// Size is how many requests a Window remembers. It is a ring of fixed
// size, so it costs the same at any load; at high load it covers less
// than the span a reader asks about, which only makes the reading react
// faster.
const Size = 4096

// Window keeps the latencies and outcomes of the last Size requests.
type Window struct {
	mu      sync.Mutex
	samples [Size]sample
	next    int
	n       int
}

type sample struct {
	at     int64 // Unix ns
	d      time.Duration
	failed bool
}

// Add records one request that ended at at, took d, and failed or not.
func (w *Window) Add(at time.Time, d time.Duration, failed bool) {
	w.mu.Lock()
	w.samples[w.next] = sample{at.UnixNano(), d, failed}
	w.next = (w.next + 1) % len(w.samples)
	w.n = min(w.n+1, len(w.samples))
	w.mu.Unlock()
}

// Reading is what a Window saw over a span.
type Reading struct {
	// P99 is the 99th percentile of the requests' latencies: with fewer
	// than 100 of them, the slowest.
	P99 time.Duration
	// Samples is how many requests ended in the span; Failed how many of
	// them failed.
	Samples, Failed int
}

// Read returns the reading of the requests that ended after since.
func (w *Window) Read(since time.Time) Reading {
	after := since.UnixNano()
	w.mu.Lock()
	ds := make([]time.Duration, 0, w.n)
	failed := 0
	for i := 0; i < w.n; i++ {
		if s := w.samples[i]; s.at > after {
			ds = append(ds, s.d)
			if s.failed {
				failed++
			}
		}
	}
	w.mu.Unlock()
	if len(ds) == 0 {
		return Reading{}
	}
	slices.Sort(ds)
	return Reading{P99: ds[(len(ds)*99)/100], Samples: len(ds), Failed: failed}
}
