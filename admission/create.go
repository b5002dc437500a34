package admission

import (
	"context"

	"github.com/crowdgate/crowdgate/queue"
)

// CreateRoom creates room r unless a room of that name exists, which it
// leaves as it is (queue.Store.CreateRoom), and reports whether it created
// it. Several instances may create one room at once: one does. This
// instance sees a new room at once; others at their next refresh.
func (c *Controller) CreateRoom(ctx context.Context, r queue.Room) (created bool, err error) {
	if err := c.checkCaptcha(r); err != nil {
		return false, err
	}
	created, err = c.store.CreateRoom(ctx, r)
	c.forget(r.Name) // even on an error: the write may have landed
	return created, err
}
