package admission

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue"
)

// Waiters who left their contact in the waiting room ("notify me", see
// queue/notifyme.go) are told when their turn is near and when they are
// admitted. The decision is taken here, next to positions and ETAs; the
// message goes to the room's stream in notify (waiterStream), which
// delivers it through the same channels as buyers' messages, at least
// once.

// nearWait: a waiter's turn is near when their expected wait is at most
// this long, or when at most nearPlaces people are ahead of them.
const (
	nearWait   = 3 * time.Minute
	nearPlaces = 10
)

// waiterStream is the notify stream of a room's waiters' messages. (Before
// notify, booking wrote them to "room.<room>" under its own keys.)
func waiterStream(room string) notify.Stream { return notify.Named("waiters." + room) }

// notifyWaiters tells waiters who asked to be notified that their turn is
// near (at most once) and that they are admitted. It does nothing without
// Config.Notify. The sweep runs it every second.
func (c *Controller) notifyWaiters(ctx context.Context) error {
	if c.cfg.Notify == nil {
		return nil
	}
	rooms, err := c.store.NotifyRooms(ctx)
	if err != nil {
		return err
	}
	var errs []error
	now := c.cfg.Now()
	for _, r := range rooms {
		waiters, err := c.store.NotifyWaiters(ctx, r.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, w := range waiters {
			stage := ""
			switch {
			case w.Admitted:
				stage = queue.NotifyAdmitted
			case w.Stage == "" && c.turnNear(r, w.Position, now):
				stage = queue.NotifyNear
			}
			if stage == "" || stage == w.Stage {
				continue
			}
			if err := c.notifyWaiter(ctx, r.Name, w, stage, now); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// turnNear reports whether the waiter at position is about to be admitted:
// the room admits now, and the waiter is among the next few or expects to
// wait at most nearWait.
func (c *Controller) turnNear(r queue.Room, position int64, now time.Time) bool {
	if !r.Admitting(now) {
		return false
	}
	if position <= nearPlaces {
		return true
	}
	eta := c.Estimate(r, position, now)
	return eta.Expected >= 0 && eta.Expected <= nearWait
}

// notifyWaiter appends one waiter's message and records it. A crash in
// between sends it twice, never not at all.
func (c *Controller) notifyWaiter(ctx context.Context, room string, w queue.NotifyWaiter, stage string, now time.Time) error {
	link := ""
	if c.cfg.ResumeURL != nil {
		link = c.cfg.ResumeURL(room, c.keys.QueueToken(room, w.ID))
	}
	_, err := c.cfg.Notify.Append(ctx, waiterStream(room), notify.Message{
		Kind: "queue." + stage, Room: room, Link: link, Position: w.Position,
		Email: w.Email, Phone: w.Phone, At: now,
	})
	if err != nil {
		return fmt.Errorf("admission: notify waiter in room %s: %w", room, err)
	}
	return c.store.MarkNotified(ctx, room, w, stage)
}
