package admission_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// newController runs a Controller with fast loops over a private Redis.
func newController(t *testing.T) (*admission.Controller, *queue.Store, *queuetest.Server) {
	t.Helper()
	return newControllerWith(t, admission.Config{Tick: 10 * time.Millisecond, Refresh: 30 * time.Millisecond})
}

// newControllerWith runs a Controller configured as cfg over a private
// Redis.
func newControllerWith(t *testing.T, cfg admission.Config) (*admission.Controller, *queue.Store, *queuetest.Server) {
	t.Helper()
	rs := queuetest.Run(t)
	store, err := queue.NewStore(rs.Client(t), queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	ctx, cancel := context.WithCancel(context.Background())
	keys, err := admission.NewKeyring(ctx, store, admission.KeyringConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := admission.NewController(store, keys, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runController(t, ctx, cancel, ctl)
	return ctl, store, rs
}

// runController runs ctl's loops until the test ends, then cancels them
// and fails the test if Run returned an error.
func runController(t *testing.T, ctx context.Context, cancel context.CancelFunc, ctl *admission.Controller) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// eventually polls cond for up to 10 s (a bound for a loaded CI box, not
// a figure under test).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}

// TestControllerAdmitsAndRevokes: the controller's own loop admits a
// waiter, the ticket carries a verifiable token (the same on every ask),
// and releasing it revokes it.
func TestControllerAdmitsAndRevokes(t *testing.T) {
	ctl, store, _ := newController(t)
	ctx := context.Background()
	if _, err := store.PutRoom(ctx, queue.Room{Name: "r", AdmitPerMinute: 60000}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	first, err := ctl.Join(ctx, "r", "", admission.Entry{})
	if err != nil || first.Status != admission.StatusWaiting && first.Status != admission.StatusAdmitted {
		t.Fatalf("join: %+v %v", first, err)
	}
	var tk admission.Ticket
	eventually(t, "admitted", func() bool {
		tk, err = ctl.Status(ctx, "r", first.QueueToken)
		return err == nil && tk.Status == admission.StatusAdmitted
	})
	again, _ := ctl.Join(ctx, "r", first.QueueToken, admission.Entry{})
	if again.AdmissionToken != tk.AdmissionToken || tk.AdmittedAt.IsZero() {
		t.Fatalf("second ask: a different admission")
	}
	if ctl.Revoked("r", tk.QueueID) {
		t.Fatal("revoked before release")
	}
	if err := ctl.Leave(ctx, "r", first.QueueToken); err != nil {
		t.Fatal(err)
	}
	if !ctl.Revoked("r", tk.QueueID) {
		t.Fatal("a released admission is not revoked on this instance")
	}
	if _, err := ctl.Status(ctx, "r", first.QueueToken); !errors.Is(err, queue.ErrNotInLine) {
		t.Fatalf("status after release: %v", err)
	}
}

func TestControllerErrors(t *testing.T) {
	ctl, store, rs := newController(t)
	ctx := context.Background()
	if _, err := ctl.Join(ctx, "nope", "", admission.Entry{}); !errors.Is(err, queue.ErrRoomNotFound) {
		t.Fatalf("missing room: %v", err)
	}
	// A room created through the controller is found at once, whatever
	// this instance cached before.
	if _, _, err := ctl.PutRoom(ctx, queue.Room{Name: "r"}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Join(ctx, "r", "1.forged0000000000000000", admission.Entry{}); !errors.Is(err, admission.ErrQueueToken) {
		t.Fatalf("forged token: %v", err)
	}
	if _, err := ctl.Status(ctx, "r", ""); !errors.Is(err, admission.ErrQueueToken) {
		t.Fatalf("status without a token: %v", err)
	}
	if _, err := store.PutRoom(ctx, queue.Room{Name: "later", QueueOpensAt: time.Now().Add(time.Hour)}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	var notOpen *admission.NotOpenError
	if _, err := ctl.Join(ctx, "later", "", admission.Entry{}); !errors.As(err, &notOpen) || !errors.Is(err, queue.ErrNotOpen) {
		t.Fatalf("before opening: %v", err)
	}
	if ctl.StoreDown() {
		t.Fatal("store down while it answers")
	}
	if !rs.Real {
		return
	}
	rs.Stop()
	eventually(t, "store seen down", ctl.StoreDown)
}

// TestRefreshNeverCachesWhatAWriteReplaced: a refresh that read the store
// before this instance changed a room does not put the old room back in
// the cache after the change (with a refresh every millisecond, every
// change races one).
func TestRefreshNeverCachesWhatAWriteReplaced(t *testing.T) {
	ctl, _, _ := newControllerWith(t, admission.Config{Tick: time.Hour, Refresh: time.Millisecond})
	ctx := context.Background()
	if _, _, err := ctl.PutRoom(ctx, queue.Room{Name: "r", AdmitPerMinute: 1}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	for i := 2; i < 300; i++ {
		if _, err := ctl.UpdateRoom(ctx, "r", func(r queue.Room) queue.Room { r.AdmitPerMinute = i; return r }); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			r, err := ctl.Room(ctx, "r")
			if err != nil || r.AdmitPerMinute != i {
				t.Fatalf("change %d: the controller reads %d (%v)", i, r.AdmitPerMinute, err)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
}
