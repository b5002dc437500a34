package admission_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/queue"
)

// TestEnterAQuietRoom: a visitor enters a quiet triggered room at once, up
// to its threshold; past it nothing is made for them, and a room that is
// not triggered, or asks more of a new place, never lets anyone in so.
func TestEnterAQuietRoom(t *testing.T) {
	ctl, store, _ := newController(t)
	ctx := context.Background()
	putCached(t, ctl, store, queue.Room{Name: "r", AdmitPerMinute: 60, TriggerActiveUsers: 2, SessionSeconds: 60})
	putCached(t, ctl, store, queue.Room{Name: "plain", AdmitPerMinute: 60})
	putCached(t, ctl, store, queue.Room{Name: "codes", AdmitPerMinute: 60, TriggerActiveUsers: 2, AccessCodeRequired: true})
	a := netip.MustParseAddr("198.18.0.1")
	for i := range 2 {
		tk, ok, err := ctl.Enter(ctx, "r", a)
		if err != nil || !ok || tk.Status != admission.StatusAdmitted || tk.AdmissionToken == "" {
			t.Fatalf("enter %d: %+v %v %v", i, tk, ok, err)
		}
	}
	if _, ok, err := ctl.Enter(ctx, "r", a); ok || err != nil {
		t.Fatalf("past the threshold: %v %v", ok, err)
	}
	st, err := store.Stats(ctx, "r")
	if err != nil || st.Waiting != 0 || st.Active != 2 || st.Trigger.State != queue.TriggerQueueing {
		t.Fatalf("stats %+v %v", st, err)
	}
	for _, room := range []string{"plain", "codes", "nope"} {
		if _, ok, err := ctl.Enter(ctx, room, a); ok || err != nil {
			t.Errorf("%s: %v %v", room, ok, err)
		}
	}
}

// TestRenewSlidingSessions: an admission is renewed only once half spent,
// and only in a room with sliding sessions.
func TestRenewSlidingSessions(t *testing.T) {
	ctl, store, _ := newController(t)
	ctx := context.Background()
	// Tokens carry whole seconds, which can take up to a second off a
	// session: 6 s leaves a fresh admission clearly unspent on a busy box.
	putCached(t, ctl, store, queue.Room{Name: "r", AdmitPerMinute: 60, TriggerActiveUsers: 10, SessionSeconds: 6, SessionMaxSeconds: 60})
	tk, ok, err := ctl.Enter(ctx, "r", netip.Addr{})
	if !ok || err != nil {
		t.Fatalf("enter: %v %v", ok, err)
	}
	if _, _, ok := ctl.Renew(ctx, tk.Admission); ok || ctl.RenewDue(tk.Admission) {
		t.Fatal("renewed a fresh admission")
	}
	time.Sleep(3100 * time.Millisecond) // half spent
	renewed, token, ok := ctl.Renew(ctx, tk.Admission)
	if !ok || token == "" || !renewed.Expires.After(tk.Admission.Expires) || renewed.ID != tk.Admission.ID {
		t.Fatalf("renewed %+v (%v), was %+v", renewed, ok, tk.Admission)
	}
}
