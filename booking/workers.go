package booking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue"
)

// sweepStep bounds the holds one sweep call expires per event, so one
// script never blocks Redis for long; the loop calls again while full.
const sweepStep = 500

// Run drives the booking core's background work until ctx ends: it returns
// expired holds (every SweepEvery), warns holds about to expire, tells
// waiters who asked when their turn is near or has come, asks
// providers about payments pending too long, retries refunds, and keeps
// the inventory gauges current. Any number of instances may run it: every
// step is an idempotent script. It also runs the providers' own
// background work, for those that have any (a Run method, as the
// sandbox's webhook retries), and returns once they have stopped.
func (c *Core) Run(ctx context.Context) error {
	var providers sync.WaitGroup
	defer providers.Wait()
	for _, p := range c.providers {
		if r, ok := p.(interface{ Run(context.Context) error }); ok {
			providers.Go(func() {
				if err := r.Run(ctx); err != nil && ctx.Err() == nil {
					c.log.Error("payment provider stopped", "provider", p.Name(), "err", err)
				}
			})
		}
	}
	sweep := time.NewTicker(c.cfg.SweepEvery)
	defer sweep.Stop()
	reconcile := time.NewTicker(c.cfg.ReconcileEvery)
	defer reconcile.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sweep.C:
			c.step(ctx, "hold sweep", c.Sweep)
		case <-reconcile.C:
			c.step(ctx, "payment reconcile", c.Reconcile)
		}
	}
}

// step runs one background pass, and tells the outage log how it went: a
// store that is down is said once, not on every pass of every worker.
func (c *Core) step(ctx context.Context, op string, pass func(context.Context) error) {
	err := pass(ctx)
	switch {
	case ctx.Err() != nil:
	case err != nil:
		c.storeLog.Fail(op, err)
	default:
		c.storeLog.Pass()
	}
}

// Sweep expires the holds whose time is up in every event, warns the ones
// about to end, refreshes the inventory gauges and what is left behind each
// room, reports rooms whose events sold out (Config.SoldOut), and rooms
// that sold out and have tickets on sale again (Config.Restocked).
func (c *Core) Sweep(ctx context.Context) error {
	// What was reported sold out is read before the figures: a room marked
	// now closed before they were read, so figures that show tickets
	// available are news, not a stale view of the moment before it closed.
	// Without it, holds still expire; rooms wait for the next sweep.
	start := c.cfg.Now()
	var errs []error
	marked, err := c.rdb.SMembers(ctx, soldOutKey).Result()
	known := err == nil
	if err != nil {
		errs = append(errs, fmt.Errorf("read sold-out rooms: %w", err))
	}
	ids, err := c.eventIDs(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	type left struct {
		capacity, available, held int64
		events                    []string
	}
	rooms := map[string]left{}
	holds := map[string]int{} // each event's hold_seconds
	// An event not read may be the one that still has tickets, in
	// whichever room: then no room is declared sold out this time.
	complete := true
	for _, id := range ids {
		v, err := c.sweepEvent(ctx, id)
		if errors.Is(err, ErrEventNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("event %s: %w", id, err))
			complete = false
			continue
		}
		holds[id] = v.HoldSeconds
		capacity, inv := v.Totals()
		l := rooms[v.Room]
		rooms[v.Room] = left{l.capacity + capacity, l.available + inv.Available, l.held + inv.Held, append(l.events, id)}
	}
	now := c.cfg.Now()
	for room, l := range rooms {
		slices.Sort(l.events)
		c.tickets.Store(room, RoomTickets{Available: l.available, Held: l.held, At: now, Events: l.events, HoldSeconds: holds[l.events[0]]})
		soldOut := l.capacity > 0 && l.available == 0 && l.held == 0
		switch {
		case !known:
		case soldOut && complete && c.cfg.SoldOut != nil && !slices.Contains(marked, room):
			if err := c.reportSoldOut(ctx, room, l.events); err != nil {
				errs = append(errs, fmt.Errorf("close sold-out room %s: %w", room, err))
			}
		case l.available > 0 && c.cfg.Restocked != nil && slices.Contains(marked, room):
			c.reopen(ctx, room, start, l.events, "tickets_available")
		}
	}
	return errors.Join(errs...)
}

// reportSoldOut tells Config.SoldOut that a room sold out, once: the
// figures are read again first, since an organizer may have added tickets
// while this sweep read the others, and the room is marked once told.
func (c *Core) reportSoldOut(ctx context.Context, room string, events []string) error {
	for _, ev := range events {
		v, err := c.Event(ctx, ev)
		if errors.Is(err, ErrEventNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if _, inv := v.Totals(); inv.Available > 0 || inv.Held > 0 || v.Room != room {
			return nil // no longer sold out; the next sweep sees it
		}
	}
	if err := c.cfg.SoldOut(ctx, room); err != nil && !errors.Is(err, queue.ErrRoomNotFound) {
		return err
	}
	added, err := c.rdb.SAdd(ctx, soldOutKey, room).Result()
	if err != nil {
		return err
	}
	if added == 1 {
		c.log.Info("sold out: the room closes by itself", "room", room, "events", events)
		for _, ev := range events {
			c.logRoom(ctx, ev, "room.sold_out", room, "nothing_left")
		}
	}
	return nil
}

func (c *Core) sweepEvent(ctx context.Context, id string) (EventView, error) {
	k := keysFor(id)
	for {
		res, err := c.scripts.sweep.Run(ctx, c.rdb, []string{k.cfg}, c.now(), sweepStep).Int64Slice()
		if err != nil {
			return EventView{}, err
		}
		c.m.expired.Add(float64(res[0]))
		if res[0] < sweepStep && res[1] < sweepStep {
			break
		}
	}
	v, err := c.Event(ctx, id)
	if err != nil {
		return EventView{}, err
	}
	c.m.setInventory(v)
	return v, nil
}

// RoomTickets is what is left to buy behind a room: tickets available, and
// tickets held that may come back if their holds expire.
type RoomTickets struct {
	Available, Held int64
	At              time.Time // as of this sweep
	// Events are the ids of the events selling through the room, sorted.
	Events []string
	// HoldSeconds is how long the first of Events holds picked tickets,
	// which the waiting room tells fans before their turn.
	HoldSeconds int
}

// Tickets returns what is left behind a room, summed over its events, as
// of the last sweep (at most SweepEvery old). ok is false when no event
// sells through the room.
func (c *Core) Tickets(room string) (RoomTickets, bool) {
	v, ok := c.tickets.Load(room)
	if !ok {
		return RoomTickets{}, false
	}
	return v.(RoomTickets), true
}

// Reconcile asks providers about payments pending longer than
// ReconcileAfter and applies what they say, and retries refunds that have
// not gone through. A webhook that never came is settled this way.
func (c *Core) Reconcile(ctx context.Context) error {
	ids, err := c.eventIDs(ctx)
	if err != nil {
		return err
	}
	cutoff := c.cfg.Now().Add(-c.cfg.ReconcileAfter).UnixMilli()
	// After a day a payment nobody settled is given up on; the event log
	// still shows the order.
	giveUp := c.cfg.Now().Add(-24 * time.Hour).UnixMilli()
	var errs []error
	for _, ev := range ids {
		k := keysFor(ev)
		if err := c.rdb.ZRemRangeByScore(ctx, k.orders, "-inf", fmt.Sprint(giveUp)).Err(); err != nil {
			errs = append(errs, err)
			continue
		}
		pending, err := c.rdb.ZRangeByScore(ctx, k.orders, &redis.ZRangeBy{Min: "-inf", Max: fmt.Sprint(cutoff), Count: 200}).Result()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, oid := range pending {
			if err := c.reconcileOrder(ctx, ev, oid); err != nil {
				errs = append(errs, fmt.Errorf("order %s: %w", oid, err))
			}
		}
		refunds, err := c.rdb.ZRange(ctx, k.refunds, 0, 99).Result()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, oid := range refunds {
			o, err := c.order(ctx, ev, oid)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if p, ok := c.providers[o.Payment.Provider]; ok {
				c.refund(ctx, p, ev, oid, o.Payment.ID)
			}
		}
	}
	return errors.Join(errs...)
}

func (c *Core) reconcileOrder(ctx context.Context, event, oid string) error {
	o, err := c.order(ctx, event, oid)
	if errors.Is(err, ErrNotFound) {
		return c.rdb.ZRem(ctx, keysFor(event).orders, oid).Err()
	}
	if err != nil {
		return err
	}
	p, ok := c.providers[o.Payment.Provider]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownProvider, o.Payment.Provider)
	}
	state, err := p.Lookup(ctx, o.Payment.ID)
	if err != nil || state == PaymentPending {
		return err
	}
	// The synthetic event id is stable per payment and outcome, so two
	// reconcilers apply it once; a real webhook for the same outcome finds
	// the order settled and changes nothing.
	what, err := c.settle(ctx, p, "reconcile-"+o.Payment.ID+"-"+string(state), o.Payment.ID, state)
	if err == nil {
		c.m.reconciled.WithLabelValues(what).Inc()
		c.log.Info("payment reconciled", "event", event, "order", oid, "state", string(state), "result", what)
	}
	return err
}

// DeadLetters lists up to limit of an event's notifications that were given
// up on, newest first (limit ≤ 0: 100).
func (c *Core) DeadLetters(ctx context.Context, event string, limit int) ([]notify.DeadLetter, error) {
	return notify.DeadLetters(ctx, c.rdb, Outbox(event), limit)
}

// LogEntry is one state change from an event's log.
type LogEntry struct {
	ID     string // stream id; pass it as after to read on
	At     time.Time
	What   string // hold.created, order.paid, ...
	Who    string // the visitor, "organizer", "system" or a provider
	Fields map[string]string
}

// Log reads an event's log after the entry id after ("" = from the
// start), at most limit entries, oldest first.
func (c *Core) Log(ctx context.Context, event, after string, limit int) ([]LogEntry, error) {
	if !validStreamID(after) {
		return nil, invalidf("after must be a log entry id")
	}
	start := "-"
	if after != "" {
		start = "(" + after
	}
	msgs, err := c.rdb.XRangeN(ctx, keysFor(event).log, start, "+", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("booking: read log: %w", err)
	}
	out := make([]LogEntry, 0, len(msgs))
	for _, m := range msgs {
		e := LogEntry{ID: m.ID, Fields: map[string]string{}}
		for k, v := range m.Values {
			s, _ := v.(string)
			switch k {
			case "at":
				e.At = msTime(s)
			case "what":
				e.What = s
			case "who":
				e.Who = s
			default:
				e.Fields[k] = s
			}
		}
		out = append(out, e)
	}
	return out, nil
}

func validStreamID(s string) bool {
	if s == "" {
		return true
	}
	ms, seq, ok := strings.Cut(s, "-")
	return ok && isCount(ms) && isCount(seq)
}

// isCount reports whether s is a number of digits that fits an int64, with
// no sign or space for a lenient parser to read differently.
func isCount(s string) bool {
	_, err := strconv.ParseUint(s, 10, 63)
	return err == nil
}
