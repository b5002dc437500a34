package admission

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func cached(c *PassCache) int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.passes)
		s.mu.RUnlock()
	}
	return n
}

func TestPassCache(t *testing.T) {
	clock := newClock()
	k := mustKeyring(t, &MemKeyStore{}, KeyringConfig{Now: clock.Now})
	c := NewPassCache(k, 100, clock.Now)
	p := testPass(clock.Now(), "launch")
	tok := mustSign(t, k, p)

	for i := range 2 {
		got, err := c.Verify(tok, "launch")
		if err != nil || got.Subject != p.Subject || !got.Expires.Equal(p.Expires) {
			t.Fatalf("Verify #%d = %+v, %v", i, got, err)
		}
	}
	if n := cached(c); n != 1 {
		t.Errorf("cache holds %d entries, want 1", n)
	}
	if _, err := c.Verify(tok, "encore"); !errors.Is(err, ErrWrongRoom) {
		t.Errorf("cached token for another room: %v, want ErrWrongRoom", err)
	}
	clock.Add(p.Expires.Sub(clock.Now()) - time.Second)
	if _, err := c.Verify(tok, "launch"); err != nil {
		t.Errorf("cached token in its last second: %v", err)
	}
	clock.Add(time.Second)
	if _, err := c.Verify(tok, "launch"); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("cached token at exp: %v, want ErrTokenExpired", err)
	}
}

func TestPassCacheDoesNotRememberFailures(t *testing.T) {
	clock := newClock()
	k := mustKeyring(t, &MemKeyStore{}, KeyringConfig{Now: clock.Now})
	c := NewPassCache(k, 100, clock.Now)
	p := testPass(clock.Now().Add(time.Minute), "launch")
	tok := mustSign(t, k, p)
	if _, err := c.Verify(tok, "launch"); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("not yet valid: %v, want ErrTokenExpired", err)
	}
	if _, err := c.Verify("garbage", "launch"); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("garbage: %v, want ErrTokenInvalid", err)
	}
	if n := cached(c); n != 0 {
		t.Errorf("cache holds %d entries after failures", n)
	}
	clock.Add(time.Minute)
	if _, err := c.Verify(tok, "launch"); err != nil {
		t.Errorf("once valid: %v", err)
	}
}

func TestPassCacheIsBounded(t *testing.T) {
	clock := newClock()
	k := mustKeyring(t, &MemKeyStore{}, KeyringConfig{Now: clock.Now})
	for _, max := range []int{1, 5, 16, 100} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			c := NewPassCache(k, max, clock.Now)
			for i := range 3 * max {
				p := testPass(clock.Now(), "launch")
				p.ID = fmt.Sprint(i)
				if _, err := c.Verify(mustSign(t, k, p), "launch"); err != nil {
					t.Fatal(err)
				}
				if n := cached(c); n > max {
					t.Fatalf("cache holds %d entries, max %d", n, max)
				}
			}
		})
	}
}

func TestPassCacheEvictsExpiredFirst(t *testing.T) {
	now := newClock().Now()
	s := cacheShard{passes: map[string]Pass{}}
	for i := range 8 {
		exp := now.Add(time.Minute)
		if i%2 == 0 {
			exp = now
		}
		s.put(fmt.Sprint(i), Pass{Expires: exp}, now, 8)
	}
	s.put("new", Pass{Expires: now.Add(time.Minute)}, now, 8)
	for _, tok := range []string{"1", "3", "5", "7", "new"} {
		if _, ok := s.passes[tok]; !ok {
			t.Errorf("live entry %s was evicted", tok)
		}
	}
	if len(s.passes) != 5 {
		t.Errorf("shard holds %d entries, want 5", len(s.passes))
	}
}

func BenchmarkVerify(b *testing.B) {
	k := mustKeyring(b, &MemKeyStore{}, KeyringConfig{})
	tok := mustSign(b, k, testPass(time.Now(), "launch"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Verify(tok, "launch"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	k := mustKeyring(b, &MemKeyStore{}, KeyringConfig{})
	p := testPass(time.Now(), "launch")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Sign(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPassCacheHit(b *testing.B) {
	k := mustKeyring(b, &MemKeyStore{}, KeyringConfig{})
	c := NewPassCache(k, 0, nil)
	// Many visitors, as on a real request path, so shards share the load.
	tokens := make([]string, 1024)
	for i := range tokens {
		p := testPass(time.Now(), "launch")
		p.ID = fmt.Sprint(i)
		tokens[i] = mustSign(b, k, p)
		if _, err := c.Verify(tokens[i], "launch"); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(1) * 97
		for pb.Next() {
			i++
			if _, err := c.Verify(tokens[i%uint32(len(tokens))], "launch"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
