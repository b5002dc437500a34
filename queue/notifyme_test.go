package queue_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// TestNotifyKeepsThePlace: a waiter who confirmed a contact keeps their
// place with no sign of life until queue.NotifyKeep, then loses it like
// anyone; one who only asked keeps nothing.
func TestNotifyKeepsThePlace(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r"})
		away := mustJoin(t, s, "r", "")
		unconfirmed := mustJoin(t, s, "r", "")
		silent := mustJoin(t, s, "r", "")
		if err := s.SetNotify(ctx, "r", away.ID, queue.Contact{Email: "fan@example.com"}, "code-1"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetNotify(ctx, "r", unconfirmed.ID, queue.Contact{Email: "other@example.com"}, "code-2"); err != nil {
			t.Fatal(err)
		}
		if ws, _ := s.NotifyWaiters(ctx, "r"); len(ws) != 2 || ws[0].Stage != queue.NotifyUnconfirmed {
			t.Fatalf("before confirming: %+v", ws)
		}
		until, err := s.ConfirmNotify(ctx, "r", away.ID, "code-1")
		if err != nil || !until.Equal(clk.Now().Add(queue.NotifyKeep)) {
			t.Fatalf("ConfirmNotify = %v, %v", until, err)
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
		if err != nil || len(ws) != 1 || ws[0].ID != away.ID || ws[0].Position != 1 || ws[0].Email != "fan@example.com" || ws[0].Stage != "" {
			t.Fatalf("after %v away: %+v %v", queue.NotifyKeep-time.Minute, ws, err)
		}
		for _, id := range []string{silent.ID, unconfirmed.ID} {
			if _, err := s.Status(ctx, "r", id); !errors.Is(err, queue.ErrNotInLine) {
				t.Fatalf("a silent waiter with no confirmed contact kept the place: %v", err)
			}
		}
		if err := s.MarkNotified(ctx, "r", ws[0], queue.NotifyNear); err != nil {
			t.Fatal(err)
		}
		if ws, _ := s.NotifyWaiters(ctx, "r"); len(ws) != 1 || ws[0].Stage != queue.NotifyNear {
			t.Fatalf("stage not kept: %+v", ws)
		}
		// The link clicked again still works, and keeps the place from now.
		if _, err := s.ConfirmNotify(ctx, "r", away.ID, "code-1"); err != nil {
			t.Fatalf("second confirmation: %v", err)
		}
		if ws, _ := s.NotifyWaiters(ctx, "r"); len(ws) != 1 || ws[0].Stage != queue.NotifyNear {
			t.Fatalf("a second confirmation reset the stage: %+v", ws)
		}
		sweepFor(queue.NotifyKeep + 3*time.Minute)
		if _, err := s.Status(ctx, "r", away.ID); !errors.Is(err, queue.ErrNotInLine) {
			t.Fatalf("kept past NotifyKeep: %v", err)
		}
		if ws, _ := s.NotifyWaiters(ctx, "r"); len(ws) != 0 {
			t.Fatalf("a gone waiter is still to be notified: %+v", ws)
		}
		// Gone, the contact is free for another place.
		p := mustJoin(t, s, "r", "")
		if err := s.SetNotify(ctx, "r", p.ID, queue.Contact{Email: "FAN@example.com"}, "code-3"); err != nil {
			t.Fatalf("the contact of a gone place: %v", err)
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
		other := mustJoin(t, s, "r", "")
		for _, c := range []queue.Contact{
			{}, {Email: "not an address"}, {Email: "Fan <fan@example.com>"}, {Email: "a@b.c\r\nBcc: x@y.z"},
			{Phone: "12"}, {Phone: "+91 98000 00000"}, {Phone: "++919800000000"},
		} {
			if err := s.SetNotify(ctx, "r", p.ID, c, "c"); !errors.Is(err, queue.ErrInvalidContact) {
				t.Errorf("%+v: %v", c, err)
			}
		}
		if err := s.SetNotify(ctx, "r", "zzz", queue.Contact{Phone: "+919800000000"}, "c"); !errors.Is(err, queue.ErrNotInLine) {
			t.Errorf("unknown id: %v", err)
		}
		if err := s.SetNotify(ctx, "r", p.ID, queue.Contact{Phone: "+919800000000", Email: "fan@example.com"}, "c1"); err != nil {
			t.Fatal(err)
		}
		// One contact, one place: by phone or by email, any case.
		for _, c := range []queue.Contact{{Phone: "+919800000000"}, {Email: "Fan@Example.com"}} {
			if err := s.SetNotify(ctx, "r", other.ID, c, "c2"); !errors.Is(err, queue.ErrContactTaken) {
				t.Errorf("%+v for a second place: %v", c, err)
			}
		}
		for _, code := range []string{"", "c2", "C1"} {
			if _, err := s.ConfirmNotify(ctx, "r", p.ID, code); !errors.Is(err, queue.ErrBadConfirmation) {
				t.Errorf("code %q: %v", code, err)
			}
		}
		if _, err := s.ConfirmNotify(ctx, "r", other.ID, "c1"); !errors.Is(err, queue.ErrBadConfirmation) {
			t.Errorf("another place's code: %v", err)
		}
		// A place that changes its contact frees the old one.
		if err := s.SetNotify(ctx, "r", p.ID, queue.Contact{Email: "new@example.com"}, "c3"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetNotify(ctx, "r", other.ID, queue.Contact{Phone: "+919800000000"}, "c4"); err != nil {
			t.Errorf("a contact given up: %v", err)
		}
		// Asking, canceling and asking again is counted.
		if err := s.CancelNotify(ctx, "r", p.ID); err != nil {
			t.Fatal(err)
		}
		if ws, _ := s.NotifyWaiters(ctx, "r"); len(ws) != 1 || ws[0].ID != other.ID {
			t.Fatalf("after cancel: %+v", ws)
		}
		if err := s.SetNotify(ctx, "r", p.ID, queue.Contact{Email: "new@example.com"}, "c5"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetNotify(ctx, "r", p.ID, queue.Contact{Email: "new@example.com"}, "c6"); !errors.Is(err, queue.ErrTooManyAsks) {
			t.Errorf("ask %d: %v", queue.MaxNotifyAsks+1, err)
		}
	})
}

// TestNotifyBudget: a room's messages an hour stop at its budget, and the
// next hour starts afresh.
func TestNotifyBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	s := mustStore(t, queuetest.NewClient(t), clk)
	for i, want := range []bool{true, true, false} {
		if ok, err := s.TakeNotifyBudget(ctx, "r", 2, 5); err != nil || ok != want {
			t.Fatalf("take %d: %v %v, want %v", i, ok, err, want)
		}
	}
	if ok, _ := s.TakeNotifyBudget(ctx, "r", 1, 5); !ok {
		t.Fatal("the last one that fits")
	}
	if ok, _ := s.TakeNotifyBudget(ctx, "r", 1, 0); !ok {
		t.Fatal("no budget refused")
	}
	clk.Add(time.Hour)
	if ok, _ := s.TakeNotifyBudget(ctx, "r", 5, 5); !ok {
		t.Fatal("a new hour")
	}
}

// TestNotifyAddressLimits: an address asks for at most
// NotifyAsksPerAddress confirmations a minute in a room, and its /24 (or
// /48) for NotifyAsksPerPrefix; a refused ask changes nothing and counts
// nothing; an IPv6 address counts as its /64; an ask with no address (a
// bypassed network) is not counted; the refusal says when to try again,
// and then an ask fits.
func TestNotifyAddressLimits(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r"})
		n := 0
		ask := func(from netip.Addr) (string, error) {
			t.Helper()
			n++
			p := mustJoin(t, s, "r", "")
			return p.ID, s.SetNotify(queue.WithNotifyAddress(ctx, from), "r", p.ID, queue.Contact{Email: fmt.Sprintf("fan%d@example.com", n)}, "code")
		}
		waiters := func() int {
			t.Helper()
			ws, err := s.NotifyWaiters(ctx, "r")
			if err != nil {
				t.Fatal(err)
			}
			return len(ws)
		}
		script := netip.MustParseAddr("203.0.113.7")
		for i := range queue.NotifyAsksPerAddress {
			if _, err := ask(script); err != nil {
				t.Fatalf("ask %d: %v", i+1, err)
			}
		}
		id, err := ask(script)
		var lim *queue.NotifyLimited
		if !errors.As(err, &lim) || !errors.Is(err, queue.ErrNotifyLimited) || lim.RetryAfter < time.Second || lim.RetryAfter > 2*time.Minute {
			t.Fatalf("ask %d from one address: %v", queue.NotifyAsksPerAddress+1, err)
		}
		if got := waiters(); got != queue.NotifyAsksPerAddress {
			t.Fatalf("%d waiters after a refused ask, want %d", got, queue.NotifyAsksPerAddress)
		}
		// The refused place lost none of its asks, and its contact is free.
		for i := range queue.MaxNotifyAsks {
			if err := s.SetNotify(ctx, "r", id, queue.Contact{Email: fmt.Sprintf("fan%d@example.com", n)}, "code"); err != nil {
				t.Fatalf("the refused place's ask %d: %v", i+1, err)
			}
		}
		// An IPv4-mapped form of the address is the address.
		if _, err := ask(netip.MustParseAddr("::ffff:203.0.113.7")); !errors.As(err, &lim) {
			t.Fatalf("the same address, IPv4-mapped: %v", err)
		}
		// Its neighbours, the bypassed and the unknown are not limited by it.
		if _, err := ask(netip.MustParseAddr("203.0.113.8")); err != nil {
			t.Fatalf("another address of the /24: %v", err)
		}
		for i := range queue.NotifyAsksPerAddress + 1 {
			if _, err := ask(netip.Addr{}); err != nil {
				t.Fatalf("bypassed ask %d: %v", i+1, err)
			}
		}
		n++
		if err := s.SetNotify(ctx, "r", mustJoin(t, s, "r", "").ID, queue.Contact{Email: fmt.Sprintf("fan%d@example.com", n)}, "code"); err != nil {
			t.Fatalf("an ask with no address: %v", err)
		}
		// When the refusal says, an ask fits again.
		clk.Add(lim.RetryAfter)
		if _, err := ask(script); err != nil {
			t.Fatalf("after Retry-After %v: %v", lim.RetryAfter, err)
		}
		if _, err := ask(script); !errors.As(err, &lim) {
			t.Fatalf("only one fitted: %v", err)
		}

		// IPv6: the /64 is one address.
		v6 := netip.MustParseAddr("2001:db8:1:2::1")
		for i := range queue.NotifyAsksPerAddress {
			if _, err := ask(v6.Next()); err != nil {
				t.Fatalf("v6 ask %d: %v", i+1, err)
			}
			v6 = v6.Next()
		}
		if _, err := ask(netip.MustParseAddr("2001:db8:1:2:ffff::9")); !errors.As(err, &lim) {
			t.Fatalf("another address of the /64: %v", err)
		}
		if _, err := ask(netip.MustParseAddr("2001:db8:1:3::1")); err != nil {
			t.Fatalf("another /64: %v", err)
		}

		// The prefix: NotifyAsksPerPrefix asks from many addresses of one
		// /24, then no more from any of them.
		clk.Add(2 * time.Minute)
		net24 := netip.MustParseAddr("198.51.100.0")
		for i := range queue.NotifyAsksPerPrefix {
			if i%queue.NotifyAsksPerAddress == 0 {
				net24 = net24.Next()
			}
			if _, err := ask(net24); err != nil {
				t.Fatalf("prefix ask %d from %v: %v", i+1, net24, err)
			}
		}
		if _, err := ask(netip.MustParseAddr("198.51.100.200")); !errors.As(err, &lim) {
			t.Fatalf("ask %d from one /24: %v", queue.NotifyAsksPerPrefix+1, err)
		}
		if _, err := ask(netip.MustParseAddr("198.51.101.1")); err != nil {
			t.Fatalf("the next /24: %v", err)
		}
	})
}

// TestNotifyLimitCountsRefusedContacts: an ask that passes the address's
// limit counts, whatever refuses it then, so a script cannot probe which
// contacts hold places faster than it could ask.
func TestNotifyLimitCountsRefusedContacts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustStore(t, queuetest.NewClient(t), newClock())
	mustRoom(t, s, queue.Room{Name: "r"})
	if err := s.SetNotify(ctx, "r", mustJoin(t, s, "r", "").ID, queue.Contact{Email: "fan@example.com"}, "c"); err != nil {
		t.Fatal(err)
	}
	from := queue.WithNotifyAddress(ctx, netip.MustParseAddr("192.0.2.1"))
	for i := range queue.NotifyAsksPerAddress {
		if err := s.SetNotify(from, "r", mustJoin(t, s, "r", "").ID, queue.Contact{Email: "fan@example.com"}, "c"); !errors.Is(err, queue.ErrContactTaken) {
			t.Fatalf("probe %d: %v", i+1, err)
		}
	}
	if err := s.SetNotify(from, "r", mustJoin(t, s, "r", "").ID, queue.Contact{Email: "fan@example.com"}, "c"); !errors.Is(err, queue.ErrNotifyLimited) {
		t.Fatalf("probe %d: %v", queue.NotifyAsksPerAddress+1, err)
	}
}

// TestNotifyLimitsOnRedisCluster: the ask and its address's counts are one
// script call in the room's slot, for rooms on different nodes.
func TestNotifyLimitsOnRedisCluster(t *testing.T) {
	s := mustStore(t, queuetest.ClusterClient(t), newClock())
	ctx := queue.WithNotifyAddress(context.Background(), netip.MustParseAddr("192.0.2.1"))
	for _, room := range []string{"launch", "final", "semi"} {
		mustRoom(t, s, queue.Room{Name: room})
		for i := range queue.NotifyAsksPerAddress + 1 {
			err := s.SetNotify(ctx, room, mustJoin(t, s, room, "").ID, queue.Contact{Email: fmt.Sprintf("fan%d@example.com", i)}, "c")
			if want := i == queue.NotifyAsksPerAddress; errors.Is(err, queue.ErrNotifyLimited) != want || !want && err != nil {
				t.Fatalf("%s: ask %d: %v", room, i+1, err)
			}
		}
	}
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
