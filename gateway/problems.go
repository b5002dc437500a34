package gateway

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/queue"
)

// Loud misconfiguration: a route or an event that names a room that does
// not exist sends every fan it catches to a waiting room that says "not
// found". Nothing else breaks, so nothing else would tell. Such a route or
// event is logged when this instance starts and whenever it turns up
// (RunProblems), shown on the dashboard (the dashboard read's problems),
// counted (crowdgate_misconfigured), and each request it catches is
// counted and logged once a minute per room (missingRoom).
//
// A room whose adaptive admission follows the origin (origin targets) on
// an instance that proxies to no origin (no --upstream) is the same kind
// of quiet: it never gets a reading, so its autopilot never acts. It is
// warned of in PUT and PATCH answers (originWarnings), and listed, counted
// and logged with the others.

// ProblemsEvery is how often RunProblems looks again for routes and events
// that name a room that does not exist.
const ProblemsEvery = 30 * time.Second

// missingLogEvery is how often a request for a room that does not exist is
// logged, per room: the first of a burst, not each.
const missingLogEvery = time.Minute

// missingRoomsLabelled bounds the rooms with a series of their own in
// crowdgate_missing_room_requests_total beyond those routes and events
// name: a proxy may pass on a room= a client made up.
const missingRoomsLabelled = 64

// problem is one thing a dashboard lists under Problems: a route or an
// event that names a room that does not exist ("route", "event"), a room
// created after its own schedule ("schedule"), or a room whose origin
// targets this instance cannot read ("origin").
type problem struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"` // the route ("host/prefix"), the event's id, or the room
	Room    string `json:"room"`
	Message string `json:"message"`
}

// problems is what is misconfigured, as of rooms (every room that exists)
// and events: routes and events that name a room that does not exist, and
// rooms created after their queue_opens_at or sale_starts_at (they opened
// or started at once, and a random_prequeue room drew nobody), and rooms
// that steer by an origin this instance does not proxy to. In a fixed
// order: routes, events, rooms, each by name.
func (s *Server) problems(rooms []queue.Room, events []booking.EventView) []problem {
	exists := make(map[string]bool, len(rooms))
	for _, r := range rooms {
		exists[r.Name] = true
	}
	out := []problem{}
	for _, rt := range s.cfg.Routes {
		if !exists[rt.Room] {
			out = append(out, problem{Kind: "route", Name: routeName(rt), Room: rt.Room,
				Message: fmt.Sprintf("route %s names room %s, which does not exist: every fan it catches is sent to a waiting room that says not found", routeName(rt), rt.Room)})
		}
	}
	evs := append([]booking.EventView(nil), events...)
	sort.Slice(evs, func(i, j int) bool { return evs[i].ID < evs[j].ID })
	for _, e := range evs {
		if !exists[e.Room] {
			out = append(out, problem{Kind: "event", Name: e.ID, Room: e.Room,
				Message: fmt.Sprintf("event %s sells through room %s, which does not exist: nobody can be admitted to buy", e.ID, e.Room)})
		}
	}
	for _, r := range rooms {
		for _, w := range lateSchedule(r) {
			out = append(out, problem{Kind: "schedule", Name: r.Name, Room: r.Name, Message: w})
		}
		if _, msg := s.originUnread(r); msg != "" {
			out = append(out, problem{Kind: "origin", Name: r.Name, Room: r.Name, Message: msg})
		}
	}
	return out
}

// originUnread says why r's origin autopilot can never act, with its
// warning code, or "": r is adaptive with an origin target
// (Room.AdaptiveOrigin), but this instance runs without --upstream, so it
// proxies nothing and measures no origin; or no route of this instance
// names r, so the proxy sends none of r's visitors to the origin. Readings
// are shared between instances, so another instance may still read the
// origin for the room; this one cannot tell.
func (s *Server) originUnread(r queue.Room) (code, msg string) {
	switch {
	case !r.Adaptive || !r.AdaptiveOrigin():
		return "", ""
	case s.cfg.Upstream == nil:
		return "origin_targets_without_upstream", fmt.Sprintf("room %s steers by its origin (adaptive_origin_p99_ms, adaptive_origin_error_percent), but this instance runs without --upstream: it proxies to no origin and measures none, so unless another instance proxies the room's paths the autopilot never has a reading and never changes the rate", r.Name)
	case !s.cfg.Routes.names(r.Name):
		return "origin_targets_without_route", fmt.Sprintf("room %s steers by its origin (adaptive_origin_p99_ms, adaptive_origin_error_percent), but no route of this instance (CROWDGATE_ROUTES) names it: the reverse proxy sends none of its visitors to the origin, so unless another instance routes them the autopilot never has a reading and never changes the rate", r.Name)
	}
	return "", ""
}

// originWarnings warns, in a PUT or PATCH answer, when the room as stored
// steers by an origin this instance does not read for it (originUnread).
// It warns on every change while that holds, not only the one that set the
// targets: the room cannot do what it says until the deployment changes.
func (s *Server) originWarnings(r queue.Room) []api.Warning {
	if code, msg := s.originUnread(r); code != "" {
		return []api.Warning{{Code: code, Message: msg}}
	}
	return nil
}

// routeName is a route as CROWDGATE_ROUTES writes it, without its room.
func routeName(rt Route) string { return rt.Host + rt.Prefix }

// lateSchedule says which of a room's scheduled times came before the room
// itself: it opened its queue, or started its sale, when it was created.
func lateSchedule(r queue.Room) []string {
	var out []string
	if !r.QueueOpensAt.IsZero() && r.QueueOpensAt.Before(r.CreatedAt.Truncate(time.Second)) {
		out = append(out, fmt.Sprintf("room %s was created at %s, after its queue_opens_at %s: its queue opened then",
			r.Name, r.CreatedAt.UTC().Format(time.RFC3339), r.QueueOpensAt.UTC().Format(time.RFC3339)))
	}
	if !r.SaleStartsAt.IsZero() && r.SaleStartsAt.Before(r.CreatedAt.Truncate(time.Second)) {
		msg := fmt.Sprintf("room %s was created at %s, after its sale_starts_at %s: its sale started then",
			r.Name, r.CreatedAt.UTC().Format(time.RFC3339), r.SaleStartsAt.UTC().Format(time.RFC3339))
		if r.Mode == queue.ModeRandomPrequeue {
			msg += ", with nobody in its pre-queue to shuffle"
		}
		out = append(out, msg)
	}
	return out
}

// ScheduleWarnings warns about each scheduled time of next that is already
// past at now and is new: not what prev, the room as it was (zero when it
// is being created), had. The room acts on such a time at once: its queue
// is open, its sale has started (and a random_prequeue room draws at once).
func ScheduleWarnings(prev, next queue.Room, now time.Time) []api.Warning {
	var out []api.Warning
	past := func(field string, t, was time.Time, then string) {
		if !t.IsZero() && !t.After(now) && !t.Equal(was) {
			out = append(out, api.Warning{Code: "schedule_in_past",
				Message: fmt.Sprintf("%s %s is already past: %s now, not at that time", field, t.UTC().Format(time.RFC3339), then)})
		}
	}
	past("queue_opens_at", next.QueueOpensAt, prev.QueueOpensAt, "the queue is open")
	then := "the sale is on"
	if next.Mode == queue.ModeRandomPrequeue {
		then = "the sale is on (its pre-queue is shuffled at once)"
	}
	past("sale_starts_at", next.SaleStartsAt, prev.SaleStartsAt, then)
	return out
}

// eventWarnings warns when an event's room does not exist.
func (s *Server) eventWarnings(ctx context.Context, e booking.EventView) []api.Warning {
	if s.ctl == nil {
		return nil
	}
	if _, err := s.cfg.Store.GetRoom(ctx, e.Room); errors.Is(err, queue.ErrRoomNotFound) {
		return []api.Warning{{Code: "room_not_found",
			Message: fmt.Sprintf("room %s does not exist: nobody can be admitted to buy at event %s until it is created", e.Room, e.ID)}}
	}
	return nil
}

// missingRooms is this instance's record of what names a room that does
// not exist: what RunProblems last found, and when each room's requests
// were last logged.
type missingRooms struct {
	broken   *prometheus.GaugeVec   // crowdgate_misconfigured{kind, name, room}
	requests *prometheus.CounterVec // crowdgate_missing_room_requests_total{via, room}

	mu     sync.Mutex
	found  map[problem]bool     // route, event and origin problems, as last found
	logged map[string]time.Time // room → when its requests were last logged
}

func newMissingRooms(reg prometheus.Registerer) (*missingRooms, error) {
	m := &missingRooms{
		broken: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crowdgate_misconfigured",
			Help: "1 for each route (kind=\"route\", name host/prefix) or event (kind=\"event\", name its id) that names a room that does not exist, and each room (kind=\"origin\", name the room) that steers by its origin while this instance reads none for it (no --upstream, or no route naming the room), as this instance last looked (every 30 s).",
		}, []string{"kind", "name", "room"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowdgate_missing_room_requests_total",
			Help: "Requests turned away because the room a route (via=\"route\"), an event (via=\"event\") or a forward-auth room= (via=\"room_param\") names does not exist.",
		}, []string{"via", "room"}),
		found:  map[problem]bool{},
		logged: map[string]time.Time{},
	}
	for _, c := range []prometheus.Collector{m.broken, m.requests} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("gateway: register metrics: %w", err)
		}
	}
	return m, nil
}

// missingRoom is told of a request turned away for want of an admission
// to room, which a route (via "route", or "room_param" for forward auth's
// room=) or an event (via "event") named. When the room does not exist
// the request is counted, logged (once a minute per room), and
// Config.RoomMissing is told, so that a room a configuration file declares
// comes back at once. The room's existence is read from the controller's
// cache: a room that exists costs no store read.
func (s *Server) missingRoom(ctx context.Context, room, via string) {
	if s.ctl == nil {
		return
	}
	if _, err := s.ctl.Room(ctx, room); !errors.Is(err, queue.ErrRoomNotFound) {
		return
	}
	if via == "route" && !s.cfg.Routes.names(room) {
		via = "room_param"
	}
	if s.cfg.RoomMissing != nil {
		s.cfg.RoomMissing(room)
	}
	m := s.missing
	now := s.cfg.Now()
	label, log := room, false
	m.mu.Lock()
	last, known := m.logged[room]
	switch {
	case !known && via == "room_param" && len(m.logged) >= missingRoomsLabelled:
		label = "" // a room= a client may have made up: counted, neither labelled nor logged
	case !known || now.Sub(last) >= missingLogEvery:
		m.logged[room] = now
		log = true
	}
	m.mu.Unlock()
	m.requests.WithLabelValues(via, label).Inc()
	if log {
		s.log.WarnContext(ctx, "a request names a room that does not exist: it is sent to a waiting room that says not found (logged once a minute per room)",
			"room", room, "via", via, "routes", s.cfg.Routes.naming(room))
	}
}

// names reports whether some route names room.
func (rs Routes) names(room string) bool { return len(rs.naming(room)) > 0 }

// naming returns the routes ("host/prefix") that name room.
func (rs Routes) naming(room string) []string {
	var out []string
	for _, rt := range rs {
		if rt.Room == room {
			out = append(out, routeName(rt))
		}
	}
	return out
}

// RunProblems looks for routes and events that name a room that does not
// exist, and rooms that steer by an origin this instance does not proxy to
// (originUnread), now and every ProblemsEvery until ctx ends, and returns
// nil then.
// It logs each at WARN when first found (at start: all of them) and at
// INFO once it is gone, and keeps crowdgate_misconfigured. Every instance
// runs it: routes are each instance's own.
func (s *Server) RunProblems(ctx context.Context) error {
	t := time.NewTicker(ProblemsEvery)
	defer t.Stop()
	for {
		if err := s.CheckProblems(ctx); err != nil && ctx.Err() == nil {
			s.log.Debug("misconfiguration check failed; trying again later", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// CheckProblems looks once for routes and events that name a room that
// does not exist, and for rooms whose origin this instance cannot read
// (see RunProblems).
func (s *Server) CheckProblems(ctx context.Context) error {
	if s.cfg.Store == nil {
		return nil
	}
	rooms, err := s.cfg.Store.ListRooms(ctx)
	if err != nil {
		return err
	}
	var events []booking.EventView
	if s.cfg.Booking != nil {
		if events, err = s.cfg.Booking.Events(ctx); err != nil {
			return err
		}
	}
	now := map[problem]bool{}
	for _, p := range s.problems(rooms, events) {
		switch p.Kind {
		case "schedule": // done when it happened: on the dashboard only
		case "origin":
			now[problem{Kind: p.Kind, Name: p.Name, Room: p.Room}] = true
		default:
			now[problem{Kind: p.Kind, Name: p.Name, Room: p.Room}] = true
			if s.cfg.RoomMissing != nil {
				s.cfg.RoomMissing(p.Room)
			}
		}
	}
	m := s.missing
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range now {
		if m.found[p] {
			continue
		}
		m.broken.WithLabelValues(p.Kind, p.Name, p.Room).Set(1)
		if p.Kind == "origin" {
			s.log.Warn("misconfigured: the room steers by its origin, but this instance runs without --upstream and measures no origin; its autopilot never acts unless another instance proxies its paths",
				"kind", p.Kind, "name", p.Name, "room", p.Room)
		} else {
			s.log.Warn("misconfigured: names a room that does not exist; fans it catches are sent to a waiting room that says not found",
				"kind", p.Kind, "name", p.Name, "room", p.Room)
		}
	}
	for p := range m.found {
		if now[p] {
			continue
		}
		m.broken.DeleteLabelValues(p.Kind, p.Name, p.Room)
		if p.Kind == "origin" {
			s.log.Info("resolved: the room no longer steers by its origin, or it is gone", "kind", p.Kind, "name", p.Name, "room", p.Room)
		} else {
			s.log.Info("resolved: the room it names exists now, or it is gone", "kind", p.Kind, "name", p.Name, "room", p.Room)
		}
	}
	m.found = now
	return nil
}
