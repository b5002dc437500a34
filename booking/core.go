package booking

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/internal/latency"
	"github.com/crowdgate/crowdgate/queue"
)

// Config tunes a Core. The zero value is usable once Providers is set.
type Config struct {
	// Providers take payments, by name ("sandbox").
	Providers []Provider
	// SweepEvery is how often expired holds are returned. Default 500 ms,
	// so tickets are back well within the 5 s the contract allows.
	SweepEvery time.Duration
	// ReconcileAfter is how long a payment may stay pending before the
	// reconciler asks its provider. Default 2 min.
	ReconcileAfter time.Duration
	// ReconcileEvery is how often the reconciler and the refund worker
	// look. Default 10 s.
	ReconcileEvery time.Duration
	// IdempotencyTTL is how long an Idempotency-Key replays. Default 24 h.
	IdempotencyTTL time.Duration
	// WebhookMemory is how long a provider's event id is remembered, so a
	// redelivery changes nothing. Default 72 h, at least 72 h.
	WebhookMemory time.Duration
	// SoldOut, when set, is called by the sweeper when the events of a
	// room have no ticket left to sell and none held that could come back,
	// so the room can close and tell every waiter at once. It is called
	// once per sell-out (again on later sweeps only while it fails), so an
	// organizer who reopens a sold-out room by hand is not overruled; it
	// must be idempotent, since instances may call it together.
	// queue.Store.CloseSoldOut is the one to wire.
	SoldOut func(ctx context.Context, room string) error
	// Restocked, when set, is called when tickets are on sale again behind
	// a room: by PutEvent when the event has tickets available (a capacity
	// raised, a type or an event added), and by the sweeper for a room
	// whose sell-out it reported and that has tickets available again. It
	// reopens the room if, and only if, the room closed by itself for
	// being sold out before closedBefore (the moment the caller's figures
	// were read), and reports whether it did. queue.Store.ReopenSoldOut is
	// the one to wire.
	Restocked func(ctx context.Context, room string, closedBefore time.Time) (reopened bool, err error)
	// Logger receives the workers' problems. Default discards.
	Logger *slog.Logger
	// Registerer receives the booking metrics. Default: none kept.
	Registerer prometheus.Registerer
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.SweepEvery <= 0 {
		c.SweepEvery = 500 * time.Millisecond
	}
	if c.ReconcileAfter <= 0 {
		c.ReconcileAfter = 2 * time.Minute
	}
	if c.ReconcileEvery <= 0 {
		c.ReconcileEvery = 10 * time.Second
	}
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = 24 * time.Hour
	}
	if c.WebhookMemory < 72*time.Hour {
		c.WebhookMemory = 72 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// indexTTL bounds how long hold, order and payment ids stay resolvable.
const indexTTL = 90 * 24 * time.Hour

// Core is the booking core: events, holds, orders and payments in Redis.
// Every change is one Lua script over one event's keys, so Core is safe for
// any number of callers in any number of processes sharing the Redis, and
// never oversells.
type Core struct {
	rdb       redis.UniversalClient
	cfg       Config
	scripts   *scripts
	providers map[string]Provider
	log       *slog.Logger
	storeLog  *queue.Outage // says once that the store fails, not per pass
	m         *metrics
	rooms     sync.Map // event id → cachedRoom (see EventRoom)
	tickets   sync.Map // room → RoomTickets, as of the last sweep
	located   sync.Map // index key → event (see locate)
	locatedN  atomic.Int64
	// latency keeps this instance's recent holds and checkouts, for
	// Health: a p99 over the last few seconds is the booking core's health
	// as a fan feels it.
	latency latency.Window
}

// NewCore returns a Core over rdb.
func NewCore(rdb redis.UniversalClient, cfg Config) (*Core, error) {
	cfg.setDefaults()
	s, err := loadScripts()
	if err != nil {
		return nil, err
	}
	c := &Core{rdb: rdb, cfg: cfg, scripts: s, providers: map[string]Provider{}, log: cfg.Logger,
		storeLog: queue.NewOutage(cfg.Logger, "booking", cfg.Now)}
	for _, p := range cfg.Providers {
		c.providers[p.Name()] = p
	}
	if c.m, err = newMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Core) now() int64 { return c.cfg.Now().UnixMilli() }

// newID returns a prefixed random id that is safe in URLs and matches the
// contract's id pattern: 100 bits of randomness, so ids cannot be guessed.
func newID(prefix string) string {
	var b [13]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return prefix + "-" + idEncoding.EncodeToString(b[:])[:20]
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// PutEvent creates or replaces an event. A capacity may shrink only to what
// is already held and sold; a type with tickets taken cannot be dropped.
// An event whose deletion did not finish is not created again until
// DeleteEvent has finished it (ErrConflict).
func (c *Core) PutEvent(ctx context.Context, e Event) (created bool, err error) {
	return c.putEvent(ctx, e, false)
}

// CreateEvent creates an event unless one of that id exists, which it
// leaves as it is, in one step: of several instances creating one event at
// once, one creates it and nothing is written twice. It reports whether
// the event was created.
func (c *Core) CreateEvent(ctx context.Context, e Event) (created bool, err error) {
	return c.putEvent(ctx, e, true)
}

func (c *Core) putEvent(ctx context.Context, e Event, createOnly bool) (created bool, err error) {
	e = e.WithDefaults()
	if err := e.Validate(); err != nil {
		return false, err
	}
	k := keysFor(e.ID)
	args := []any{c.now(), e.ID, e.Room, e.HoldSeconds, len(e.TicketTypes)}
	for _, t := range e.TicketTypes {
		args = append(args, t.ID, t.Name, t.Capacity, t.PriceMinor, t.Currency, t.PerOrderLimit)
	}
	only := "0"
	if createOnly {
		only = "1"
	}
	args = append(args, e.PerAdmissionLimit, only, e.Name)
	res, err := c.scripts.putEvent.Run(ctx, c.rdb, []string{k.cfg}, args...).Slice()
	if err != nil {
		return false, fmt.Errorf("booking: put event: %w", err)
	}
	if res[0] == "err" && res[1] == "being_deleted" {
		return false, conflictf("event %s is being deleted and its deletion did not finish: delete it again, then create it", e.ID)
	}
	if res[0] == "err" {
		return false, conflictf("ticket type %q: %s", res[2], strings.ReplaceAll(res[1].(string), "_", " "))
	}
	if err := c.rdb.SAdd(ctx, eventsKey, e.ID).Err(); err != nil {
		return false, fmt.Errorf("booking: list event: %w", err)
	}
	created = res[1].(int64) == 1
	if createOnly && !created {
		return false, nil // left alone: nothing to restock
	}
	c.restock(ctx, e.ID)
	return created, nil
}

// restock reopens the room of an event just put, when the room closed by
// itself for being sold out and the event now has tickets to sell: the
// organizer added some, and waiters should not wait for a sweep, nor for
// someone to notice the room is still closed. The event is saved whatever
// happens here; what fails is logged and left to the sweeper, which
// reopens the room when it next finds tickets behind it.
func (c *Core) restock(ctx context.Context, event string) {
	if c.cfg.Restocked == nil {
		return
	}
	v, err := c.Event(ctx, event)
	if err != nil {
		c.log.Warn("restock check failed; the sweeper will reopen the room if it sold out", "event", event, "err", err)
		return
	}
	if _, inv := v.Totals(); inv.Available == 0 {
		return
	}
	c.reopen(ctx, v.Room, c.cfg.Now(), []string{event}, "tickets_added")
}

// reopen asks Restocked to reopen a room, and on success forgets that the
// room sold out; a reopening is recorded in the logs of the events given.
func (c *Core) reopen(ctx context.Context, room string, closedBefore time.Time, events []string, why string) {
	reopened, err := c.cfg.Restocked(ctx, room, closedBefore)
	if reopened {
		c.log.Info("room reopened by itself: tickets are on sale again", "room", room, "events", events, "why", why)
		for _, ev := range events {
			c.logRoom(ctx, ev, "room.reopened", room, why)
		}
	}
	if err != nil && !errors.Is(err, queue.ErrRoomNotFound) {
		c.log.Warn("reopening a sold-out room failed", "room", room, "err", err)
		if !reopened {
			return
		}
	}
	if err := c.rdb.SRem(ctx, soldOutKey, room).Err(); err != nil {
		c.log.Warn("sold-out mark not cleared", "room", room, "err", err)
	}
}

// logRoom appends what happened to an event's room to the event's log, as
// the scripts append their changes (who: "system").
func (c *Core) logRoom(ctx context.Context, event, what, room, why string) {
	err := c.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: keysFor(event).log, MaxLen: logMax, Approx: true,
		Values: []any{"at", c.now(), "what", what, "who", "system", "room", room, "why", why},
	}).Err()
	if err != nil {
		c.log.Warn("event log entry lost", "event", event, "what", what, "err", err)
	}
}

// logMax bounds the event log, as LOG_MAX does in scripts/prelude.lua.
const logMax = 1_000_000

// Event returns an event with its inventory, read atomically.
func (c *Core) Event(ctx context.Context, id string) (EventView, error) {
	if !queue.ValidID(id) {
		return EventView{}, ErrEventNotFound
	}
	k := keysFor(id)
	var cfg, inv, st *redis.MapStringStringCmd
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		cfg, inv, st = p.HGetAll(ctx, k.cfg), p.HGetAll(ctx, k.inv), p.HGetAll(ctx, k.stats)
		return nil
	})
	if err != nil {
		return EventView{}, fmt.Errorf("booking: read event: %w", err)
	}
	return viewOf(cfg.Val(), inv.Val(), st.Val())
}

func viewOf(cfg, inv, st map[string]string) (EventView, error) {
	if len(cfg) == 0 {
		return EventView{}, ErrEventNotFound
	}
	v := EventView{
		ID: cfg["event"], Name: cfg["name"], Room: cfg["room"], HoldSeconds: atoi(cfg["hold_seconds"]),
		CreatedAt: msTime(cfg["created"]), UpdatedAt: msTime(cfg["updated"]),
		Stats: map[string]int64{},
	}
	for _, t := range strings.Split(cfg["types"], ",") {
		f := func(name string) string { return inv[t+":"+name] }
		v.TicketTypes = append(v.TicketTypes, TicketTypeView{
			TicketType: TicketType{
				ID: t, Name: f("name"), Capacity: atoi64(f("cap")), PriceMinor: atoi64(f("price")),
				Currency: f("cur"), PerOrderLimit: atoi(f("limit")),
			},
			Inventory: Inventory{Available: atoi64(f("avail")), Held: atoi64(f("held")), Sold: atoi64(f("sold"))},
		})
	}
	for name, n := range st {
		v.Stats[name] = atoi64(n)
	}
	// An event stored before the limit existed has the default, as
	// scripts/prelude.lua's admission_limit reads it.
	v.PerAdmissionLimit = atoi(cfg["plimit"])
	if v.PerAdmissionLimit == 0 {
		for _, t := range v.TicketTypes {
			v.PerAdmissionLimit = max(v.PerAdmissionLimit, t.PerOrderLimit)
		}
	}
	return v, nil
}

// Events lists every event, sorted by id.
func (c *Core) Events(ctx context.Context) ([]EventView, error) {
	ids, err := c.eventIDs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]EventView, 0, len(ids))
	for _, id := range ids {
		v, err := c.Event(ctx, id)
		if errors.Is(err, ErrEventNotFound) {
			continue // listed but deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (c *Core) eventIDs(ctx context.Context) ([]string, error) {
	ids, err := c.rdb.SMembers(ctx, eventsKey).Result()
	if err != nil {
		return nil, fmt.Errorf("booking: list events: %w", err)
	}
	sort.Strings(ids)
	return ids, nil
}

// HoldRequest asks for tickets on behalf of one admitted visitor.
type HoldRequest struct {
	Event      string
	Visitor    string // who holds: one admitted visitor of Room
	Room       string // the room of the visitor's admission: the event's
	TicketType string
	Quantity   int64
	// AdmissionExpires is when the visitor's admission ends; a hold is
	// refused after it.
	AdmissionExpires time.Time
	// IdempotencyKey, when set, makes a repeat of the request return the
	// first answer (the same hold) for IdempotencyTTL.
	IdempotencyKey string
	Email, Phone   string // optional contact for notifications
	// UserID, when set, is the site's own id of the person behind the
	// admission (from an enqueue token): the event's per-admission limit
	// then counts per user id, over every admission and device of theirs,
	// instead of per visitor. At most 255 bytes of UTF-8, no control
	// characters.
	UserID string
}

// Hold is tickets kept for one visitor until they pay or ExpiresAt passes.
type Hold struct {
	ID          string
	Event       string
	Visitor     string
	Room        string // whose admissions may act on it
	TicketType  string
	Quantity    int64
	PriceMinor  int64
	AmountMinor int64
	Currency    string
	State       string // active, checkout, released, expired, paid
	OrderID     string // the latest order on it, if any
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

func (r HoldRequest) validate() error {
	switch {
	case !queue.ValidID(r.TicketType):
		return invalidf("unknown ticket type %q", r.TicketType)
	case r.Quantity < 1:
		return invalidf("quantity must be at least 1")
	case r.Quantity > MaxPerOrderLimit:
		return invalidf("quantity is over the per-order limit")
	case r.Visitor == "":
		return invalidf("no visitor")
	case r.IdempotencyKey != "" && !validIdempotencyKey(r.IdempotencyKey):
		return invalidf("Idempotency-Key must be 1 to 255 printable ASCII characters")
	case !validUserID(r.UserID):
		return invalidf("the user id must be at most 255 bytes of UTF-8 without control characters")
	}
	return validContact(r.Email, r.Phone)
}

// PlaceHold takes tickets for a visitor, all or nothing. replay is true when the
// request repeated an Idempotency-Key and the first answer is returned.
// Errors: ErrInvalid (bad quantity or type, over the per-order limit),
// ErrEventNotFound, ErrAdmissionExpired, ErrWrongRoom, ErrSoldOut,
// *HoldExistsError, *LimitReachedError (the buyer's tickets in live holds
// and paid orders would pass the event's PerAdmissionLimit).
func (c *Core) PlaceHold(ctx context.Context, r HoldRequest) (h Hold, replay bool, err error) {
	start := time.Now()
	defer func() {
		c.m.observeHold(start, err, replay)
		c.latency.Add(c.cfg.Now(), time.Since(start), false)
	}()
	if !queue.ValidID(r.Event) {
		return Hold{}, false, ErrEventNotFound
	}
	if err := r.validate(); err != nil {
		return Hold{}, false, err
	}
	k := keysFor(r.Event)
	id := newID("hld")
	now := c.now()
	args := []any{now, r.Visitor, r.TicketType, r.Quantity, id, r.AdmissionExpires.UnixMilli(),
		r.IdempotencyKey, int64(c.cfg.IdempotencyTTL / time.Second), r.Email, r.Phone, r.Room, r.UserID}
	// The id's index entry is written in the same round trip as the hold.
	// On Redis Cluster the two can land on different nodes and fail apart:
	// a hold that was taken is answered as taken even when its entry was
	// not written, and locate finds it from the event's keys (repairIndex).
	// A refused attempt takes its index entry back.
	cmds, _ := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, indexKey("hold", id), r.Event, indexTTL)
		c.scripts.hold.EvalSha(ctx, p, []string{k.cfg}, args...)
		return nil
	})
	res, err := cmds[1].(*redis.Cmd).StringSlice()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		res, err = c.scripts.hold.Run(ctx, c.rdb, []string{k.cfg}, args...).StringSlice()
	}
	if err != nil {
		return Hold{}, false, fmt.Errorf("booking: hold: %w", err)
	}
	if err := cmds[0].Err(); err != nil && res[0] == "ok" {
		c.log.Warn("hold index not written; it is repaired on first lookup", "hold_id", id, "err", err)
	}
	if res[0] != "ok" {
		if err := c.rdb.Unlink(ctx, indexKey("hold", id)).Err(); err != nil {
			c.log.Debug("hold index left behind", "hold_id", id, "err", err)
		}
	}
	switch res[0] {
	case "replay":
		h, err := c.hold(ctx, r.Event, res[1])
		return h, true, err
	case "err":
		return Hold{}, false, holdError(res[1], res[2])
	}
	return Hold{
		ID: id, Event: r.Event, Visitor: r.Visitor, Room: r.Room, TicketType: r.TicketType, Quantity: r.Quantity,
		PriceMinor: atoi64(res[3]), AmountMinor: atoi64(res[4]), Currency: res[5], State: "active",
		CreatedAt: time.UnixMilli(now).UTC(), ExpiresAt: msTime(res[2]),
	}, false, nil
}

func holdError(code, detail string) error {
	switch code {
	case "no_event":
		return ErrEventNotFound
	case "admission_expired":
		return ErrAdmissionExpired
	case "wrong_room":
		return failf(crowdgate.Forbidden, ErrWrongRoom, "the event sells through room %s", detail)
	case "unknown_type":
		return invalidf("unknown ticket type %q", detail)
	case "over_limit":
		return invalidf("quantity is over the per-order limit of %s", detail)
	case "hold_exists":
		return &HoldExistsError{HoldID: detail}
	case "limit_reached":
		left, limit, _ := strings.Cut(detail, "/")
		return &LimitReachedError{Limit: atoi64(limit), Left: atoi64(left)}
	case "sold_out":
		return failf(crowdgate.SoldOut, ErrSoldOut, "not enough tickets left (%s left)", detail)
	}
	return fmt.Errorf("booking: unexpected answer %q", code)
}

func (c *Core) hold(ctx context.Context, event, id string) (Hold, error) {
	m, err := c.rdb.HGetAll(ctx, keysFor(event).hold(id)).Result()
	if err != nil {
		return Hold{}, fmt.Errorf("booking: read hold: %w", err)
	}
	if len(m) == 0 {
		return Hold{}, ErrNotFound
	}
	return Hold{
		ID: m["id"], Event: m["event"], Visitor: m["visitor"], Room: m["room"], TicketType: m["type"],
		Quantity: atoi64(m["qty"]), PriceMinor: atoi64(m["price"]), AmountMinor: atoi64(m["amount"]),
		Currency: m["cur"], State: m["state"], OrderID: m["order"],
		CreatedAt: msTime(m["created"]), ExpiresAt: msTime(m["expires"]),
	}, nil
}

// locate returns the event an id of kind hold, order or pay belongs to.
// An id never changes its event, so what was found is remembered: a hold's
// release or checkout does not ask Redis again.
func (c *Core) locate(ctx context.Context, kind, id string) (string, error) {
	if !queue.ValidID(id) {
		return "", ErrNotFound
	}
	key := indexKey(kind, id)
	if ev, ok := c.located.Load(key); ok {
		return ev.(string), nil
	}
	ev, err := c.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		ev, err = c.repairIndex(ctx, kind, id)
	}
	if err != nil {
		return "", fmt.Errorf("booking: find %s: %w", kind, err)
	}
	// The ids are random and unbounded: start over past locatedMax
	// rather than grow without end.
	if c.locatedN.Add(1) > locatedMax {
		c.located.Clear()
		c.locatedN.Store(0)
	}
	c.located.Store(key, ev)
	return ev, nil
}

// locatedMax bounds the ids locate remembers.
const locatedMax = 100_000

// repairIndex finds the event of a hold or order whose index entry is
// missing, from the events' own keys, and writes the entry again. The
// index lives on its own key, so on Redis Cluster it can sit on another
// node than the event: a failover there (replication is asynchronous) can
// lose an entry whose hold or order survived, which would leave an
// acknowledged hold that nobody can read, pay or release by its id. The
// search costs one EXISTS per event, pipelined (a pipeline per node on a
// cluster), and only ids that resolve nowhere else pay it.
// Errors: ErrNotFound.
func (c *Core) repairIndex(ctx context.Context, kind, id string) (string, error) {
	var key func(eventKeys) string
	switch kind {
	case "hold":
		key = func(k eventKeys) string { return k.hold(id) }
	case "order":
		key = func(k eventKeys) string { return k.order(id) }
	default:
		return "", ErrNotFound
	}
	events, err := c.rdb.SMembers(ctx, eventsKey).Result()
	if err != nil {
		return "", err
	}
	cmds, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, ev := range events {
			p.Exists(ctx, key(keysFor(ev)))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	for i, cmd := range cmds {
		if cmd.(*redis.IntCmd).Val() == 0 {
			continue
		}
		ev := events[i]
		if err := c.rdb.Set(ctx, indexKey(kind, id), ev, indexTTL).Err(); err != nil {
			c.log.Warn("index repair not written", "kind", kind, "id", id, "event", ev, "err", err)
		} else {
			c.log.Info("index repaired from the event's keys", "kind", kind, "id", id, "event", ev)
		}
		return ev, nil
	}
	return "", ErrNotFound
}

// Hold returns a visitor's hold. ErrNotFound also for another visitor's.
// visitor "" is the organizer, or a gateway that checks the visitor itself
// once it has the hold's room: it may read any hold.
func (c *Core) Hold(ctx context.Context, holdID, visitor string) (Hold, error) {
	ev, err := c.locate(ctx, "hold", holdID)
	if err != nil {
		return Hold{}, err
	}
	h, err := c.hold(ctx, ev, holdID)
	if err == nil && visitor != "" && h.Visitor != visitor {
		return Hold{}, ErrNotFound
	}
	return h, err
}

// roomCacheTTL is how long an event's room is remembered in process. The
// room of an event on sale practically never changes, and the hold path
// needs it before anything else (to check the admission token) on every
// request.
const roomCacheTTL = 2 * time.Second

type cachedRoom struct {
	room    string
	fetched time.Time
}

// Bought returns how many tickets a buyer has at an event, in live holds
// and paid orders: what counts against its PerAdmissionLimit. The buyer is
// the site's user id when there is one (enqueue tokens), else the
// admission's visitor, as PlaceHold counts them. A hold whose time is up
// counts until it is swept (within seconds): the number may be high for a
// moment, never low.
func (c *Core) Bought(ctx context.Context, event, visitor, userID string) (int64, error) {
	if !queue.ValidID(event) {
		return 0, ErrEventNotFound
	}
	buyer := "v:" + visitor
	if userID != "" {
		buyer = "u:" + userID
	}
	n, err := c.rdb.HGet(ctx, keysFor(event).buyers, buyer).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("booking: read buyer: %w", err)
	}
	return n, nil
}

// EventRoom returns the room whose admission tokens may buy at an event.
// ErrEventNotFound when there is no such event.
func (c *Core) EventRoom(ctx context.Context, event string) (string, error) {
	if v, ok := c.rooms.Load(event); ok && time.Since(v.(cachedRoom).fetched) < roomCacheTTL {
		return v.(cachedRoom).room, nil
	}
	if !queue.ValidID(event) {
		return "", ErrEventNotFound
	}
	room, err := c.rdb.HGet(ctx, keysFor(event).cfg, "room").Result()
	if errors.Is(err, redis.Nil) {
		c.rooms.Delete(event)
		return "", ErrEventNotFound
	}
	if err != nil {
		return "", fmt.Errorf("booking: read event: %w", err)
	}
	c.rooms.Store(event, cachedRoom{room: room, fetched: time.Now()})
	return room, nil
}
