package admission

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/queue"
)

// A join that brings nothing (no place, no solution, no enqueue token) into
// a room whose gate is sure to refuse it is refused here, without asking
// the store: in a room whose challenge is "always", and for an address that
// join.lua asked for a challenge, or refused for its rate, moments ago.
// What a script without a solver sends, and the first request of every fan
// of an "always" room, then costs no round trip to Redis. join.lua stays the
// judge of every place made: a challenge minted here at too low a difficulty
// (the hints are this instance's, a few seconds old) is sent back harder when
// it comes back solved, exactly as when pressure rises while a fan solves.

const (
	// hintTTL is how long join.lua's answer about an address is taken as
	// still true: pressure is measured over a minute, so it moves little
	// in a few seconds.
	hintTTL = 5 * time.Second
	// maxHints bounds the addresses remembered; past it they are all
	// forgotten (and asked of the store again).
	maxHints = 100_000
)

// gateHint is what join.lua last said of one address in one room.
type gateHint struct {
	bits         int       // the difficulty it asked; 0: none
	limitedUntil time.Time // refused for the address's rate until then
	until        time.Time // forgotten then
}

type hintKey struct {
	room string
	addr netip.Prefix
}

// gateHints are the hints of this instance, shared by its requests.
type gateHints struct {
	mu sync.Mutex
	m  map[hintKey]gateHint
	// last is when a hint was last put (Unix ns): once hintTTL has passed
	// since, every hint has expired, and a join reads none without the
	// lock (the first join of every fan asks).
	last atomic.Int64
}

func (h *gateHints) get(k hintKey, now time.Time) (gateHint, bool) {
	if now.UnixNano()-h.last.Load() > int64(hintTTL) {
		return gateHint{}, false
	}
	h.mu.Lock()
	v, ok := h.m[k]
	h.mu.Unlock()
	return v, ok && now.Before(v.until)
}

func (h *gateHints) put(k hintKey, v gateHint, now time.Time) {
	h.mu.Lock()
	if h.m == nil || len(h.m) >= maxHints {
		h.m = make(map[hintKey]gateHint)
	}
	h.m[k] = v
	h.last.Store(now.UnixNano())
	h.mu.Unlock()
}

// learn keeps join.lua's refusal r of a new place for address a in room.
func (c *Controller) learn(room string, a netip.Addr, r *queue.Refusal) {
	if !a.IsValid() {
		return
	}
	now := c.cfg.Now()
	addr, _ := queue.AddressKey(a)
	switch r.Reason {
	case queue.RefusedChallengeRequired:
		c.hints.put(hintKey{room, addr}, gateHint{bits: r.Bits, until: now.Add(hintTTL)}, now)
	case queue.RefusedRateLimited:
		c.hints.put(hintKey{room, addr}, gateHint{limitedUntil: now.Add(r.RetryAfter), until: now.Add(min(r.RetryAfter, hintTTL))}, now)
	}
}

// quickRefusal is the refusal of a bare join into room that the store is
// sure to give (see above), or nil when only the store can tell.
func (c *Controller) quickRefusal(room, queueToken string, e Entry) *JoinRefused {
	if queueToken != "" || e.Challenge != "" || e.Solution != "" || e.EnqueueToken != "" || e.Captcha != "" {
		return nil
	}
	st, ok := (*c.rooms.Load())[room]
	r := st.room
	now := c.cfg.Now()
	if !ok || r.Captcha != "" || r.Closed || now.Before(r.QueueOpensAt) || r.EnqueueTokenRequired || r.AccessCodeRequired {
		return nil
	}
	bits := 0
	if r.Challenge == queue.ChallengeAlways {
		bits = queue.ChallengeBits(r, 0)
	}
	if e.Addr.IsValid() {
		if r.Challenge == queue.ChallengeAlways {
			bits = queue.ChallengeBits(r, queue.SurgePressure(r, st.stats.NewLastMinute))
		}
		addr, _ := queue.AddressKey(e.Addr)
		if h, ok := c.hints.get(hintKey{room, addr}, now); ok {
			if wait := h.limitedUntil.Sub(now); wait > 0 {
				c.countRefusal(room, queue.RefusedRateLimited)
				return &JoinRefused{Reason: queue.RefusedRateLimited, RetryAfter: wait,
					err: &crowdgate.Error{Kind: crowdgate.RateLimited, Message: "too many new places from your network; try again shortly"}}
			}
			if r.Challenge != queue.ChallengeOff {
				bits = max(bits, h.bits)
			}
		}
	}
	if bits == 0 {
		return nil
	}
	c.countRefusal(room, queue.RefusedChallengeRequired)
	return c.challengeRefusal(room, bits, nil)
}

// challengeRefusal asks for a challenge of bits, minted now; err is the
// store's refusal it answers, if any.
func (c *Controller) challengeRefusal(room string, bits int, err error) *JoinRefused {
	ch := c.keys.Challenge(room, bits, c.cfg.Now())
	return &JoinRefused{Reason: queue.RefusedChallengeRequired, Challenge: &ch,
		err: &crowdgate.Error{Kind: crowdgate.ChallengeRequired, Message: fmt.Sprintf("solve the challenge (%d bits) and join again with it", ch.Bits), Err: err}}
}

// refusalTally gathers the refusals join.lua did not count itself, for the
// room's deployment-wide counts: added to the store at each refresh, so a
// flood of refusals costs the store one command per room and reason.
type refusalTally struct {
	mu sync.Mutex
	m  map[string]map[string]int64
}

func (t *refusalTally) add(room, reason string, n int64) {
	t.mu.Lock()
	if t.m == nil {
		t.m = map[string]map[string]int64{}
	}
	if t.m[room] == nil {
		t.m[room] = map[string]int64{}
	}
	t.m[room][reason] += n
	t.mu.Unlock()
}

func (t *refusalTally) take() map[string]map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.m
	t.m = nil
	return m
}

// FlushRefusals adds the refusals this instance counted since the last
// flush to the rooms' deployment-wide counts, and the requests bypass
// rules let through (bypass.go); Run does it at each refresh and when it
// stops.
func (c *Controller) FlushRefusals(ctx context.Context) error {
	berr := c.flushBypasses(ctx)
	m := c.tally.take()
	if len(m) == 0 {
		return berr
	}
	if err := c.store.AddRefusals(ctx, m); err != nil {
		// Put them back for the next flush.
		for room, byReason := range m {
			for reason, n := range byReason {
				c.tally.add(room, reason, n)
			}
		}
		return err
	}
	return berr
}
