package admission

import (
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/queue"
)

func TestEstimate(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := &Controller{}
	c.rooms.Store(&map[string]roomState{})
	room := queue.Room{Name: "r", AdmitPerMinute: 600}
	// Cold: the configured 10/s.
	if e := c.Estimate(room, 100, now); e.Expected != 10*time.Second || e.Low >= e.Expected || e.High <= e.Expected {
		t.Fatalf("cold: %+v", e)
	}
	if e := c.Estimate(queue.Room{Name: "r", AdmitPerMinute: 600, Paused: true}, 100, now); e != unknownETA {
		t.Fatalf("paused: %+v", e)
	}
	if e := c.Estimate(queue.Room{Name: "r"}, 100, now); e != unknownETA {
		t.Fatalf("rate 0: %+v", e)
	}
	pre := queue.Room{Name: "r", AdmitPerMinute: 600, SaleStartsAt: now.Add(time.Minute)}
	if e := c.Estimate(pre, 100, now); e.Expected != 70*time.Second {
		t.Fatalf("prequeue: %+v", e)
	}

	// Warm: max_active holds admissions to 5/s and 1/s give up; the
	// observed rates win over the configured one, and settle smoothly.
	var st roomState
	var admitted, abandoned int64
	for i := range 60 {
		at := now.Add(time.Duration(i) * 500 * time.Millisecond)
		admitted += 2 + int64(i%2) // 2.5 per half second on average: 5/s
		if i%2 == 0 {
			abandoned++ // 1/s
		}
		st = roomState{room: room, stats: queue.Stats{AdmittedTotal: admitted, AbandonedTotal: abandoned, Waiting: 1000}}.sample(st, at, 600)
	}
	if admit, abandon := st.rates(); !st.warm || admit < 4.5 || admit > 5.5 || abandon < 0.6 || abandon > 1.4 {
		t.Fatalf("smoothed rates %+v", st)
	}
	c.rooms.Store(&map[string]roomState{"r": st})
	e := c.Estimate(room, 1000, now)
	// 1000 people drain at ~5 + 1 = 6/s: ~167 s; high ignores abandonment.
	if e.Expected < 150*time.Second || e.Expected > 185*time.Second || e.High < 220*time.Second {
		t.Fatalf("warm: %+v", e)
	}
}
