package queue

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Tracker follows one room's line through its position log and answers
// positions from memory: Sync costs one XREAD per call however many waiters
// an instance serves (see "Positions" in doc.go). It is safe for concurrent
// use; Sync is meant to be called from one loop.
type Tracker struct {
	store *Store
	room  string
	keys  roomKeys

	mu     sync.RWMutex
	head   int64  // every score at or below head has left the line
	logN   int64  // number of the last log entry applied
	cursor string // id of the last log entry applied
	holes  holeSet
	// Resets counts rebuilds; a caller that sees it change knows positions
	// may have moved (a shuffle), not only fallen.
	resets int64
	// version counts changes of head or holes, so callers can skip work
	// when nothing moved.
	version int64
	synced  bool
	// Once the pre-queue is drawn, moved maps the sequence number of each
	// participant still in line to its drawn score, as of the last
	// rebuild (the draw appends a reset entry, so every tracker rebuilds
	// after it). Sequence numbers up to cutoff that it lacks have left.
	moved  map[int64]int64
	cutoff int64
	drawn  bool // the room's pre-queue draw is done (as of the last rebuild)
}

// NewTracker returns a tracker of room's line; it reads nothing until Sync.
func (s *Store) NewTracker(room string) *Tracker {
	return &Tracker{store: s, room: room, keys: keysFor(room)}
}

// syncBatch is the most log entries one Sync applies; a longer backlog is
// read over the following calls.
const syncBatch = 5000

// Sync applies the log entries written since the last call, or rebuilds
// from the line when this tracker is new or missed entries (the log is
// trimmed). One XREAD when in step.
func (t *Tracker) Sync(ctx context.Context) error {
	t.mu.RLock()
	synced, cursor := t.synced, t.cursor
	t.mu.RUnlock()
	if !synced {
		return t.rebuild(ctx)
	}
	res, err := t.store.rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{t.keys.log, cursor}, Count: syncBatch, Block: -1,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("queue: track %s: %w", t.room, err)
	}
	if t.follow(res) {
		return nil
	}
	// The draw rewrote the scores: start over from the line.
	return t.rebuild(ctx)
}

// follow applies log entries in order; it reports false at a reset entry,
// after which nothing in the tracker is valid until a rebuild.
func (t *Tracker) follow(res []redis.XStream) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, stream := range res {
		for _, m := range stream.Messages {
			n, _ := strconv.ParseInt(str(m.Values["n"]), 10, 64)
			if n != t.logN+1 {
				// Entries were trimmed away before we read them.
				t.synced = false
				return true
			}
			if str(m.Values["reset"]) != "" {
				t.synced = false
				return false
			}
			t.apply(m.Values)
			t.logN, t.cursor = n, m.ID
			t.version++
		}
	}
	return true
}

func (t *Tracker) apply(v map[string]any) {
	if h := str(v["h"]); h != "" {
		if head, err := strconv.ParseInt(h, 10, 64); err == nil && head > t.head {
			t.head = head
		}
	}
	for _, f := range strings.Fields(str(v["r"])) {
		if score, err := strconv.ParseInt(f, 10, 64); err == nil && score > t.head {
			t.holes.add(score)
		}
	}
}

// rebuild reads a snapshot (head, log position, last sequence number) and
// then every score in the line above the head, in chunks: any score up to
// the snapshot's sequence number that is not in the line is a hole (drawn
// scores are at most the draw's cutoff, so they are in that range too).
// Changes after the snapshot arrive through the log; the hole set ignores
// a removal it already has.
func (t *Tracker) rebuild(ctx context.Context) error {
	k := t.keys
	snap, err := t.store.scripts.snapshot.Run(ctx, t.store.rdb, []string{k.stats, k.log, k.seq, k.fair}).Slice()
	if err != nil {
		return fmt.Errorf("queue: track %s: snapshot: %w", t.room, err)
	}
	head, logN, cursor, seq := snap[0].(int64), snap[1].(int64), snap[2].(string), snap[3].(int64)
	drawn, cutoff := str(snap[4]) == "done", snap[5].(int64)
	if !drawn {
		cutoff = 0
	}
	var holes holeSet
	var moved map[int64]int64
	if drawn {
		moved = map[int64]int64{}
	}
	next, from := head+1, "("+strconv.FormatInt(head, 10)
	for next <= seq {
		zs, err := t.store.rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{
			Key: k.line, Start: from, Stop: strconv.FormatInt(seq, 10), ByScore: true, Count: 10000,
		}).Result()
		if err != nil {
			return fmt.Errorf("queue: track %s: read line: %w", t.room, err)
		}
		for _, z := range zs {
			s := int64(z.Score)
			for ; next < s; next++ {
				holes.add(next)
			}
			next = s + 1
			if id, err := Score(str(z.Member)); err == nil && id <= cutoff {
				moved[id] = s
			}
		}
		if len(zs) < 10000 {
			for ; next <= seq; next++ {
				holes.add(next)
			}
			break
		}
		from = "(" + strconv.FormatInt(next-1, 10)
	}
	t.mu.Lock()
	t.head, t.logN, t.cursor, t.holes, t.synced = head, logN, cursor, holes, true
	t.moved, t.cutoff, t.drawn = moved, cutoff, drawn
	t.resets++
	t.version++
	t.mu.Unlock()
	return nil
}

// Position returns the place in line of the waiter with score: people
// ahead plus one, or 0 when the score has left the line (admitted, gone,
// or never there). It is exact as of the last Sync.
func (t *Tracker) Position(score int64) int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if score <= t.head || t.holes.has(score) {
		return 0
	}
	return score - t.head - (t.holes.countBelow(score) - t.holes.countBelow(t.head+1))
}

// Head returns the score at or below which everyone has left the line.
func (t *Tracker) Head() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.head
}

// Resets returns how many times the tracker rebuilt from the line.
func (t *Tracker) Resets() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.resets
}

// Version changes whenever positions may have changed.
func (t *Tracker) Version() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.version
}

// Score returns the score of queue id as of the last Sync, for Position:
// its sequence number, unless the pre-queue draw placed it elsewhere; 0
// (never in line) for a participant of the draw who has left since, whose
// sequence number may now be someone else's score. A caller that caches
// it must ask again after Resets changes.
func (t *Tracker) Score(queueID string) (int64, error) {
	seq, err := Score(queueID)
	if err != nil {
		return 0, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if seq > t.cutoff {
		return seq, nil
	}
	return t.moved[seq], nil
}

// Drawn reports whether the room's pre-queue draw was done as of the last
// rebuild (which the draw itself triggers).
func (t *Tracker) Drawn() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.drawn
}

// Score returns the score of a queue id in FIFO order: its sequence number.
// After a random_prequeue draw, the draw's participants have other scores:
// Tracker.Score knows them.
func Score(queueID string) (int64, error) {
	return strconv.ParseInt(queueID, 36, 64)
}

func str(v any) string { s, _ := v.(string); return s }

// holeSet is a set of scores with counts below a score in O(log n): a
// bitset for membership and a Fenwick tree for counts, both over scores
// 1..len, grown by doubling.
type holeSet struct {
	bits []uint64
	tree []int32 // Fenwick tree, 1-based: tree[i] counts a range ending at i
	n    int64
}

func (h *holeSet) has(s int64) bool {
	if s < 1 || s >= int64(len(h.bits))*64 {
		return false
	}
	return h.bits[s/64]&(1<<(s%64)) != 0
}

func (h *holeSet) add(s int64) {
	if s < 1 || h.has(s) {
		return
	}
	if s >= int64(len(h.tree)) {
		h.grow(s)
	}
	h.bits[s/64] |= 1 << (s % 64)
	for i := s; i < int64(len(h.tree)); i += i & -i {
		h.tree[i]++
	}
	h.n++
}

// countBelow returns the number of holes with a score below s.
func (h *holeSet) countBelow(s int64) int64 {
	if s-1 >= int64(len(h.tree)) {
		s = int64(len(h.tree))
	}
	var c int64
	for i := s - 1; i > 0; i -= i & -i {
		c += int64(h.tree[i])
	}
	return c
}

// grow makes room for score s and rebuilds the tree from the bitset in O(n).
func (h *holeSet) grow(s int64) {
	size := int64(1) << bits.Len64(uint64(s)+1)
	if size < 1024 {
		size = 1024
	}
	nb := make([]uint64, size/64)
	copy(nb, h.bits)
	h.bits = nb
	h.tree = make([]int32, size)
	for i := int64(1); i < size; i++ {
		if h.has(i) {
			h.tree[i]++
		}
		if j := i + (i & -i); j < size {
			h.tree[j] += h.tree[i]
		}
	}
}
