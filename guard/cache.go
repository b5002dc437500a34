package guard

import (
	"hash/maphash"
	"sync"
	"time"
)

const maxCacheShards = 16

// cache remembers verified tokens by their exact string. Entries are checked on every hit
// (expiry, key still published) by the caller; the cache only bounds its size. It is
// sharded so that parallel requests do not queue on one lock.
type cache struct {
	seed     maphash.Seed
	perShard int
	shards   []cacheShard
}

type entry struct {
	claims Claims
	key    *key // the key that verified the token
}

type cacheShard struct {
	mu      sync.RWMutex
	entries map[string]entry
	_       [32]byte // keeps neighbouring shards' locks off one cache line
}

func newCache(maxEntries int) *cache {
	n := maxCacheShards
	for n > 1 && n > maxEntries {
		n /= 2
	}
	c := &cache{seed: maphash.MakeSeed(), perShard: max(1, maxEntries/n), shards: make([]cacheShard, n)}
	for i := range c.shards {
		c.shards[i].entries = make(map[string]entry)
	}
	return c
}

func (c *cache) shard(token string) *cacheShard {
	return &c.shards[maphash.String(c.seed, token)%uint64(len(c.shards))]
}

func (c *cache) get(token string) (entry, bool) {
	s := c.shard(token)
	s.mu.RLock()
	e, ok := s.entries[token]
	s.mu.RUnlock()
	return e, ok
}

// put stores e, making room first when the shard is full: expired entries go first, and if
// live ones alone fill it, an arbitrary eighth of them, so that the sweep is paid once per
// many inserts rather than on each.
func (c *cache) put(token string, e entry, now time.Time) {
	s := c.shard(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[token]; !ok && len(s.entries) >= c.perShard {
		for t, old := range s.entries {
			if !now.Before(old.claims.Expires) {
				delete(s.entries, t)
			}
		}
		target := c.perShard - max(1, c.perShard/8)
		for t := range s.entries {
			if len(s.entries) <= target {
				break
			}
			delete(s.entries, t)
		}
	}
	s.entries[token] = e
}

// len counts the entries, for tests.
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}
