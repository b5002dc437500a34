package admission

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// Bypass rules (queue/bypass.go) are judged by the gateway, which reads a
// request; the controller counts what they let through, per instance in
// crowdgate_bypass_total and deployment-wide in the room's stats, added
// with the refusals at each refresh.

func newBypassMetric() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crowdgate_bypass_total", Help: "Requests this instance let through a room without an admission, by the bypass rule that matched (cidr, header, path).",
	}, []string{"room", "rule"})
}

// CountBypass counts a request that one of room's bypass rules (rule, one
// of queue.BypassRules) let through. The caller read the room's rules, so
// the room exists: made-up names never get a series.
func (c *Controller) CountBypass(room, rule string) {
	c.label(room)
	c.bypassed.WithLabelValues(room, rule).Inc()
	c.bypasses.add(room, rule, 1)
}

// flushBypasses adds the bypassed requests counted since the last flush to
// the rooms' deployment-wide counts; on an error they wait for the next.
func (c *Controller) flushBypasses(ctx context.Context) error {
	m := c.bypasses.take()
	if len(m) == 0 {
		return nil
	}
	if err := c.store.AddBypasses(ctx, m); err != nil {
		for room, byRule := range m {
			for rule, n := range byRule {
				c.bypasses.add(room, rule, n)
			}
		}
		return err
	}
	return nil
}
