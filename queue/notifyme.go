package queue

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate"
)

// "Notify me": a waiter may leave an email address or a phone number and
// close the page. Their place is then kept without signs of life until
// NotifyKeep after they asked (sweep.lua skips them), and the admission
// controller tells them, through package notify, when their turn is near
// and when they are admitted.
//
//	cg:{r}:nm   hash  queue id → "email\x1fphone\x1fstage" (stage: "", near, admitted)
//	cg:{r}:nmk  zset  queue id → keep-until (ms)
//	cg:notify-rooms set  the rooms with such waiters

// NotifyKeep is how long a waiter who asked to be notified keeps their
// place with no sign of life: long enough for a line that takes an
// afternoon, short enough that a forgotten place stops holding up the
// line. Asking again starts it over.
const NotifyKeep = 3 * time.Hour

// Notification stages of a waiter, in order.
const (
	NotifyNear     = "near"     // told their turn is near
	NotifyAdmitted = "admitted" // told they are admitted
)

// Contact is where a waiter (or a buyer) wants to hear from us.
type Contact struct{ Email, Phone string }

// ErrInvalidContact is wrapped by every reason a contact is refused: a
// *crowdgate.Error of kind Invalid whose Message is the reason.
var ErrInvalidContact = errors.New("invalid contact")

func invalidContact(reason string) error {
	return &crowdgate.Error{Kind: crowdgate.Invalid, Message: reason, Err: ErrInvalidContact}
}

// Validate checks a contact. It ends up in mail headers and in requests to
// SMS gateways, so anything but a plain address or number is refused.
// Either may be empty.
func (c Contact) Validate() error {
	if c.Email != "" {
		a, err := mail.ParseAddress(c.Email)
		if err != nil || a.Address != c.Email || a.Name != "" || len(c.Email) > 254 {
			return invalidContact("email must be a plain address like fan@example.com")
		}
	}
	if c.Phone != "" {
		ok := len(c.Phone) >= 6 && len(c.Phone) <= 20
		for i := 0; ok && i < len(c.Phone); i++ {
			ch := c.Phone[i]
			ok = ch >= '0' && ch <= '9' || i == 0 && ch == '+'
		}
		if !ok {
			return invalidContact("phone must be digits with an optional leading +, like +919800000000")
		}
	}
	return nil
}

// NotifyWaiter is a waiter who asked to be notified, as the controller sees
// them.
type NotifyWaiter struct {
	ID string
	Contact
	Stage    string // what they were last told: "", NotifyNear or NotifyAdmitted
	Position int64  // people ahead + 1; 0 when not in line
	Admitted bool   // admitted and the admission has not ended
}

const contactSep = "\x1f"

// notifyRoomsKey lists the rooms where someone asked to be notified, so
// the controller visits those, not every room, on each pass. It is shared by
// all rooms (its own slot), so it is written beside the room's keys, not
// with them; it loses a room only when the room is deleted.
const notifyRoomsKey = "cg:notify-rooms"

// NotifyRooms returns the rooms where someone asked to be notified.
func (s *Store) NotifyRooms(ctx context.Context) ([]Room, error) {
	return s.listRooms(ctx, notifyRoomsKey)
}

// SetNotify records where the waiter id wants to be notified and keeps
// their place until the returned time. ErrNotInLine when id is not
// waiting in the room; ErrInvalidContact for a bad or empty contact.
func (s *Store) SetNotify(ctx context.Context, room, id string, c Contact) (time.Time, error) {
	if c.Email == "" && c.Phone == "" {
		return time.Time{}, invalidContact("give an email or a phone number")
	}
	if err := c.Validate(); err != nil {
		return time.Time{}, err
	}
	k := keysFor(room)
	if err := s.rdb.ZScore(ctx, k.line, id).Err(); errors.Is(err, redis.Nil) {
		return time.Time{}, ErrNotInLine
	} else if err != nil {
		return time.Time{}, fmt.Errorf("queue: notify %s: %w", room, err)
	}
	until := s.cfg.Now().Add(NotifyKeep)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k.notify, id, c.Email+contactSep+c.Phone+contactSep)
		p.ZAdd(ctx, k.notifyKeep, redis.Z{Score: float64(until.UnixMilli()), Member: id})
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("queue: notify %s: %w", room, err)
	}
	if err := s.rdb.SAdd(ctx, notifyRoomsKey, room).Err(); err != nil {
		return time.Time{}, fmt.Errorf("queue: notify %s: %w", room, err)
	}
	return until, nil
}

// CancelNotify forgets a waiter's contact; their place is kept only while
// they show signs of life again.
func (s *Store) CancelNotify(ctx context.Context, room, id string) error {
	k := keysFor(room)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, k.notify, id)
		p.ZRem(ctx, k.notifyKeep, id)
		return nil
	})
	return err
}

// NotifyWaiters returns the waiters of a room who asked to be notified,
// with their place now. Entries whose waiter is neither in line nor
// admitted any more are forgotten on the way.
func (s *Store) NotifyWaiters(ctx context.Context, room string) ([]NotifyWaiter, error) {
	k := keysFor(room)
	all, err := s.rdb.HGetAll(ctx, k.notify).Result()
	if err != nil || len(all) == 0 {
		return nil, err
	}
	ids := make([]string, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	ranks := make([]*redis.IntCmd, len(ids))
	admitted := make([]*redis.FloatCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			ranks[i] = p.ZRank(ctx, k.line, id)
			admitted[i] = p.ZScore(ctx, k.active, id)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("queue: notify waiters %s: %w", room, err)
	}
	now := s.cfg.Now().UnixMilli()
	var out []NotifyWaiter
	var gone []string
	for i, id := range ids {
		parts := strings.SplitN(all[id], contactSep, 3)
		for len(parts) < 3 {
			parts = append(parts, "")
		}
		w := NotifyWaiter{ID: id, Contact: Contact{Email: parts[0], Phone: parts[1]}, Stage: parts[2]}
		if r, err := ranks[i].Result(); err == nil {
			w.Position = r + 1
		}
		if exp, err := admitted[i].Result(); err == nil && int64(exp) > now {
			w.Admitted = true
		}
		if w.Position == 0 && !w.Admitted {
			gone = append(gone, id)
			continue
		}
		out = append(out, w)
	}
	if len(gone) > 0 {
		_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HDel(ctx, k.notify, gone...)
			p.ZRem(ctx, k.notifyKeep, toAny(gone)...)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("queue: notify waiters %s: %w", room, err)
		}
	}
	return out, nil
}

// MarkNotified records that waiter id was told stage. After NotifyAdmitted
// there is nothing more to tell: the entry is removed.
func (s *Store) MarkNotified(ctx context.Context, room string, w NotifyWaiter, stage string) error {
	k := keysFor(room)
	var err error
	if stage == NotifyAdmitted {
		_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HDel(ctx, k.notify, w.ID)
			p.ZRem(ctx, k.notifyKeep, w.ID)
			return nil
		})
	} else {
		// HSETXX-like: only while the entry exists, so a cancel is not undone.
		err = s.rdb.Eval(ctx, `if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end return 0`,
			[]string{k.notify}, w.ID, w.Email+contactSep+w.Phone+contactSep+stage).Err()
	}
	if err != nil {
		return fmt.Errorf("queue: mark notified %s: %w", room, err)
	}
	return nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
