package queue_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

// TestNotifyKeepsThePlace: a waiter who left a contact keeps their place
// with no sign of life until queue.NotifyKeep, then loses it like anyone.
func TestNotifyKeepsThePlace(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r"})
		away := mustJoin(t, s, "r", "")
		silent := mustJoin(t, s, "r", "")
		until, err := s.SetNotify(ctx, "r", away.ID, queue.Contact{Email: "fan@example.com"})
		if err != nil || !until.Equal(clk.Now().Add(queue.NotifyKeep)) {
			t.Fatalf("SetNotify = %v, %v", until, err)
		}
		sweepFor := func(d time.Duration) {
			t.Helper()
			for end := clk.Now().Add(d); clk.Now().Before(end); clk.Add(time.Minute) {
				for {
					_, done, err := s.Sweep(ctx, "r")
					if err != nil {
						t.Fatal(err)
					}
					if done {
						break
					}
				}
			}
		}
		sweepFor(queue.NotifyKeep - time.Minute)
		ws, err := s.NotifyWaiters(ctx, "r")
		if err != nil || len(ws) != 1 || ws[0].ID != away.ID || ws[0].Position != 1 || ws[0].Email != "fan@example.com" {
			t.Fatalf("after %v away: %+v %v", queue.NotifyKeep-time.Minute, ws, err)
		}
		if _, err := s.Status(ctx, "r", silent.ID); !errors.Is(err, queue.ErrNotInLine) {
			t.Fatalf("a silent waiter without a contact kept the place: %v", err)
		}
		if err := s.MarkNotified(ctx, "r", ws[0], queue.NotifyNear); err != nil {
			t.Fatal(err)
		}
		if ws, _ := s.NotifyWaiters(ctx, "r"); len(ws) != 1 || ws[0].Stage != queue.NotifyNear {
			t.Fatalf("stage not kept: %+v", ws)
		}
		sweepFor(3 * time.Minute)
		if _, err := s.Status(ctx, "r", away.ID); !errors.Is(err, queue.ErrNotInLine) {
			t.Fatalf("kept past NotifyKeep: %v", err)
		}
		if ws, _ := s.NotifyWaiters(ctx, "r"); len(ws) != 0 {
			t.Fatalf("a gone waiter is still to be notified: %+v", ws)
		}
	})
}

func TestNotifyRefusals(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		s := mustStore(t, rdb, newClock())
		mustRoom(t, s, queue.Room{Name: "r"})
		p := mustJoin(t, s, "r", "")
		for _, c := range []queue.Contact{
			{}, {Email: "not an address"}, {Email: "Fan <fan@example.com>"}, {Email: "a@b.c\r\nBcc: x@y.z"},
			{Phone: "12"}, {Phone: "+91 98000 00000"}, {Phone: "++919800000000"},
		} {
			if _, err := s.SetNotify(ctx, "r", p.ID, c); !errors.Is(err, queue.ErrInvalidContact) {
				t.Errorf("%+v: %v", c, err)
			}
		}
		if _, err := s.SetNotify(ctx, "r", "zzz", queue.Contact{Phone: "+919800000000"}); !errors.Is(err, queue.ErrNotInLine) {
			t.Errorf("unknown id: %v", err)
		}
		if _, err := s.SetNotify(ctx, "r", p.ID, queue.Contact{Phone: "+919800000000"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CancelNotify(ctx, "r", p.ID); err != nil {
			t.Fatal(err)
		}
		if ws, _ := s.NotifyWaiters(ctx, "r"); len(ws) != 0 {
			t.Fatalf("after cancel: %+v", ws)
		}
	})
}

// FuzzContact: whatever is accepted is safe in a mail header and in an SMS
// gateway's request: a bare address, or digits with an optional +.
func FuzzContact(f *testing.F) {
	for _, s := range []string{"fan@example.com", "+919800000000", "a@b", "x\r\ny@z.com", "Fan <f@x.io>", "", "++1", "१२३४५६७"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, email, phone string) {
		if (queue.Contact{Email: email}).Validate() == nil && strings.ContainsAny(email, "\r\n<>\",") {
			t.Fatalf("accepted email %q", email)
		}
		if (queue.Contact{Phone: phone}).Validate() == nil && strings.Trim(phone, "+0123456789") != "" {
			t.Fatalf("accepted phone %q", phone)
		}
	})
}
