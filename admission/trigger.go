package admission

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/crowdgate/crowdgate/queue"
)

// Traffic-triggered rooms and sliding sessions (queue/trigger.go), as the
// paths that let visitors through (forward auth, the reverse proxy) use
// them: Enter lets a visitor with no admission in at once while the room is
// quiet, and Renew keeps an active visitor's sliding session alive.

// quietRooms remembers, until the next refresh, the rooms this instance saw
// turn to queueing, so their visitors stop asking the store before the
// cache says so.
type quietRooms struct {
	mu    sync.Mutex
	since map[string]time.Time
}

func (q *quietRooms) markQueueing(room string, now time.Time) {
	q.mu.Lock()
	if q.since == nil {
		q.since = map[string]time.Time{}
	}
	q.since[room] = now
	q.mu.Unlock()
}

func (q *quietRooms) queueing(room string, now time.Time, refresh time.Duration) bool {
	q.mu.Lock()
	at, ok := q.since[room]
	q.mu.Unlock()
	return ok && now.Sub(at) < refresh
}

// Enter admits a visitor who holds no admission at once, when room lets
// them in without waiting: a traffic-triggered room that is quiet. ok is
// false when the room would queue them, or its gate asks more of them (a
// challenge, a CAPTCHA, a code, an enqueue token): they go to the waiting
// room, where nothing was made for them. The store is asked only while the
// room is quiet as this instance last read it.
func (c *Controller) Enter(ctx context.Context, room string, addr netip.Addr) (t Ticket, ok bool, err error) {
	st, cached := (*c.rooms.Load())[room]
	r := st.room
	now := c.cfg.Now()
	if !cached || !r.Triggered() || st.stats.Trigger.State == queue.TriggerQueueing || r.Closed || r.Paused ||
		r.Captcha != "" || r.EnqueueTokenRequired || r.AccessCodeRequired || c.quiet.queueing(room, now, c.cfg.Refresh) {
		return Ticket{}, false, nil
	}
	t, err = c.ticket(ctx, room, "", true, queue.Gate{Address: addr, PassOnly: true})
	var refusal *queue.Refusal
	switch {
	case errors.Is(err, queue.ErrQueueing):
		c.quiet.markQueueing(room, now)
		return Ticket{}, false, nil
	case errors.As(err, &refusal):
		c.countJoin(room, "", c.refused(room, addr, err))
		return Ticket{}, false, nil
	case err != nil:
		return Ticket{}, false, err
	}
	c.countJoin(room, t.Status, nil)
	return t, t.Status == StatusAdmitted, nil
}

// RenewDue reports whether p's sliding session is due for renewal: half of
// it is spent and it has not reached its room's maximum. A map read: the
// check of every request of an admitted visitor makes it.
func (c *Controller) RenewDue(p Pass) bool {
	st, cached := (*c.rooms.Load())[p.Room]
	r := st.room
	if !cached || r.SessionMaxSeconds == 0 {
		return false
	}
	session := time.Duration(r.SessionSeconds) * time.Second
	return p.Expires.Sub(c.cfg.Now()) <= session/2 && p.Expires.Before(p.IssuedAt.Add(time.Duration(r.SessionMaxSeconds)*time.Second))
}

// Renew renews p in a room with sliding sessions once half its session is
// spent (so an active visitor costs the store at most two calls per
// session_seconds), and returns the renewed admission and its token; ok is
// false when there was nothing to renew, or it could not be.
func (c *Controller) Renew(ctx context.Context, p Pass) (renewed Pass, token string, ok bool) {
	if !c.RenewDue(p) {
		return Pass{}, "", false
	}
	exp, _, err := c.store.Renew(ctx, p.Room, p.Subject)
	if err != nil {
		if !errors.Is(err, queue.ErrNotInLine) {
			c.log.Debug("renew", "room", p.Room, "err", err)
		}
		return Pass{}, "", false
	}
	renewed = p
	renewed.Expires = exp.Truncate(time.Second)
	if !renewed.Expires.After(p.Expires) {
		return Pass{}, "", false
	}
	token, err = c.keys.Sign(renewed)
	if err != nil {
		return Pass{}, "", false
	}
	return renewed, token, true
}
