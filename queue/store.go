package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate"
)

// Errors returned by Store. Callers test them with errors.Is; those a
// visitor can meet are *crowdgate.Error, with the Message they are told.
var (
	ErrRoomNotFound error = &crowdgate.Error{Kind: crowdgate.NotFound, Message: "no such room", Err: errors.New("queue: room not found")}
	ErrNotInLine    error = &crowdgate.Error{Kind: crowdgate.NotFound, Message: "no place in this room any more; join again", Err: errors.New("queue: no such place in the line")}
	ErrClosed             = errors.New("queue: room closed")
	ErrNotOpen            = errors.New("queue: queue not open yet")
	ErrConflict           = errors.New("queue: changed concurrently")
)

// ValidID reports whether s may name a room (or an event, a hold): the
// contract's ^[a-z0-9][a-z0-9-]{0,63}$. It is on every request's path, so it
// is a loop, not a regexp.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// Config tunes a Store. The zero value is usable.
type Config struct {
	// Grace is how long a waiter may show no sign of life (status request or
	// heartbeat) before losing their place. Default 60 s, at most MaxGrace. A
	// silent waiter is dropped between Grace and Grace + Epoch after their
	// last sign of life. Instances sharing a Redis may disagree on it (a
	// rolling change): signs of life count the same for all of them, and a
	// sweep drops only who was silent for longer than its instance's grace.
	Grace time.Duration
	// LogLength bounds the per-room position log (approximate, MAXLEN ~).
	// A reader that falls further behind rebuilds from the line. Default 10000.
	LogLength int
	// SweepStep is how many waiters one sweep call inspects. Default 2000.
	SweepStep int
	// Pipelines is how many pipelines of joins and status reads may be in
	// flight to Redis at once (see batcher). Default 4.
	Pipelines int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Grace <= 0 {
		c.Grace = time.Minute
	}
	if c.LogLength <= 0 {
		c.LogLength = 10000
	}
	if c.SweepStep <= 0 {
		c.SweepStep = 2000
	}
	if c.Pipelines <= 0 {
		c.Pipelines = 2
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Store is the waiting line, the admitted set and the room configuration in
// Redis. Every multi-step change is one Lua script over one room's keys, so
// Store is safe for any number of concurrent callers in any number of
// processes sharing the Redis.
type Store struct {
	rdb     redis.UniversalClient
	cfg     Config
	scripts *scripts
	batch   *batcher
	closing sync.Once
}

// Validate reports a Config that cannot work.
func (c Config) Validate() error {
	if c.Grace > MaxGrace {
		return fmt.Errorf("queue: grace %v is over the most, %v", c.Grace, MaxGrace)
	}
	return nil
}

// NewStore returns a Store over rdb.
func NewStore(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s, err := loadScripts()
	if err != nil {
		return nil, err
	}
	return &Store{rdb: rdb, cfg: cfg, scripts: s, batch: newBatcher(rdb, cfg.Pipelines, 128)}, nil
}

// Close stops the Store's pipelining workers. It does not close the Redis
// client, which the caller owns.
func (s *Store) Close() { s.closing.Do(s.batch.close) }

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

// Place is one person's standing in a room.
type Place struct {
	ID         string    // the queue id: the sequence number of the join, base 36
	Position   int64     // people ahead + 1 while waiting; 0 once admitted
	Admitted   bool      // admitted and the session has not expired
	AdmittedAt time.Time // when admitted
	Expires    time.Time // when the admission ends
	RoomClosed bool      // the room is closed (a waiter keeps a place but will not be admitted)
	// Undrawn: a random_prequeue room has not drawn its pre-queue yet, so
	// Position is the order of joining, not the place the draw will give.
	Undrawn bool
	// UserID is the user id (of an enqueue token) that holds the place, ""
	// for none. It is read for admissions, and for every place a join with
	// a user id returns; a waiter's status (no user id) leaves it "".
	UserID string
}

// Join returns the place of queue id (from the caller's queue token, or ""
// for none), or makes a new place at the end of the line when the caller has
// none. It never makes a second place for an id that still has one.
// Errors: ErrRoomNotFound, ErrClosed (no place made), ErrNotOpen.
func (s *Store) Join(ctx context.Context, room, id string) (Place, error) {
	return s.place(ctx, room, id, true, Gate{})
}

// JoinGated is Join for a caller the gate weighs (gate.go): a new place is
// made only when the address's limits and the room's challenge setting allow
// it. A refused join changes nothing but the room's refusal count, and
// returns a *Refusal. An existing place is returned whatever the gate says.
func (s *Store) JoinGated(ctx context.Context, room, id string, g Gate) (Place, error) {
	return s.place(ctx, room, id, true, g)
}

// Status returns the place of queue id and counts as a sign of life.
// Errors: ErrRoomNotFound, ErrNotInLine (never joined, left, dropped, or the
// admission expired).
func (s *Store) Status(ctx context.Context, room, id string) (Place, error) {
	return s.place(ctx, room, id, false, Gate{})
}

func (s *Store) place(ctx context.Context, room, id string, create bool, g Gate) (Place, error) {
	k := keysFor(room)
	var res []any
	var kind string
	for try := 0; ; try++ {
		now := s.cfg.Now()
		gk, addr, prefix := k.gateKeys(now, g)
		keys := append([]string{k.cfg, k.line, k.seq, k.active, k.admittedAt, k.heartbeat(epochOf(now)), k.stats, k.rate, k.log, k.fair}, gk...)
		args := append([]any{now.UnixMilli(), id, bitmapTTL, flag(create), s.cfg.LogLength}, gateArgs(room, g, addr, prefix)...)
		var err error
		res, err = s.batch.run(ctx, s.scripts.join, keys, args...).Slice()
		if err != nil {
			return Place{}, fmt.Errorf("queue: join %s: %w", room, err)
		}
		kind, _ = res[0].(string)
		if kind != "f" || try > 0 {
			break
		}
		// The first join of a random_prequeue room's pre-queue: commit to
		// the draw's seed before anyone is in it, then join.
		if _, err := s.commit(ctx, room); err != nil {
			return Place{}, err
		}
	}
	if r, ok := refusal(res); ok {
		return Place{}, r
	}
	switch kind {
	case "r":
		return Place{}, ErrRoomNotFound
	case "c":
		return Place{}, ErrClosed
	case "e":
		return Place{}, ErrNotOpen
	case "n":
		return Place{}, ErrNotInLine
	case "s":
		return Place{}, ErrQueueing
	}
	if len(res) != 6 {
		return Place{}, fmt.Errorf("queue: join %s: unexpected reply %v", room, res)
	}
	p := Place{ID: res[1].(string), RoomClosed: res[4].(int64) == 1}
	p.UserID, _ = res[5].(string)
	switch kind {
	case "w":
		p.Position = res[2].(int64)
		p.Undrawn = res[3].(int64) == 1
	case "a":
		p.Admitted = true
		p.Expires = time.UnixMilli(res[2].(int64))
		p.AdmittedAt = time.UnixMilli(res[3].(int64))
	default:
		return Place{}, fmt.Errorf("queue: join %s: unexpected reply %v", room, res)
	}
	return p, nil
}

// Leave gives up id's place, or ends its admission early (freeing a
// max_active slot and revoking the admission: see Release). It reports
// whether an admission ended. Leaving twice is not an error.
func (s *Store) Leave(ctx context.Context, room, id string) (ended bool, err error) {
	_, ended, err = s.Release(ctx, room, id)
	return ended, err
}

// Release is Leave that also returns the revocation of the admission it
// ended (ended true): recorded until the admission would have expired, and
// announced on RevocationChannel, in the same script.
func (s *Store) Release(ctx context.Context, room, id string) (rev Revocation, ended bool, err error) {
	k := keysFor(room)
	res, err := s.scripts.leave.Run(ctx, s.rdb, []string{k.line, k.active, k.admittedAt, k.log, k.stats, k.revoked, k.users, k.owners},
		id, s.cfg.LogLength, s.cfg.Now().UnixMilli(), room, RevocationChannel, revocationSlack.Milliseconds()).Int64Slice()
	if err != nil {
		return Revocation{}, false, fmt.Errorf("queue: leave %s: %w", room, err)
	}
	if len(res) != 3 || res[0] != 2 {
		return Revocation{}, false, nil
	}
	return Revocation{Room: room, ID: id, AdmittedAt: time.UnixMilli(res[2]), Expires: time.UnixMilli(res[1])}, true, nil
}

// Revocation is an admission ended before its session: its token must not
// pass again until it expires, and not a moment longer matters.
type Revocation struct {
	Room string
	ID   string // the queue id
	// AdmittedAt is when it was admitted (ms): with Room and ID it names the
	// admission token (package admission derives the jti from the three).
	AdmittedAt time.Time
	// Expires is when the session would have ended (ms), fixed at admission:
	// changing the room's session_seconds later changes nothing here.
	Expires time.Time
}

// revocationSlack is how long past its expiry a revocation stays recorded,
// so that an instance whose clock is behind the releasing one's still
// finds it while the token is valid by its own clock.
const revocationSlack = time.Minute

// RevocationChannel is the Pub/Sub channel on which ended admissions are
// announced as "room queue-id expires-ms admitted-ms".
const RevocationChannel = "cg:revoked"

// Revoked returns room's revocations that have not expired by now, unless
// there are exactly known of them; then it returns nil and read false
// without reading them. An instance that heard every announcement thus
// pays one ZCOUNT per poll, and reads the list only when it missed one
// (while disconnected, or before it started).
func (s *Store) Revoked(ctx context.Context, room string, known int) (revs []Revocation, read bool, err error) {
	key := keysFor(room).revoked
	after := "(" + strconv.FormatInt(s.cfg.Now().UnixMilli(), 10)
	n, err := s.rdb.ZCount(ctx, key, after, "+inf").Result()
	if err != nil {
		return nil, false, fmt.Errorf("queue: revoked %s: %w", room, err)
	}
	if n == int64(known) {
		return nil, false, nil
	}
	zs, err := s.rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: key, ByScore: true, Start: after, Stop: "+inf"}).Result()
	if err != nil {
		return nil, false, fmt.Errorf("queue: revoked %s: %w", room, err)
	}
	revs = make([]Revocation, 0, len(zs))
	for _, z := range zs {
		m, _ := z.Member.(string)
		id, at, ok := strings.Cut(m, " ")
		ms, err := strconv.ParseInt(at, 10, 64)
		if !ok || err != nil {
			continue // not written by leave.lua
		}
		revs = append(revs, Revocation{Room: room, ID: id, AdmittedAt: time.UnixMilli(ms), Expires: time.UnixMilli(int64(z.Score))})
	}
	return revs, true, nil
}

// WatchRevocations calls fn for every admission ended anywhere, as it is
// announced, until ctx ends. Announcements made while disconnected are
// lost: callers also poll Revoked.
func (s *Store) WatchRevocations(ctx context.Context, fn func(Revocation)) error {
	sub := s.rdb.Subscribe(ctx, RevocationChannel)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			if r, ok := parseRevocation(m.Payload); ok {
				fn(r)
			}
		}
	}
}

// parseRevocation reads an announcement of leave.lua.
func parseRevocation(payload string) (Revocation, bool) {
	f := strings.Fields(payload)
	if len(f) != 4 {
		return Revocation{}, false
	}
	exp, err1 := strconv.ParseInt(f[2], 10, 64)
	at, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil {
		return Revocation{}, false
	}
	return Revocation{Room: f[0], ID: f[1], AdmittedAt: time.UnixMilli(at), Expires: time.UnixMilli(exp)}, true
}

// Heartbeat marks waiters alive, as a status request does, in one command.
func (s *Store) Heartbeat(ctx context.Context, room string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, bitmapTTL)
	for _, id := range ids {
		args = append(args, id)
	}
	err := s.scripts.heartbeat.Run(ctx, s.rdb, []string{keysFor(room).heartbeat(epochOf(s.cfg.Now()))}, args...).Err()
	if err != nil {
		return fmt.Errorf("queue: heartbeat %s: %w", room, err)
	}
	return nil
}

// Admission is the outcome of one admission decision.
type Admission struct {
	IDs     []string // admitted now, in line order
	Expired int      // sessions that ended since the last decision
}

// Admit makes the room's admission decision for this moment: it lets in as
// many from the head of the line as the room's rate (with adaptive
// admission, the lower of it and the adaptive rate), max_active, pause,
// schedule, passthrough and (random_prequeue) the draw allow, at most max.
// It is one script over the room's token bucket, so however many instances
// call it, the room's rate holds.
func (s *Store) Admit(ctx context.Context, room string, max int) (Admission, error) {
	k := keysFor(room)
	now := s.cfg.Now()
	w := now.UnixMilli() / gateWindow.Milliseconds()
	res, err := s.scripts.admit.Run(ctx, s.rdb,
		[]string{k.cfg, k.line, k.active, k.admittedAt, k.bucket, k.stats, k.rate, k.log, k.fair, k.adapt, k.adaptLog, k.users, k.owners,
			k.prefix + "gr:" + strconv.FormatInt(w, 10), k.prefix + "gr:" + strconv.FormatInt(w-1, 10)},
		now.UnixMilli(), max, s.cfg.LogLength, gateWindow.Milliseconds()).Slice()
	if err != nil {
		return Admission{}, fmt.Errorf("queue: admit %s: %w", room, err)
	}
	a := Admission{Expired: int(res[1].(int64))}
	for _, v := range res[2:] {
		a.IDs = append(a.IDs, v.(string))
	}
	return a, nil
}

// Sweep takes one bounded step of this epoch's sweep of silent waiters and
// returns how many it dropped and whether this epoch's sweep is complete.
// Calling it from every instance is safe: a step is never done twice.
func (s *Store) Sweep(ctx context.Context, room string) (dropped int, done bool, err error) {
	k := keysFor(room)
	now := s.cfg.Now()
	epoch := epochOf(now)
	keys := []string{k.line, k.sweep, k.stats, k.log, k.notifyKeep, k.users, k.owners}
	for e := epoch; e >= epoch-s.epochsAlive(); e-- {
		keys = append(keys, k.heartbeat(e))
	}
	res, err := s.scripts.sweep.Run(ctx, s.rdb, keys, epoch, s.cfg.SweepStep, s.cfg.LogLength, now.UnixMilli()).Int64Slice()
	if err != nil {
		return 0, false, fmt.Errorf("queue: sweep %s: %w", room, err)
	}
	return int(res[0]), res[1] == 1, nil
}

// Epoch is the length of a heartbeat epoch: signs of life are bits in one
// bitmap per room per epoch. It is the same on every instance, whatever
// its grace, so instances with different settings (during a rolling
// change) read each other's signs of life.
const Epoch = 30 * time.Second

// MaxGrace bounds Config.Grace: the heartbeat bitmaps live that long, and
// two epochs more, whatever grace the instance that wrote them had.
const MaxGrace = 10 * time.Minute

// bitmapTTL is the heartbeat bitmaps' lifetime, in seconds.
const bitmapTTL = int64((MaxGrace + 2*Epoch) / time.Second)

// epochOf returns the heartbeat epoch of t.
func epochOf(t time.Time) int64 { return t.UnixMilli() / Epoch.Milliseconds() }

// epochsAlive is how many epochs before the current one a sign of life
// keeps a waiter in line: a sweep in epoch e drops who has no bit in e,
// e-1, ..., e-epochsAlive, that is, who was silent for longer than Grace
// (and less than Grace + Epoch).
func (s *Store) epochsAlive() int64 {
	return int64((s.cfg.Grace + Epoch - 1) / Epoch)
}

// Stats are a room's live figures.
type Stats struct {
	Waiting            int64
	Active             int64
	AdmittedTotal      int64
	AbandonedTotal     int64
	AdmittedLastMinute int64 // admissions in the last 60 s: the observed rate per minute
	// NewLastMinute is the room's new places over the last minute, as the
	// gate estimates it (gate.go): what its surge is measured by.
	NewLastMinute float64
	// Trigger is where a traffic-triggered room stands (trigger.go).
	Trigger TriggerState
	// Bypassed counts the requests the room's bypass rules let through,
	// deployment-wide, by rule (bypass.go); nil when there were none.
	Bypassed map[string]int64
}

// Stats reads a room's figures in one round trip.
func (s *Store) Stats(ctx context.Context, room string) (Stats, error) {
	k := keysFor(room)
	now := s.cfg.Now()
	pipe := s.rdb.Pipeline()
	exists := pipe.Exists(ctx, k.cfg)
	waiting := pipe.ZCard(ctx, k.line)
	active := pipe.ZCount(ctx, k.active, "("+strconv.FormatInt(now.UnixMilli(), 10), "+inf")
	st := pipe.HMGet(ctx, k.stats, "admitted_total", "abandoned_total", "trig", "trig_ms",
		bypassField(BypassRules[0]), bypassField(BypassRules[1]), bypassField(BypassRules[2]))
	rate := pipe.HGetAll(ctx, k.rate)
	w := now.UnixMilli() / gateWindow.Milliseconds()
	joined := pipe.MGet(ctx, k.prefix+"gr:"+strconv.FormatInt(w, 10), k.prefix+"gr:"+strconv.FormatInt(w-1, 10))
	if _, err := pipe.Exec(ctx); err != nil {
		return Stats{}, fmt.Errorf("queue: stats %s: %w", room, err)
	}
	if exists.Val() == 0 {
		return Stats{}, ErrRoomNotFound
	}
	out := Stats{Waiting: waiting.Val(), Active: active.Val()}
	vals := st.Val()
	out.AdmittedTotal = parseInt(vals[0])
	out.AbandonedTotal = parseInt(vals[1])
	out.Trigger = triggerState(vals[2], vals[3])
	for i, rule := range BypassRules {
		if n := parseInt(vals[4+i]); n != 0 {
			if out.Bypassed == nil {
				out.Bypassed = make(map[string]int64, len(BypassRules))
			}
			out.Bypassed[rule] = n
		}
	}
	elapsed := float64(now.UnixMilli()%gateWindow.Milliseconds()) / float64(gateWindow.Milliseconds())
	out.NewLastMinute = float64(parseInt(joined.Val()[0])) + float64(parseInt(joined.Val()[1]))*(1-elapsed)
	sec := now.Unix()
	for _, v := range rate.Val() {
		at, n, ok := strings.Cut(v, ":")
		if !ok {
			continue
		}
		if t, _ := strconv.ParseInt(at, 10, 64); t > sec-60 && t <= sec {
			c, _ := strconv.ParseInt(n, 10, 64)
			out.AdmittedLastMinute += c
		}
	}
	return out, nil
}

func parseInt(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// PutRoom creates or replaces a room's configuration; the line is kept.
// It reports whether the room was created.
func (s *Store) PutRoom(ctx context.Context, r Room) (created bool, err error) {
	return s.putRoom(ctx, r, false)
}

// CreateRoom creates a room unless one of that name exists, which it
// leaves as it is, in one step: of several instances creating one room at
// once, one creates it and nothing is written twice. It reports whether
// the room was created.
func (s *Store) CreateRoom(ctx context.Context, r Room) (created bool, err error) {
	return s.putRoom(ctx, r, true)
}

func (s *Store) putRoom(ctx context.Context, r Room, createOnly bool) (created bool, err error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	k := keysFor(r.Name)
	only := "0"
	if createOnly {
		only = "1"
	}
	args := []any{s.cfg.Now().UnixMilli(), only}
	for f, v := range r.fields() {
		args = append(args, f, v)
	}
	n, err := s.scripts.putRoom.Run(ctx, s.rdb, []string{k.cfg, k.bucket, k.adapt, k.adaptLog}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("queue: put room %s: %w", r.Name, err)
	}
	if err := s.rdb.SAdd(ctx, roomsKey, r.Name).Err(); err != nil {
		return false, fmt.Errorf("queue: put room %s: %w", r.Name, err)
	}
	return n == 1, nil
}

// UpdateRoom writes the fields in which next differs from prev, leaving
// fields changed concurrently by someone else alone.
// Errors: ErrRoomNotFound.
func (s *Store) UpdateRoom(ctx context.Context, prev, next Room) error {
	if err := next.Validate(); err != nil {
		return err
	}
	old := prev.fields()
	args := []any{s.cfg.Now().UnixMilli()}
	for f, v := range next.fields() {
		if old[f] != v {
			args = append(args, f, v)
		}
	}
	if len(args) == 1 {
		return nil
	}
	k := keysFor(next.Name)
	n, err := s.scripts.patchRoom.Run(ctx, s.rdb, []string{k.cfg, k.adapt, k.adaptLog}, args...).Int()
	if err != nil {
		return fmt.Errorf("queue: update room %s: %w", next.Name, err)
	}
	if n == 0 {
		return ErrRoomNotFound
	}
	return nil
}

// Client is the store's Redis, for what keeps its keys beside a room's
// (package notify's streams of the room's hooks, in the room's slot).
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// GetRoom returns a room's configuration. Errors: ErrRoomNotFound.
func (s *Store) GetRoom(ctx context.Context, name string) (Room, error) {
	h, err := s.rdb.HGetAll(ctx, keysFor(name).cfg).Result()
	if err != nil {
		return Room{}, fmt.Errorf("queue: get room %s: %w", name, err)
	}
	if len(h) == 0 {
		return Room{}, ErrRoomNotFound
	}
	return roomFromHash(name, h)
}

// ListRooms returns every room's configuration, in no particular order.
func (s *Store) ListRooms(ctx context.Context) ([]Room, error) { return s.listRooms(ctx, roomsKey) }

// listRooms returns the configuration of the rooms named in set, skipping
// those deleted meanwhile.
func (s *Store) listRooms(ctx context.Context, set string) ([]Room, error) {
	names, err := s.rdb.SMembers(ctx, set).Result()
	if err != nil {
		return nil, fmt.Errorf("queue: list rooms: %w", err)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(names))
	for i, n := range names {
		cmds[i] = pipe.HGetAll(ctx, keysFor(n).cfg)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("queue: list rooms: %w", err)
	}
	rooms := make([]Room, 0, len(names))
	for i, n := range names {
		h := cmds[i].Val()
		if len(h) == 0 {
			continue // deleted between the two reads
		}
		r, err := roomFromHash(n, h)
		if err != nil {
			return nil, err
		}
		rooms = append(rooms, r)
	}
	return rooms, nil
}

// DeleteRoom removes a room, its line and its admissions. The sequence
// counter is kept, so queue ids of a deleted room never name a place in a
// room created later under the same name. Errors: ErrRoomNotFound.
func (s *Store) DeleteRoom(ctx context.Context, name string) error {
	k := keysFor(name)
	n, err := s.rdb.Del(ctx, k.cfg).Result()
	if err != nil {
		return fmt.Errorf("queue: delete room %s: %w", name, err)
	}
	// With the cfg gone no script touches the rest; remove it.
	if err := s.rdb.Del(ctx, k.line, k.active, k.admittedAt, k.bucket, k.stats, k.rate, k.log, k.sweep, k.revoked, k.fair, k.history, k.adapt, k.adaptLog, k.notify, k.notifyKeep, k.users, k.owners, k.codes,
		k.hook, k.hookPrefix+"outbox", k.hookPrefix+"dead", k.template).Err(); err != nil {
		return fmt.Errorf("queue: delete room %s: %w", name, err)
	}
	if err := s.rdb.SRem(ctx, notifyRoomsKey, name).Err(); err != nil {
		return fmt.Errorf("queue: delete room %s: %w", name, err)
	}
	if err := s.rdb.SRem(ctx, roomsKey, name).Err(); err != nil {
		return fmt.Errorf("queue: delete room %s: %w", name, err)
	}
	if n == 0 {
		return ErrRoomNotFound
	}
	return nil
}

// GetKeyring returns the shared signing keyring document, or nil if none.
func (s *Store) GetKeyring(ctx context.Context) ([]byte, error) {
	b, err := s.rdb.Get(ctx, keyringKey).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue: get keyring: %w", err)
	}
	return b, nil
}

// PutKeyringIfAbsent stores doc unless a keyring exists, and returns the
// document stored now.
func (s *Store) PutKeyringIfAbsent(ctx context.Context, doc []byte) ([]byte, error) {
	b, err := s.scripts.keyring.Run(ctx, s.rdb, []string{keyringKey}, "init", doc, "").Text()
	if err != nil {
		return nil, fmt.Errorf("queue: put keyring: %w", err)
	}
	return []byte(b), nil
}

// SwapKeyring replaces old with doc atomically. Errors: ErrConflict when the
// stored document is not old.
func (s *Store) SwapKeyring(ctx context.Context, old, doc []byte) error {
	n, err := s.scripts.keyring.Run(ctx, s.rdb, []string{keyringKey}, "swap", doc, old).Int()
	if err != nil {
		return fmt.Errorf("queue: swap keyring: %w", err)
	}
	if n != 1 {
		return ErrConflict
	}
	return nil
}

// CloseSoldOut closes a room because nothing is left to sell behind it:
// closed, with ClosedReason ClosedSoldOut and ClosedAt now, so every waiter
// is told why, and an entry in the audit log (actor ActorCrowdgate). A room
// already closed, for whatever reason, is left as it is. The change is one
// script: an organizer's change at the same moment is not overwritten.
// Errors: ErrRoomNotFound; when the room closed but its audit entry could
// not be written, an error that says so.
func (s *Store) CloseSoldOut(ctx context.Context, room string) error {
	_, err := s.soldOut(ctx, room, "close", time.Time{},
		"closed by itself: sold out, nothing left to sell and nothing held that could come back")
	return err
}

// ReopenSoldOut reopens a room that closed by itself for being sold out
// (ClosedReason ClosedSoldOut) before closedBefore, now that tickets are on
// sale again behind it, and records it in the audit log. A room the
// organizer closed is never reopened here, nor one that closed at or after
// closedBefore: the caller's figures may predate that close. It reports
// whether the room reopened. Errors: ErrRoomNotFound; when the room
// reopened but its audit entry could not be written, reopened is true and
// the error says so.
func (s *Store) ReopenSoldOut(ctx context.Context, room string, closedBefore time.Time) (reopened bool, err error) {
	return s.soldOut(ctx, room, "reopen", closedBefore, "reopened by itself: tickets are on sale again")
}

// soldOut runs soldout.lua and audits a change.
func (s *Store) soldOut(ctx context.Context, room, op string, before time.Time, summary string) (bool, error) {
	now := s.cfg.Now()
	n, err := s.scripts.soldOut.Run(ctx, s.rdb, []string{keysFor(room).cfg}, op, now.UnixMilli(), before.UnixMilli()).Int()
	switch {
	case err != nil:
		return false, fmt.Errorf("queue: %s sold-out room %s: %w", op, room, err)
	case n < 0:
		return false, ErrRoomNotFound
	case n == 0:
		return false, nil
	}
	err = s.AppendAudit(ctx, AuditEntry{
		At: now, Actor: ActorCrowdgate, Method: "PATCH", Path: "/admin/v1/rooms/" + room, Summary: summary, Status: 200,
	})
	if err != nil {
		return true, fmt.Errorf("queue: room %s changed (%s), but not in the audit log: %w", room, summary, err)
	}
	return true, nil
}
