package queue

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate"
)

// ErrNotDrawn means a random_prequeue room has not drawn its pre-queue yet
// (or is not a random_prequeue room): there is no order to show.
var ErrNotDrawn error = &crowdgate.Error{Kind: crowdgate.Conflict, Message: "this room's pre-queue has not been drawn (yet)", Err: errors.New("queue: the pre-queue has not been drawn")}

// SeedSize is the length of a draw's secret seed in bytes.
const SeedSize = 32

// DrawAlgorithm describes DrawOrder for people who recompute it; the
// fairness endpoint publishes it.
const DrawAlgorithm = "sha256(seed_hex + ':' + queue_id) ascending: each participant's key is the SHA-256 " +
	"of the ASCII bytes of the seed in lowercase hex (64 characters), a colon, and the queue id; " +
	"participants are placed in ascending order of their keys (compared as bytes, i.e. as lowercase hex strings)"

// Commitment returns the published commitment to a seed: the lowercase
// hex SHA-256 of the seed's bytes (not of its hex spelling).
func Commitment(seed []byte) string {
	sum := sha256.Sum256(seed)
	return hex.EncodeToString(sum[:])
}

// DrawKey returns the key that ranks queue id in the draw with seed:
// SHA-256(hex(seed) + ":" + id).
func DrawKey(seed []byte, id string) [sha256.Size]byte {
	b := make([]byte, 0, 2*len(seed)+1+len(id))
	b = hex.AppendEncode(b, seed)
	b = append(b, ':')
	b = append(b, id...)
	return sha256.Sum256(b)
}

// DrawOrder returns ids in the order the draw with seed places them: by
// ascending DrawKey, ties (which would take a SHA-256 collision) by id. It
// is the one implementation of the shuffle, shared by the server and
// `crowdgate verify-shuffle`; ids is not modified.
func DrawOrder(seed []byte, ids []string) []string {
	type ranked struct {
		key [sha256.Size]byte
		id  string
	}
	rs := make([]ranked, len(ids))
	for i, id := range ids {
		rs[i] = ranked{DrawKey(seed, id), id}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		if c := bytes.Compare(a.key[:], b.key[:]); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.id
	}
	return out
}

// Fairness is what a random_prequeue room publishes so fans can check its
// draw (see "The pre-queue draw" in doc.go).
type Fairness struct {
	Room string
	Mode string
	// Commitment is the hex SHA-256 of the seed, fixed before the first
	// fan joined the pre-queue; "" until the pre-queue opens.
	Commitment  string
	CommittedAt time.Time
	// Seed is the draw's secret, revealed only once the draw is done.
	Seed    []byte
	DrawnAt time.Time // zero until the draw is done
	// Participants is how many waiters the draw placed; Cutoff is the
	// highest sequence number among those eligible (joined before the
	// sale). Both are known once the draw is done.
	Participants int
	Cutoff       int64
}

// Drawn reports whether the draw is done.
func (f Fairness) Drawn() bool { return !f.DrawnAt.IsZero() }

// Fairness returns a room's draw commitment and, once drawn, its seed.
// In a random_prequeue room whose queue is open it commits to a seed first
// if nobody has yet. Errors: ErrRoomNotFound.
func (s *Store) Fairness(ctx context.Context, room string) (Fairness, error) {
	f, cfg, err := s.readFairness(ctx, room)
	if err != nil {
		return Fairness{}, err
	}
	opens, _ := strconv.ParseInt(cfg[1], 10, 64)
	if f.Mode == ModeRandomPrequeue && f.Commitment == "" && s.cfg.Now().UnixMilli() >= opens {
		if _, err := s.commit(ctx, room); err != nil && !errors.Is(err, ErrNotOpen) {
			return Fairness{}, err
		}
		if f, _, err = s.readFairness(ctx, room); err != nil {
			return Fairness{}, err
		}
	}
	return f, nil
}

func (s *Store) readFairness(ctx context.Context, room string) (Fairness, []string, error) {
	k := keysFor(room)
	pipe := s.rdb.Pipeline()
	cfgCmd := pipe.HMGet(ctx, k.cfg, "mode", "opens_ms")
	fairCmd := pipe.HMGet(ctx, k.fair, "state", "seed", "commitment", "committed_ms", "drawn_ms", "participants", "cutoff")
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Fairness{}, nil, fmt.Errorf("queue: fairness %s: %w", room, err)
	}
	cfg := make([]string, 2)
	for i, v := range cfgCmd.Val() {
		cfg[i] = str(v)
	}
	if cfg[0] == "" {
		return Fairness{}, nil, ErrRoomNotFound
	}
	fv := make([]string, 7)
	for i, v := range fairCmd.Val() {
		fv[i] = str(v)
	}
	f := Fairness{Room: room, Mode: cfg[0], Commitment: fv[2]}
	if ms, _ := strconv.ParseInt(fv[3], 10, 64); ms > 0 {
		f.CommittedAt = time.UnixMilli(ms).UTC()
	}
	if fv[0] == "done" {
		seed, err := hex.DecodeString(fv[1])
		if err != nil {
			return Fairness{}, nil, fmt.Errorf("queue: fairness %s: stored seed: %w", room, err)
		}
		ms, _ := strconv.ParseInt(fv[4], 10, 64)
		f.Seed, f.DrawnAt = seed, time.UnixMilli(ms).UTC()
		f.Participants, _ = strconv.Atoi(fv[5])
		f.Cutoff, _ = strconv.ParseInt(fv[6], 10, 64)
	}
	return f, cfg, nil
}

// DrawParticipants returns the queue ids the draw placed, in order of
// joining; DrawOrder over them with the revealed seed gives the drawn
// order. Errors: ErrRoomNotFound, ErrNotDrawn.
func (s *Store) DrawParticipants(ctx context.Context, room string) ([]string, error) {
	k := keysFor(room)
	pipe := s.rdb.Pipeline()
	exists := pipe.Exists(ctx, k.cfg)
	fair := pipe.HMGet(ctx, k.fair, "state", "ids")
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("queue: draw participants %s: %w", room, err)
	}
	if exists.Val() == 0 {
		return nil, ErrRoomNotFound
	}
	v := fair.Val()
	if str(v[0]) != "done" {
		return nil, ErrNotDrawn
	}
	return strings.Fields(str(v[1])), nil
}

// commit stores a fresh random seed and its commitment for room unless it
// has one, and returns the stored commitment. Errors: ErrRoomNotFound,
// ErrNotOpen, ErrNotDrawn (not a random_prequeue room).
func (s *Store) commit(ctx context.Context, room string) (string, error) {
	seed := make([]byte, SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return "", fmt.Errorf("queue: commit %s: %w", room, err)
	}
	k := keysFor(room)
	res, err := s.scripts.fair.Run(ctx, s.rdb, []string{k.fair, k.cfg, k.seq, k.line, k.stats, k.log},
		"commit", hex.EncodeToString(seed), Commitment(seed), s.cfg.Now().UnixMilli()).StringSlice()
	if err != nil {
		return "", fmt.Errorf("queue: commit %s: %w", room, err)
	}
	switch res[0] {
	case "ok":
		return res[1], nil
	case "r":
		return "", ErrRoomNotFound
	case "e":
		return "", ErrNotOpen
	}
	return "", ErrNotDrawn
}

// DrawResult is the outcome of one Draw call.
type DrawResult struct {
	Done         bool // the room's draw has happened (by this call or earlier, anywhere)
	Drew         bool // this call did it
	Participants int  // placed by this call
}

// drawLease is how long a drawer may go silent before another instance
// takes the draw over; every step of the draw renews it.
const drawLease = 30 * time.Second

// drawChunk is how many participants one script call moves.
const drawChunk = 1000

// Draw takes one step of a random_prequeue room's draw, as the controller's
// tick calls it on every instance: it commits to a seed once the queue is
// open, and from sale_starts_at on it draws the pre-queue exactly once
// (whichever instance takes the draw first; one that stalls for drawLease
// is taken over, and the redo writes the same order). See "The pre-queue
// draw" in doc.go. Errors: ErrRoomNotFound.
func (s *Store) Draw(ctx context.Context, room string) (DrawResult, error) {
	k := keysFor(room)
	keys := []string{k.fair, k.cfg, k.seq, k.line, k.stats, k.log}
	var token [12]byte
	if _, err := rand.Read(token[:]); err != nil {
		return DrawResult{}, err
	}
	tok := hex.EncodeToString(token[:])
	lease := drawLease.Milliseconds()
	var res []any
	for try := 0; ; try++ {
		var err error
		res, err = s.scripts.fair.Run(ctx, s.rdb, keys, "begin", s.cfg.Now().UnixMilli(), tok, lease).Slice()
		if err != nil {
			return DrawResult{}, fmt.Errorf("queue: draw %s: %w", room, err)
		}
		if str(res[0]) != "n" || try > 0 {
			break
		}
		if _, err := s.commit(ctx, room); errors.Is(err, ErrNotOpen) || errors.Is(err, ErrNotDrawn) {
			return DrawResult{}, nil
		} else if err != nil {
			return DrawResult{}, err
		}
	}
	switch str(res[0]) {
	case "go":
	case "done":
		return DrawResult{Done: true}, nil
	case "r":
		return DrawResult{}, ErrRoomNotFound
	default: // not random_prequeue, not committed, not due, or busy elsewhere
		return DrawResult{}, nil
	}
	seed, err := hex.DecodeString(str(res[1]))
	if err != nil || len(seed) != SeedSize {
		return DrawResult{}, fmt.Errorf("queue: draw %s: bad stored seed", room)
	}
	cutoff, _ := strconv.ParseInt(str(res[2]), 10, 64)
	base, _ := strconv.ParseInt(str(res[3]), 10, 64)
	ids := strings.Fields(str(res[4]))
	lost := DrawResult{} // the draw passed to another instance: it finishes it

	if res[5].(int64) == 0 {
		// First attempt: the participants are the line's scores in
		// (base, cutoff], still their sequence numbers (nothing has moved
		// yet), so paging by score misses nobody who stays in line.
		if ids, err = s.eligible(ctx, k.line, base, cutoff); err != nil {
			return DrawResult{}, fmt.Errorf("queue: draw %s: %w", room, err)
		}
		ok, err := s.scripts.fair.Run(ctx, s.rdb, keys, "list", tok, strings.Join(ids, " "), s.cfg.Now().UnixMilli(), lease).Int()
		if err != nil {
			return DrawResult{}, fmt.Errorf("queue: draw %s: %w", room, err)
		}
		if ok != 1 {
			return lost, nil
		}
	}
	order := DrawOrder(seed, ids)
	for i := 0; i < len(order); i += drawChunk {
		args := make([]any, 0, 4+2*drawChunk)
		args = append(args, "place", tok, s.cfg.Now().UnixMilli(), lease)
		for j, id := range order[i:min(i+drawChunk, len(order))] {
			args = append(args, base+int64(i+j)+1, id)
		}
		ok, err := s.scripts.fair.Run(ctx, s.rdb, keys, args...).Int()
		if err != nil {
			return DrawResult{}, fmt.Errorf("queue: draw %s: %w", room, err)
		}
		if ok != 1 {
			return lost, nil
		}
	}
	ok, err := s.scripts.fair.Run(ctx, s.rdb, keys, "finish", tok, s.cfg.Now().UnixMilli(), s.cfg.LogLength, len(ids)).Int()
	if err != nil {
		return DrawResult{}, fmt.Errorf("queue: draw %s: %w", room, err)
	}
	if ok != 1 {
		return lost, nil
	}
	return DrawResult{Done: true, Drew: true, Participants: len(ids)}, nil
}

// eligible returns the ids in line with a score in (base, cutoff], in
// score order, paging by score (the scores are unique).
func (s *Store) eligible(ctx context.Context, line string, base, cutoff int64) ([]string, error) {
	var ids []string
	from := "(" + strconv.FormatInt(base, 10)
	stop := strconv.FormatInt(cutoff, 10)
	for cutoff > base {
		zs, err := s.rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{
			Key: line, Start: from, Stop: stop, ByScore: true, Count: 10000,
		}).Result()
		if err != nil {
			return nil, err
		}
		for _, z := range zs {
			ids = append(ids, z.Member.(string))
		}
		if len(zs) < 10000 {
			break
		}
		from = "(" + strconv.FormatInt(int64(zs[len(zs)-1].Score), 10)
	}
	return ids, nil
}
