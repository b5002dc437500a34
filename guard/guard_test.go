package guard

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerify(t *testing.T) {
	w := newWorld(t)
	now := w.clock.Now()
	stranger := newEd25519Signer(t, w.clock) // a key Crowdgate does not publish
	edPub := w.ed.priv.(ed25519.PrivateKey).Public().(ed25519.PublicKey)

	with := func(mutate func(c jwt.MapClaims)) jwt.MapClaims {
		c := claimsAt(now)
		mutate(c)
		return c
	}
	b64 := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name  string
		token func() string
		want  error // nil: valid
	}{
		{"EdDSA from Crowdgate", func() string { return mustSign(t, w.ed.ring, pass(now)) }, nil},
		{"ES256 from Crowdgate", func() string { return mustSign(t, w.ec.ring, pass(now)) }, nil},
		{"nbf 5 s ahead is within the skew", func() string {
			p := pass(now.Add(5 * time.Second))
			return mustSign(t, w.ed.ring, p)
		}, nil},
		{"nbf 6 s ahead", func() string {
			p := pass(now)
			p.NotBefore = now.Add(6 * time.Second)
			return mustSign(t, w.ed.ring, p)
		}, ErrExpired},
		{"iat 6 s ahead", func() string {
			p := pass(now)
			p.IssuedAt = now.Add(6 * time.Second)
			return mustSign(t, w.ed.ring, p)
		}, ErrExpired},
		{"expired", func() string { return mustSign(t, w.ed.ring, pass(now.Add(-16*time.Minute))) }, ErrExpired},
		{"expires this second: no leeway on exp", func() string {
			return mustSign(t, w.ed.ring, pass(now.Add(-15*time.Minute)))
		}, ErrExpired},
		{"wrong room", func() string {
			p := pass(now)
			p.Room = "other"
			return mustSign(t, w.ed.ring, p)
		}, ErrWrongRoom},
		{"expired and wrong room: expired first", func() string {
			p := pass(now.Add(-time.Hour))
			p.Room = "other"
			return mustSign(t, w.ed.ring, p)
		}, ErrExpired},
		{"wrong iss", func() string {
			return w.ed.forge(t, with(func(c jwt.MapClaims) { c["iss"] = "someone" }), nil)
		}, ErrInvalid},
		{"wrong iss and expired: invalid first", func() string {
			return w.ed.forge(t, with(func(c jwt.MapClaims) { c["iss"] = "someone"; c["exp"] = now.Add(-time.Hour).Unix() }), nil)
		}, ErrInvalid},
		{"forged claims, published key", func() string { return w.ed.forge(t, claimsAt(now), nil) }, nil},
		{"aud as an array", func() string {
			return w.ed.forge(t, with(func(c jwt.MapClaims) { c["aud"] = []string{"launch"} }), nil)
		}, ErrInvalid},
		{"fractional exp", func() string {
			return w.ed.forge(t, with(func(c jwt.MapClaims) { c["exp"] = float64(now.Unix()) + 900.5 }), nil)
		}, ErrInvalid},
		{"no exp", func() string { return w.ed.forge(t, with(func(c jwt.MapClaims) { delete(c, "exp") }), nil) }, ErrInvalid},
		{"no jti", func() string { return w.ed.forge(t, with(func(c jwt.MapClaims) { delete(c, "jti") }), nil) }, ErrInvalid},
		{"no sub", func() string { return w.ed.forge(t, with(func(c jwt.MapClaims) { delete(c, "sub") }), nil) }, ErrInvalid},
		{"no nbf", func() string { return w.ed.forge(t, with(func(c jwt.MapClaims) { delete(c, "nbf") }), nil) }, ErrInvalid},
		{"alg none", func() string {
			tk := jwt.NewWithClaims(jwt.SigningMethodNone, claimsAt(now))
			tk.Header["kid"] = w.ed.kid()
			s, err := tk.SignedString(jwt.UnsafeAllowNoneSignatureType)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, ErrInvalid},
		{"HS256 keyed with the public key bytes", func() string {
			tk := jwt.NewWithClaims(jwt.SigningMethodHS256, claimsAt(now))
			tk.Header["kid"] = w.ed.kid()
			s, _ := tk.SignedString([]byte(edPub))
			return s
		}, ErrInvalid},
		{"HS256 keyed with the published JWKS", func() string {
			tk := jwt.NewWithClaims(jwt.SigningMethodHS256, claimsAt(now))
			tk.Header["kid"] = w.ed.kid()
			s, _ := tk.SignedString(w.ed.ring.JWKS())
			return s
		}, ErrInvalid},
		{"RS256 header", func() string {
			h := b64([]byte(`{"alg":"RS256","kid":"` + w.ed.kid() + `","typ":"JWT"}`))
			p := strings.Split(w.ed.forge(t, claimsAt(now), nil), ".")[1]
			return h + "." + p + "." + b64(make([]byte, 256))
		}, ErrInvalid},
		{"ES256 header on the Ed25519 kid", func() string {
			return w.ec.forge(t, claimsAt(now), map[string]any{"kid": w.ed.kid()})
		}, ErrInvalid},
		{"EdDSA header on the P-256 kid", func() string {
			return w.ed.forge(t, claimsAt(now), map[string]any{"kid": w.ec.kid()})
		}, ErrInvalid},
		{"foreign kid", func() string { return mustSign(t, stranger.ring, pass(now)) }, ErrInvalid},
		{"foreign key under a published kid", func() string {
			return stranger.forge(t, claimsAt(now), map[string]any{"kid": w.ed.kid()})
		}, ErrInvalid},
		{"no kid", func() string { return w.ed.forge(t, claimsAt(now), map[string]any{"kid": nil}) }, ErrInvalid},
		{"numeric kid", func() string { return w.ed.forge(t, claimsAt(now), map[string]any{"kid": 7}) }, ErrInvalid},
		{"tampered payload", func() string {
			parts := strings.Split(mustSign(t, w.ed.ring, pass(now)), ".")
			payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
			parts[1] = b64([]byte(strings.Replace(string(payload), `"q-1"`, `"q-2"`, 1)))
			return strings.Join(parts, ".")
		}, ErrInvalid},
		{"tampered signature", func() string {
			tok := []byte(mustSign(t, w.ed.ring, pass(now)))
			i := len(tok) - 20
			if tok[i] == 'A' {
				tok[i] = 'B'
			} else {
				tok[i] = 'A'
			}
			return string(tok)
		}, ErrInvalid},
		{"padded base64", func() string {
			parts := strings.Split(mustSign(t, w.ed.ring, pass(now)), ".")
			return parts[0] + "." + parts[1] + "=." + parts[2]
		}, ErrInvalid},
		{"too long", func() string { return mustSign(t, w.ed.ring, pass(now)) + strings.Repeat("A", maxTokenBytes) }, ErrInvalid},
		{"garbage", func() string { return "not-a-token" }, ErrInvalid},
		{"empty", func() string { return "" }, ErrNoToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token()
			c, err := w.v.Verify(tok)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Room != "launch" || c.Subject != "q-1" || c.ID != "a-1" || !c.Expires.After(now) ||
					c.IssuedAt.IsZero() || c.NotBefore.IsZero() {
					t.Errorf("claims = %+v", c)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			for _, other := range []error{ErrNoToken, ErrInvalid, ErrExpired, ErrWrongRoom} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("%v also wraps %v", err, other)
				}
			}
			if c != (Claims{}) {
				t.Errorf("claims on failure = %+v", c)
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	w := newWorld(t)
	now := w.clock.Now()
	p := pass(now.Add(-time.Minute))
	p.Subject, p.ID = "q-42", "adm-42"
	c, err := w.v.Verify(mustSign(t, w.ed.ring, p))
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{Room: "launch", Subject: "q-42", ID: "adm-42", IssuedAt: p.IssuedAt, NotBefore: p.NotBefore, Expires: p.Expires}
	if c != want {
		t.Errorf("claims = %+v, want %+v", c, want)
	}
}

func TestCacheHitDoesNotReverify(t *testing.T) {
	w := newWorld(t)
	tok := mustSign(t, w.ed.ring, pass(w.clock.Now()))
	for range 100 {
		if _, err := w.v.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.v.verified.Load(); n != 1 {
		t.Errorf("%d signature verifications for one token, want 1", n)
	}
	w.clock.Advance(15 * time.Minute)
	if _, err := w.v.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Errorf("cached token at its exp: %v, want ErrExpired", err)
	}
}

func TestCacheIsBounded(t *testing.T) {
	w := newWorld(t)
	v := mustVerifier(t, Config{JWKSURL: w.jwks.URL(), Now: w.clock.Now, CacheSize: 8})
	for i := range 200 {
		p := pass(w.clock.Now())
		p.ID = fmt.Sprint("a-", i)
		if _, err := v.Verify(mustSign(t, w.ed.ring, p)); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.len(); n > 8 {
		t.Errorf("cache holds %d tokens, bound 8", n)
	}
}

func TestFailuresAreNotCached(t *testing.T) {
	w := newWorld(t)
	p := pass(w.clock.Now())
	p.Room = "other"
	tok := mustSign(t, w.ed.ring, p)
	for range 3 {
		if _, err := w.v.Verify(tok); !errors.Is(err, ErrWrongRoom) {
			t.Fatal(err)
		}
	}
	if n := w.v.cache.len(); n != 0 {
		t.Errorf("cache holds %d entries after failures", n)
	}
}

func TestUnknownKidRefreshesOnce(t *testing.T) {
	c := newClock()
	ring := newGeneratedRing(t, c, time.Hour)
	jwks := newJWKSServer(t, ring.JWKS)
	v := mustVerifier(t, Config{JWKSURL: jwks.URL(), Now: c.Now})
	if n := jwks.hits.Load(); n != 1 {
		t.Fatalf("New fetched %d times, want 1", n)
	}
	if _, err := ring.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		p := pass(c.Now())
		if _, err := v.Verify(mustSign(t, ring, p)); err != nil {
			t.Fatalf("token from the rotated-in key: %v", err)
		}
		c.Advance(time.Second)
	}
	if n := jwks.hits.Load(); n != 2 {
		t.Errorf("key set fetched %d times, want 2 (New, then once for the new kid)", n)
	}
}

func TestUnknownKidFloodIsRateBounded(t *testing.T) {
	w := newWorld(t)
	w.jwks.stall.Store(int64(20 * time.Millisecond)) // so that the misses overlap the fetch
	stranger := newEd25519Signer(t, w.clock)
	flood := func() {
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				tok := stranger.forge(t, claimsAt(w.clock.Now()), map[string]any{"kid": fmt.Sprint("kid-", i)})
				if _, err := w.v.Verify(tok); !errors.Is(err, ErrInvalid) {
					t.Errorf("unknown kid: %v, want ErrInvalid", err)
				}
			})
		}
		wg.Wait()
	}
	flood()
	if n := w.jwks.hits.Load(); n != 2 {
		t.Fatalf("200 concurrent unknown kids: %d fetches in all, want 2 (New, then one)", n)
	}
	w.clock.Advance(w.v.cfg.MinRefreshInterval - time.Second)
	flood()
	if n := w.jwks.hits.Load(); n != 2 {
		t.Fatalf("a second flood within MinRefreshInterval fetched: %d fetches, want 2", n)
	}
	w.clock.Advance(time.Second)
	flood()
	if n := w.jwks.hits.Load(); n != 3 {
		t.Fatalf("a flood after MinRefreshInterval: %d fetches, want 3", n)
	}
	// Tokens with known kids never waited on any of this.
	if _, err := w.v.Verify(mustSign(t, w.ed.ring, pass(w.clock.Now()))); err != nil {
		t.Fatal(err)
	}
}

func TestRotation(t *testing.T) {
	c := newClock()
	ring := newGeneratedRing(t, c, time.Hour)
	jwks := newJWKSServer(t, ring.JWKS)
	v := mustVerifier(t, Config{JWKSURL: jwks.URL(), Now: c.Now})
	long := pass(c.Now())
	long.Expires = c.Now().Add(3 * time.Hour) // outlives the old key
	oldTok := mustSign(t, ring, long)
	if _, err := v.Verify(oldTok); err != nil {
		t.Fatal(err)
	}

	if _, err := ring.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	newTok := mustSign(t, ring, long)
	for _, tok := range []string{newTok, oldTok} {
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("after rotation: %v", err)
		}
	}
	// A periodic refresh that changes nothing keeps verified tokens cached.
	if err := v.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := v.verified.Load()
	for _, tok := range []string{newTok, oldTok} {
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.verified.Load() - before; n != 0 {
		t.Errorf("%d verifications after a refresh that changed nothing, want 0", n)
	}

	// Crowdgate stops publishing the old key: once refreshed, its tokens stop working here
	// too, cached or not.
	c.Advance(time.Hour)
	if err := v.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(oldTok); !errors.Is(err, ErrInvalid) {
		t.Errorf("token of a withdrawn key: %v, want ErrInvalid", err)
	}
	if _, err := v.Verify(newTok); err != nil {
		t.Errorf("token of the current key: %v", err)
	}
}

func TestKeySetFailureKeepsLastGoodSet(t *testing.T) {
	w := newWorld(t)
	tok := mustSign(t, w.ed.ring, pass(w.clock.Now()))
	ecTok := mustSign(t, w.ec.ring, pass(w.clock.Now()))
	if _, err := w.v.Verify(tok); err != nil {
		t.Fatal(err)
	}
	failures := []struct {
		name  string
		setup func()
	}{
		{"503", func() { w.jwks.down.Store(true) }},
		{"not JSON", func() { w.jwks.body.Store([]byte("<html>maintenance</html>")) }},
		{"no keys", func() { w.jwks.body.Store([]byte(`{"keys":[]}`)) }},
		{"only unusable keys", func() { w.jwks.body.Store([]byte(`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}`)) }},
		{"too big", func() { w.jwks.body.Store([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", maxJWKSBytes) + `"}`)) }},
		{"unreachable", func() { w.jwks.Close() }},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			w.jwks.down.Store(false)
			w.jwks.body.Store([]byte(nil))
			f.setup()
			if err := w.v.refresh(context.Background()); err == nil {
				t.Fatal("refresh succeeded")
			}
			w.clock.Advance(time.Minute) // lets an unknown kid try a fetch
			if _, err := w.v.Verify(ecTok); err != nil {
				t.Errorf("P-256 token after a failed refresh: %v", err)
			}
			if _, err := w.v.Verify(tok); err != nil {
				t.Errorf("cached token after a failed refresh: %v", err)
			}
			stranger := newEd25519Signer(t, w.clock)
			if _, err := w.v.Verify(mustSign(t, stranger.ring, pass(w.clock.Now()))); !errors.Is(err, ErrInvalid) {
				t.Errorf("unknown kid during the failure: %v, want ErrInvalid", err)
			}
		})
	}
}

func TestNewFailsFast(t *testing.T) {
	w := newWorld(t)
	bad := newJWKSServer(t, func() []byte { return []byte(`{"keys":[{"kty":"OKP","crv":"X25519","kid":"x","x":"AAAA"}]}`) })
	tests := []struct{ name, url string }{
		{"404", w.jwks.Server.URL + "/nope"},
		{"no usable key", bad.URL()},
		{"unreachable", "http://127.0.0.1:1/.well-known/jwks.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(context.Background(), Config{JWKSURL: tt.url, Room: "launch", Logger: discard()}); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := New(ctx, Config{JWKSURL: w.jwks.URL(), Room: "launch"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("New with a canceled context: %v", err)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	ok := Config{JWKSURL: "https://cg.example/.well-known/jwks.json", Room: "launch"}
	tests := []struct {
		name   string
		mutate func(*Config)
		valid  bool
	}{
		{"minimal", func(*Config) {}, true},
		{"http for a private Crowdgate", func(c *Config) { c.JWKSURL = "http://crowdgate:8080/.well-known/jwks.json" }, true},
		{"waiting room on another host", func(c *Config) { c.WaitingRoomURL = "https://queue.example/rooms/launch?lang=hi" }, true},
		{"waiting room as a path", func(c *Config) { c.WaitingRoomURL = "/rooms/launch" }, true},
		{"no JWKSURL", func(c *Config) { c.JWKSURL = "" }, false},
		{"relative JWKSURL", func(c *Config) { c.JWKSURL = "/.well-known/jwks.json" }, false},
		{"ftp JWKSURL", func(c *Config) { c.JWKSURL = "ftp://cg.example/jwks.json" }, false},
		{"no room", func(c *Config) { c.Room = "" }, false},
		{"room with a slash", func(c *Config) { c.Room = "a/b" }, false},
		{"room with a semicolon", func(c *Config) { c.Room = "a;b" }, false},
		{"room too long", func(c *Config) { c.Room = strings.Repeat("a", 65) }, false},
		{"waiting room protocol-relative", func(c *Config) { c.WaitingRoomURL = "//evil.example/rooms/launch" }, false},
		{"waiting room javascript", func(c *Config) { c.WaitingRoomURL = "javascript:alert(1)" }, false},
		{"waiting room relative", func(c *Config) { c.WaitingRoomURL = "rooms/launch" }, false},
		{"waiting room with a fragment", func(c *Config) { c.WaitingRoomURL = "/rooms/launch#x" }, false},
		{"negative RefreshEvery", func(c *Config) { c.RefreshEvery = -time.Second }, false},
		{"negative MinRefreshInterval", func(c *Config) { c.MinRefreshInterval = -time.Second }, false},
		{"negative CacheSize", func(c *Config) { c.CacheSize = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mutate(&c)
			if err := c.Validate(); (err == nil) != tt.valid {
				t.Errorf("Validate() = %v, want valid %v", err, tt.valid)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{JWKSURL: "https://cg.example:8443/.well-known/jwks.json", Room: "launch"}.withDefaults()
	if c.Issuer != "crowdgate" || c.WaitingRoomURL != "https://cg.example:8443/rooms/launch" ||
		c.HTTPClient == nil || c.HTTPClient.Timeout != 5*time.Second || c.RefreshEvery != 5*time.Minute ||
		c.MinRefreshInterval != 10*time.Second || c.CacheSize <= 0 || c.Now == nil || c.Logger == nil {
		t.Errorf("defaults = %+v", c)
	}
}

func TestRunRefreshesAndStops(t *testing.T) {
	w := newWorld(t)
	v := mustVerifier(t, Config{JWKSURL: w.jwks.URL(), Now: w.clock.Now, RefreshEvery: 5 * time.Millisecond})
	start := w.jwks.hits.Load()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for w.jwks.hits.Load() < start+3 {
		if time.Now().After(deadline) {
			t.Fatalf("Run fetched %d times in 5 s", w.jwks.hits.Load()-start)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was canceled")
	}
	checkNoGuardGoroutines(t)
}

// TestNoGoroutineOutlivesItsOwner: New, Verify (including fetches for unknown kids) and
// Middleware leave nothing running.
func TestNoGoroutineOutlivesItsOwner(t *testing.T) {
	w := newWorld(t)
	stranger := newEd25519Signer(t, w.clock)
	for range 20 {
		_, _ = w.v.Verify(mustSign(t, stranger.ring, pass(w.clock.Now())))
		_, _ = w.v.Verify(mustSign(t, w.ed.ring, pass(w.clock.Now())))
		w.clock.Advance(time.Minute)
	}
	checkNoGuardGoroutines(t)
}

// checkNoGuardGoroutines fails if any goroutine but the caller's runs code of this
// package. HTTP transports keep their own connection goroutines; those are not ours.
func checkNoGuardGoroutines(t *testing.T) {
	t.Helper()
	var stacks string
	for range 100 {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		leaked := false
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "crowdgate/guard.") && !strings.Contains(g, "crowdgate/guard.Test") {
				leaked = true
			}
		}
		if !leaked {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("goroutines of package guard still running:\n%s", stacks)
}

func TestCustomHTTPClientIsUsed(t *testing.T) {
	w := newWorld(t)
	var used bool
	client := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		used = true
		return http.DefaultTransport.RoundTrip(r)
	})}
	mustVerifier(t, Config{JWKSURL: w.jwks.URL(), HTTPClient: client})
	if !used {
		t.Error("Config.HTTPClient was not used")
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestImportsOnlyStdlibAndJWT keeps the promise of the package comment: an origin that
// imports guard pulls in nothing of Crowdgate but internal/claims (the claim checks it
// shares with admission) and internal/jwks (the key-set reader it shares with the
// gateway), which import only golang-jwt, and nothing but golang-jwt.
func TestImportsOnlyStdlibAndJWT(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != "github.com/crowdgate/crowdgate/guard" && dep != "github.com/crowdgate/crowdgate/internal/claims" &&
			dep != "github.com/crowdgate/crowdgate/internal/jwks" &&
			!strings.HasPrefix(dep, "github.com/golang-jwt/jwt/v5") {
			t.Errorf("guard depends on %s", dep)
		}
	}
}
