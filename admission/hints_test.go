package admission_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/queue"
)

// putCached puts room r and waits until ctl's cache holds it.
func putCached(t *testing.T, ctl *admission.Controller, store *queue.Store, r queue.Room) {
	t.Helper()
	if _, err := store.PutRoom(context.Background(), r.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "room cached", func() bool {
		got, ok := admission.Cached(ctl, r.Name)
		return ok && got.Challenge == r.WithDefaults().Challenge
	})
}

func refusedFor(t *testing.T, err error, reason string) *admission.JoinRefused {
	t.Helper()
	var jr *admission.JoinRefused
	if !errors.As(err, &jr) || jr.Reason != reason {
		t.Fatalf("join: %v, want refused for %s", err, reason)
	}
	return jr
}

// TestBareJoinsAskedWithoutTheStore: a room whose every new place needs a
// challenge asks one of a bare join itself (here with the store gone), and
// at the difficulty join.lua asks; a join bringing anything goes to the
// store.
func TestBareJoinsAskedWithoutTheStore(t *testing.T) {
	ctl, store, rs := newController(t)
	ctx := context.Background()
	putCached(t, ctl, store, queue.Room{Name: "r", Challenge: queue.ChallengeAlways, ChallengeBits: 9})
	a := netip.MustParseAddr("198.18.0.1")
	_, err := ctl.Join(ctx, "r", "", admission.Entry{Addr: a})
	fromStore := refusedFor(t, err, queue.RefusedChallengeRequired)

	rs.Stop()
	for _, addr := range []netip.Addr{a, {}} {
		_, err := ctl.Join(ctx, "r", "", admission.Entry{Addr: addr})
		jr := refusedFor(t, err, queue.RefusedChallengeRequired)
		if jr.Challenge == nil || jr.Challenge.Bits != fromStore.Challenge.Bits || jr.Challenge.Token == fromStore.Challenge.Token {
			t.Fatalf("asked %+v, the store asked %+v", jr.Challenge, fromStore.Challenge)
		}
	}
	// Only the store can tell about a place, a token or a solution.
	for _, e := range []admission.Entry{{Addr: a, Challenge: fromStore.Challenge.Token, Solution: "1"}, {Addr: a, EnqueueToken: "x"}} {
		if _, err := ctl.Join(ctx, "r", "", e); err == nil || refusedReason(err) == queue.RefusedChallengeRequired {
			t.Errorf("join %+v with the store gone: %v", e, err)
		}
	}
	if _, err := ctl.Join(ctx, "r", fromStore.Challenge.Token, admission.Entry{Addr: a}); refusedReason(err) == queue.RefusedChallengeRequired {
		t.Errorf("a join with a queue token was asked a challenge without the store")
	}
}

// TestBareJoinsAskedAtTheSurgesDifficulty: in a surge, the difficulty asked
// without the store is the one join.lua asks, and the refusals counted
// here reach the room's counts.
func TestBareJoinsAskedAtTheSurgesDifficulty(t *testing.T) {
	ctl, store, rs := newController(t)
	ctx := context.Background()
	r := queue.Room{Name: "r", Challenge: queue.ChallengeOff, ChallengeBits: 8}
	putCached(t, ctl, store, r)
	// Twice the surge level of new places (not counted per address, so
	// not limited), then every new place needs a challenge.
	var gone admission.Ticket
	for range 2*queue.SurgeFloor + 10 {
		var err error
		if gone, err = ctl.Join(ctx, "r", "", admission.Entry{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ctl.Leave(ctx, "r", gone.QueueToken); err != nil {
		t.Fatal(err)
	}
	r.Challenge = queue.ChallengeAlways
	putCached(t, ctl, store, r)
	a := netip.MustParseAddr("198.18.0.1")
	// A join with a token whose place is gone goes to the store.
	_, err := ctl.Join(ctx, "r", gone.QueueToken, admission.Entry{Addr: a})
	fromStore := refusedFor(t, err, queue.RefusedChallengeRequired)
	if fromStore.Challenge.Bits != 9 {
		t.Fatalf("join.lua asks %d bits at twice the surge level, want 9", fromStore.Challenge.Bits)
	}
	if _, err := ctl.Join(ctx, "r", "", admission.Entry{Addr: a, Challenge: fromStore.Challenge.Token, Solution: "x"}); refusedReason(err) != queue.RefusedChallengeFailed {
		t.Fatalf("a malformed solution: %v", err)
	}
	eventually(t, "refusals counted", func() bool {
		n, err := store.Refusals(ctx, "r")
		return err == nil && n[queue.RefusedChallengeRequired] == 1 && n[queue.RefusedChallengeFailed] == 1
	})
	rs.Stop()
	_, err = ctl.Join(ctx, "r", "", admission.Entry{Addr: netip.MustParseAddr("198.18.0.2")})
	if jr := refusedFor(t, err, queue.RefusedChallengeRequired); jr.Challenge.Bits != 9 {
		t.Errorf("asked %d bits in a surge without the store, join.lua asks 9", jr.Challenge.Bits)
	}
}

func refusedReason(err error) string {
	var jr *admission.JoinRefused
	if errors.As(err, &jr) {
		return jr.Reason
	}
	return ""
}

// TestHintsAnswerAnAddressUnderPressure: once join.lua asked an address for
// a challenge, or refused it for its rate, its next bare joins get the same
// answer without the store; other addresses still ask the store.
func TestHintsAnswerAnAddressUnderPressure(t *testing.T) {
	ctl, store, rs := newController(t)
	ctx := context.Background()
	putCached(t, ctl, store, queue.Room{Name: "auto", ChallengeBits: 8})
	putCached(t, ctl, store, queue.Room{Name: "capped", Challenge: queue.ChallengeOff, AddressJoinsPerMinute: 2})
	a := netip.MustParseAddr("198.18.0.1")
	var asked *admission.JoinRefused
	for i := 0; asked == nil; i++ {
		_, err := ctl.Join(ctx, "auto", "", admission.Entry{Addr: a})
		if errors.As(err, &asked) && asked.Reason != queue.RefusedChallengeRequired || err != nil && asked == nil || i > queue.AddressPressure {
			t.Fatalf("join %d: %v", i, err)
		}
	}
	var limited *admission.JoinRefused
	for i := 0; limited == nil; i++ {
		_, err := ctl.Join(ctx, "capped", "", admission.Entry{Addr: a})
		if errors.As(err, &limited) && limited.Reason != queue.RefusedRateLimited || err != nil && limited == nil || i > 2 {
			t.Fatalf("capped join %d: %v", i, err)
		}
	}

	rs.Stop()
	_, err := ctl.Join(ctx, "auto", "", admission.Entry{Addr: a})
	if jr := refusedFor(t, err, queue.RefusedChallengeRequired); jr.Challenge.Bits != asked.Challenge.Bits {
		t.Errorf("asked %d bits without the store, %d with it", jr.Challenge.Bits, asked.Challenge.Bits)
	}
	_, err = ctl.Join(ctx, "capped", "", admission.Entry{Addr: a})
	if jr := refusedFor(t, err, queue.RefusedRateLimited); jr.RetryAfter <= 0 || jr.RetryAfter > limited.RetryAfter {
		t.Errorf("Retry-After %v without the store, %v with it", jr.RetryAfter, limited.RetryAfter)
	}
	// Another address is the store's to judge.
	if _, err := ctl.Join(ctx, "auto", "", admission.Entry{Addr: netip.MustParseAddr("198.18.1.1")}); err == nil || refusedReason(err) != "" {
		t.Errorf("another address with the store gone: %v", err)
	}
}
