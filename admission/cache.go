package admission

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

const maxCacheShards = 64

// PassCache remembers verified admission tokens until they expire, so that forward auth and
// the reverse proxy, which see the same token on every request of a visitor, pay for one
// signature verification per token rather than one per request. It is safe for concurrent
// use. Failures are not remembered. A remembered token keeps verifying even if its key is
// dropped from the keyring before the token expires; keys outlive the tokens they sign, so
// this only matters if an operator removes a key by hand.
type PassCache struct {
	k        *Keyring
	now      func() time.Time
	seed     maphash.Seed
	perShard int
	shards   []cacheShard
}

type cacheShard struct {
	mu     sync.RWMutex
	passes map[string]Pass // by token; the room is checked on every hit
	_      [32]byte        // keeps neighbouring shards' locks off one cache line
}

// NewPassCache returns a cache in front of k holding at most maxEntries tokens (default
// 65536 when maxEntries <= 0). now is the clock, default time.Now.
func NewPassCache(k *Keyring, maxEntries int, now func() time.Time) *PassCache {
	if maxEntries <= 0 {
		maxEntries = 1 << 16
	}
	if now == nil {
		now = time.Now
	}
	n := maxCacheShards
	for n > 1 && n > maxEntries {
		n /= 2
	}
	c := &PassCache{k: k, now: now, seed: maphash.MakeSeed(), perShard: maxEntries / n, shards: make([]cacheShard, n)}
	for i := range c.shards {
		c.shards[i].passes = make(map[string]Pass)
	}
	return c
}

// Verify is Keyring.Verify, answered from memory for a token verified before.
func (c *PassCache) Verify(token, room string) (Pass, error) {
	sh := &c.shards[maphash.String(c.seed, token)%uint64(len(c.shards))]
	sh.mu.RLock()
	p, ok := sh.passes[token]
	sh.mu.RUnlock()
	if !ok || !c.now().Before(p.Expires) {
		var err error
		if p, err = c.k.verify(token); err != nil {
			return Pass{}, err
		}
		sh.put(strings.Clone(token), p, c.now(), c.perShard)
	}
	if p.Room != room {
		return Pass{}, ErrWrongRoom
	}
	return p, nil
}

// put stores p, making room first when the shard is full: expired passes go first, and if
// live passes alone fill it, an arbitrary eighth of them, so that the sweep is paid once per
// many inserts rather than on each.
func (s *cacheShard) put(token string, p Pass, now time.Time, limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.passes[token]; !ok && len(s.passes) >= limit {
		for t, q := range s.passes {
			if !now.Before(q.Expires) {
				delete(s.passes, t)
			}
		}
		target := limit - max(1, limit/8)
		for t := range s.passes {
			if len(s.passes) <= target {
				break
			}
			delete(s.passes, t)
		}
	}
	s.passes[token] = p
}
