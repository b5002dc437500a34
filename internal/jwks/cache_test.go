package jwks_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/internal/jwks"
)

// site serves a key set and counts its fetches.
type site struct {
	*httptest.Server
	body    atomic.Value // string
	status  atomic.Int64
	fetches atomic.Int64
}

func newSite(t *testing.T, body string) *site {
	s := &site{}
	s.body.Store(body)
	s.status.Store(http.StatusOK)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		w.WriteHeader(int(s.status.Load()))
		fmt.Fprint(w, s.body.Load().(string))
	}))
	t.Cleanup(s.Close)
	return s
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func keySet(t *testing.T) string {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	raw, err := ec.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"ed","x":%q},{"kty":"EC","crv":"P-256","kid":"ec","x":%q,"y":%q},{"kty":"oct","kid":"hs","k":"c2VjcmV0"}]}`,
		b64(edPub), b64(raw[1:33]), b64(raw[33:]))
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestCacheFetchesOnceAndPinsAlgorithms(t *testing.T) {
	s := newSite(t, keySet(t))
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	c := jwks.NewCache(jwks.CacheConfig{Now: clk.Now})
	ctx := context.Background()
	for _, tc := range []struct{ kid, alg string }{{"ed", "EdDSA"}, {"ec", "ES256"}, {"ed", "EdDSA"}} {
		alg, pub, found, err := c.Key(ctx, s.URL, tc.kid)
		if err != nil || !found || alg != tc.alg || pub == nil {
			t.Fatalf("%s: %s %v %v", tc.kid, alg, found, err)
		}
	}
	if n := s.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	// An HMAC key in a site's set is never one to verify with.
	if _, _, found, err := c.Key(ctx, s.URL, "hs"); found || err != nil {
		t.Fatalf("oct key: found %v, %v", found, err)
	}
}

func TestUnknownKidsFetchAtABoundedRate(t *testing.T) {
	s := newSite(t, keySet(t))
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	c := jwks.NewCache(jwks.CacheConfig{Now: clk.Now, MinRefreshInterval: 10 * time.Second})
	ctx := context.Background()
	for range 50 {
		if _, _, found, err := c.Key(ctx, s.URL, "rotated-in"); found || err != nil {
			t.Fatalf("unknown kid: %v %v", found, err)
		}
	}
	if n := s.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 50 unknown kids at once, want 1", n)
	}
	clk.Add(11 * time.Second)
	if _, _, _, err := c.Key(ctx, s.URL, "rotated-in"); err != nil {
		t.Fatal(err)
	}
	if n := s.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after the interval, want 2", n)
	}
}

func TestCacheKeepsTheLastGoodSetAndRefreshesWhenOld(t *testing.T) {
	s := newSite(t, keySet(t))
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	c := jwks.NewCache(jwks.CacheConfig{Now: clk.Now, MaxAge: time.Minute})
	ctx := context.Background()
	if _, _, found, _ := c.Key(ctx, s.URL, "ed"); !found {
		t.Fatal("ed not found")
	}
	s.status.Store(http.StatusInternalServerError)
	clk.Add(2 * time.Minute)
	if _, _, found, err := c.Key(ctx, s.URL, "ed"); !found || err != nil {
		t.Fatalf("after a failed refresh: %v %v, want the last good set", found, err)
	}
	if n := s.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (the old set was refreshed)", n)
	}
}

func TestASetNeverFetchedIsAnError(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":   "<html>",
		"no key":     `{"keys":[]}`,
		"over 1 MiB": `{"keys":[],"pad":"` + strings.Repeat("x", jwks.MaxBytes) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			s := newSite(t, body)
			c := jwks.NewCache(jwks.CacheConfig{})
			for range 3 {
				if _, _, found, err := c.Key(context.Background(), s.URL, "ed"); found || err == nil {
					t.Fatalf("found %v, err %v; want an error", found, err)
				}
			}
			if n := s.fetches.Load(); n != 1 {
				t.Fatalf("%d fetches, want 1 (failures are rate-bounded too)", n)
			}
		})
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	s := newSite(t, keySet(t))
	hop := httptest.NewServer(http.RedirectHandler(s.URL, http.StatusFound))
	t.Cleanup(hop.Close)
	c := jwks.NewCache(jwks.CacheConfig{})
	if _, _, found, err := c.Key(context.Background(), hop.URL, "ed"); found || err == nil {
		t.Fatalf("found %v, err %v through a redirect", found, err)
	}
}
