package booking

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

// Waiters who left their contact in the waiting room ("notify me", see
// queue/notifyme.go) are told through the same notification channels as
// buyers when their turn is near and when they are admitted. Their
// messages go to an outbox of their own per room, named like an event's
// with the id "room.<room>" (a dot can never be in an event id), so the
// Notifier delivers them with the same guarantees.

// roomStreamsKey lists those per-room outboxes for the Notifier.
const roomStreamsKey = "cgb:room-streams"

func roomStream(room string) string { return "room." + room }

// nearMinutes: a waiter's turn is near when the people ahead of them would
// be admitted within this many minutes at the room's rate.
const nearMinutes = 3

// NotifyWaiters tells waiters who asked to be notified that their turn is
// near (at most once) and that they are admitted. It does nothing without
// Config.Queue. Run calls it on every sweep.
func (c *Core) NotifyWaiters(ctx context.Context) error {
	if c.cfg.Queue == nil {
		return nil
	}
	rooms, err := c.cfg.Queue.NotifyRooms(ctx)
	if err != nil {
		return err
	}
	var errs []error
	now := c.cfg.Now()
	for _, r := range rooms {
		waiters, err := c.cfg.Queue.NotifyWaiters(ctx, r.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		near := max(int64(r.AdmitPerMinute)*nearMinutes, 10)
		for _, w := range waiters {
			stage := ""
			switch {
			case w.Admitted:
				stage = queue.NotifyAdmitted
			case w.Stage == "" && w.Position <= near && r.Admitting(now):
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

// notifyWaiter appends one waiter's notification and records it. A crash
// in between sends it twice, never not at all.
func (c *Core) notifyWaiter(ctx context.Context, room string, w queue.NotifyWaiter, stage string, now time.Time) error {
	link := ""
	if c.cfg.ResumeURL != nil {
		link = c.cfg.ResumeURL(room, w.ID)
	}
	stream := roomStream(room)
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, roomStreamsKey, stream)
		p.XAdd(ctx, &redis.XAddArgs{Stream: keysFor(stream).outbox, Values: []any{
			"kind", "queue." + stage, "event", "", "order", "", "hold", "", "room", room, "link", link,
			"position", strconv.FormatInt(w.Position, 10), "email", w.Email, "phone", w.Phone,
			"amount_minor", "0", "currency", "", "at", strconv.FormatInt(now.UnixMilli(), 10),
		}})
		return nil
	})
	if err != nil {
		return fmt.Errorf("booking: notify waiter in room %s: %w", room, err)
	}
	return c.cfg.Queue.MarkNotified(ctx, room, w, stage)
}
