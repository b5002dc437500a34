package queue

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The gate is what join.lua checks before it makes a new place (never for a
// caller who already has one): per-address limits and, under pressure, a
// solved proof-of-work challenge. Everything it counts lives under the room's
// hash tag, so it is the same script call as the join, on every instance and
// on Redis Cluster: a place is made, the challenge marked used and the
// counters moved together, or nothing changes.
//
// Pressure is measured in multiples of a threshold, the highest of:
//
//   - the address's new places over the last minute / AddressPressure;
//   - its prefix's (IPv4 /24, IPv6 /48) / PrefixPressure;
//   - the address's live places in the room / LivePressure;
//   - the room's new places over the last minute / its surge level,
//     max(SurgeFloor, SurgeFactor × admit_per_minute), counted for at most
//     SurgeMaxPressure, for joins from a counted address.
//
// A room whose challenge is "auto" asks for a challenge at a pressure of 1
// or more; "always" asks for one at every new place. The difficulty is the
// room's challenge_bits plus one bit per doubling of the pressure beyond 1
// (pressure 2: +1, 4: +2, ...), at most MaxExtraBits more, and never over
// MaxChallengeBits. A solution minted at a lower difficulty is taken while it
// is at most one bit short of the difficulty of the moment, so a fan whose
// challenge got harder while they solved it is not sent back.
//
// "Over the last minute" is a sliding estimate from two fixed one-minute
// windows: this window's count plus the last one's, weighted by the part of
// it still inside the minute.
const (
	ChallengeOff    = "off"
	ChallengeAuto   = "auto"
	ChallengeAlways = "always"

	// DefaultChallengeBits is a room's base difficulty: 2^17 hashes
	// expected, about 0.1 s in a desktop browser and under 1.5 s (median) on
	// a mid-range phone; see docs/performance.md.
	DefaultChallengeBits = 17
	MinChallengeBits     = 8
	MaxChallengeBits     = 28
	// MaxExtraBits is how far pressure raises the difficulty above the base.
	MaxExtraBits = 8

	AddressPressure  = 30  // new places per address per minute before "auto" asks for a challenge
	PrefixPressure   = 120 // new places per /24 (IPv6 /48) per minute
	LivePressure     = 100 // live places of one address in one room
	SurgeFloor       = 1200
	SurgeFactor      = 10
	SurgeMaxPressure = 4 // a surge alone adds at most 2 bits: every fan pays it

	// DefaultAddressJoinsPerMinute caps new places per address per room
	// per minute (429 beyond): 1,000 fans behind one carrier NAT or campus
	// address must all get in within a minute of a sale's start.
	DefaultAddressJoinsPerMinute = 1200
	// DefaultAddressLivePlaces caps the live places one address holds in
	// one room.
	DefaultAddressLivePlaces = 2000
	MaxAddressLimit          = 1_000_000

	// gateWindow is the counting window. Per-address counts are a hash per
	// window (about 60 bytes per address that joined, gone two windows
	// later); gateMembers bounds each window's per-prefix counts, a sorted
	// set for the busiest prefixes: beyond it the least busy half is
	// dropped (they count from 0 again).
	gateWindow  = time.Minute
	gateMembers = 100_000
	// livePrune is how many of an address's oldest places a join checks
	// for liveness once it has LivePressure of them. Places are tracked
	// per address only while it joins again within two windows: the first
	// place of an address quiet for two minutes is not (most fans join
	// once, and this spares them the set), so at most one place in two
	// minutes escapes the live count.
	livePrune = 8
	// liveTTL bounds how long an address's set of places outlives its last
	// new place.
	liveTTL = 24 * time.Hour
)

// gateHeader hands the constants above to join.lua, so they are written once.
var gateHeader = fmt.Sprintf(`local G = {window = %d, members = %d, prune = %d, live_ttl = %d,
  addr = %d, prefix = %d, live = %d, surge_floor = %d, surge_factor = %d, surge_max = %d,
  bits = %d, min_bits = %d, max_bits = %d, extra = %d, ip_rate = %d, ip_live = %d, bad_codes = %d}
`, gateWindow.Milliseconds(), gateMembers, livePrune, liveTTL.Milliseconds(),
	AddressPressure, PrefixPressure, LivePressure, SurgeFloor, SurgeFactor, SurgeMaxPressure,
	DefaultChallengeBits, MinChallengeBits, MaxChallengeBits, MaxExtraBits, DefaultAddressJoinsPerMinute, DefaultAddressLivePlaces, BadCodesPerMinute)

// Gate is who asks for a new place, as join.lua weighs them.
type Gate struct {
	// Address is the unit limits count: an IPv4 address or an IPv6 /64.
	// Invalid (the zero Addr): not counted, not limited and not weighed by
	// the room's surge (bypassed, loopback, or an internal caller); only an
	// "always" challenge applies. Its places still count in the surge.
	Address netip.Addr
	// ChallengeID, ChallengeBits and ChallengeExpires describe a solved
	// challenge whose MAC and solution the caller verified; "" for none.
	ChallengeID      string
	ChallengeBits    int
	ChallengeExpires time.Time
	// UserID is the user id of an enqueue token the caller verified ("" for
	// none): the user's live place is theirs, whatever device asks, and a
	// new place is made in their name (one place per user id). A room that
	// requires enqueue tokens makes no place without one.
	UserID string
	// Code is the access code the caller brings ("" for none), in a room
	// that requires one (codes.go).
	Code string
	// PassOnly makes the new place only if it is admitted on arrival (a
	// quiet traffic-triggered room, or passthrough): otherwise nothing is
	// made and the join fails with ErrQueueing (trigger.go).
	PassOnly bool
}

// AddressKey is the unit per-address limits count for ip: the address itself
// for IPv4 (and IPv4-mapped IPv6), its /64 for IPv6, where one subscriber
// usually holds a whole /64. The second result is its prefix: the /24 or /48.
func AddressKey(ip netip.Addr) (addr, prefix netip.Prefix) {
	ip = ip.Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32), netip.PrefixFrom(ip, 24).Masked()
	}
	return netip.PrefixFrom(ip, 64).Masked(), netip.PrefixFrom(ip, 48).Masked()
}

// Refused reasons, as join.lua and the gateway name them.
const (
	RefusedChallengeRequired = "challenge_required"
	RefusedChallengeFailed   = "challenge_failed"
	RefusedRateLimited       = "rate_limited"
	RefusedPlaceCap          = "place_cap"
	// RefusedBadEnqueueToken: the room requires an enqueue token for a new
	// place, and the join brought none, or one that does not verify.
	RefusedBadEnqueueToken = "bad_enqueue_token"
)

// RefusedReasons are every reason a join may be refused for, in the order
// dashboards show them. captcha_failed is kept for the CAPTCHA gate.
var RefusedReasons = []string{RefusedChallengeRequired, RefusedChallengeFailed, RefusedRateLimited, RefusedPlaceCap, "captcha_failed", RefusedBadCode, RefusedBadEnqueueToken}

// Refusal is join.lua's refusal of a new place: nothing was changed.
type Refusal struct {
	Reason string
	// Bits is the difficulty to ask for (challenge_required).
	Bits int
	// RetryAfter is when to try again (rate_limited, place_cap).
	RetryAfter time.Duration
	// NoCode: a bad_code refusal of a join that brought no code.
	NoCode bool
}

func (r *Refusal) Error() string { return "queue: join refused: " + r.Reason }

// gateKeys are the keys join.lua's gate touches at now.
func (k roomKeys) gateKeys(now time.Time, g Gate) (keys []string, addr, prefix string) {
	w := now.UnixMilli() / gateWindow.Milliseconds()
	cur, prev := strconv.FormatInt(w, 10), strconv.FormatInt(w-1, 10)
	chID := g.ChallengeID
	if g.Address.IsValid() {
		a, p := AddressKey(g.Address)
		addr, prefix = a.String(), p.String()
	}
	return append([]string{k.prefix + "ch:" + chID, k.prefix + "gh:" + cur, k.prefix + "gh:" + prev, k.prefix + "gp:" + cur, k.prefix + "gp:" + prev,
		k.prefix + "gr:" + cur, k.prefix + "gr:" + prev, k.prefix + "lv:" + addr, k.users, k.owners, k.codes}, k.badCodeKeys(now)...), addr, prefix
}

// gateArgs are join.lua's ARGV 6 to 13.
func gateArgs(room string, g Gate, addr, prefix string) []any {
	var exp int64
	if g.ChallengeID != "" {
		exp = g.ChallengeExpires.UnixMilli()
	}
	var code string
	if g.Code != "" {
		code = codeHash(room, g.Code)
	}
	return []any{addr, prefix, g.ChallengeID, g.ChallengeBits, exp, g.UserID, code, flag(g.PassOnly)}
}

// refusal reads join.lua's refusal replies.
func refusal(res []any) (*Refusal, bool) {
	kind, _ := res[0].(string)
	num := func(i int) int64 {
		if len(res) > i {
			n, _ := res[i].(int64)
			return n
		}
		return 0
	}
	switch kind {
	case "q":
		return &Refusal{Reason: RefusedChallengeRequired, Bits: int(num(1))}, true
	case "u":
		return &Refusal{Reason: RefusedChallengeFailed}, true
	case "l":
		return &Refusal{Reason: RefusedRateLimited, RetryAfter: time.Duration(num(1)) * time.Millisecond}, true
	case "m":
		return &Refusal{Reason: RefusedPlaceCap, RetryAfter: time.Duration(num(1)) * time.Millisecond}, true
	case "k":
		return &Refusal{Reason: RefusedBadEnqueueToken}, true
	case "x":
		return &Refusal{Reason: RefusedBadCode, NoCode: true}, true
	case "b":
		return &Refusal{Reason: RefusedBadCode}, true
	}
	return nil, false
}

// AddRefusals adds to rooms' deployment-wide counts of refused joins (room →
// reason → count), in one round trip: the refusals decided before join.lua
// (which counts its own), gathered by each instance and added now and then.
func (s *Store) AddRefusals(ctx context.Context, counts map[string]map[string]int64) error {
	return s.addStats(ctx, "refusals", counts, func(reason string) string { return "refused:" + reason })
}

// addStats adds counts (room → kind → n) to the rooms' stats fields that
// field names for each kind, in one pipeline; what names them in an error.
func (s *Store) addStats(ctx context.Context, what string, counts map[string]map[string]int64, field func(kind string) string) error {
	pipe := s.rdb.Pipeline()
	for room, byKind := range counts {
		for kind, n := range byKind {
			pipe.HIncrBy(ctx, keysFor(room).stats, field(kind), n)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("queue: count %s: %w", what, err)
	}
	return nil
}

// SurgePressure is what the room's surge weighs on a counted address in
// room r, whose new places over the last minute are newPerMinute, as
// join.lua weighs it.
func SurgePressure(r Room, newPerMinute float64) float64 {
	return min(newPerMinute/float64(max(SurgeFloor, SurgeFactor*r.AdmitPerMinute)), SurgeMaxPressure)
}

// ChallengeBits is the difficulty join.lua asks at pressure in room r: its
// base plus a bit per doubling beyond 1.
func ChallengeBits(r Room, pressure float64) int {
	base := r.ChallengeBits
	if base <= 0 {
		base = DefaultChallengeBits
	}
	bits := base
	for p := pressure; p >= 2 && bits < MaxChallengeBits && bits-base < MaxExtraBits; p /= 2 {
		bits++
	}
	return bits
}

// Refusals returns the room's joins refused so far, by reason (every reason
// of RefusedReasons, 0 when none).
func (s *Store) Refusals(ctx context.Context, room string) (map[string]int64, error) {
	fields := make([]string, len(RefusedReasons))
	for i, r := range RefusedReasons {
		fields[i] = "refused:" + r
	}
	vals, err := s.rdb.HMGet(ctx, keysFor(room).stats, fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("queue: refusals %s: %w", room, err)
	}
	out := make(map[string]int64, len(RefusedReasons))
	for i, r := range RefusedReasons {
		if v, ok := vals[i].(string); ok {
			out[r], _ = strconv.ParseInt(v, 10, 64)
		} else {
			out[r] = 0
		}
	}
	return out, nil
}

// BusyPrefix is a prefix and its new places over the last minute.
type BusyPrefix struct {
	Prefix    string
	PerMinute int64
}

// BusiestPrefixes returns the room's n prefixes (IPv4 /24, IPv6 /48) with the
// most new places over the last minute, busiest first.
func (s *Store) BusiestPrefixes(ctx context.Context, room string, n int) ([]BusyPrefix, error) {
	now := s.cfg.Now()
	k := keysFor(room)
	w := now.UnixMilli() / gateWindow.Milliseconds()
	elapsed := float64(now.UnixMilli()%gateWindow.Milliseconds()) / float64(gateWindow.Milliseconds())
	pipe := s.rdb.Pipeline()
	cur := pipe.ZRevRangeWithScores(ctx, k.prefix+"gp:"+strconv.FormatInt(w, 10), 0, int64(n-1))
	prev := pipe.ZRevRangeWithScores(ctx, k.prefix+"gp:"+strconv.FormatInt(w-1, 10), 0, int64(n-1))
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("queue: busiest prefixes %s: %w", room, err)
	}
	sum := map[string]float64{}
	for _, z := range cur.Val() {
		sum[z.Member.(string)] += z.Score
	}
	for _, z := range prev.Val() {
		sum[z.Member.(string)] += z.Score * (1 - elapsed)
	}
	out := make([]BusyPrefix, 0, len(sum))
	for p, v := range sum {
		if r := int64(math.Round(v)); r > 0 {
			out = append(out, BusyPrefix{Prefix: p, PerMinute: r})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].PerMinute != out[j].PerMinute {
			return out[i].PerMinute > out[j].PerMinute
		}
		return out[i].Prefix < out[j].Prefix
	})
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}
