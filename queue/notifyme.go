package queue

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
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
// admitted. One contact holds at most one place in a room, and one
// address asks for at most NotifyAsksPerAddress confirmations a minute.
//
//	cg:{r}:nm   hash  queue id → "email\x1fphone\x1fstage\x1fcode" (stage: unconfirmed, "", near, admitted)
//	cg:{r}:nmk  zset  queue id → keep-until (ms), once confirmed
//	cg:{r}:nmc  hash  contact ("e:<email>" or "p:<phone>") → queue id
//	cg:{r}:nma  hash  queue id → how many confirmations were asked for
//	cg:{r}:nmb:<hour>  string  messages sent to the room's waiters that hour
//	cg:{r}:nmh:<minute>  hash  "a:<address>" and "p:<prefix>" → asks that minute (gone two minutes later)
//	cg:notify-rooms set  the rooms with such waiters

// NotifyKeep is how long a waiter who confirmed their contact keeps their
// place with no sign of life: long enough for a line that takes an
// afternoon, short enough that a forgotten place stops holding up the
// line. Confirming again starts it over.
const NotifyKeep = 3 * time.Hour

// MaxNotifyAsks is how many confirmations one place may ask for: enough
// for a typo or two, too few to spray messages from one place.
const MaxNotifyAsks = 3

// Per-address limits on asks, shared by every instance (counted in the
// ask's own script, under the room's hash tag), over the last minute as
// the gate counts joins (gate.go: this minute's count plus the last one's,
// weighted by the part of it still inside the minute). An address is an
// IPv4 address or an IPv6 /64 (AddressKey), its prefix the /24 or /48.
//
// Each ask sends a message to a contact nobody has vouched for yet, so
// these are far below the joins' limits: a real fan asks once or twice,
// while a script would send a confirmation per ask to whoever it likes.
// Carrier-grade NAT sized them. On a national sale of 100,000 joins a
// minute, with a carrier's 100 million subscribers behind some 100,000
// public IPv4 addresses (about 400 /24s), one address carries about one
// join a minute and a /24 about 250, and only some of those fans ask to be
// notified, spread over the wait: 10 a minute per address and 100 per /24
// leave a margin of 10 and more at the address and about 4 at the prefix,
// while a script on one address gets 10 confirmations a minute out of the
// room, and one on a rented /24 100, where without the prefix limit it
// would get 2,560. A fan refused is told to try again (429, Retry-After
// under a minute). Networks the operator exempts (--limit-bypass), and
// asks whose address is not known, are not counted.
const (
	NotifyAsksPerAddress = 10  // confirmations asked for from one address in one room per minute
	NotifyAsksPerPrefix  = 100 // from one /24 (IPv6 /48) in one room per minute
)

// notifyAddrKey carries the address an ask comes from (WithNotifyAddress).
type notifyAddrKey struct{}

// WithNotifyAddress returns ctx carrying addr, the address a notify ask
// comes from, for SetNotify's per-address limits. It is a Gate.Address: the
// zero Addr (a bypassed network, an internal caller) is not counted, nor
// is an ask whose ctx carries none. It travels in the context because the
// ask passes through the admission controller, which has no use for it.
func WithNotifyAddress(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, notifyAddrKey{}, addr)
}

func notifyAddress(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(notifyAddrKey{}).(netip.Addr)
	return a
}

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
	// ErrNotifyLimited is wrapped by *NotifyLimited.
	ErrNotifyLimited = errors.New("queue: too many notify asks from this address")
)

// NotifyLimited refuses an ask from an address, or its prefix, that asked
// its limit of confirmations in the last minute (NotifyAsksPerAddress,
// NotifyAsksPerPrefix). Nothing was changed or counted.
type NotifyLimited struct {
	// RetryAfter is when an ask from the address fits again.
	RetryAfter time.Duration
}

func (e *NotifyLimited) Error() string { return ErrNotifyLimited.Error() }

// Unwrap makes errors.Is(err, ErrNotifyLimited) true, and gives the kind.
func (e *NotifyLimited) Unwrap() error {
	return &crowdgate.Error{Kind: crowdgate.RateLimited, Err: ErrNotifyLimited,
		Message: "many people on your network just asked to be notified; try again in a minute"}
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
// does not keep the place: a confirmed contact does. The ask counts
// against the per-address limits of the address ctx carries
// (WithNotifyAddress), whatever its outcome past them, so that probing
// which contacts hold places is bounded too. Errors: ErrNotInLine when id
// is not waiting in the room, ErrInvalidContact for a bad or empty
// contact, *NotifyLimited, ErrContactTaken, ErrTooManyAsks.
func (s *Store) SetNotify(ctx context.Context, room, id string, c Contact, code string) error {
	if c.Email == "" && c.Phone == "" {
		return invalidContact("give an email or a phone number")
	}
	if err := c.Validate(); err != nil {
		return err
	}
	k := keysFor(room)
	now := s.cfg.Now().UnixMilli()
	w := now / gateWindow.Milliseconds()
	var addr, prefix string
	if a := notifyAddress(ctx); a.IsValid() {
		ak, pk := AddressKey(a)
		addr, prefix = ak.String(), pk.String()
	}
	args := []any{id, c.Email + contactSep + c.Phone + contactSep + NotifyUnconfirmed + contactSep + code, MaxNotifyAsks,
		now, gateWindow.Milliseconds(), addr, prefix, NotifyAsksPerAddress, NotifyAsksPerPrefix}
	for _, ck := range c.keys() {
		args = append(args, ck)
	}
	keys := []string{k.line, k.notify, k.notifyKeep, k.notifyContacts(), k.notifyAsks(), k.active, k.notifyAskers(w), k.notifyAskers(w - 1)}
	res, err := setNotifyScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return fmt.Errorf("queue: notify %s: %w", room, err)
	}
	switch kind, _ := res[0].(string); kind {
	case "n":
		return ErrNotInLine
	case "l":
		var ms int64
		if len(res) > 1 {
			ms, _ = res[1].(int64)
		}
		return &NotifyLimited{RetryAfter: time.Duration(ms) * time.Millisecond}
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
func (k roomKeys) notifyAskers(window int64) string {
	return k.prefix + "nmh:" + strconv.FormatInt(window, 10)
}

// setNotifyScript records an unconfirmed contact for a waiting place.
// KEYS: 1 line, 2 notify, 3 keep, 4 contacts, 5 asks, 6 active, 7/8 asks
// per address and prefix this and last window
// ARGV: 1 id, 2 entry, 3 max asks, 4 now (ms), 5 window (ms), 6 address
// (empty: not counted), 7 its prefix, 8 and 9 their limits a window, 10.. the
// contact's index keys
// Returns {'n'} not in line, {'l', retry ms} the address or its prefix
// asked too often (nothing counted), {'t'} contact taken, {'m'} too many
// asks, {'ok'}. An ask past the address's limit is counted whatever else
// refuses it.
var setNotifyScript = redis.NewScript(`
local id = ARGV[1]
if not redis.call('ZSCORE', KEYS[1], id) then return {'n'} end
local addr, prefix = ARGV[6], ARGV[7]
if addr ~= '' then
  local now, window = tonumber(ARGV[4]), tonumber(ARGV[5])
  local into = now % window
  local elapsed = into / window
  -- wait is how long until one more ask fits limit, given the field's
  -- counts: within this window, as the last one slides out, or else in
  -- the next, as this one does.
  local function wait(field, limit)
    local cur = tonumber(redis.call('HGET', KEYS[7], field) or 0)
    local prev = tonumber(redis.call('HGET', KEYS[8], field) or 0)
    local room = limit - 1
    if cur + prev * (1 - elapsed) <= room then return 0 end
    if cur <= room then return (1 - (room - cur) / prev) * window - into end
    return window - into + (1 - room / cur) * window
  end
  local ms = math.max(wait('a:' .. addr, tonumber(ARGV[8])), wait('p:' .. prefix, tonumber(ARGV[9])))
  if ms > 0 then return {'l', math.max(1000, math.ceil(ms))} end
  redis.call('HINCRBY', KEYS[7], 'a:' .. addr, 1)
  redis.call('HINCRBY', KEYS[7], 'p:' .. prefix, 1)
  redis.call('PEXPIRE', KEYS[7], 2 * window)
end
for i = 10, #ARGV do
  local other = redis.call('HGET', KEYS[4], ARGV[i])
  if other and other ~= id and redis.call('HEXISTS', KEYS[2], other) == 1
     and (redis.call('ZSCORE', KEYS[1], other) or redis.call('ZSCORE', KEYS[6], other)) then
    return {'t'}
  end
end
if tonumber(redis.call('HGET', KEYS[5], id) or '0') >= tonumber(ARGV[3]) then return {'m'} end
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
for i = 10, #ARGV do redis.call('HSET', KEYS[4], ARGV[i], id) end
return {'ok'}`)

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
