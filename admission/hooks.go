package admission

import (
	"context"
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue"
)

// Room hooks (Config.RoomHooks) tell an organizer's own systems what
// happens to their rooms: the queue opens, the sale starts, a
// traffic-triggered room activates or goes quiet, a room pauses, resumes,
// sells out, closes, reopens, or changes the rate it admits at. Every
// second each controller asks the store to record every room's changes
// (queue.Store.RecordHooks): one script per room compares the room with
// what was last recorded and appends each change once to the room's hook
// outbox, however many instances ask. A notify.Notifier of cmd's, with
// HookStreams as its only source, delivers them, signed, at least once.

// newHookMetrics is the count of room hook messages this instance
// recorded, by kind.
func newHookMetrics() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crowdgate_room_hooks_total",
		Help: "Room hook messages this instance recorded for the organizer's webhook, by type (room.paused, room.rate_changed, ...); crowdgate_notifications_total{channel=\"room-webhook\"} counts their deliveries.",
	}, []string{"type"})
}

// recordHooks records every cached room's changes for its hooks.
func (c *Controller) recordHooks(ctx context.Context) {
	for name := range *c.rooms.Load() {
		kinds, err := c.store.RecordHooks(ctx, name)
		if err != nil {
			c.failed(ctx, "room hooks", err, "room", name)
			continue
		}
		for _, k := range kinds {
			c.hookCount.WithLabelValues(k).Inc()
			c.log.Info("room hook", "room", name, "type", k)
		}
	}
}

// HookStream is the notify stream of room's hook messages.
func HookStream(room string) notify.Stream {
	name, prefix := queue.HookOutbox(room)
	return notify.Stream{Name: name, Prefix: prefix}
}

// HookStreams is a notify.Source of every room's hook stream, the rooms
// as this controller last read them: the only source of the Notifier
// that delivers room hooks (notify.Config.SourcesOnly). A room's messages
// go with it when it is deleted.
func (c *Controller) HookStreams(context.Context) ([]notify.Stream, error) {
	rooms := *c.rooms.Load()
	out := make([]notify.Stream, 0, len(rooms))
	for name := range rooms {
		out = append(out, HookStream(name))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
