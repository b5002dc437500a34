// Package queue owns the waiting line and everything Crowdgate keeps in
// Redis for a room: its configuration, the line, the admitted set, the
// counters, and the signing keyring document. It imports go-redis and
// nothing of Crowdgate's; the booking core keeps its events' keys itself,
// under hash tags of their own.
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
//	cg:{r}:rev    zset    admissions ended early: member = "<queue id> <admitted ms>",
//	                      score = the session's end (ms); see Revocations
//	cg:{r}:log    stream  position log (see Positions)
//	cg:{r}:fair   hash    random_prequeue draw: state, seed, commitment, committed_ms,
//	                      cutoff, base, drawer, until, ids, drawn_ms, participants
//	                      (see The pre-queue draw)
//	cg:{r}:hist   zset    the dashboard's samples, 30 min (history.go); cg:{r}:hist:<step>
//	                      marks a 10-s step taken, so one instance samples it
//	cg:{r}:adapt  hash    adaptive admission: rate, time of the last step, why
//	cg:{r}:adlog  list    the adaptive rate's last 50 changes (adaptive.go)
//	cg:{r}:oh     hash    the origin's health as each instance's reverse proxy measures it:
//	                      instance → "<at ms> <answers> <failed> <p99 µs>", a few seconds' TTL (origin.go)
//	cg:{r}:nm     hash    "notify me": queue id → contact and what they were told (notifyme.go)
//	cg:{r}:nmk    zset    "notify me": queue id → keep-until (ms), once confirmed; the sweep spares them till then
//	cg:{r}:nmc    hash    "notify me": contact ("e:<email>", "p:<phone>") → queue id: one place per contact
//	cg:{r}:nma    hash    "notify me": queue id → confirmations asked for (at most 3)
//	cg:{r}:nmb:H  string  "notify me": messages sent to the room's waiters in hour H (the budget)
//	cg:{r}:nmh:<w> hash   "notify me": "a:<address>", "p:<prefix>" → confirmations asked in minute w (2 min TTL)
//	cg:{r}:gh:<w> hash    the gate (gate.go): address → new places in minute w (2 min TTL)
//	cg:{r}:gp:<w> zset    the same per prefix (IPv4 /24, IPv6 /48), the least busy half dropped
//	                      past 100,000 members: the dashboard's busiest networks
//	cg:{r}:gr:<w> string  the room's new places in minute w (its surge)
//	cg:{r}:lv:<a> zset    address a's places while it joins again within 2 min: member = queue
//	                      id, score = sequence (24 h TTL); dead ones are pruned, oldest first,
//	                      when it nears its cap
//	cg:{r}:ch:<id> string a used challenge, until the challenge expires
//	cg:{r}:users  hash    enqueue tokens: user id → the queue id of their live place
//	cg:{r}:owners hash    the same, queue id → user id; join.lua writes both, and the
//	                      scripts that end places (leave, sweep, admit's expiry) drop both
//	cg:{r}:codes  hash    access codes (codes.go): hex SHA-256 of room, NUL, code → uses left,
//	                      and the counters #codes, #left, #used; join.lua takes a use
//	cg:{r}:gb:<w> hash    wrong access codes per address in minute window w (2 min TTL)
//	cg:{r}:hook   hash    room hooks (hooks.go): the room as last told to the organizer's systems
//	cg:{r}:hook:outbox stream the hooks' messages, delivered by package notify, which keeps
//	                      cg:{r}:hook:dead and cg:{r}:hook:sent:<id> beside it
//
// and, for all rooms, besides cg:rooms and cg:keyring: cg:audit, the
// organizers' audit log (stream, MAXLEN ~ 10000; auditlog.go),
// cg:notify-rooms, the rooms with waiters to notify (notifyme.go), and
// cg:declared, a hash of what configuration files last declared
// ("room/<name>" or "event/<id>" → digest; see Store.Declared).
//
// The stats hash cg:{r}:st also counts the joins the gate refused,
// "refused:<reason>".
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
// only spreads admissions more finely. In a room with adaptive admission
// the bucket accrues at the lower of admit_per_minute and the room's
// adaptive rate (adaptive.go). Nothing accrues while the room is
// paused, closed, before sale_starts_at, or (random_prequeue) before the
// pre-queue is drawn, so resuming is not a burst.
//
// # Liveness
//
// A waiter is alive while their sequence number's bit is set in the bitmap of
// this heartbeat epoch or one of the Grace/Epoch before. The epoch (Epoch,
// 30 s) is the same on every instance whatever its --grace, so instances
// that disagree on the grace during a rolling change read each other's
// signs of life; each sweeps with its own grace, which only decides how
// long silence is tolerated. A status request sets the bit; a gateway
// holding WebSockets sets the bits of all its waiters with one
// heartbeat.lua call per epoch. Once per epoch one sweep (sweep.lua,
// bounded steps of SweepStep waiters, resumed from a cursor by whichever
// instance calls next) drops waiters with no bit in those bitmaps and
// counts them in abandoned_total. So a waiter silent for Grace (60 s by
// default) is gone within Grace + Epoch (90 s), and dead places stop eating
// admission slots. Bitmaps live MaxGrace + 2 × Epoch (11 min), whoever
// wrote them. The cost is a bit per sequence number per bitmap, not
// per-waiter timestamps.
//
// # Revocations
//
// An admission ended early (the fan gave up the place, an origin released
// it) must stop passing until its token expires, on every instance.
// leave.lua removes it from the admitted set, records it in cg:{r}:rev
// scored by the session's end as fixed at admission, and publishes
// "<room> <queue id> <session end ms> <admitted ms>" on cg:revoked.
// Instances hold what they hear until that end; the room's session_seconds
// plays no part, so changing it changes nothing for admissions already
// made. Announcements are lost while an instance is disconnected or not
// yet started, so each instance also polls every room (Revoked): one
// ZCOUNT of the unexpired entries against the number it holds, and a read
// of the whole list only when they differ. Each leave.lua prunes entries a
// minute past their end (the minute is for clocks that disagree). The
// admitted time lets package admission derive the token's jti, which the
// gateway publishes for origins that verify tokens themselves.
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
// Scores are the dense sequence 1, 2, 3, … (each waiter's sequence number in
// FIFO order; see the draw below for random_prequeue), so for a local
// waiter with score s,
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
// and appends a reset entry ({reset: draw}), after which instances rebuild;
// the rebuild also learns each drawn waiter's new score (Tracker.Score),
// since it is no longer their sequence number. Across the draw a waiter's
// position may rise; that is the one time it can.
//
// # The pre-queue draw
//
// In mode random_prequeue, everyone who joins between queue_opens_at and
// sale_starts_at is in the pre-queue. At sale start they are shuffled
// uniformly at random and placed ahead of everyone who joins later, who
// stay FIFO. Anyone can check the shuffle:
//
//  1. Commitment. Before anyone is in the pre-queue, a 32-byte seed is
//     drawn from crypto/rand and stored with its commitment,
//     commitment = lowercase hex of SHA-256(seed bytes). The first join of
//     the pre-queue, the first controller tick after queue_opens_at, or
//     the first request for the fairness document makes it (join.lua
//     refuses to place a pre-queue join until it exists; fair.lua
//     "commit" never replaces one). GET /api/v1/rooms/{room}/fairness
//     shows the commitment from then on; the seed stays secret.
//
//  2. Eligibility. join.lua records in the fair hash's cutoff the
//     sequence number of every join made before sale_starts_at (by the
//     clock of the instance serving it) while the draw has not begun;
//     sequence numbers only grow, so cutoff is the last pre-sale join.
//     (When the commitment is made before the sale, cutoff starts at the
//     sequence counter: everyone who joined earlier joined pre-sale.) A
//     join after sale_starts_at, even before the draw, is not eligible.
//
//  3. The draw. On its first tick at or after sale_starts_at, every
//     instance's controller tries fair.lua "begin", a compare-and-set of
//     the state from open to drawing with a lease: exactly one wins, and
//     cutoff is frozen from then on. The winner reads the participants:
//     the waiters in line with a score in (base, cutoff], where base is
//     the head H (0 unless the room admitted people earlier), i.e. the
//     eligible fans who are still in line. It stores their queue ids in
//     join order (fair hash field ids), ranks them by
//
//     key(id) = SHA-256(ASCII bytes of lowercase-hex(seed) + ":" + id)
//
//     ascending (compared as bytes, the same as comparing the 64-digit
//     hex strings; queue.DrawOrder), and gives the i-th ranked participant
//     (i from 1) the score base + i with ZADD XX in chunks (a participant
//     who left meanwhile stays gone; their score becomes a hole). There
//     are at most cutoff − base participants, so every drawn score is
//     at most cutoff and below every later arrival's score (their
//     sequence numbers exceed cutoff): scores stay dense, and H and the
//     holes keep working. Then fair.lua "finish" atomically sets the state
//     to done with drawn_at and the number of participants, and appends
//     the reset entry. An instance that stalls mid-draw for 30 s loses
//     its lease; the next one reuses the stored ids and base and writes
//     the same scores.
//
//  4. Admission. admit.lua admits nobody in a random_prequeue room until
//     the state is done, even past sale_starts_at; until then fans see
//     status "prequeue" (their position is only their join order).
//
//  5. Verification. After the draw the fairness document reveals the seed
//     (hex), drawn_at, participants and cutoff_queue_id, and
//     GET .../fairness/participants lists the participants' queue ids in
//     join order. Check hex(SHA-256(seed bytes)) = commitment, then sort
//     the ids by key(id); the k-th is at place k in line at the draw.
//     For example: printf '%s:%s' "$SEED" "$ID" | sha256sum gives key(ID),
//     and echo -n "$SEED" | xxd -r -p | sha256sum gives the commitment.
//     `crowdgate verify-shuffle` does all of this. A fan knows their own
//     queue id (it is on the waiting-room page), so they can find their
//     place; ids are sequence numbers, not identities.
//
// The commitment proves the seed was fixed before the pre-queue filled, so
// the order could not be chosen after seeing who joined. It cannot prove
// that nobody with access to Redis read the seed early.
package queue
