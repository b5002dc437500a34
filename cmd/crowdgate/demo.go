package main

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/booking"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
)

// serve --demo: a room and an event behind it, a small origin the room
// protects, and a simulated crowd that keeps a moving line in the room, so
// that whoever opens the printed URL waits in a real line.

const (
	// demoRoom names the demo's room and its event.
	demoRoom = "demo"
	// demoRate is the demo room's admissions a minute, and demoLine the
	// people the simulated crowd keeps waiting in it: a newcomer waits
	// about demoLine/demoRate minutes, a minute and a half.
	demoRate = 30
	demoLine = 45
	// demoUser names the simulated people: each place is made in the name
	// of user id demoUser+n (as an enqueue token's user would be), so the
	// store says whose place it is.
	demoUser = "simulated-"
)

// demoSetup is what the demo needs of serve.
type demoSetup struct {
	ctl   *admission.Controller
	store *queue.Store
	core  *booking.Core
	// addr is the listener's address, public the --public-url (nil for none):
	// where the banner says to go.
	addr       string
	public     *url.URL
	adminToken string
	routes     gateway.Routes
	grace      time.Duration // how long a silent waiter keeps a place
	log        *slog.Logger
}

// startDemo creates the demo room and its event (unless they exist), fills
// the room's line with simulated people, and prints where to go on w. The
// crowd it returns keeps the line moving once its Run runs.
func startDemo(ctx context.Context, s demoSetup, w io.Writer) (*demoCrowd, error) {
	ctl, core := s.ctl, s.core
	if _, err := ctl.Room(ctx, demoRoom); errors.Is(err, queue.ErrRoomNotFound) {
		room := queue.Room{Name: demoRoom, AdmitPerMinute: demoRate, SessionSeconds: 900}.WithDefaults()
		if _, _, err := ctl.PutRoom(ctx, room); err != nil {
			return nil, fmt.Errorf("demo room: %w", err)
		}
	} else if err != nil {
		return nil, err
	}
	if _, err := core.Event(ctx, demoRoom); errors.Is(err, booking.ErrEventNotFound) {
		ev := booking.Event{ID: demoRoom, Room: demoRoom, HoldSeconds: 600, TicketTypes: []booking.TicketType{
			{ID: "ga", Name: "General admission", Capacity: 500, PriceMinor: 150000, Currency: "INR", PerOrderLimit: 4},
			{ID: "vip", Name: "VIP", Capacity: 50, PriceMinor: 500000, Currency: "INR", PerOrderLimit: 2},
		}}
		if _, err := core.PutEvent(ctx, ev); err != nil {
			return nil, fmt.Errorf("demo event: %w", err)
		}
	} else if err != nil {
		return nil, err
	}
	crowd := newDemoCrowd(s.store, ctl, s.grace, s.log)
	if err := crowd.fill(ctx, demoLine); err != nil && !quietDemoError(err) {
		return nil, fmt.Errorf("demo line: %w", err)
	}
	base := "http://" + s.addr
	if s.public != nil {
		base = strings.TrimSuffix(s.public.String(), "/")
	}
	fmt.Fprintf(w, `
Crowdgate demo is running. Room "demo" admits %[4]d people a minute; a simulated crowd keeps
about %[5]d waiting in it, so you join a moving line (a wait of a minute or two). Event "demo"
sells behind it.
%[3]s
  Waiting room page:  %[1]s/rooms/demo
  Dashboard:          %[1]s/admin   (log in with the admin token)
  Admin token:        %[2]s
  Tickets (admitted): %[1]s/events/demo   (hold, then pay on the sandbox's page)
  Join the line:      curl -si -X POST %[1]s/api/v1/rooms/demo/join
  Your place:         curl -s -H "Authorization: Bearer <queue_token>" %[1]s/api/v1/rooms/demo/status
  Room and figures:   curl -s -H "Authorization: Bearer %[2]s" %[1]s/admin/v1/rooms/demo
  Change the rate:    curl -s -X PATCH -H "Authorization: Bearer %[2]s" -d '{"admit_per_minute":600}' %[1]s/admin/v1/rooms/demo
  Tickets sold:       curl -s -H "Authorization: Bearer %[2]s" %[1]s/admin/v1/events/demo
  Event log:          curl -s -H "Authorization: Bearer %[2]s" %[1]s/admin/v1/events/demo/log
  Forward-auth check: curl -si "%[1]s/auth/v1/check?room=demo"
  Signing keys:       %[1]s/.well-known/jwks.json
  Metrics:            %[1]s/metrics

`, base, s.adminToken, demoShop(base, s.routes), demoRate, demoLine)
	return crowd, nil
}

func demoShop(base string, routes gateway.Routes) string {
	if len(routes) != 1 || routes[0].Prefix != "/shop/" {
		return ""
	}
	return "\n  Protected page:     " + base + "/shop/   (the demo origin: you wait, then get in)\n"
}

// demoCrowd is the demo room's simulated people. It fills the room's line
// to demoLine; then, every step, lets as many more arrive as the room admits
// in a step while the line is shorter than that, reads the place of each of
// its people (a sign of life, so none is dropped as silent), and ends the
// visit of those admitted a while ago, as people who bought or gave up
// would. Its places are made in the store directly, from no address: the
// per-address limits and the challenge's per-address pressure never count
// them against a real visitor, and the room's surge counts them far below
// its floor (queue/gate.go). Real visitors waiting count in the line it
// keeps, so a real crowd leaves it nothing to add.
//
// It is not safe for concurrent use: fill is called before Run, then only
// Run's goroutine uses it.
type demoCrowd struct {
	store *queue.Store
	ctl   *admission.Controller
	log   *slog.Logger
	now   func() time.Time
	// step is how often people arrive and places are read.
	step time.Duration
	// visit is how long an admitted person stays, on average.
	visit time.Duration
	// people are the crowd's places by queue id, with when each visit ends
	// (zero while waiting).
	people  map[string]time.Time
	next    int  // the number of the next person
	failing bool // the last step failed (logged once)
}

func newDemoCrowd(store *queue.Store, ctl *admission.Controller, grace time.Duration, log *slog.Logger) *demoCrowd {
	return &demoCrowd{
		store: store, ctl: ctl, log: log, now: time.Now,
		step:   min(2*time.Second, grace/3), // reads within the grace, whatever --grace says
		visit:  time.Minute,
		people: map[string]time.Time{},
	}
}

// Run keeps the line moving until ctx ends; it returns nil then. A step that
// fails is logged, and the next one tries again.
func (d *demoCrowd) Run(ctx context.Context) error {
	t := time.NewTicker(d.step)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		err := d.tick(ctx)
		switch {
		case ctx.Err() != nil:
		case err != nil && !quietDemoError(err):
			if !d.failing {
				d.log.Warn("demo crowd: step failed; trying again", "room", demoRoom, "err", err)
			}
			d.failing = true
		default:
			d.failing = false
		}
	}
}

// tick is one step: read every person's place, then let people arrive.
func (d *demoCrowd) tick(ctx context.Context) error {
	if err := d.check(ctx); err != nil {
		return err
	}
	room, err := d.ctl.Room(ctx, demoRoom)
	if err != nil {
		return err
	}
	return d.fill(ctx, max(1, int(math.Ceil(float64(room.AdmitPerMinute)*d.step.Minutes()))))
}

// fill adds people to the end of the line until it holds demoLine, at most
// most of them.
func (d *demoCrowd) fill(ctx context.Context, most int) error {
	st, err := d.ctl.Stats(ctx, demoRoom)
	if err != nil {
		return err
	}
	for range min(int64(most), demoLine-st.Waiting) {
		d.next++
		p, err := d.store.JoinGated(ctx, demoRoom, "", queue.Gate{UserID: fmt.Sprintf("%s%d", demoUser, d.next)})
		if err != nil {
			return err
		}
		d.people[p.ID] = time.Time{}
	}
	return nil
}

// check reads every person's place: a waiter's read keeps the place alive;
// an admitted person's visit ends (the admission is released) after about
// d.visit; a person no longer in the room (dropped, expired, or the room
// was deleted) is forgotten.
func (d *demoCrowd) check(ctx context.Context) error {
	now := d.now()
	for id, ends := range d.people {
		p, err := d.store.Status(ctx, demoRoom, id)
		switch {
		case errors.Is(err, queue.ErrNotInLine), errors.Is(err, queue.ErrRoomNotFound):
			delete(d.people, id)
		case err != nil:
			return err
		case !p.Admitted:
		case ends.IsZero():
			d.people[id] = p.AdmittedAt.Add(d.visit/2 + rand.N(d.visit))
		case !now.Before(ends):
			if err := d.ctl.Release(ctx, demoRoom, id); err != nil {
				return err
			}
			delete(d.people, id)
		}
	}
	return nil
}

// quietDemoError reports whether err is the demo room refusing people for
// a reason its organizer chose (deleted, closed, not open yet, a challenge
// on every place): nothing to log.
func quietDemoError(err error) bool {
	var refused *queue.Refusal
	return errors.Is(err, queue.ErrRoomNotFound) || errors.Is(err, queue.ErrClosed) ||
		errors.Is(err, queue.ErrNotOpen) || errors.Is(err, queue.ErrQueueing) || errors.As(err, &refused)
}

// startDemoOrigin serves the demo's origin site on a loopback port: the
// page a fan reaches through the reverse proxy. It says what it knows and
// nothing more: that the request came with an admission only when Crowdgate
// said so (the X-Crowdgate-* headers the proxy sets, and drops from
// clients), and until when, as store says.
func startDemoOrigin(store *queue.Store) (*url.URL, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("demo origin: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: demoOrigin(func(ctx context.Context, room, id string) (time.Time, bool) {
		p, err := store.Status(ctx, room, id)
		return p.Expires, err == nil && p.Admitted
	})}
	go func() { _ = srv.Serve(ln) }()
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}, func() { _ = srv.Close() }, nil
}

// demoOrigin is the demo origin's one page. until says when the admission
// of queue id in room ends, if it is known.
func demoOrigin(until func(ctx context.Context, room, id string) (time.Time, bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := demoOriginData{Room: r.Header.Get("X-Crowdgate-Room"), QueueID: r.Header.Get("X-Crowdgate-Queue-Id"), User: r.Header.Get(gateway.UserHeader)}
		if d.Room != "" && d.QueueID != "" {
			if t, ok := until(r.Context(), d.Room, d.QueueID); ok {
				d.Until = t.Local().Format("15:04:05 MST")
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = demoOriginPage.Execute(w, d)
	})
}

type demoOriginData struct{ Room, QueueID, User, Until string }

var demoOriginPage = template.Must(template.New("origin").Parse(`<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Demo shop</title><body style="font-family:system-ui;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5">
{{- if and .Room .QueueID}}
<h1>You're in.</h1>
<p>This is the demo origin behind Crowdgate. Crowdgate let this request through on your admission to
room <b>{{.Room}}</b>: queue id <code>{{.QueueID}}</code> (a reference for support){{with .User}}, user <code>{{.}}</code>{{end}}
{{- with .Until}}, valid until {{.}}{{end}}. The proxy says so in the X-Crowdgate-Room and X-Crowdgate-Queue-Id
headers, which only Crowdgate sets.</p>
<p><a href="/events/demo">Buy tickets</a> (Crowdgate's booking core, paid with the sandbox provider).</p>
{{- else}}
<h1>No admission</h1>
<p>This is the demo origin behind Crowdgate. This request reached it without an admission: Crowdgate
sent no X-Crowdgate-Room header. It lets a request through without one when no room protects its path
(here only /shop/ is protected), when one of the room's bypass rules lets it in, or when the store is
down and the room is set to let everyone in.</p>
<p><a href="/shop/">Go to the shop</a>: you wait in room demo's line first, then come back here admitted.</p>
{{- end}}
</body></html>
`))
