package admission

import (
	"context"

	"github.com/crowdgate/crowdgate/queue"
)

// NotifyWaiters runs one pass of the waiter notifications that Run's sweep
// makes every second, for tests that drive the clock.
func NotifyWaiters(c *Controller, ctx context.Context) error { return c.notifyWaiters(ctx) }

// TurnNear exposes the rule that decides when a waiter's turn is near.
var TurnNear = (*Controller).turnNear

// Cached returns room as c's cache of rooms holds it.
func Cached(c *Controller, room string) (queue.Room, bool) {
	st, ok := (*c.rooms.Load())[room]
	return st.room, ok
}
