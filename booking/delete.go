package booking

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/queue"
)

// ErrEventInUse: deleting the event would lose what it owes (see
// EventInUseError); kind Conflict.
var ErrEventInUse = errors.New("booking: event in use")

// EventInUseError says why an event cannot be deleted: Crowdgate never
// drops a paid order, a fan's live hold, a payment that may still land or
// a refund it owes.
type EventInUseError struct {
	Event string
	// PaidOrders and Sold: orders paid (on time or late) and their tickets.
	PaidOrders, Sold int64
	// LiveHolds and Held: holds active or in checkout, and their tickets;
	// holds whose time is up count until the sweeper ends them (≤ 1 s).
	LiveHolds, Held int64
	// PendingPayments: orders whose payment may still land (pending, or
	// expired or canceled while it was under way), asked about until the
	// provider settles them or for a day.
	PendingPayments int64
	// RefundsOwed: late payments refunded that the provider has not yet
	// confirmed.
	RefundsOwed int64
}

// Reason says what keeps the event, for people.
func (e *EventInUseError) Reason() string {
	var what []string
	switch {
	case e.PaidOrders > 0:
		what = append(what, fmt.Sprintf("%d paid %s (%d %s sold)", e.PaidOrders, plural(e.PaidOrders, "order", "orders"), e.Sold, plural(e.Sold, "ticket", "tickets")))
	case e.Sold > 0:
		what = append(what, fmt.Sprintf("%d %s sold", e.Sold, plural(e.Sold, "ticket", "tickets")))
	}
	if e.LiveHolds > 0 || e.Held > 0 {
		what = append(what, fmt.Sprintf("%d live %s (%d %s held)", e.LiveHolds, plural(e.LiveHolds, "hold", "holds"), e.Held, plural(e.Held, "ticket", "tickets")))
	}
	if e.PendingPayments > 0 {
		what = append(what, fmt.Sprintf("%d %s that may still be paid", e.PendingPayments, plural(e.PendingPayments, "order", "orders")))
	}
	if e.RefundsOwed > 0 {
		what = append(what, fmt.Sprintf("%d %s not yet confirmed", e.RefundsOwed, plural(e.RefundsOwed, "refund", "refunds")))
	}
	return strings.Join(what, ", ")
}

// Message is the whole refusal: why, and what the organizer can do.
func (e *EventInUseError) Message() string {
	msg := fmt.Sprintf("event %s has %s: Crowdgate never deletes an event with paid orders", e.Event, e.Reason())
	if e.Sold == 0 {
		msg += "; try again once its holds have ended (they expire, or release them) and its payments have settled (at most a day)"
	}
	return msg
}

func (e *EventInUseError) Error() string { return ErrEventInUse.Error() + ": " + e.Message() }

// Unwrap makes errors.Is(err, ErrEventInUse) true, and gives the kind.
func (e *EventInUseError) Unwrap() error {
	return &crowdgate.Error{Kind: crowdgate.Conflict, Message: e.Message(), Err: ErrEventInUse}
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// purgeBatch is how many keys one purgeevent.lua call removes: small
// enough that the script never holds Redis up.
const purgeBatch = 500

// DeleteEvent deletes an event that owes nothing: its definition,
// inventory, holds, orders, log, counters and outbox, and the index
// entries of its holds, orders and payments. Afterwards the event is not
// found, its holds and orders neither, and the id may be used again.
//
// It refuses (*EventInUseError) while the event has a paid order, a live
// hold, a payment that may still land or a refund not yet confirmed. The
// check and the removal of the definition are one script over the event's
// slot (scripts/delevent.lua), so no hold, checkout or payment slips in
// between, on one Redis or a cluster. Messages still waiting in its
// outbox are dropped with it: with nothing owed they can only be about
// holds that ended and orders that were not paid.
//
// The keys named by ids are then found by SCAN on the event's node and
// removed in batches. A deletion cut short there (a crash, ctx ending)
// leaves the event gone but marked: PutEvent refuses the id until
// DeleteEvent, called again, has finished. Errors: ErrEventNotFound,
// *EventInUseError.
func (c *Core) DeleteEvent(ctx context.Context, id string) error {
	if !queue.ValidID(id) {
		return ErrEventNotFound
	}
	k := keysFor(id)
	res, err := c.scripts.deleteEvent.Run(ctx, c.rdb, []string{k.cfg}, c.now()).Slice()
	if err != nil {
		return fmt.Errorf("booking: delete event %s: %w", id, err)
	}
	switch res[0] {
	case "no_event":
		return ErrEventNotFound
	case "in_use":
		n := func(i int) int64 { v, _ := res[i].(int64); return v }
		return &EventInUseError{Event: id, PaidOrders: n(1), Sold: n(2), LiveHolds: n(3), Held: n(4), PendingPayments: n(5), RefundsOwed: n(6)}
	case "ok", "resume":
	default:
		return fmt.Errorf("booking: delete event %s: unexpected answer %v", id, res)
	}
	c.rooms.Delete(id)
	// The list first: from now on no worker visits the event.
	if err := c.rdb.SRem(ctx, eventsKey, id).Err(); err != nil {
		return fmt.Errorf("booking: delete event %s: unlist: %w", id, err)
	}
	if err := c.purge(ctx, k); err != nil {
		return fmt.Errorf("booking: delete event %s (gone, keys left; delete again to finish): %w", id, err)
	}
	if err := c.rdb.Del(ctx, k.gone).Err(); err != nil {
		return fmt.Errorf("booking: delete event %s (gone; delete again to finish): %w", id, err)
	}
	c.m.tickets.DeletePartialMatch(prometheus.Labels{"event": id})
	c.m.drift.DeletePartialMatch(prometheus.Labels{"event": id})
	c.log.Info("event deleted", "event", id)
	return nil
}

// purge removes a deleted event's keys named by ids, and their index
// entries. They share the event's hash tag, so on a cluster they are all
// on the node that serves its slot: that node is the one scanned.
func (c *Core) purge(ctx context.Context, k eventKeys) error {
	node := redis.Cmdable(c.rdb)
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		n, err := cc.MasterForKey(ctx, k.cfg)
		if err != nil {
			return err
		}
		node = n
	}
	var (
		orders, others []string
		indexes        []string // index entries of the holds and orders in the batch
	)
	// flush removes a batch, then its index entries, which live under their
	// own tags on any node: one UNLINK each. An entry left behind by a
	// failure here names a hold or order that is no longer found, and
	// expires with indexTTL.
	flush := func() error {
		if len(orders)+len(others) == 0 {
			return nil
		}
		keys := append(append([]string{k.cfg}, orders...), others...)
		pays, err := c.scripts.purgeEvent.Run(ctx, c.rdb, keys, len(orders)).StringSlice()
		if errors.Is(err, redis.Nil) {
			return errors.New("the event is no longer being deleted")
		}
		if err != nil {
			return err
		}
		for _, p := range pays {
			indexes = append(indexes, indexKey("pay", p))
		}
		if _, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, key := range indexes {
				p.Unlink(ctx, key)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("index entries: %w", err)
		}
		orders, others, indexes = orders[:0], others[:0], indexes[:0]
		return nil
	}
	var cursor uint64
	for {
		keys, next, err := node.Scan(ctx, cursor, k.prefix+"*", 1000).Result()
		if err != nil {
			return err
		}
		for _, key := range keys {
			rest := strings.TrimPrefix(key, k.prefix)
			switch {
			case key == k.gone || key == k.cfg:
				continue
			case strings.HasPrefix(rest, "order:"):
				orders = append(orders, key)
				indexes = append(indexes, indexKey("order", strings.TrimPrefix(rest, "order:")))
			case strings.HasPrefix(rest, "hold:"):
				others = append(others, key)
				indexes = append(indexes, indexKey("hold", strings.TrimPrefix(rest, "hold:")))
			default:
				others = append(others, key)
			}
			if len(orders)+len(others) >= purgeBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	return flush()
}
