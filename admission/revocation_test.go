package admission_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// fleet is several instances' controllers over one Redis, on one fake
// clock, each running its loops.
type fleet struct {
	t      *testing.T
	rs     *queuetest.Server
	clk    *queuetest.Clock
	ctx    context.Context
	ctls   []*admission.Controller
	stores []*queue.Store
	wg     *sync.WaitGroup
}

func newFleet(t *testing.T, n int) *fleet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &fleet{t: t, rs: queuetest.Run(t), clk: queuetest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)), ctx: ctx, wg: &sync.WaitGroup{}}
	t.Cleanup(func() { cancel(); f.wg.Wait() })
	for range n {
		f.start()
	}
	return f
}

// start runs one more instance, as a deployment scaling out would.
func (f *fleet) start() *admission.Controller {
	f.t.Helper()
	store, err := queue.NewStore(f.rs.Client(f.t), queue.Config{Now: f.clk.Now})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(store.Close)
	keys, err := admission.NewKeyring(f.ctx, store, admission.KeyringConfig{Now: f.clk.Now})
	if err != nil {
		f.t.Fatal(err)
	}
	ctl, err := admission.NewController(store, keys, admission.Config{Tick: 5 * time.Millisecond, Refresh: 20 * time.Millisecond, Now: f.clk.Now})
	if err != nil {
		f.t.Fatal(err)
	}
	f.wg.Go(func() {
		if err := ctl.Run(f.ctx); err != nil {
			f.t.Errorf("Run: %v", err)
		}
	})
	f.ctls, f.stores = append(f.ctls, ctl), append(f.stores, store)
	return ctl
}

// patch changes room name's session_seconds on instance 0 and waits until
// every instance's cache shows the change. A refresh that caches a configuration finishes
// (revocations included) before the next one starts, so after two
// patches every instance has run a whole refresh under the first.
func (f *fleet) patch(name string, sessionSeconds int) {
	f.t.Helper()
	prev, err := f.stores[0].GetRoom(f.ctx, name)
	if err != nil {
		f.t.Fatal(err)
	}
	next := prev
	next.SessionSeconds = sessionSeconds
	if err := f.stores[0].UpdateRoom(f.ctx, prev, next); err != nil {
		f.t.Fatal(err)
	}
	for _, ctl := range f.ctls {
		eventually(f.t, "every instance sees the change", func() bool {
			r, err := ctl.Room(f.ctx, name)
			return err == nil && r.SessionSeconds == sessionSeconds
		})
	}
}

// admitted joins a passthrough room on instance i and returns the ticket.
func (f *fleet) admitted(i int, room string) admission.Ticket {
	f.t.Helper()
	tk, err := f.ctls[i].Join(f.ctx, room, "", admission.Entry{})
	if err != nil || tk.Status != admission.StatusAdmitted {
		f.t.Fatalf("join: %+v %v", tk, err)
	}
	return tk
}

// TestARevocationOutlivesSessionChanges: a released admission stays
// refused until its token expires, on every instance and on one started
// later, even when the room's session_seconds is lowered (so that a
// session-length prune would drop it) and raised again.
func TestARevocationOutlivesSessionChanges(t *testing.T) {
	f := newFleet(t, 2)
	if _, err := f.stores[0].PutRoom(f.ctx, queue.Room{Name: "r", Passthrough: true, SessionSeconds: 600}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	for _, ctl := range f.ctls {
		eventually(t, "room cached", func() bool { _, err := ctl.Room(f.ctx, "r"); return err == nil })
	}
	a := f.admitted(0, "r")
	if err := f.ctls[0].Leave(f.ctx, "r", a.QueueToken); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the release reaches instance 1", func() bool { return f.ctls[1].Revoked("r", a.QueueID) })

	f.clk.Add(5 * time.Second)
	f.patch("r", 1)
	// Another release while sessions are short: the store's record must
	// not be pruned by the room's session length either.
	b := f.admitted(1, "r")
	if err := f.ctls[1].Leave(f.ctx, "r", b.QueueToken); err != nil {
		t.Fatal(err)
	}
	f.clk.Add(2 * time.Second) // b's token has expired
	f.patch("r", 600)
	late := f.start() // an instance that learns only from the store

	for i, ctl := range f.ctls {
		eventually(t, "every instance keeps the revocation", func() bool { return ctl.Revoked("r", a.QueueID) })
		if err := ctl.Admits(f.ctx, a.Admission); !errors.Is(err, admission.ErrRevoked) {
			t.Errorf("instance %d: a released admission admits again after session_seconds went down and up: %v", i, err)
		}
	}
	if late.Revoked("r", b.QueueID) {
		t.Errorf("an expired admission's revocation is still kept")
	}

	// Once the token has expired, the revocation is forgotten everywhere.
	f.clk.Add(600 * time.Second)
	for _, ctl := range f.ctls {
		eventually(t, "an expired revocation forgotten", func() bool { return !ctl.Revoked("r", a.QueueID) })
	}
}

// TestADeletedRoomsAdmissionsEndOnEveryInstance: a room deleted through one
// instance ends its admissions on another that has it cached, within a
// refresh period, and a room created again under the same name through a
// third instance does not honour the old room's admissions there either.
func TestADeletedRoomsAdmissionsEndOnEveryInstance(t *testing.T) {
	for _, again := range []bool{false, true} {
		name := map[bool]string{false: "deleted", true: "deleted and created again elsewhere"}[again]
		t.Run(name, func(t *testing.T) {
			f := newFleet(t, 3)
			room := queue.Room{Name: "r", Passthrough: true, SessionSeconds: 600}.WithDefaults()
			if _, err := f.stores[0].PutRoom(f.ctx, room); err != nil {
				t.Fatal(err)
			}
			a := f.admitted(0, "r")
			eventually(t, "instance 1 caches the room", func() bool { _, err := f.ctls[1].Room(f.ctx, "r"); return err == nil })
			if err := f.ctls[1].Admits(f.ctx, a.Admission); err != nil {
				t.Fatalf("before the delete: %v", err)
			}
			if err := f.ctls[0].DeleteRoom(f.ctx, "r"); err != nil {
				t.Fatal(err)
			}
			if again {
				f.clk.Add(time.Second) // the new room is younger than the old admission's iat second
				if _, _, err := f.ctls[2].PutRoom(f.ctx, room); err != nil {
					t.Fatal(err)
				}
			}
			for i, ctl := range f.ctls {
				eventually(t, "the old room's admission refused", func() bool {
					return errors.Is(ctl.Admits(f.ctx, a.Admission), admission.ErrRevoked)
				})
				if again {
					if _, err := ctl.Room(f.ctx, "r"); err != nil {
						t.Errorf("instance %d does not see the room created again: %v", i, err)
					}
				}
			}
			if again {
				// The new room admits its own visitors on every instance.
				b := f.admitted(2, "r")
				for i, ctl := range f.ctls {
					if err := ctl.Admits(f.ctx, b.Admission); err != nil {
						t.Errorf("instance %d refuses the new room's admission: %v", i, err)
					}
				}
			}
		})
	}
}
