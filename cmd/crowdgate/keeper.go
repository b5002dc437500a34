package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
)

// keepEvery is how often the keeper looks for declared rooms and events
// the store lost.
const keepEvery = 5 * time.Second

// keepGap is the least time between two of the keeper's passes, however
// often it is asked: a crowd of requests for a lost room asks at each.
const keepGap = time.Second

// configKeeper puts back the rooms and events a CROWDGATE_CONFIG file
// declared when the store lost them (a Redis that restarted empty, a
// FLUSHALL, a room deleted live), so that the paths they protect keep
// sending fans to a working waiting room instead of one that says "not
// found". It only ever creates what is absent (queue.Store.CreateRoom,
// booking.Core.CreateEvent): what exists, changed live or not, is left
// alone, and of several instances putting one room back at once, one
// writes it. A declared room deleted live comes back too, as it does at
// the next start: the file declares it (docs/operations.md).
type configKeeper struct {
	store  *queue.Store
	ctl    *admission.Controller
	core   *booking.Core
	rooms  []queue.Room
	events []booking.Event
	log    *slog.Logger
	now    func() time.Time
	every  time.Duration // keepEvery; tests set it longer to see missing's pass alone

	kick     chan struct{}
	restored *prometheus.CounterVec // crowdgate_config_restored_total{kind}
}

func newConfigKeeper(store *queue.Store, ctl *admission.Controller, core *booking.Core, rooms []queue.Room, events []booking.Event, log *slog.Logger, reg prometheus.Registerer) (*configKeeper, error) {
	k := &configKeeper{
		store: store, ctl: ctl, core: core, rooms: rooms, events: events, log: log, now: time.Now, every: keepEvery,
		kick: make(chan struct{}, 1),
		restored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowdgate_config_restored_total",
			Help: "Rooms (kind=\"room\") and events (kind=\"event\") of the CROWDGATE_CONFIG file this instance put back because the store had lost them.",
		}, []string{"kind"}),
	}
	if err := reg.Register(k.restored); err != nil {
		return nil, err
	}
	return k, nil
}

// missing asks for a pass at once: a request found room missing. It never
// blocks; asks made while a pass is due are one. A nil keeper (no
// configuration file) ignores it.
func (k *configKeeper) missing(string) {
	if k == nil {
		return
	}
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// Run keeps the declared rooms and events every keepEvery, and when
// missing asks, until ctx ends; it returns nil then.
func (k *configKeeper) Run(ctx context.Context) error {
	t := time.NewTicker(k.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-k.kick:
		}
		k.keep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(keepGap):
		}
	}
}

// keep puts back, once, every declared room and then every declared event
// the store does not hold; it goes on past one that fails, which the next
// pass tries again. An error reading the store (Redis down) is left to the
// components that report outages.
func (k *configKeeper) keep(ctx context.Context) {
	for _, r := range k.rooms {
		_, err := k.store.GetRoom(ctx, r.Name)
		if !errors.Is(err, queue.ErrRoomNotFound) {
			continue
		}
		created, err := k.ctl.CreateRoom(ctx, r)
		if err != nil {
			k.log.Warn("a room of the config file is missing from the store and could not be put back; trying again", "room", r.Name, "err", err)
			continue
		}
		if created {
			k.restored.WithLabelValues("room").Inc()
			k.log.Warn("a room of the config file was missing from the store (Redis lost it, or it was deleted): put back as the file declares it", "room", r.Name)
			logSchedule(k.log, queue.Room{}, r, k.now())
			k.declared(ctx, "room/"+r.Name, r)
		}
	}
	for _, e := range k.events {
		_, err := k.core.Event(ctx, e.ID)
		if !errors.Is(err, booking.ErrEventNotFound) {
			continue
		}
		created, err := k.core.CreateEvent(ctx, e)
		if err != nil {
			k.log.Warn("an event of the config file is missing from the store and could not be put back; trying again", "event", e.ID, "err", err)
			continue
		}
		if created {
			k.restored.WithLabelValues("event").Inc()
			k.log.Warn("an event of the config file was missing from the store (Redis lost it, or it was deleted): put back as the file declares it, with all its tickets", "event", e.ID, "room", e.Room)
			k.declared(ctx, "event/"+e.ID, e)
		}
	}
}

// declared records that the file's declaration is applied again, so that
// the next start with the same file leaves it alone (see declare).
func (k *configKeeper) declared(ctx context.Context, name string, decl any) {
	digest, err := digestOf(decl)
	if err == nil {
		err = k.store.SetDeclared(ctx, name, digest)
	}
	if err != nil {
		k.log.Warn("declaration not recorded: the next start applies it again", "name", name, "err", err)
	}
}

// logSchedule warns about each of room r's scheduled times that is past
// at now and new since prev (zero: a new room): the room acts on it at
// once, not at that time.
func logSchedule(log *slog.Logger, prev, r queue.Room, now time.Time) {
	for _, w := range gateway.ScheduleWarnings(prev, r, now) {
		log.Warn("room from config: "+w.Message, "room", r.Name, "code", w.Code)
	}
}
