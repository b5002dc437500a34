package latency_test

import (
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/internal/latency"
)

func TestWindowReadsTheSpanAsked(t *testing.T) {
	var w latency.Window
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if r := w.Read(t0.Add(-time.Hour)); r != (latency.Reading{}) {
		t.Fatalf("empty window: %+v", r)
	}
	// 200 requests of 1..200 ms, one a millisecond; every tenth failed.
	for i := 1; i <= 200; i++ {
		w.Add(t0.Add(time.Duration(i)*time.Millisecond), time.Duration(i)*time.Millisecond, i%10 == 0)
	}
	for _, tc := range []struct {
		name  string
		since time.Time
		want  latency.Reading
	}{
		{"all of them", t0, latency.Reading{P99: 199 * time.Millisecond, Samples: 200, Failed: 20}},
		{"the last 100", t0.Add(100 * time.Millisecond), latency.Reading{P99: 200 * time.Millisecond, Samples: 100, Failed: 10}},
		{"under 100: the slowest", t0.Add(190 * time.Millisecond), latency.Reading{P99: 200 * time.Millisecond, Samples: 10, Failed: 1}},
		{"none after the last", t0.Add(200 * time.Millisecond), latency.Reading{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := w.Read(tc.since); r != tc.want {
				t.Fatalf("Read = %+v, want %+v", r, tc.want)
			}
		})
	}
}

func TestWindowKeepsTheLatestSize(t *testing.T) {
	var w latency.Window
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	// Size slow failures, then Size fast successes: only the latter remain.
	for i := range 2 * latency.Size {
		slow := i < latency.Size
		d := time.Millisecond
		if slow {
			d = time.Second
		}
		w.Add(t0.Add(time.Duration(i)), d, slow)
	}
	if r := w.Read(t0); r != (latency.Reading{P99: time.Millisecond, Samples: latency.Size}) {
		t.Fatalf("Read = %+v, want only the last %d", r, latency.Size)
	}
}

func TestWindowTakesConcurrentWriters(t *testing.T) {
	var w latency.Window
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				w.Add(t0.Add(time.Second), time.Duration(g*100+i), false)
				_ = w.Read(t0)
			}
		})
	}
	wg.Wait()
	if r := w.Read(t0); r.Samples != 800 || r.Failed != 0 {
		t.Fatalf("Read = %+v, want 800 samples", r)
	}
}
