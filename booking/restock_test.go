package booking

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/queue"
)

// restockFixture is a fixture whose core closes and reopens a real room,
// as serve wires it, on the fixture's clock.
type restockFixture struct {
	*fixture
	store *queue.Store
}

func newRestockFixture(t *testing.T) *restockFixture {
	t.Helper()
	f := newFixture(t)
	store, err := queue.NewStore(f.rdb, queue.Config{Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	f.core.cfg.SoldOut, f.core.cfg.Restocked = store.CloseSoldOut, store.ReopenSoldOut
	if _, err := store.PutRoom(context.Background(), queue.Room{Name: "launch", AdmitPerMinute: 60}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	return &restockFixture{fixture: f, store: store}
}

func (f *restockFixture) room(t *testing.T) queue.Room {
	t.Helper()
	r, err := f.store.GetRoom(context.Background(), "launch")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *restockFixture) sweep(t *testing.T) {
	t.Helper()
	f.clock.Add(100 * time.Millisecond)
	if err := f.core.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(100 * time.Millisecond)
}

// sellOut sells every ticket left of "gig" to visitor and sweeps: the
// room closes by itself.
func (f *restockFixture) sellOut(t *testing.T, visitor string) {
	t.Helper()
	o := f.checkout(t, visitor, f.inventory(t).Available)
	if _, err := f.deliver(t, "evt-"+visitor, WebhookSucceeded, o); err != nil {
		t.Fatal(err)
	}
	f.sweep(t)
	if r := f.room(t); !r.Closed || r.ClosedReason != queue.ClosedSoldOut {
		t.Fatalf("sold out, the room is %+v", r)
	}
}

// organizer changes the room's closed flag as the admin API does.
func (f *restockFixture) organizer(t *testing.T, closed bool) {
	t.Helper()
	prev := f.room(t)
	next := prev
	next.Closed, next.ClosedReason = closed, ""
	if err := f.store.UpdateRoom(context.Background(), prev, next); err != nil {
		t.Fatal(err)
	}
}

func (f *restockFixture) logged(t *testing.T, event string) []string {
	t.Helper()
	entries, err := f.core.Log(context.Background(), event, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.What, "room.") {
			out = append(out, e.What+" "+e.Fields["room"]+" "+e.Fields["why"])
		}
	}
	return out
}

// TestAddingTicketsReopensASoldOutRoom: a room that closed by itself when
// its event sold out reopens in the same step as the organizer adds
// tickets (more capacity, or another event), with the why in the event log
// and the audit log.
func TestAddingTicketsReopensASoldOutRoom(t *testing.T) {
	t.Parallel()
	f := newRestockFixture(t)
	ctx := context.Background()
	e := f.event(t, 2, 4)
	f.sellOut(t, "a")

	e.TicketTypes[0].Capacity = 5
	if _, err := f.core.PutEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	// No sweep: the organizer's PUT reopened it.
	if r := f.room(t); r.Closed || r.ClosedReason != "" {
		t.Fatalf("after more capacity the room is %+v", r)
	}
	want := []string{"room.sold_out launch nothing_left", "room.reopened launch tickets_added"}
	if got := f.logged(t, "gig"); !slices.Equal(got, want) {
		t.Errorf("event log %q, want %q", got, want)
	}
	audit, err := f.store.Audit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 2 || audit[0].Actor != queue.ActorCrowdgate || !strings.HasPrefix(audit[0].Summary, "reopened by itself") ||
		!strings.HasPrefix(audit[1].Summary, "closed by itself: sold out") {
		t.Errorf("audit log %+v", audit)
	}
	f.sweep(t)
	if r := f.room(t); r.Closed {
		t.Fatalf("a sweep closed it again: %+v", r)
	}

	// Sold out again: it closes again, and a new event behind the room
	// reopens it.
	f.sellOut(t, "b")
	if _, err := f.core.PutEvent(ctx, Event{ID: "encore", Room: "launch", HoldSeconds: 600, TicketTypes: []TicketType{
		{ID: "ga", Name: "General", Capacity: 10, PriceMinor: 100, Currency: "INR", PerOrderLimit: 2},
	}}); err != nil {
		t.Fatal(err)
	}
	if r := f.room(t); r.Closed {
		t.Fatalf("after a new event the room is %+v", r)
	}
	if got := f.logged(t, "encore"); !slices.Equal(got, []string{"room.reopened launch tickets_added"}) {
		t.Errorf("the new event's log %q", got)
	}
}

// TestTheOrganizersCloseStands: a room the organizer closed is never
// reopened by a restock, and a sold-out room the organizer reopened by
// hand is not closed again until it sells out again.
func TestTheOrganizersCloseStands(t *testing.T) {
	t.Parallel()
	f := newRestockFixture(t)
	ctx := context.Background()
	e := f.event(t, 2, 4)
	f.sellOut(t, "a")

	// Closed by hand (the dashboard's "Keep it closed"): more tickets and
	// sweeps leave it closed.
	f.organizer(t, true)
	e.TicketTypes[0].Capacity = 3
	if _, err := f.core.PutEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	f.sweep(t)
	if r := f.room(t); !r.Closed || r.ClosedReason != "" {
		t.Fatalf("the organizer's close was undone: %+v", r)
	}

	// Opened by hand while sold out: the sweeps leave it open.
	f.organizer(t, false)
	o := f.checkout(t, "b", 1)
	if _, err := f.deliver(t, "evt-b", WebhookSucceeded, o); err != nil {
		t.Fatal(err)
	}
	f.sweep(t)
	if r := f.room(t); !r.Closed {
		t.Fatalf("the last ticket sold: %+v", r)
	}
	f.organizer(t, false)
	f.sweep(t)
	f.sweep(t)
	if r := f.room(t); r.Closed {
		t.Fatalf("reopened by hand while sold out, then closed again: %+v", r)
	}
	// ... until tickets come and go again.
	e.TicketTypes[0].Capacity = 4
	if _, err := f.core.PutEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	f.sellOut(t, "c")
}

// TestASweepReopensWhatARestockMissed: when the reopening fails as the
// organizer adds tickets, or a sweep that read the figures before the new
// tickets closes the room after them, the next sweep reopens it.
func TestASweepReopensWhatARestockMissed(t *testing.T) {
	t.Parallel()
	f := newRestockFixture(t)
	ctx := context.Background()
	e := f.event(t, 1, 4)
	f.sellOut(t, "a")

	failing := true
	f.core.cfg.Restocked = func(ctx context.Context, room string, before time.Time) (bool, error) {
		if failing {
			return false, errors.New("LOADING Redis is loading the dataset in memory")
		}
		return f.store.ReopenSoldOut(ctx, room, before)
	}
	e.TicketTypes[0].Capacity = 2
	if _, err := f.core.PutEvent(ctx, e); err != nil {
		t.Fatalf("a failed reopening fails the PUT: %v", err)
	}
	if r := f.room(t); !r.Closed {
		t.Fatalf("reopened by a failing store: %+v", r)
	}
	failing = false
	f.sweep(t)
	if r := f.room(t); r.Closed {
		t.Fatalf("the sweep after the restock left it closed: %+v", r)
	}
	want := []string{"room.sold_out launch nothing_left", "room.reopened launch tickets_available"}
	if got := f.logged(t, "gig"); !slices.Equal(got, want) {
		t.Errorf("event log %q, want %q", got, want)
	}

	// A close decided on figures from before a restock, landing after it.
	f.sellOut(t, "b")
	e.TicketTypes[0].Capacity = 3
	if _, err := f.core.PutEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Second)
	if err := f.store.CloseSoldOut(ctx, "launch"); err != nil { // the stale sweep
		t.Fatal(err)
	}
	if _, err := f.rdb.SAdd(ctx, soldOutKey, "launch").Result(); err != nil {
		t.Fatal(err)
	}
	f.sweep(t)
	if r := f.room(t); r.Closed {
		t.Fatalf("a stale close stood: %+v", r)
	}
}
