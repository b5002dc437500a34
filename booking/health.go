package booking

import "time"

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
	l := c.latency.Read(c.cfg.Now().Add(-healthWindow))
	return Health{HeldTickets: t.Held, P99: l.P99, Samples: l.Samples}
}
