package booking

import (
	"context"
	"fmt"

	"github.com/crowdgate/crowdgate/notify"
)

// eventKeys names the keys of one event that Go code reads; the scripts
// name the rest themselves (see scripts/prelude.lua). "ev:<event>" is the
// hash tag, so all of an event's keys share one Redis Cluster slot and
// every script can touch them together; it cannot collide with a room's
// tag, "{<room>}".
type eventKeys struct {
	prefix  string
	cfg     string // hash: the event's definition (see putevent.lua)
	inv     string // hash: per ticket type <t>:cap, :avail, :held, :sold, :price, :cur, :limit
	orders  string // sorted set: pending order id → when it was created (ms), for the reconciler
	refunds string // sorted set: order id → when its refund was requested (ms), until the provider confirms
	log     string // stream: the event log, every state change of holds, orders, payments
	stats   string // hash: counters (holds, expired, paid, failed, refunded, ...)
	buyers  string // hash: buyer ("v:<visitor>" or "u:<user id>") → tickets in live holds and paid orders
	gone    string // string: set while a deletion is under way (see DeleteEvent); PutEvent waits for it
}

func keysFor(event string) eventKeys {
	p := "cgb:{ev:" + event + "}:"
	return eventKeys{
		prefix:  p,
		cfg:     p + "cfg",
		inv:     p + "inv",
		orders:  p + "pend",
		refunds: p + "refund",
		log:     p + "log",
		stats:   p + "st",
		buyers:  p + "buy",
		gone:    p + "gone",
	}
}

func (k eventKeys) hold(id string) string  { return k.prefix + "hold:" + id }
func (k eventKeys) order(id string) string { return k.prefix + "order:" + id }

// Outbox is the notification stream of an event: the scripts that change
// a hold or an order append their message to it in the same step
// (scripts/prelude.lua), and a notify.Notifier delivers it. Its keys share
// the event's hash tag, so the scripts can write them.
func Outbox(event string) notify.Stream {
	return notify.Stream{Name: event, Prefix: keysFor(event).prefix}
}

// Outboxes lists every event's outbox: the notify.Source of booking's
// messages. It also lists the waiters' outboxes that versions before
// notify wrote under booking's keys (legacyWaiterStreamsKey), so that
// messages an old instance wrote during a rolling upgrade are delivered.
func (c *Core) Outboxes(ctx context.Context) ([]notify.Stream, error) {
	ids, err := c.eventIDs(ctx)
	if err != nil {
		return nil, err
	}
	legacy, err := c.rdb.SMembers(ctx, legacyWaiterStreamsKey).Result()
	if err != nil {
		return nil, fmt.Errorf("booking: list waiters' old outboxes: %w", err)
	}
	out := make([]notify.Stream, 0, len(ids)+len(legacy))
	for _, id := range append(ids, legacy...) {
		out = append(out, Outbox(id))
	}
	return out, nil
}

// legacyWaiterStreamsKey listed the waiters' outboxes, "room.<room>", that
// booking wrote before admission and notify took them over. Nothing
// writes it any more; it can go once no instance older than notify runs.
const legacyWaiterStreamsKey = "cgb:room-streams"

// eventsKey is the set of event ids, for listing and for the workers that
// visit every event. It is the only booking key shared by all events.
const eventsKey = "cgb:events"

// indexKey maps a hold, order or payment id to its event: the ids in URLs
// name no event, and an event's keys live under its own hash tag.
func indexKey(kind, id string) string { return "cgb:idx:" + kind + ":" + id }

// soldOutKey is the set of rooms whose sell-out the sweeper reported
// (Config.SoldOut), until tickets are on sale behind them again: a
// sell-out is reported once, so an organizer who reopens the room by hand
// is not overruled, and a restock reopens only rooms that sold out.
const soldOutKey = "cgb:soldout"
