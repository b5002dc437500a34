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

	"github.com/crowdgate/crowdgate/queue"
)

// Statuses of a Ticket, as fans see them.
const (
	StatusPrequeue = "prequeue"
	StatusWaiting  = "waiting"
	StatusAdmitted = "admitted"
	StatusClosed   = "closed"
)

// ErrQueueToken means a queue token is forged, malformed or for another room.
var ErrQueueToken = errors.New("admission: invalid queue token")

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
	// ETA is the expected wait; negative when unknown (paused, or no rate).
	ETA time.Duration
	// Admission and AdmissionToken are set when Status is StatusAdmitted.
	Admission      Pass
	AdmissionToken string
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

// roomState is the cached view of one room.
type roomState struct {
	room  queue.Room
	stats queue.Stats
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
	// misses remembers recently asked-for rooms that do not exist, so a
	// flood of requests for a bogus room does not reach Redis each time.
	missMu sync.Mutex
	misses map[string]time.Time

	admitted  *prometheus.CounterVec
	abandoned *prometheus.CounterVec
	waiting   *prometheus.GaugeVec
	active    *prometheus.GaugeVec
	joins     *prometheus.CounterVec
	tickErrs  prometheus.Counter
}

// NewController returns a Controller; call Run to start its loops.
func NewController(store *queue.Store, keys *Keyring, cfg Config) (*Controller, error) {
	cfg.setDefaults()
	c := &Controller{
		store:  store,
		keys:   keys,
		cfg:    cfg,
		log:    cfg.Logger,
		misses: map[string]time.Time{},
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
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowdgate_joins_total", Help: "Join requests served by this instance, by outcome.",
		}, []string{"room", "status"}),
		tickErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crowdgate_admission_errors_total", Help: "Failed admission, sweep or refresh steps.",
		}),
	}
	for _, m := range []prometheus.Collector{c.admitted, c.abandoned, c.waiting, c.active, c.joins, c.tickErrs} {
		if err := cfg.Registerer.Register(m); err != nil {
			return nil, fmt.Errorf("admission: register metrics: %w", err)
		}
	}
	c.rooms.Store(&map[string]roomState{})
	return c, nil
}

// Run loads the rooms, then takes admission decisions, sweeps and refreshes
// until ctx ends. It returns nil on cancellation.
func (c *Controller) Run(ctx context.Context) error {
	if err := c.refresh(ctx); err != nil {
		c.log.Warn("first room refresh failed", "err", err)
	}
	tick := time.NewTicker(c.cfg.Tick)
	defer tick.Stop()
	refresh := time.NewTicker(c.cfg.Refresh)
	defer refresh.Stop()
	keys := time.NewTicker(c.cfg.KeyRefresh)
	defer keys.Stop()
	sweep := time.NewTicker(time.Second)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			c.admitAll(ctx)
		case <-refresh.C:
			if err := c.refresh(ctx); err != nil && ctx.Err() == nil {
				c.tickErrs.Inc()
				c.log.Warn("room refresh failed", "err", err)
			}
		case <-sweep.C:
			c.sweepAll(ctx)
		case <-keys.C:
			if err := c.keys.Refresh(ctx); err != nil && ctx.Err() == nil {
				c.tickErrs.Inc()
				c.log.Warn("keyring refresh failed", "err", err)
			}
		}
	}
}

// refresh re-reads every room's configuration and figures.
func (c *Controller) refresh(ctx context.Context) error {
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
		next[r.Name] = roomState{room: r, stats: st}
		c.waiting.WithLabelValues(r.Name).Set(float64(st.Waiting))
		c.active.WithLabelValues(r.Name).Set(float64(st.Active))
	}
	for name := range old {
		if _, ok := next[name]; !ok {
			c.waiting.DeleteLabelValues(name)
			c.active.DeleteLabelValues(name)
		}
	}
	c.rooms.Store(&next)
	return nil
}

func (c *Controller) admitAll(ctx context.Context) {
	for name, st := range *c.rooms.Load() {
		if st.room.Closed {
			continue
		}
		a, err := c.store.Admit(ctx, name, c.cfg.MaxBatch)
		if err != nil {
			if ctx.Err() == nil {
				c.tickErrs.Inc()
				c.log.Warn("admission decision failed", "room", name, "err", err)
			}
			continue
		}
		if len(a.IDs) > 0 {
			c.admitted.WithLabelValues(name).Add(float64(len(a.IDs)))
		}
	}
}

func (c *Controller) sweepAll(ctx context.Context) {
	for name := range *c.rooms.Load() {
		for {
			n, done, err := c.store.Sweep(ctx, name)
			if err != nil {
				if ctx.Err() == nil {
					c.tickErrs.Inc()
					c.log.Warn("sweep failed", "room", name, "err", err)
				}
				break
			}
			if n > 0 {
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

// Forget drops a room from the cache at once (after this instance changed
// or deleted it), instead of at the next refresh.
func (c *Controller) Forget(name string) {
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
func (c *Controller) Join(ctx context.Context, room, queueToken string) (Ticket, error) {
	t, err := c.ticket(ctx, room, queueToken, true)
	status := t.Status
	if err != nil {
		status = "error"
	}
	c.joins.WithLabelValues(room, status).Inc()
	return t, err
}

// Status returns the ticket of the place queueToken names; it counts as a
// sign of life. Errors: queue.ErrRoomNotFound, ErrQueueToken,
// queue.ErrNotInLine.
func (c *Controller) Status(ctx context.Context, room, queueToken string) (Ticket, error) {
	return c.ticket(ctx, room, queueToken, false)
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
	return c.store.Leave(ctx, room, id)
}

func (c *Controller) ticket(ctx context.Context, name, queueToken string, create bool) (Ticket, error) {
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
		p, err = c.store.Join(ctx, name, id)
	} else {
		p, err = c.store.Status(ctx, name, id)
	}
	switch {
	case errors.Is(err, queue.ErrClosed):
		return Ticket{Room: name, Status: StatusClosed, ETA: -1}, nil
	case errors.Is(err, queue.ErrNotOpen):
		return Ticket{}, &NotOpenError{OpensAt: room.QueueOpensAt}
	case errors.Is(err, queue.ErrRoomNotFound):
		c.Forget(name)
		return Ticket{}, err
	case err != nil:
		return Ticket{}, err
	}
	t := Ticket{Room: name, QueueID: p.ID, QueueToken: c.keys.QueueToken(name, p.ID)}
	now := c.cfg.Now()
	switch {
	case p.Admitted:
		t.Status = StatusAdmitted
		t.Admission = c.pass(name, p)
		if t.AdmissionToken, err = c.keys.Sign(t.Admission); err != nil {
			return Ticket{}, err
		}
	case p.RoomClosed || room.Closed:
		t.Status, t.ETA = StatusClosed, -1
	default:
		t.Status, t.Position = StatusWaiting, p.Position
		if room.InPrequeue(now) {
			t.Status = StatusPrequeue
		}
		t.ETA = c.eta(room, p.Position, now)
	}
	return t, nil
}

// pass is the admission of place p. Its jti is derived from the admission
// itself, so asking again yields the very same token.
func (c *Controller) pass(room string, p queue.Place) Pass {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", room, p.ID, p.AdmittedAt.UnixMilli()))
	return Pass{
		Room:      room,
		Subject:   p.ID,
		ID:        base64.RawURLEncoding.EncodeToString(sum[:16]),
		IssuedAt:  p.AdmittedAt.Truncate(time.Second),
		NotBefore: p.AdmittedAt.Truncate(time.Second),
		Expires:   p.Expires.Truncate(time.Second),
	}
}

// eta estimates the wait of the waiter at position: the time to the sale's
// start, then position / rate. The rate is the room's configured one, or the
// observed one when max_active holds admissions below it.
func (c *Controller) eta(room queue.Room, position int64, now time.Time) time.Duration {
	rate := float64(room.AdmitPerMinute)
	if st, ok := (*c.rooms.Load())[room.Name]; ok && room.MaxActive > 0 && st.stats.AdmittedLastMinute > 0 {
		rate = math.Min(rate, float64(st.stats.AdmittedLastMinute))
	}
	if room.Passthrough {
		return 0
	}
	if room.Paused || rate <= 0 {
		return -1
	}
	wait := time.Duration(math.Ceil(float64(position)*60/rate)) * time.Second
	if room.InPrequeue(now) {
		wait += room.SaleStartsAt.Sub(now).Round(time.Second)
	}
	return wait
}

// Store returns the store the controller decides over.
func (c *Controller) Store() *queue.Store { return c.store }

// queue.Store keeps the shared keyring document.
var _ KeyStore = (*queue.Store)(nil)
