package queue_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

func gate(addr string) queue.Gate { return queue.Gate{Address: netip.MustParseAddr(addr)} }

func solved(g queue.Gate, id string, bits int, clk *clock) queue.Gate {
	g.ChallengeID, g.ChallengeBits, g.ChallengeExpires = id, bits, clk.Now().Add(2*time.Minute)
	return g
}

func refusalOf(t *testing.T, err error) *queue.Refusal {
	t.Helper()
	var r *queue.Refusal
	if !errors.As(err, &r) {
		t.Fatalf("err = %v, want a refusal", err)
	}
	return r
}

func waiting(t *testing.T, s *queue.Store, room string) int64 {
	t.Helper()
	st, err := s.Stats(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	return st.Waiting
}

// TestGateAutoAsksForAChallengeUnderAddressPressure: in an "auto" room an
// address gets AddressPressure places without solving anything; the next
// new place needs a challenge, one solution makes one place, and the same
// solution again is refused and changes nothing.
func TestGateAutoAsksForAChallengeUnderAddressPressure(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r"})
		g := gate("203.0.113.7")
		for i := range queue.AddressPressure {
			if _, err := s.JoinGated(ctx, "r", "", g); err != nil {
				t.Fatalf("join %d: %v", i, err)
			}
		}
		_, err := s.JoinGated(ctx, "r", "", g)
		r := refusalOf(t, err)
		if r.Reason != queue.RefusedChallengeRequired || r.Bits != queue.DefaultChallengeBits {
			t.Fatalf("refusal %+v, want challenge_required at %d bits", r, queue.DefaultChallengeBits)
		}
		// Another address of the same /24 is fine; a fresh /24 too.
		if _, err := s.JoinGated(ctx, "r", "", gate("198.51.100.1")); err != nil {
			t.Fatal(err)
		}
		before := waiting(t, s, "r")
		p, err := s.JoinGated(ctx, "r", "", solved(g, "abc", r.Bits, clk))
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.JoinGated(ctx, "r", "", solved(g, "abc", r.Bits, clk))
		if r := refusalOf(t, err); r.Reason != queue.RefusedChallengeFailed {
			t.Fatalf("replay: %+v", r)
		}
		if got := waiting(t, s, "r"); got != before+1 {
			t.Fatalf("waiting %d, want %d: the replay made a place", got, before+1)
		}
		// A solution too easy for the moment's pressure is sent back for a harder one.
		_, err = s.JoinGated(ctx, "r", "", solved(g, "easy", queue.MinChallengeBits, clk))
		if r := refusalOf(t, err); r.Reason != queue.RefusedChallengeRequired {
			t.Fatalf("easy: %+v", r)
		}
		// The existing place is returned without any challenge.
		again, err := s.JoinGated(ctx, "r", p.ID, g)
		if err != nil || again.ID != p.ID {
			t.Fatalf("rejoin: %+v %v", again, err)
		}
		n, err := s.Refusals(ctx, "r")
		if err != nil || n[queue.RefusedChallengeRequired] != 2 || n[queue.RefusedChallengeFailed] != 1 {
			t.Fatalf("refusals %v %v", n, err)
		}
		busy, err := s.BusiestPrefixes(ctx, "r", 5)
		if err != nil || len(busy) != 2 || busy[0].Prefix != "203.0.113.0/24" || busy[0].PerMinute != queue.AddressPressure+1 {
			t.Fatalf("busiest %+v %v", busy, err)
		}
		// A minute and more later the pressure is gone.
		clk.Add(2 * time.Minute)
		if _, err := s.JoinGated(ctx, "r", "", g); err != nil {
			t.Fatal(err)
		}
	})
}

// TestGateDifficultyRisesWithPressure: one more bit per doubling.
func TestGateDifficultyRisesWithPressure(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "r", ChallengeBits: 10})
		g := gate("2001:db8:1:2::1")
		last := 0
		for i := range 4*queue.AddressPressure + 1 {
			_, err := s.JoinGated(ctx, "r", "", solved(g, "id"+string(rune('a'+i%26))+string(rune('a'+i/26)), 30, clk))
			if err != nil {
				t.Fatalf("join %d: %v", i, err)
			}
		}
		// Another address in the same /64 is the same address.
		_, err := s.JoinGated(ctx, "r", "", gate("2001:db8:1:2:ffff::9"))
		last = refusalOf(t, err).Bits
		if last != 12 {
			t.Fatalf("bits at 4x pressure = %d, want 12", last)
		}
	})
}

func TestGateAlwaysAndOff(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "always", Challenge: queue.ChallengeAlways})
		mustRoom(t, s, queue.Room{Name: "off", Challenge: queue.ChallengeOff, AddressJoinsPerMinute: 1000})
		if _, err := s.JoinGated(ctx, "always", "", queue.Gate{}); refusalOf(t, err).Reason != queue.RefusedChallengeRequired {
			t.Fatal(err)
		}
		for i := range 3 * queue.AddressPressure {
			if _, err := s.JoinGated(ctx, "off", "", gate("203.0.113.9")); err != nil {
				t.Fatalf("join %d: %v", i, err)
			}
		}
		// A surge in an "auto" room weighs on counted addresses only.
		mustRoom(t, s, queue.Room{Name: "auto"})
		for i := range queue.SurgeFloor + 1 {
			if _, err := s.JoinGated(ctx, "auto", "", queue.Gate{}); err != nil {
				t.Fatalf("join %d from no counted address: %v", i, err)
			}
		}
		if _, err := s.JoinGated(ctx, "auto", "", gate("198.51.100.7")); refusalOf(t, err).Reason != queue.RefusedChallengeRequired {
			t.Fatal("a counted address in a surging room was not asked for a challenge")
		}
	})
}

// TestGateAddressLimits: new places per minute and live places, each with
// a time to retry; a place given up frees its slot.
func TestGateAddressLimits(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock()
		s := mustStore(t, rdb, clk)
		mustRoom(t, s, queue.Room{Name: "rate", Challenge: queue.ChallengeOff, AddressJoinsPerMinute: 3})
		g := gate("203.0.113.7")
		for range 3 {
			if _, err := s.JoinGated(ctx, "rate", "", g); err != nil {
				t.Fatal(err)
			}
		}
		_, err := s.JoinGated(ctx, "rate", "", g)
		if r := refusalOf(t, err); r.Reason != queue.RefusedRateLimited || r.RetryAfter < time.Second || r.RetryAfter > time.Minute {
			t.Fatalf("%+v", r)
		}
		if _, err := s.JoinGated(ctx, "rate", "", gate("203.0.113.8")); err != nil {
			t.Fatal(err)
		}

		// The first place of an address quiet for two minutes is not
		// tracked (gate.go): cap 2 lets the address hold 3.
		mustRoom(t, s, queue.Room{Name: "live", Challenge: queue.ChallengeOff, AddressLivePlaces: 2})
		var ids []string
		for range 3 {
			p, err := s.JoinGated(ctx, "live", "", g)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, p.ID)
		}
		_, err = s.JoinGated(ctx, "live", "", g)
		if r := refusalOf(t, err); r.Reason != queue.RefusedPlaceCap {
			t.Fatalf("%+v", r)
		}
		if _, _, err := s.Release(ctx, "live", ids[2]); err != nil {
			t.Fatal(err)
		}
		if _, err := s.JoinGated(ctx, "live", "", g); err != nil {
			t.Fatalf("after a place was given up: %v", err)
		}
	})
}
