package admission

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue"
)

// Statuses of a Ticket, as fans see them.
const (
	StatusPrequeue = "prequeue"
	StatusWaiting  = "waiting"
	StatusAdmitted = "admitted"
	StatusClosed   = "closed"
)

// ErrQueueToken means a queue token is forged, malformed or for another room
// (kind Unauthorized).
var ErrQueueToken error = &crowdgate.Error{Kind: crowdgate.Unauthorized, Message: "missing, forged or other-room queue token", Err: errors.New("admission: invalid queue token")}

// ErrRevoked means a genuine, unexpired admission that no longer admits: it
// was released, or the room it admits to was deleted (and perhaps created
// again since).
var ErrRevoked = errors.New("admission: admission ended")

// NotOpenError is returned by Join before the room's queue opens.
type NotOpenError struct{ OpensAt time.Time }

func (e *NotOpenError) Error() string {
	return "admission: the queue opens at " + e.OpensAt.UTC().Format(time.RFC3339)
}

// Unwrap lets errors.Is(err, queue.ErrNotOpen) match.
func (e *NotOpenError) Unwrap() error { return queue.ErrNotOpen }

// Ticket is what a fan learns about their place.
type Ticket struct {
	Room       string
	QueueID    string
	QueueToken string
	Status     string // StatusPrequeue, StatusWaiting, StatusAdmitted or StatusClosed
	Position   int64  // people ahead + 1; 0 unless waiting
	// ETA is the expected wait and its likely range (see Estimate).
	ETA ETA
	// AdmittedAt is when the admission was decided (millisecond precision).
	AdmittedAt time.Time
	// Admission and AdmissionToken are set when Status is StatusAdmitted.
	Admission      Pass
	AdmissionToken string
	// ClosedReason is the room's, when Status is StatusClosed: "" or
	// queue.ClosedSoldOut.
	ClosedReason string
	// Paused is set while waiting in a room the organizer has paused:
	// nobody is admitted, places are kept, and the ETA is unknown.
	Paused bool
}

// Config tunes a Controller. The zero value is usable.
type Config struct {
	// Tick is how often this instance takes the admission decision of each
	// room. More instances or a shorter tick spread admissions more finely;
	// neither changes the rate. Default 100 ms.
	Tick time.Duration
	// Refresh is how often room configurations are re-read, which bounds how
	// long a change takes to reach this instance's cache. Default 500 ms.
	Refresh time.Duration
	// MaxBatch caps the admissions of one decision. Default 1000.
	MaxBatch int
	// KeyRefresh is how often the shared keyring is re-read. Default 5 s.
	KeyRefresh time.Duration
	// Health reports the booking core's load behind a room, for rooms
	// with adaptive admission (adaptive.go); ok is false when there is no
	// reading. Without it, adaptive rooms hold their rate.
	Health func(room string) (h BookingHealth, ok bool)
	// AdaptEvery is how often adaptive rooms' rates step, deployment-wide.
	// Default 2 s.
	AdaptEvery time.Duration
	// Notify, when set, is where waiters who left their contact are told
	// that their turn is near and that it has come (waiters.go).
	Notify *notify.Outbox
	// ResumeURL builds the link in those messages that brings a waiter
	// back to their place, from the room and the waiter's queue token.
	ResumeURL func(room, queueToken string) string
	// PhoneCodes are the country codes ("+91", "+44") whose phone numbers
	// waiters may leave; none: email only.
	PhoneCodes []string
	// EnqueueKeys fetches the key sets of sites that sign enqueue tokens
	// with EdDSA or ES256 (enqueue.go). Without it, the tokens of rooms
	// with a JWKS URL cannot be checked (503); HS256 rooms need nothing.
	EnqueueKeys EnqueueKeys
	// RoomHooks records every room's changes each second for the
	// organizer's webhook (hooks.go), to be delivered by a Notifier over
	// HookStreams. Off: nothing is recorded.
	RoomHooks bool
	// Captcha verifies the responses of rooms that require a CAPTCHA
	// (captcha.go); nil: no provider is configured, and no room may name
	// one.
	Captcha    CaptchaVerifier
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.Tick <= 0 {
		c.Tick = 100 * time.Millisecond
	}
	if c.Refresh <= 0 {
		c.Refresh = 500 * time.Millisecond
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 1000
	}
	if c.KeyRefresh <= 0 {
		c.KeyRefresh = 5 * time.Second
	}
	if c.AdaptEvery <= 0 {
		c.AdaptEvery = 2 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
}

// revocation is an admission ended early, as this instance holds it until
// its token expires.
type revocation struct {
	jti      string    // the token's
	admitted time.Time // when admitted (ms)
	expires  time.Time // when the session would have ended (ms): forgotten then
}

// drawKey names one room's one draw.
type drawKey struct {
	room    string
	created int64
}

// roomState is the cached view of one room.
type roomState struct {
	room  queue.Room
	stats queue.Stats
	at    time.Time // when stats were read
	// Smoothed rates, per second, for Estimate: exponentially weighted
	// averages started from zero, and the weight they have gathered, so
	// that rates() is the average of the samples so far while there are
	// few (the bias correction of Adam, Kingma and Ba 2014), not an
	// average pulled towards zero or towards the first, noisy sample.
	admitEWMA, abandonEWMA, weight float64
	admitting                      time.Duration // how long the rates have been sampled while admitting to a line
	warm                           bool          // admitting to a line long enough for the rates to be trusted
	planned                        float64       // the rate, per minute, the samples were taken at (Controller.plannedRate)
}

// rates returns the smoothed admission and abandonment rates, per second.
func (st roomState) rates() (admit, abandon float64) {
	if st.weight == 0 {
		return 0, 0
	}
	return st.admitEWMA / st.weight, st.abandonEWMA / st.weight
}

// rateTau is the time constant of the smoothed rates: long enough that an
// ETA does not jump with each tick, short enough to follow a rate change
// within a minute.
const rateTau = 20 * time.Second

// sample folds a new reading into the smoothed rates of prev; planned is
// the room's rate now (Controller.plannedRate).
//
// Admissions measure how fast the line moves only while there is a line:
// a room that admits everyone who comes, as an idle one does, admits at
// the rate people arrive, and that says nothing of how fast a rush will
// be let in. So the rates are sampled only over intervals with people
// waiting at both ends, and start again from the planned rate after an
// empty line, a pause or a change of the planned rate (the organizer's,
// or adaptive admission's): until then Estimate uses the planned rate.
func (st roomState) sample(prev roomState, now time.Time, planned float64) roomState {
	st.at, st.planned = now, planned
	st.admitEWMA, st.abandonEWMA, st.weight, st.admitting = prev.admitEWMA, prev.abandonEWMA, prev.weight, prev.admitting
	dt := now.Sub(prev.at)
	if prev.at.IsZero() || dt <= 0 {
		return st
	}
	if !st.room.Admitting(now) || prev.stats.Waiting == 0 || st.stats.Waiting == 0 || planned != prev.planned {
		st.admitEWMA, st.abandonEWMA, st.weight, st.admitting, st.warm = 0, 0, 0, 0, false
		return st
	}
	alpha := 1 - math.Exp(-dt.Seconds()/rateTau.Seconds())
	adm := float64(st.stats.AdmittedTotal-prev.stats.AdmittedTotal) / dt.Seconds()
	ab := float64(st.stats.AbandonedTotal-prev.stats.AbandonedTotal) / dt.Seconds()
	st.admitEWMA += alpha * (adm - st.admitEWMA)
	st.abandonEWMA += alpha * (ab - st.abandonEWMA)
	st.weight += alpha * (1 - st.weight)
	st.admitting += dt
	st.warm = st.admitting >= 15*time.Second
	return st
}

// Controller decides who gets in: it runs each room's admission decision on
// a tick, sweeps silent waiters, keeps a cache of room configurations, and
// turns places into tickets with signed tokens. All methods are safe for
// concurrent use.
type Controller struct {
	store *queue.Store
	keys  *Keyring
	cfg   Config
	log   *slog.Logger

	rooms atomic.Pointer[map[string]roomState]
	// lastRefresh is when the store last answered a refresh (Unix ns).
	lastRefresh atomic.Int64

	revMu sync.RWMutex
	// revoked holds, by room and queue id, the admissions ended early whose
	// tokens have not expired (queue ids are never reused within a room).
	revoked map[string]map[string]revocation
	// misses remembers recently asked-for rooms that do not exist, so a
	// flood of requests for a bogus room does not reach Redis each time.
	missMu sync.Mutex
	misses map[string]time.Time
	// forgot holds the rooms forget dropped, by write number (writes), so
	// a refresh that read the store before a write does not cache what it
	// read of that room.
	forgotMu sync.Mutex
	forgot   map[string]uint64
	writes   atomic.Uint64

	// drawn remembers the random_prequeue rooms whose draw is done (by
	// name and creation time, so a room made again draws again). Only
	// Run's goroutine touches it.
	drawn map[drawKey]bool
	// adaptive lists the rooms with an adaptive rate gauge; only Run's
	// goroutine touches it. adaptRates holds their rates as last read,
	// for Estimate.
	adaptive   map[string]bool
	adaptRates sync.Map // room → float64 per minute
	// origins are this instance's readings of the origins behind adaptive
	// rooms with origin targets (origin.go).
	origins *originReadings

	admitted  *prometheus.CounterVec
	abandoned *prometheus.CounterVec
	waiting   *prometheus.GaugeVec
	active    *prometheus.GaugeVec
	// queueing and triggerSince are traffic-triggered rooms' state
	// (queue/trigger.go) and when it last changed.
	queueing     *prometheus.GaugeVec
	triggerSince *prometheus.GaugeVec
	joins        *prometheus.CounterVec
	refusals     *prometheus.CounterVec
	tickErrs     prometheus.Counter
	adaptRate    *prometheus.GaugeVec
	// joinsUnknown counts joins to rooms not known to exist: a label per
	// made-up name would grow /metrics without bound.
	joinsUnknown prometheus.Counter
	// storeLog says once that the store fails, not once per room per tick.
	storeLog *queue.Outage
	// labelled holds the rooms with series of their own (room → struct{}).
	labelled sync.Map
	// captchaSaid is when an unreachable CAPTCHA provider was last logged
	// (Unix ns).
	captchaSaid atomic.Int64
	// hints are join.lua's recent refusals of addresses; tally the
	// refusals decided before it, not counted in the store yet (hints.go).
	hints gateHints
	tally refusalTally
	// bypassed and bypasses count the requests bypass rules let through
	// (bypass.go): the metric, and the tally not in the store yet.
	bypassed *prometheus.CounterVec
	bypasses refusalTally
	// quiet are the triggered rooms seen queueing since the last refresh
	// (trigger.go).
	quiet quietRooms
	// hookCount counts the room hook messages recorded (hooks.go).
	hookCount *prometheus.CounterVec
}

// NewController returns a Controller; call Run to start its loops.
func NewController(store *queue.Store, keys *Keyring, cfg Config) (*Controller, error) {
	cfg.setDefaults()
	c := &Controller{
		store:    store,
		keys:     keys,
		cfg:      cfg,
		log:      cfg.Logger,
		misses:   map[string]time.Time{},
		forgot:   map[string]uint64{},
		revoked:  map[string]map[string]revocation{},
		drawn:    map[drawKey]bool{},
		adaptive: map[string]bool{},
		bypassed: newBypassMetric(),
		origins:  newOriginReadings(),
		admitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowdgate_admitted_total", Help: "Admissions decided by this instance.",
		}, []string{"room"}),
		abandoned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowdgate_abandoned_total", Help: "Silent waiters dropped by this instance's sweeps.",
		}, []string{"room"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crowdgate_waiting", Help: "Waiters in the line (room-wide, as last read).",
		}, []string{"room"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crowdgate_active", Help: "Admitted visitors whose session is alive (room-wide).",
		}, []string{"room"}),
		queueing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crowdgate_room_queueing", Help: "Traffic-triggered rooms: 1 while the room queues newcomers, 0 while it lets them in at once.",
		}, []string{"room"}),
		triggerSince: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crowdgate_room_trigger_changed_timestamp_seconds", Help: "Traffic-triggered rooms: when the room last turned quiet or queueing (Unix seconds; 0: quiet since created).",
		}, []string{"room"}),
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowdgate_joins_total", Help: "Join requests served by this instance, by outcome.",
		}, []string{"room", "status"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowdgate_joins_refused_total", Help: "Joins this instance refused a new place, by reason (challenge_required, challenge_failed, rate_limited, place_cap, captcha_failed, bad_enqueue_token).",
		}, []string{"room", "reason"}),
		tickErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crowdgate_admission_errors_total", Help: "Failed admission, sweep or refresh steps.",
		}),
		joinsUnknown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crowdgate_joins_unknown_room_total", Help: "Join requests for rooms not known to exist (not labelled by room: anyone can make names up).",
		}),
		storeLog:  queue.NewOutage(cfg.Logger, "admission", cfg.Now),
		hookCount: newHookMetrics(),
	}
	c.adaptRate = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "crowdgate_adaptive_rate_per_minute", Help: "Adaptive rooms' rate as the controller set it; the room admits at the lower of it and admit_per_minute.",
	}, []string{"room"})
	for _, m := range []prometheus.Collector{c.admitted, c.abandoned, c.waiting, c.active, c.queueing, c.triggerSince, c.joins, c.refusals, c.tickErrs, c.adaptRate, c.joinsUnknown, c.bypassed, c.hookCount} {
		if err := cfg.Registerer.Register(m); err != nil {
			return nil, fmt.Errorf("admission: register metrics: %w", err)
		}
	}
	c.rooms.Store(&map[string]roomState{})
	// Until a refresh succeeds, the store counts as answering since now: a
	// store that never answers is down two refresh periods and a second in.
	c.lastRefresh.Store(cfg.Now().UnixNano())
	return c, nil
}

// Run loads the rooms, then takes admission decisions, sweeps and refreshes
// until ctx ends. It returns nil on cancellation.
func (c *Controller) Run(ctx context.Context) error {
	if err := c.refresh(ctx); err != nil {
		c.failed(ctx, "refresh", err)
	} else {
		c.storeLog.Pass()
	}
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		if err := c.store.WatchRevocations(ctx, c.revoke); err != nil && ctx.Err() == nil {
			c.log.Warn("revocation watch ended", "err", err)
		}
	}()
	defer func() { <-watchDone }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if err := c.FlushRefusals(ctx); err != nil {
			c.log.Warn("refusal counts lost", "err", err)
		}
	}()
	tick := time.NewTicker(c.cfg.Tick)
	defer tick.Stop()
	refresh := time.NewTicker(c.cfg.Refresh)
	defer refresh.Stop()
	keys := time.NewTicker(c.cfg.KeyRefresh)
	defer keys.Stop()
	sweep := time.NewTicker(time.Second)
	defer sweep.Stop()
	adapt := time.NewTicker(c.cfg.AdaptEvery)
	defer adapt.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			c.admitAll(ctx)
		case <-refresh.C:
			if err := c.refresh(ctx); err != nil {
				c.failed(ctx, "refresh", err)
			} else {
				c.storeLog.Pass()
			}
			if err := c.FlushRefusals(ctx); err != nil {
				c.failed(ctx, "refusal counts", err)
			}
		case <-sweep.C:
			c.sweepAll(ctx)
			if err := c.notifyWaiters(ctx); err != nil {
				c.failed(ctx, "waiter notifications", err)
			}
			if c.cfg.RoomHooks {
				c.recordHooks(ctx)
			}
		case <-adapt.C:
			c.adaptAll(ctx)
		case <-keys.C:
			if err := c.keys.Refresh(ctx); err != nil {
				c.failed(ctx, "keyring", err)
			}
		}
	}
}

// refresh re-reads every room's configuration and figures.
func (c *Controller) refresh(ctx context.Context) error {
	start := c.writes.Load()
	rooms, err := c.store.ListRooms(ctx)
	if err != nil {
		return err
	}
	old := *c.rooms.Load()
	next := make(map[string]roomState, len(rooms))
	for _, r := range rooms {
		st, err := c.store.Stats(ctx, r.Name)
		if err != nil && !errors.Is(err, queue.ErrRoomNotFound) {
			return err
		}
		next[r.Name] = roomState{room: r, stats: st}.sample(old[r.Name], c.cfg.Now(), c.plannedRate(r))
		c.label(r.Name)
		c.waiting.WithLabelValues(r.Name).Set(float64(st.Waiting))
		c.active.WithLabelValues(r.Name).Set(float64(st.Active))
		if r.Triggered() {
			queueing, since := 0.0, 0.0
			if st.Trigger.State == queue.TriggerQueueing {
				queueing = 1
			}
			if !st.Trigger.Since.IsZero() {
				since = float64(st.Trigger.Since.UnixMilli()) / 1000
			}
			c.queueing.WithLabelValues(r.Name).Set(queueing)
			c.triggerSince.WithLabelValues(r.Name).Set(since)
		} else {
			c.queueing.DeleteLabelValues(r.Name)
			c.triggerSince.DeleteLabelValues(r.Name)
		}
	}
	// A deleted room's series go with it (forget may have taken it out of
	// the cache already, so the cache cannot say which rooms went).
	c.labelled.Range(func(k, _ any) bool {
		if name := k.(string); next[name].room.Name == "" {
			c.labelled.Delete(name)
			c.waiting.DeleteLabelValues(name)
			c.active.DeleteLabelValues(name)
			c.queueing.DeleteLabelValues(name)
			c.triggerSince.DeleteLabelValues(name)
			c.admitted.DeleteLabelValues(name)
			c.abandoned.DeleteLabelValues(name)
			c.joins.DeletePartialMatch(prometheus.Labels{"room": name})
			c.refusals.DeletePartialMatch(prometheus.Labels{"room": name})
			c.bypassed.DeletePartialMatch(prometheus.Labels{"room": name})
		}
		return true
	})
	// A room this instance changed while the refresh read the store may be
	// stale in next: it stays out of the cache until the next refresh.
	c.forgotMu.Lock()
	for name, seq := range c.forgot {
		if seq > start {
			delete(next, name)
		} else {
			delete(c.forgot, name)
		}
	}
	c.rooms.Store(&next)
	c.forgotMu.Unlock()
	if err := c.syncRevocations(ctx, next); err != nil {
		return err
	}
	c.lastRefresh.Store(c.cfg.Now().UnixNano())
	return nil
}

// failed counts a failed store step and hands it to the outage log, which
// says it once; nothing when ctx ended (a shutdown is not a failure).
func (c *Controller) failed(ctx context.Context, op string, err error, attrs ...any) {
	if ctx.Err() != nil {
		return
	}
	c.tickErrs.Inc()
	c.storeLog.Fail(op, err, attrs...)
}

// StoreDown reports whether the store has not answered this instance's
// refreshes for over two refresh periods plus a second: the signal for
// rooms that fail open.
func (c *Controller) StoreDown() bool {
	last := c.lastRefresh.Load()
	return c.cfg.Now().Sub(time.Unix(0, last)) > 2*c.cfg.Refresh+time.Second
}

func (c *Controller) admitAll(ctx context.Context) {
	for name, st := range *c.rooms.Load() {
		if st.room.Closed {
			continue
		}
		if st.room.Mode == queue.ModeRandomPrequeue {
			c.draw(ctx, st.room)
		}
		a, err := c.store.Admit(ctx, name, c.cfg.MaxBatch)
		if err != nil {
			c.failed(ctx, "admit", err, "room", name)
			continue
		}
		if len(a.IDs) > 0 {
			c.label(name)
			c.admitted.WithLabelValues(name).Add(float64(len(a.IDs)))
		}
	}
}

// draw takes the next step of a random_prequeue room's draw (commit to a
// seed once the queue is open; draw once the sale starts) until it is
// done. Every instance does this on its tick; the store lets exactly one
// draw. Until then the room admits nobody.
func (c *Controller) draw(ctx context.Context, r queue.Room) {
	key := drawKey{r.Name, r.CreatedAt.UnixMilli()}
	if c.drawn[key] {
		return
	}
	res, err := c.store.Draw(ctx, r.Name)
	if err != nil {
		c.failed(ctx, "draw", err, "room", r.Name)
		return
	}
	if res.Drew {
		c.log.Info("drew the pre-queue", "room", r.Name, "participants", res.Participants)
	}
	if res.Done {
		if len(c.drawn) > 10000 {
			clear(c.drawn)
		}
		c.drawn[key] = true
	}
}

func (c *Controller) sweepAll(ctx context.Context) {
	for name := range *c.rooms.Load() {
		for {
			n, done, err := c.store.Sweep(ctx, name)
			if err != nil {
				c.failed(ctx, "sweep", err, "room", name)
				break
			}
			if n > 0 {
				c.label(name)
				c.abandoned.WithLabelValues(name).Add(float64(n))
				c.log.Info("dropped silent waiters", "room", name, "count", n)
			}
			if done || ctx.Err() != nil {
				break
			}
		}
	}
}

// Room returns a room's configuration, from the cache when it has it.
// Errors: queue.ErrRoomNotFound.
func (c *Controller) Room(ctx context.Context, name string) (queue.Room, error) {
	if st, ok := (*c.rooms.Load())[name]; ok {
		return st.room, nil
	}
	now := c.cfg.Now()
	c.missMu.Lock()
	at, missed := c.misses[name]
	c.missMu.Unlock()
	if missed && now.Sub(at) < c.cfg.Refresh {
		return queue.Room{}, queue.ErrRoomNotFound
	}
	r, err := c.store.GetRoom(ctx, name)
	if errors.Is(err, queue.ErrRoomNotFound) {
		c.missMu.Lock()
		if len(c.misses) > 10000 {
			clear(c.misses)
		}
		c.misses[name] = now
		c.missMu.Unlock()
	}
	return r, err
}

// PutRoom creates or replaces room r's configuration (its line is kept)
// and returns it as stored, and whether it was created. This instance
// sees the change at once; others at their next refresh (Config.Refresh).
func (c *Controller) PutRoom(ctx context.Context, r queue.Room) (stored queue.Room, created bool, err error) {
	if err := c.checkCaptcha(r); err != nil {
		return queue.Room{}, false, err
	}
	created, err = c.store.PutRoom(ctx, r)
	c.forget(r.Name) // even on an error: the write may have landed
	if err != nil {
		return queue.Room{}, false, err
	}
	stored, err = c.store.GetRoom(ctx, r.Name)
	return stored, created, err
}

// UpdateRoom changes room name to change(current), writing only the
// fields change altered and leaving those someone else changes meanwhile
// alone (queue.Store.UpdateRoom), and returns the room as stored. change
// is given the room as the store holds it now, not as cached. This
// instance sees the change at once; others at their next refresh.
// Errors: queue.ErrRoomNotFound.
func (c *Controller) UpdateRoom(ctx context.Context, name string, change func(queue.Room) queue.Room) (queue.Room, error) {
	prev, err := c.store.GetRoom(ctx, name)
	if err != nil {
		return queue.Room{}, err
	}
	next := change(prev)
	if next.Captcha != prev.Captcha {
		if err := c.checkCaptcha(next); err != nil {
			return queue.Room{}, err
		}
	}
	err = c.store.UpdateRoom(ctx, prev, next)
	c.forget(name)
	if err != nil {
		return queue.Room{}, err
	}
	return c.store.GetRoom(ctx, name)
}

// DeleteRoom removes a room, its line and its admissions (which every
// instance then refuses: see Admits). This instance forgets the room at
// once; others at their next refresh. Errors: queue.ErrRoomNotFound.
func (c *Controller) DeleteRoom(ctx context.Context, name string) error {
	err := c.store.DeleteRoom(ctx, name)
	c.forget(name)
	return err
}

// Forget drops room name from this instance's cache, after a change the
// store made apart from PutRoom and UpdateRoom (its page template), so the
// next read sees it at once; others see it at their next refresh.
func (c *Controller) Forget(name string) { c.forget(name) }

// forget drops a room from the cache at once, after this instance changed
// or deleted it or found it gone, instead of at the next refresh.
func (c *Controller) forget(name string) {
	c.forgotMu.Lock()
	defer c.forgotMu.Unlock()
	c.forgot[name] = c.writes.Add(1)
	for {
		old := c.rooms.Load()
		if _, ok := (*old)[name]; !ok {
			break
		}
		next := make(map[string]roomState, len(*old))
		for k, v := range *old {
			if k != name {
				next[k] = v
			}
		}
		if c.rooms.CompareAndSwap(old, &next) {
			break
		}
	}
	c.missMu.Lock()
	delete(c.misses, name)
	c.missMu.Unlock()
}

// Stats returns a room's live figures, read from the store now.
func (c *Controller) Stats(ctx context.Context, room string) (queue.Stats, error) {
	return c.store.Stats(ctx, room)
}

// Join returns the caller's ticket: their existing place when queueToken
// names one, else a new place at the end of the line.
// Errors: queue.ErrRoomNotFound, ErrQueueToken, *NotOpenError.
//
// A join that would make a new place goes through the room's gate
// (queue/gate.go) with e: it may be refused with a *JoinRefused (a
// challenge to solve, a used or wrong one, or a per-address limit), which
// changes nothing. A join with the token of a place still held never is.
func (c *Controller) Join(ctx context.Context, room, queueToken string, e Entry) (Ticket, error) {
	var g queue.Gate
	var err error
	r, captcha := c.captchaRoom(ctx, room)
	if captcha {
		var t Ticket
		var done bool
		if g, t, done, err = c.captchaGate(ctx, r, queueToken, e); done {
			c.countJoin(room, t.Status, err)
			return t, err
		}
	} else if q := c.quickRefusal(room, queueToken, e); q != nil {
		c.countJoin(room, "", q)
		return Ticket{}, q
	} else {
		g, err = c.gate(ctx, room, e)
	}
	if err != nil {
		c.countJoin(room, "", err)
		return Ticket{}, err
	}
	t, err := c.ticket(ctx, room, queueToken, true, g)
	if err != nil {
		err = c.refused(room, g.Address, err)
		if captcha {
			c.captchaRefused(room, g, err)
		}
	}
	c.countJoin(room, t.Status, err)
	return t, err
}

// countJoin counts a join under its room's label only when the room is
// known to exist: it answered, or it is in the cache. Anyone can post to a
// made-up room name (and while the store is down no name can be checked);
// those joins share one unlabelled counter, so /metrics stays bounded.
func (c *Controller) countJoin(room, status string, err error) {
	var notOpen *NotOpenError
	known := err == nil || errors.As(err, &notOpen)
	if !known {
		_, known = (*c.rooms.Load())[room]
	}
	if !known {
		c.joinsUnknown.Inc()
		return
	}
	var refused *JoinRefused
	switch {
	case errors.As(err, &refused):
		status = "refused"
	case err != nil:
		status = "error"
	}
	c.label(room)
	c.joins.WithLabelValues(room, status).Inc()
}

// label notes that room has series of its own, for refresh to delete once
// the room is gone.
func (c *Controller) label(room string) {
	if _, ok := c.labelled.Load(room); !ok {
		c.labelled.Store(room, struct{}{})
	}
}

// Status returns the ticket of the place queueToken names; it counts as a
// sign of life. Errors: queue.ErrRoomNotFound, ErrQueueToken,
// queue.ErrNotInLine.
func (c *Controller) Status(ctx context.Context, room, queueToken string) (Ticket, error) {
	return c.ticket(ctx, room, queueToken, false, queue.Gate{})
}

// Leave gives up the place (or ends the admission) queueToken names.
func (c *Controller) Leave(ctx context.Context, room, queueToken string) error {
	id, err := c.keys.ParseQueueToken(room, queueToken)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrQueueToken, err)
	}
	if _, err := c.Room(ctx, room); err != nil {
		return err
	}
	return c.Release(ctx, room, id)
}

// Release ends queue id's place or admission in room. An ended admission is
// revoked at once here and, through the store, on every instance: its
// token stops passing until it expires, whatever the room's
// session_seconds becomes meanwhile.
func (c *Controller) Release(ctx context.Context, room, id string) error {
	rev, ended, err := c.store.Release(ctx, room, id)
	if ended {
		c.revoke(rev)
	}
	return err
}

// Admits reports whether a verified pass still admits: nil, or ErrRevoked
// when it was released or its room was deleted (a room created again under
// the same name does not honour the old room's passes). It is the one
// revocation check of every path that lets a visitor through, and costs
// map reads while the room is in the cache. A store that cannot be asked
// does not end an admission: the token is genuine.
func (c *Controller) Admits(ctx context.Context, p Pass) error {
	if c.Revoked(p.Room, p.Subject) {
		return ErrRevoked
	}
	r, err := c.Room(ctx, p.Room)
	switch {
	case errors.Is(err, queue.ErrRoomNotFound):
		return ErrRevoked
	case err != nil:
		return nil
	case p.IssuedAt.Before(r.CreatedAt.Truncate(time.Second)):
		return ErrRevoked
	}
	return nil
}

// Revoked reports whether the admission of queue id in room was ended
// early: one map read.
func (c *Controller) Revoked(room, id string) bool {
	c.revMu.RLock()
	_, ok := c.revoked[room][id]
	c.revMu.RUnlock()
	return ok
}

// Revocation is an admission ended before its token expired, as an origin
// that verifies tokens itself needs to know it.
type Revocation struct {
	ID      string    // the token's jti
	Expires time.Time // the token's exp: after it the revocation no longer matters
}

// Revocations returns the admissions to room ended early whose tokens have
// not expired, in no particular order, as this instance holds them: one
// ended anywhere is here as soon as its announcement arrives, and within a
// refresh period when the announcement was lost.
func (c *Controller) Revocations(room string) []Revocation {
	now := c.cfg.Now()
	c.revMu.RLock()
	defer c.revMu.RUnlock()
	out := make([]Revocation, 0, len(c.revoked[room]))
	for _, r := range c.revoked[room] {
		if now.Before(r.expires) {
			out = append(out, Revocation{ID: r.jti, Expires: r.expires.Truncate(time.Second)})
		}
	}
	return out
}

// revoke holds a revocation until its token expires.
func (c *Controller) revoke(r queue.Revocation) {
	if !c.cfg.Now().Before(r.Expires) {
		return
	}
	c.revMu.Lock()
	defer c.revMu.Unlock()
	ids := c.revoked[r.Room]
	if ids == nil {
		ids = map[string]revocation{}
		c.revoked[r.Room] = ids
	}
	ids[r.ID] = revocation{jti: admissionID(r.Room, r.ID, r.AdmittedAt), admitted: r.AdmittedAt, expires: r.Expires}
}

// syncRevocations makes up for announcements this instance missed (while
// disconnected from the store, or before it started): per room it tells
// the store how many unexpired revocations it holds, and reads them all
// only when the store counts otherwise. It forgets a revocation once its
// token has expired (never by the room's session_seconds, which may have
// changed since the admission), and those of admissions older than their
// room, a room of the same name deleted since: Admits refuses those by
// their iat.
func (c *Controller) syncRevocations(ctx context.Context, rooms map[string]roomState) error {
	now := c.cfg.Now()
	held := make(map[string]int, len(rooms))
	c.revMu.Lock()
	for room, ids := range c.revoked {
		var born time.Time
		if st, ok := rooms[room]; ok {
			born = st.room.CreatedAt.Truncate(time.Second)
		}
		for id, r := range ids {
			if !now.Before(r.expires) || r.admitted.Before(born) {
				delete(ids, id)
			}
		}
		if len(ids) == 0 {
			delete(c.revoked, room)
		}
		held[room] = len(ids)
	}
	c.revMu.Unlock()
	for name := range rooms {
		revs, read, err := c.store.Revoked(ctx, name, held[name])
		if err != nil {
			return err
		}
		if read {
			for _, r := range revs {
				c.revoke(r)
			}
		}
	}
	return nil
}

func (c *Controller) ticket(ctx context.Context, name, queueToken string, create bool, g queue.Gate) (Ticket, error) {
	var id string
	if queueToken != "" {
		var err error
		if id, err = c.keys.ParseQueueToken(name, queueToken); err != nil {
			return Ticket{}, fmt.Errorf("%w: %v", ErrQueueToken, err)
		}
	} else if !create {
		return Ticket{}, ErrQueueToken
	}
	room, err := c.Room(ctx, name)
	if err != nil {
		return Ticket{}, err
	}
	var p queue.Place
	if create {
		p, err = c.store.JoinGated(ctx, name, id, g)
	} else {
		p, err = c.store.Status(ctx, name, id)
	}
	switch {
	case errors.Is(err, queue.ErrClosed):
		return Ticket{Room: name, Status: StatusClosed, ClosedReason: room.ClosedReason, ETA: unknownETA}, nil
	case errors.Is(err, queue.ErrNotOpen):
		return Ticket{}, &NotOpenError{OpensAt: room.QueueOpensAt}
	case errors.Is(err, queue.ErrRoomNotFound):
		c.forget(name)
		return Ticket{}, err
	case err != nil:
		return Ticket{}, err
	}
	t := Ticket{Room: name, QueueID: p.ID, QueueToken: c.keys.QueueToken(name, p.ID)}
	now := c.cfg.Now()
	switch {
	case p.Admitted:
		t.Status, t.AdmittedAt = StatusAdmitted, p.AdmittedAt
		t.Admission = c.pass(name, p)
		if err := c.Admits(ctx, t.Admission); err != nil {
			return Ticket{}, queue.ErrNotInLine
		}
		if t.AdmissionToken, err = c.keys.Sign(t.Admission); err != nil {
			return Ticket{}, err
		}
	case p.RoomClosed || room.Closed:
		t.Status, t.ETA, t.ClosedReason = StatusClosed, unknownETA, room.ClosedReason
	default:
		t.Status, t.Position = StatusWaiting, p.Position
		if room.InPrequeue(now) || p.Undrawn {
			// In a random_prequeue room the pre-queue lasts until the draw,
			// which is a tick or so after sale_starts_at.
			t.Status = StatusPrequeue
		}
		t.ETA = c.Estimate(room, p.Position, now)
		t.Paused = room.Paused
	}
	return t, nil
}

// pass is the admission of place p. Its jti is derived from the admission
// itself, so asking again yields the very same token.
func (c *Controller) pass(room string, p queue.Place) Pass {
	return Pass{
		Room:      room,
		Subject:   p.ID,
		ID:        admissionID(room, p.ID, p.AdmittedAt),
		IssuedAt:  p.AdmittedAt.Truncate(time.Second),
		NotBefore: p.AdmittedAt.Truncate(time.Second),
		Expires:   p.Expires.Truncate(time.Second),
		UserID:    p.UserID,
	}
}

// admissionID is the jti of the admission of queue id to room at
// admittedAt (ms): derived from the admission itself, so asking again
// yields the very same token, and a revocation names its token without
// storing it.
func admissionID(room, id string, admittedAt time.Time) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", room, id, admittedAt.UnixMilli()))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// ETA is an expected wait with a range. All three are negative when the wait
// is unknown (the room is paused, or admits nobody).
type ETA struct {
	Expected, Low, High time.Duration
}

var unknownETA = ETA{-1, -1, -1}

// Estimate returns the wait of the waiter at position in room. The people
// ahead leave by admission, at rate r, and by giving up, at rate a spread
// over the line, so they drain at d = r + a·min(1, position/waiting). The
// waiter's own turn comes with the position-th admission, which is between
// position−1 and position admissions' time away:
//
//	expected = (position − ½) / d
//	low      = (position − 1) / (1.2 · d)
//	high     = position / (0.85 · r)
//
// r is the observed admission rate, smoothed (EWMA, 20 s time constant),
// once the room has admitted to a line for 15 s; before that, and again
// after the line empties or the planned rate changes, the planned rate:
// the organizer's, or adaptive admission's when lower (sample). The time to
// sale_starts_at is added in the pre-queue. TestETAAccuracy measures how
// often the range holds over a whole sale (docs/performance.md).
func (c *Controller) Estimate(room queue.Room, position int64, now time.Time) ETA {
	if room.Passthrough {
		return ETA{}
	}
	st := (*c.rooms.Load())[room.Name]
	r := c.plannedRate(room) / 60
	admitRate, abandonRate := st.rates()
	if st.warm && admitRate > 0 {
		r = admitRate
	}
	if room.Paused || r <= 0 {
		return unknownETA
	}
	p := float64(position)
	drain := r
	if st.stats.Waiting > 0 {
		drain += abandonRate * math.Min(1, p/float64(st.stats.Waiting))
	}
	secs := func(v float64, round func(float64) float64) time.Duration {
		return time.Duration(round(v)) * time.Second
	}
	e := ETA{
		Expected: secs((p-0.5)/drain, math.Round),
		Low:      secs((p-1)/(1.2*drain), math.Floor),
		High:     secs(p/(0.85*r), math.Ceil),
	}
	if room.InPrequeue(now) {
		until := room.SaleStartsAt.Sub(now).Round(time.Second)
		e.Expected, e.Low, e.High = e.Expected+until, e.Low+until, e.High+until
	}
	return e
}

// queue.Store keeps the shared keyring document.
var _ KeyStore = (*queue.Store)(nil)
