// Package queue owns the waiting line and everything Crowdgate keeps in
// Redis for a room: its configuration, the line, the admitted set, the
// counters, and the signing keyring document. It is the only package that
// talks to Redis; it imports go-redis and nothing of Crowdgate's.
//
// # Keys
//
// Every key of a room carries the room as its hash tag, cg:{room}:…, so a
// room lives in one Redis Cluster slot and every multi-step change is one
// Lua script (scripts/*.lua) that runs unchanged on a single Redis, a
// cluster, or the embedded store (miniredis):
//
//	cg:{r}:cfg    hash    configuration (the scripts read it, so a change applies at once)
//	cg:{r}:seq    string  join counter; never deleted, so ids are never reused
//	cg:{r}:q      zset    the line: member = queue id, score = order
//	cg:{r}:act    zset    admitted: member = queue id, score = session end (ms)
//	cg:{r}:iat    hash    admitted: queue id → admission time (ms)
//	cg:{r}:tb     hash    admission token bucket {tokens, last}
//	cg:{r}:st     hash    admitted_total, abandoned_total, head
//	cg:{r}:rt     hash    admissions per second, ring of 60 fields (observed rate)
//	cg:{r}:hb:<e> bitmap  liveness in heartbeat epoch e, bit = sequence number
//	cg:{r}:sw     hash    progress of this epoch's sweep
//	cg:{r}:log    stream  position log (see Positions)
//
// # Queue ids
//
// A queue id is the join's sequence number in base 36 ("1", "2", … "a3x").
// It is short (a waiter costs one small sorted-set entry, about 110 bytes in
// Redis, and a bit per heartbeat epoch), it maps to a bitmap offset without a
// lookup, and in FIFO mode it is also the waiter's score. Ids are not
// secrets: every request that names one carries a queue token that binds it
// to its room with an HMAC (package admission), so guessing an id gains
// nothing.
//
// # Joining and admission
//
// join.lua returns the caller's existing place (from the id in their token)
// or appends one: INCR seq, ZADD q seq id. A join is one EVALSHA. Admission
// is admit.lua, run by every instance on its tick: a token bucket in
// cg:{r}:tb accrues admit_per_minute/60000 per millisecond (capped at two
// seconds' worth), and the script pops floor(tokens) waiters, bounded by
// max_active minus the live sessions, from the head of the line into the
// admitted set. Because the bucket is in Redis and the script is atomic, the
// rate is the room's whatever the number of instances; ticking more often
// only spreads admissions more finely. Nothing accrues while the room is
// paused, closed or before sale_starts_at, so resuming is not a burst.
//
// # Liveness
//
// A waiter is alive while their sequence number's bit is set in the bitmap of
// this heartbeat epoch or one of the two before; an epoch is half the grace
// period. A status request sets the bit; a gateway holding WebSockets sets
// the bits of all its waiters with one heartbeat.lua call per epoch. Once per
// epoch one sweep (sweep.lua, bounded steps of SweepStep waiters, resumed
// from a cursor by whichever instance calls next) drops waiters with no bit
// in the three bitmaps and counts them in abandoned_total. So a waiter silent
// for Grace (60 s by default) is gone by 1.5 × Grace, and dead places stop
// eating admission slots. The cost is a bit per sequence number per bitmap,
// not per-waiter timestamps.
//
// # Positions
//
// A position is the number of waiters with a lower score, plus one. Pushing
// exact positions to 100k waiters must not cost one ZRANK each, so an
// instance computes them in memory from a log of what left the line:
//
//   - Admission pops from the head, so after it every score at or below the
//     last popped score (the head, H) is gone. admit.lua appends {h: H}.
//   - Leaving and the sweep remove waiters from the middle: leave.lua and
//     sweep.lua append {r: score…}.
//   - Joins append at the tail and move nobody ahead of anyone else.
//
// In FIFO mode scores are the dense sequence 1, 2, 3, …, so for a local waiter
// with score s,
//
//	position(s) = (s − H − 1) − holes(H, s) + 1
//
// where holes(H, s) counts removed scores strictly between H and s. Each
// instance keeps H and the removed scores above H in a Fenwick tree, reads
// the log with one XREAD from its last entry id per room per tick (a constant
// number of commands, whatever the number of waiters), and recomputes every
// local waiter's position in memory. Positions only fall: H and the holes
// only grow. An instance that starts late, or whose cursor fell off the
// trimmed log, rebuilds H and the holes from the line once (ZRANGE in
// chunks), then follows the log again. A sale-start shuffle rewrites scores
// and appends a reset entry, after which instances rebuild.
package queue
