package jwks

import (
	"context"
	"crypto"
	"net/http"
	"sync"
	"time"
)

// CacheConfig tunes a Cache. The zero value is usable.
type CacheConfig struct {
	// Client fetches key sets. Default: a client with a 5 s timeout that
	// follows no redirects (a key set moved elsewhere is the site's to
	// say, in the room's configuration).
	Client *http.Client
	// MaxAge is how long a fetched set is used before it is fetched again
	// (on the next request that needs it). Default 5 min.
	MaxAge time.Duration
	// MinRefreshInterval bounds the fetches of one URL that tokens with an
	// unknown kid (anyone can send such tokens) and failures cause: at most
	// one per interval. Default 10 s.
	MinRefreshInterval time.Duration
	// MaxURLs bounds how many key sets are kept; past it all are forgotten
	// and fetched again as needed. Default 1000.
	MaxURLs int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Cache holds the key sets of several URLs (organizers' sites, each room
// naming one), fetched when first needed and again when MaxAge has passed
// or a token names a kid the set lacks, at most once per
// MinRefreshInterval per URL. When a fetch fails the last good set stays
// in force. It is safe for concurrent use; concurrent callers of one URL
// share one fetch.
type Cache struct {
	cfg  CacheConfig
	mu   sync.Mutex
	sets map[string]*cached
}

// cached is one URL's key set. mu is held across a fetch, so callers that
// need a fetch wait for the one in flight.
type cached struct {
	mu      sync.Mutex
	set     *Set      // nil until a fetch succeeds
	fetched time.Time // when set was fetched
	tried   time.Time // when a fetch was last begun
	failed  error     // why the last fetch failed while set is nil
}

// NewCache returns an empty Cache.
func NewCache(cfg CacheConfig) *Cache {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 5 * time.Minute
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = 10 * time.Second
	}
	if cfg.MaxURLs <= 0 {
		cfg.MaxURLs = 1000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Cache{cfg: cfg, sets: map[string]*cached{}}
}

// Key returns the key named kid in the key set at url, and its one
// algorithm. found is false when the set (fetched again if it may be) has
// no such key; err is set only when no set of url could ever be fetched.
// The fetch does not use ctx: it serves every caller waiting for it, and
// one of them hanging up must not cancel it for the others.
func (c *Cache) Key(_ context.Context, url, kid string) (alg string, pub crypto.PublicKey, found bool, err error) {
	e := c.entry(url)
	e.mu.Lock()
	defer e.mu.Unlock()
	now := c.cfg.Now()
	k := e.lookup(kid)
	stale := e.set == nil || now.Sub(e.fetched) >= c.cfg.MaxAge
	if (k == nil || stale) && (e.tried.IsZero() || now.Sub(e.tried) >= c.cfg.MinRefreshInterval || now.Before(e.tried)) {
		e.tried = now
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		set, _, ferr := Fetch(ctx, c.cfg.Client, url)
		cancel()
		if ferr == nil {
			if e.set != nil {
				set.Reuse(e.set)
			}
			e.set, e.fetched = set, now
		}
		e.failed = ferr
		k = e.lookup(kid)
	}
	if e.set == nil {
		return "", nil, false, e.failed
	}
	if k == nil {
		return "", nil, false, nil
	}
	return k.Alg, k.Pub, true, nil
}

// fetchTimeout bounds one fetch, whatever the client's own timeout.
const fetchTimeout = 10 * time.Second

func (e *cached) lookup(kid string) *Key {
	if e.set == nil {
		return nil
	}
	return e.set.ByKID[kid]
}

func (c *Cache) entry(url string) *cached {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.sets[url]
	if e == nil {
		if len(c.sets) >= c.cfg.MaxURLs {
			clear(c.sets)
		}
		e = &cached{}
		c.sets[url] = e
	}
	return e
}
