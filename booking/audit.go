package booking

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/redis/go-redis/v9"
)

// Audit is an event's books checked against its holds and orders.
type Audit struct {
	Event string
	// Problems is empty when the books balance: for every ticket type,
	// available + held + sold == capacity, held is the sum of the live
	// holds, and sold is the sum of the paid orders; and every buyer's
	// count of tickets (the per-admission limit's) is the sum of their
	// live holds and paid orders.
	Problems []string
	// Holds and Orders count what was read, by state and by status.
	Holds  map[string]int64
	Orders map[string]int64
}

// Audit recounts an event from its holds and orders (a SCAN over the
// event's keys: for tests, operators and reconciliation after an incident,
// not for the hot path). Writes may run meanwhile; a clean answer is only
// meaningful while the event is quiet.
func (c *Core) Audit(ctx context.Context, event string) (Audit, error) {
	v, err := c.Event(ctx, event)
	if err != nil {
		return Audit{}, err
	}
	a := Audit{Event: event, Holds: map[string]int64{}, Orders: map[string]int64{}}
	liveHeld, paidSold := map[string]int64{}, map[string]int64{}
	bought := map[string]int64{} // buyer → tickets in live holds and paid orders
	k := keysFor(event)
	err = c.scan(ctx, k.prefix+"hold:*", func(key string) error {
		m, err := c.rdb.HMGet(ctx, key, "state", "type", "qty", "buyer").Result()
		if err != nil || m[0] == nil {
			return err
		}
		state, typ, qty := m[0].(string), fmt.Sprint(m[1]), atoi64(fmt.Sprint(m[2]))
		a.Holds[state]++
		if state == "active" || state == "checkout" {
			liveHeld[typ] += qty
		}
		// A hold made before buyers were counted has none.
		if buyer, ok := m[3].(string); ok && (state == "active" || state == "checkout" || state == "paid") {
			bought[buyer] += qty
		}
		return nil
	})
	if err != nil {
		return Audit{}, err
	}
	err = c.scan(ctx, k.prefix+"order:*", func(key string) error {
		m, err := c.rdb.HMGet(ctx, key, "status", "type", "qty", "late", "hold").Result()
		if err != nil || m[0] == nil {
			return err
		}
		status := m[0].(string)
		a.Orders[status]++
		if status != StatusPaid {
			return nil
		}
		qty := atoi64(fmt.Sprint(m[2]))
		paidSold[fmt.Sprint(m[1])] += qty
		// A paid hold counted its order's tickets above; an order paid
		// after its hold ended took them again for the hold's buyer.
		if m[3] == "1" {
			buyer, err := c.rdb.HGet(ctx, k.hold(fmt.Sprint(m[4])), "buyer").Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			if buyer != "" {
				bought[buyer] += qty
			}
		}
		return nil
	})
	if err != nil {
		return Audit{}, err
	}
	for _, t := range v.TicketTypes {
		if sum := t.Available + t.Held + t.Sold; sum != t.Capacity || t.Available < 0 || t.Held < 0 {
			a.Problems = append(a.Problems, fmt.Sprintf("%s: available %d + held %d + sold %d != capacity %d", t.ID, t.Available, t.Held, t.Sold, t.Capacity))
		}
		if t.Held != liveHeld[t.ID] {
			a.Problems = append(a.Problems, fmt.Sprintf("%s: held %d, but live holds have %d", t.ID, t.Held, liveHeld[t.ID]))
		}
		if t.Sold != paidSold[t.ID] {
			a.Problems = append(a.Problems, fmt.Sprintf("%s: sold %d, but paid orders have %d", t.ID, t.Sold, paidSold[t.ID]))
		}
	}
	counted, err := c.rdb.HGetAll(ctx, k.buyers).Result()
	if err != nil {
		return Audit{}, fmt.Errorf("booking: read buyers: %w", err)
	}
	a.Problems = append(a.Problems, buyerProblems(counted, bought)...)
	return a, nil
}

// buyerProblems compares the buyers' counts with what their holds and
// orders add up to, naming at most a few buyers whose counts are off.
func buyerProblems(counted map[string]string, bought map[string]int64) []string {
	var off []string
	for buyer, n := range counted {
		if atoi64(n) != bought[buyer] {
			off = append(off, fmt.Sprintf("buyer %s: counted %s tickets, but live holds and paid orders have %d", buyer, n, bought[buyer]))
		}
	}
	for buyer, n := range bought {
		if _, ok := counted[buyer]; !ok && n != 0 {
			off = append(off, fmt.Sprintf("buyer %s: counted 0 tickets, but live holds and paid orders have %d", buyer, n))
		}
	}
	sort.Strings(off)
	if len(off) > maxBuyerProblems {
		off = append(off[:maxBuyerProblems], fmt.Sprintf("and %d more buyers whose counts are off", len(off)-maxBuyerProblems))
	}
	return off
}

// maxBuyerProblems bounds the buyers an audit names.
const maxBuyerProblems = 10

// scan calls fn for every key matching pattern, on every master of a cluster.
func (c *Core) scan(ctx context.Context, pattern string, fn func(key string) error) error {
	each := func(ctx context.Context, rdb redis.Cmdable) error {
		it := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		for it.Next(ctx) {
			if err := fn(it.Val()); err != nil {
				return err
			}
		}
		return it.Err()
	}
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return each(ctx, m) })
	}
	return each(ctx, c.rdb)
}
