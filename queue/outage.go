package queue

import (
	"log/slog"
	"sync"
	"time"
)

// outageReminder is how often a store that is still failing is mentioned
// again, so a long outage shows in a log tail without flooding it.
const outageReminder = time.Minute

// Outage turns a failing store's stream of errors (every loop of every
// component fails on every tick for every room: about 130 lines in 10 s
// for a single room) into a few lines per component: "store unreachable"
// at ERROR on the first failure, "store still unreachable" at most once a
// minute while it lasts, and "store reachable again" at INFO once the
// component's loop gets through a whole pass, with how long it was down
// and how many failures went unlogged. Safe for concurrent use.
type Outage struct {
	log       *slog.Logger
	component string
	now       func() time.Time

	mu       sync.Mutex
	down     bool
	since    time.Time // when it went down
	failures int       // since it went down
	said     time.Time // the last line about it
	lastErr  error
	failed   bool // a failure since the last pass
}

// NewOutage returns the outage log of one component ("admission",
// "websocket", "booking"...); now defaults to time.Now.
func NewOutage(log *slog.Logger, component string, now func() time.Time) *Outage {
	if now == nil {
		now = time.Now
	}
	return &Outage{log: log, component: component, now: now}
}

// Fail records one failed store operation: op names it ("admit", "sweep"),
// attrs say on what (room).
func (o *Outage) Fail(op string, err error, attrs ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	o.failed, o.lastErr = true, err
	if !o.down {
		o.down, o.since, o.failures, o.said = true, now, 1, now
		o.log.Error("store unreachable", append([]any{"component", o.component, "op", op, "err", err}, attrs...)...)
		return
	}
	o.failures++
	if now.Sub(o.said) >= outageReminder {
		o.said = now
		o.log.Error("store still unreachable", "component", o.component, "down_ms", ms(now.Sub(o.since)),
			"failures", o.failures, "op", op, "err", err)
	}
}

// Pass records that a whole pass of the component's loop (a refresh, a
// tick) is done. The store counts as reachable again only when nothing
// failed since the pass before, so one room whose every admission fails
// does not make the log flap between down and up.
func (o *Outage) Pass() {
	o.mu.Lock()
	defer o.mu.Unlock()
	failed := o.failed
	o.failed = false
	if !o.down || failed {
		return
	}
	o.down = false
	o.log.Info("store reachable again", "component", o.component, "down_ms", ms(o.now().Sub(o.since)),
		"failures", o.failures, "suppressed", o.failures-1, "last_err", o.lastErr)
}

// OK records that a component whose loop makes one store call per pass
// (a sampler, a probe) got through one: the store is back at once, since
// nothing else of the component can have failed since.
func (o *Outage) OK() {
	o.mu.Lock()
	o.failed = false
	o.mu.Unlock()
	o.Pass()
}

// ms is a duration as log lines give it: milliseconds, with a fraction.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
