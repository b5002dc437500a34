package admission

import (
	"context"
	"crypto/rand"
	"sync"
	"time"

	"github.com/crowdgate/crowdgate/internal/latency"
	"github.com/crowdgate/crowdgate/queue"
)

// OriginHealth is how the origin behind a room answers the reverse proxy,
// every instance's readings merged: what adaptive admission steers by for
// a room's origin targets (queue.Room.AdaptiveOrigin).
type OriginHealth struct {
	// P99 is the 99th percentile of the time the origin took to its
	// response headers: the slowest instance's among those with at least
	// adaptMinSamples answers (an upper bound of the deployment's p99), or
	// with none that has, the slowest instance's outright (which, under
	// 100 answers in all, is exactly the deployment's).
	P99 time.Duration
	// Answers is how many proxied requests ended over the last
	// originWindow on every instance; Failed how many of them got a 5xx
	// or no answer at all.
	Answers, Failed int
}

// originWindow is how far back each instance's reading of an origin
// looks: as far as the booking core's p99 does.
const originWindow = 5 * time.Second

// originReadings are this instance's readings of the origins behind
// adaptive rooms with origin targets, as the gateway's reverse proxy
// reports them (ObserveOrigin).
type originReadings struct {
	// instance names this instance's reading among every instance's
	// (queue.Store.ShareOrigin).
	instance string
	windows  sync.Map // room → *latency.Window
}

func newOriginReadings() *originReadings {
	return &originReadings{instance: rand.Text()}
}

// ObserveOrigin records one answer of the origin behind room, for adaptive
// admission: took is the time to the response headers (or to the failure),
// failed says the origin answered 5xx or not at all. The reverse proxy
// calls it for every request it sends to the origin on a path room
// protects. Answers for rooms that do not steer by their origin are not
// kept.
func (c *Controller) ObserveOrigin(room string, took time.Duration, failed bool) {
	w, ok := c.origins.windows.Load(room)
	if !ok {
		st, known := (*c.rooms.Load())[room]
		if !known || !st.room.Adaptive || !st.room.AdaptiveOrigin() {
			return
		}
		w, _ = c.origins.windows.LoadOrStore(room, new(latency.Window))
	}
	w.(*latency.Window).Add(c.cfg.Now(), took, failed)
}

// originHealth publishes this instance's reading of room's origin and
// merges every instance's.
func (c *Controller) originHealth(ctx context.Context, room string, now time.Time) (OriginHealth, error) {
	var mine queue.OriginReading
	if w, ok := c.origins.windows.Load(room); ok {
		l := w.(*latency.Window).Read(now.Add(-originWindow))
		mine = queue.OriginReading{Answers: l.Samples, Failed: l.Failed, P99: l.P99}
	}
	// Every instance writes once per AdaptEvery; three periods of
	// silence mean it has gone (or stopped proxying the room).
	all, err := c.store.ShareOrigin(ctx, room, c.origins.instance, mine, 3*c.cfg.AdaptEvery)
	if err != nil {
		return OriginHealth{}, err
	}
	return mergeOrigin(all), nil
}

// mergeOrigin adds up instances' readings. Answers and failures add up
// exactly; a p99 does not, so the merged one is the slowest instance's
// among those with enough answers for a p99 to mean something.
func mergeOrigin(rs []queue.OriginReading) OriginHealth {
	var o OriginHealth
	var slowest, slowestEnough time.Duration
	enough := false
	for _, r := range rs {
		o.Answers += r.Answers
		o.Failed += r.Failed
		if r.Answers == 0 {
			continue
		}
		slowest = max(slowest, r.P99)
		if r.Answers >= adaptMinSamples {
			slowestEnough, enough = max(slowestEnough, r.P99), true
		}
	}
	o.P99 = slowest
	if enough {
		o.P99 = slowestEnough
	}
	return o
}

// forgetOrigins drops the readings of rooms that no longer steer by their
// origin.
func (c *Controller) forgetOrigins(rooms map[string]roomState) {
	c.origins.windows.Range(func(k, _ any) bool {
		if st, ok := rooms[k.(string)]; !ok || !st.room.Adaptive || !st.room.AdaptiveOrigin() {
			c.origins.windows.Delete(k)
		}
		return true
	})
}
