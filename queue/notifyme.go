package queue

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate"
)

// "Notify me": a waiter may leave an email address or a phone number and
// close the page. So that nobody can use it to send mail or SMS to people
// who never asked, the contact is confirmed first: the only message sent
// to it is a confirmation with a one-time code, and only once the code
// comes back (the fan opened the link) is the place kept without signs of
// life until NotifyKeep after that, and the admission controller tells
// them, through package notify, when their turn is near and when they are
// admitted. One contact holds at most one place in a room.
//
//	cg:{r}:nm   hash  queue id → "email\x1fphone\x1fstage\x1fcode" (stage: unconfirmed, "", near, admitted)
//	cg:{r}:nmk  zset  queue id → keep-until (ms), once confirmed
//	cg:{r}:nmc  hash  contact ("e:<email>" or "p:<phone>") → queue id
//	cg:{r}:nma  hash  queue id → how many confirmations were asked for
//	cg:{r}:nmb:<hour>  string  messages sent to the room's waiters that hour
//	cg:notify-rooms set  the rooms with such waiters

// NotifyKeep is how long a waiter who confirmed their contact keeps their
// place with no sign of life: long enough for a line that takes an
// afternoon, short enough that a forgotten place stops holding up the
// line. Confirming again starts it over.
const NotifyKeep = 3 * time.Hour

// MaxNotifyAsks is how many confirmations one place may ask for: enough
// for a typo or two, too few to spray messages from one place.
const MaxNotifyAsks = 3

// Notification stages of a waiter, in order.
const (
	NotifyUnconfirmed = "unconfirmed" // asked; only the confirmation was sent
	NotifyNear        = "near"        // told their turn is near
	NotifyAdmitted    = "admitted"    // told they are admitted
)

// Contact is where a waiter (or a buyer) wants to hear from us.
type Contact struct{ Email, Phone string }

// ErrInvalidContact is wrapped by every reason a contact is refused: a
// *crowdgate.Error of kind Invalid whose Message is the reason.
var ErrInvalidContact = errors.New("invalid contact")

func invalidContact(reason string) error {
	return &crowdgate.Error{Kind: crowdgate.Invalid, Message: reason, Err: ErrInvalidContact}
}

// Refusals of SetNotify and ConfirmNotify beyond a bad contact.
var (
	// ErrContactTaken: the contact already holds another place in the room.
	ErrContactTaken error = &crowdgate.Error{Kind: crowdgate.Conflict, Message: "this contact already holds another place in this room"}
	// ErrTooManyAsks: the place asked for MaxNotifyAsks confirmations.
	ErrTooManyAsks error = &crowdgate.Error{Kind: crowdgate.RateLimited, Message: "this place asked to be notified too many times"}
	// ErrBadConfirmation: no confirmation was asked for, or the code is not its.
	ErrBadConfirmation error = &crowdgate.Error{Kind: crowdgate.Invalid, Message: "that confirmation code is not this place's: ask to be notified again"}
)

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

// keys are the contact's entries in the room's contact index: one per
// way to reach them, the email case-folded.
func (c Contact) keys() []string {
	var ks []string
	if c.Email != "" {
		ks = append(ks, "e:"+strings.ToLower(c.Email))
	}
	if c.Phone != "" {
		ks = append(ks, "p:"+c.Phone)
	}
	return ks
}

// NotifyWaiter is a waiter who asked to be notified, as the controller sees
// them.
type NotifyWaiter struct {
	ID string
	Contact
	Stage    string // what they were last told: "", NotifyNear or NotifyAdmitted
	Position int64  // people ahead + 1; 0 when not in line
	Admitted bool   // admitted and the admission has not ended
	code     string // the confirmation code, kept so a second confirm still works
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

// SetNotify records where the waiter id wants to be notified, unconfirmed,
// with code as the confirmation it must bring back (ConfirmNotify). It
// does not keep the place: a confirmed contact does. Errors:
// ErrNotInLine when id is not waiting in the room, ErrInvalidContact for a
// bad or empty contact, ErrContactTaken, ErrTooManyAsks.
func (s *Store) SetNotify(ctx context.Context, room, id string, c Contact, code string) error {
	if c.Email == "" && c.Phone == "" {
		return invalidContact("give an email or a phone number")
	}
	if err := c.Validate(); err != nil {
		return err
	}
	k := keysFor(room)
	keys := c.keys()
	args := []any{id, c.Email + contactSep + c.Phone + contactSep + NotifyUnconfirmed + contactSep + code, MaxNotifyAsks}
	for _, ck := range keys {
		args = append(args, ck)
	}
	res, err := setNotifyScript.Run(ctx, s.rdb, []string{k.line, k.notify, k.notifyKeep, k.notifyContacts(), k.notifyAsks(), k.active}, args...).Text()
	if err != nil {
		return fmt.Errorf("queue: notify %s: %w", room, err)
	}
	switch res {
	case "n":
		return ErrNotInLine
	case "t":
		return ErrContactTaken
	case "m":
		return ErrTooManyAsks
	}
	if err := s.rdb.SAdd(ctx, notifyRoomsKey, room).Err(); err != nil {
		return fmt.Errorf("queue: notify %s: %w", room, err)
	}
	return nil
}

// ConfirmNotify confirms waiter id's contact with the code SetNotify was
// given, and keeps their place until the returned time. Confirming again
// with the same code keeps it from now again. ErrBadConfirmation for any
// other code, or when nothing awaits confirmation.
func (s *Store) ConfirmNotify(ctx context.Context, room, id, code string) (time.Time, error) {
	k := keysFor(room)
	until := s.cfg.Now().Add(NotifyKeep)
	ok, err := confirmNotifyScript.Run(ctx, s.rdb, []string{k.notify, k.notifyKeep, k.line}, id, code, until.UnixMilli()).Int()
	if err != nil {
		return time.Time{}, fmt.Errorf("queue: confirm notify %s: %w", room, err)
	}
	if ok != 1 {
		return time.Time{}, ErrBadConfirmation
	}
	return until, nil
}

// CancelNotify forgets a waiter's contact; their place is kept only while
// they show signs of life again.
func (s *Store) CancelNotify(ctx context.Context, room, id string) error {
	return s.forgetNotify(ctx, room, false, id)
}

// forgetNotify drops waiters' notify entries and their contacts, and with
// gone, what they asked (the places are gone: a cancel keeps the count, so
// that asking and canceling cannot send confirmations without end).
func (s *Store) forgetNotify(ctx context.Context, room string, gone bool, ids ...string) error {
	k := keysFor(room)
	args := []any{flag(gone)}
	for _, id := range ids {
		args = append(args, id)
	}
	if err := forgetNotifyScript.Run(ctx, s.rdb, []string{k.notify, k.notifyKeep, k.notifyContacts(), k.notifyAsks()}, args...).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("queue: forget notify %s: %w", room, err)
	}
	return nil
}

// TakeNotifyBudget counts n messages to room's waiters against the room's
// budget of limit an hour, and reports whether they fit (nothing is
// counted when they do not). A budget of 0 or less is no budget.
func (s *Store) TakeNotifyBudget(ctx context.Context, room string, n, limit int) (bool, error) {
	if limit <= 0 {
		return true, nil
	}
	hour := s.cfg.Now().Unix() / 3600
	key := keysFor(room).notifyBudget(hour)
	ok, err := takeBudgetScript.Run(ctx, s.rdb, []string{key}, n, limit).Int()
	if err != nil {
		return false, fmt.Errorf("queue: notify budget %s: %w", room, err)
	}
	return ok == 1, nil
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
		parts := strings.SplitN(all[id], contactSep, 4)
		for len(parts) < 4 {
			parts = append(parts, "")
		}
		w := NotifyWaiter{ID: id, Contact: Contact{Email: parts[0], Phone: parts[1]}, Stage: parts[2], code: parts[3]}
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
		if err := s.forgetNotify(ctx, room, true, gone...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// MarkNotified records that waiter id was told stage. After NotifyAdmitted
// there is nothing more to tell: the entry and its contact are forgotten.
func (s *Store) MarkNotified(ctx context.Context, room string, w NotifyWaiter, stage string) error {
	if stage == NotifyAdmitted {
		return s.forgetNotify(ctx, room, true, w.ID)
	}
	// Only while the entry is the one read, so neither a cancel nor a new
	// contact is undone.
	k := keysFor(room)
	was := w.Email + contactSep + w.Phone + contactSep + w.Stage + contactSep
	err := markNotifiedScript.Run(ctx, s.rdb, []string{k.notify}, w.ID, was, w.Email+contactSep+w.Phone+contactSep+stage+contactSep+w.code).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("queue: mark notified %s: %w", room, err)
	}
	return nil
}

// The keys of "notify me" beside the room's others (keys.go).
func (k roomKeys) notifyContacts() string { return k.prefix + "nmc" }
func (k roomKeys) notifyAsks() string     { return k.prefix + "nma" }
func (k roomKeys) notifyBudget(hour int64) string {
	return k.prefix + "nmb:" + strconv.FormatInt(hour, 10)
}

// setNotifyScript records an unconfirmed contact for a waiting place.
// KEYS: 1 line, 2 notify, 3 keep, 4 contacts, 5 asks, 6 active
// ARGV: 1 id, 2 entry, 3 max asks, 4.. the contact's index keys
// Returns 'n' not in line, 't' contact taken, 'm' too many asks, 'ok'.
var setNotifyScript = redis.NewScript(`
local id = ARGV[1]
if not redis.call('ZSCORE', KEYS[1], id) then return 'n' end
for i = 4, #ARGV do
  local other = redis.call('HGET', KEYS[4], ARGV[i])
  if other and other ~= id and redis.call('HEXISTS', KEYS[2], other) == 1
     and (redis.call('ZSCORE', KEYS[1], other) or redis.call('ZSCORE', KEYS[6], other)) then
    return 't'
  end
end
if tonumber(redis.call('HGET', KEYS[5], id) or '0') >= tonumber(ARGV[3]) then return 'm' end
redis.call('HINCRBY', KEYS[5], id, 1)
-- The place's earlier contact, if any, is no longer its.
local old = redis.call('HGET', KEYS[2], id)
if old then
  local e, p = string.match(old, '^([^\31]*)\31([^\31]*)')
  if e and e ~= '' and redis.call('HGET', KEYS[4], 'e:' .. string.lower(e)) == id then redis.call('HDEL', KEYS[4], 'e:' .. string.lower(e)) end
  if p and p ~= '' and redis.call('HGET', KEYS[4], 'p:' .. p) == id then redis.call('HDEL', KEYS[4], 'p:' .. p) end
end
redis.call('HSET', KEYS[2], id, ARGV[2])
redis.call('ZREM', KEYS[3], id)
for i = 4, #ARGV do redis.call('HSET', KEYS[4], ARGV[i], id) end
return 'ok'`)

// confirmNotifyScript confirms a waiter's contact and keeps their place.
// KEYS: 1 notify, 2 keep, 3 line. ARGV: 1 id, 2 code, 3 keep until (ms).
var confirmNotifyScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v or ARGV[2] == '' or not redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 0 end
local e, p, stage, code = string.match(v, '^([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)$')
if code ~= ARGV[2] then return 0 end
if stage == 'unconfirmed' then redis.call('HSET', KEYS[1], ARGV[1], e .. '\31' .. p .. '\31\31' .. code) end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1`)

// takeBudgetScript counts ARGV[1] messages against the budget ARGV[2] of
// KEYS[1], an hour's counter, when they fit. Returns 1 if they did.
var takeBudgetScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], 7200)
return 1`)

// markNotifiedScript sets waiter ARGV[1]'s entry to ARGV[3] only while it
// still begins with ARGV[2], the contact and stage that were read.
var markNotifiedScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, #ARGV[2]) == ARGV[2] then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 0`)

// forgetNotifyScript drops waiters' entries, keep times and contacts, and
// with ARGV[1] == '1' their asks. KEYS: 1 notify, 2 keep, 3 contacts,
// 4 asks. ARGV: 1 the flag, 2.. the ids.
var forgetNotifyScript = redis.NewScript(`
for i = 2, #ARGV do
  local id = ARGV[i]
  if ARGV[1] == '1' then redis.call('HDEL', KEYS[4], id) end
  local v = redis.call('HGET', KEYS[1], id)
  if v then
    local e, p = string.match(v, '^([^\31]*)\31([^\31]*)')
    if e and e ~= '' and redis.call('HGET', KEYS[3], 'e:' .. string.lower(e)) == id then redis.call('HDEL', KEYS[3], 'e:' .. string.lower(e)) end
    if p and p ~= '' and redis.call('HGET', KEYS[3], 'p:' .. p) == id then redis.call('HDEL', KEYS[3], 'p:' .. p) end
    redis.call('HDEL', KEYS[1], id)
  end
  redis.call('ZREM', KEYS[2], id)
end
return 0`)
