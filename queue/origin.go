package queue

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Origin readings (Room.AdaptiveOrigin). Each instance's reverse proxy
// measures the answers of the origin it sends a room's visitors to; the
// admission controllers publish their readings beside the room, so the
// instance that takes an adaptive step steers by every instance's, not
// only by the traffic that happened to reach it:
//
//	cg:{r}:oh  hash  instance → "<at ms> <answers> <failed> <p99 µs>"
//
// A reading older than the ttl its reader gives counts for nothing and is
// dropped; the key expires by itself a ttl after the last write, so a
// deleted room's (or a room no instance proxies for any more) goes too.

// OriginReading is one instance's measure of the origin behind a room
// over its recent window.
type OriginReading struct {
	// Answers is how many of the room's proxied requests ended; Failed how
	// many of them got a 5xx or no answer at all.
	Answers, Failed int
	// P99 is the 99th percentile of the time the origin took to its
	// response headers (with fewer than 100 answers, the slowest).
	P99 time.Duration
}

// ShareOrigin publishes this instance's reading of the origin behind room
// under instance, and returns every instance's reading written within ttl,
// this one's included, in one transaction on the room's slot. Readings
// older than ttl are dropped.
func (s *Store) ShareOrigin(ctx context.Context, room, instance string, r OriginReading, ttl time.Duration) ([]OriginReading, error) {
	key := keysFor(room).prefix + "oh"
	now := s.cfg.Now().UnixMilli()
	v := fmt.Sprintf("%d %d %d %d", now, r.Answers, r.Failed, r.P99.Microseconds())
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, key, instance, v)
	all := pipe.HGetAll(ctx, key)
	pipe.PExpire(ctx, key, ttl)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("queue: share origin reading %s: %w", room, err)
	}
	var out []OriginReading
	var stale []string
	for id, v := range all.Val() {
		at, rd, ok := parseOriginReading(v)
		if !ok || now-at > ttl.Milliseconds() {
			stale = append(stale, id)
			continue
		}
		out = append(out, rd)
	}
	if len(stale) > 0 {
		// A reading its instance wrote again between the transaction and
		// this delete is lost until that instance's next write: one step.
		if err := s.rdb.HDel(ctx, key, stale...).Err(); err != nil {
			return nil, fmt.Errorf("queue: share origin reading %s: %w", room, err)
		}
	}
	return out, nil
}

// parseOriginReading reads one field of cg:{r}:oh.
func parseOriginReading(v string) (atMs int64, r OriginReading, ok bool) {
	f := strings.Fields(v)
	if len(f) != 4 {
		return 0, OriginReading{}, false
	}
	var n [4]int64
	for i, s := range f {
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil || x < 0 {
			return 0, OriginReading{}, false
		}
		n[i] = x
	}
	return n[0], OriginReading{Answers: int(n[1]), Failed: int(n[2]), P99: time.Duration(n[3]) * time.Microsecond}, true
}
