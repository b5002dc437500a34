package guard

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/admission/admissiontest"
)

// clock is a settable clock shared by Crowdgate's keyring and the Verifier.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// jwksServer serves what keys returns at /.well-known/jwks.json, counts the requests, and
// can fail or stall on demand.
type jwksServer struct {
	*httptest.Server
	hits  atomic.Int64
	down  atomic.Bool  // answer 503
	body  atomic.Value // []byte: when set, served instead of keys()
	stall atomic.Int64 // nanoseconds to wait before answering
}

func newJWKSServer(tb testing.TB, keys func() []byte) *jwksServer {
	tb.Helper()
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		s.hits.Add(1)
		if d := time.Duration(s.stall.Load()); d > 0 {
			time.Sleep(d)
		}
		if s.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		b, _ := s.body.Load().([]byte)
		if b == nil {
			b = keys()
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(b)
	}))
	tb.Cleanup(s.Close)
	return s
}

func (s *jwksServer) URL() string { return s.Server.URL + "/.well-known/jwks.json" }

// mergeJWKS joins the key sets of several keyrings, as one deployment publishing both an
// Ed25519 and a P-256 key would. It runs in the server's goroutine, so it cannot fail a test;
// the sets are Crowdgate's own.
func mergeJWKS(sets ...[]byte) []byte {
	all := []json.RawMessage{}
	for _, s := range sets {
		var doc struct{ Keys []json.RawMessage }
		_ = json.Unmarshal(s, &doc)
		all = append(all, doc.Keys...)
	}
	b, _ := json.Marshal(map[string]any{"keys": all})
	return b
}

// signer is a Crowdgate keyring whose private key the test also holds, to forge what
// Crowdgate never signs.
type signer struct {
	ring *admission.Keyring
	priv any // ed25519.PrivateKey or *ecdsa.PrivateKey
	alg  jwt.SigningMethod
}

func (s *signer) kid() string { return s.ring.CurrentKID() }

func newEd25519Signer(tb testing.TB, c *clock) *signer {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return newSigner(tb, c, priv, jwt.SigningMethodEdDSA)
}

func newP256Signer(tb testing.TB, c *clock) *signer {
	tb.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return newSigner(tb, c, priv, jwt.SigningMethodES256)
}

func newSigner(tb testing.TB, c *clock, priv any, alg jwt.SigningMethod) *signer {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	ring, err := admission.NewKeyring(context.Background(), &admissiontest.KeyStore{}, admission.KeyringConfig{KeyPEM: pemKey, Now: c.Now})
	if err != nil {
		tb.Fatal(err)
	}
	return &signer{ring: ring, priv: priv, alg: alg}
}

// newGeneratedRing is a keyring as `crowdgate serve` makes one without a key file: a
// generated Ed25519 key that Rotate can replace.
func newGeneratedRing(tb testing.TB, c *clock, lifetime time.Duration) *admission.Keyring {
	tb.Helper()
	ring, err := admission.NewKeyring(context.Background(), &admissiontest.KeyStore{}, admission.KeyringConfig{Now: c.Now, MaxTokenLifetime: lifetime})
	if err != nil {
		tb.Fatal(err)
	}
	return ring
}

// pass is a fresh 15-minute admission to room "launch".
func pass(now time.Time) admission.Pass {
	return admission.Pass{
		Room: "launch", Subject: "q-1", ID: "a-1",
		IssuedAt: now, NotBefore: now, Expires: now.Add(15 * time.Minute),
	}
}

func mustSign(tb testing.TB, ring *admission.Keyring, p admission.Pass) string {
	tb.Helper()
	tok, err := ring.Sign(p)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// forge signs arbitrary claims and header fields with s's private key.
func (s *signer) forge(tb testing.TB, claims jwt.MapClaims, header map[string]any) string {
	tb.Helper()
	t := jwt.NewWithClaims(s.alg, claims)
	t.Header["kid"] = s.kid()
	for k, v := range header {
		if v == nil {
			delete(t.Header, k)
		} else {
			t.Header[k] = v
		}
	}
	tok, err := t.SignedString(s.priv)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// claimsAt is a valid claim set at now, as a map a test can break.
func claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": "crowdgate", "sub": "q-1", "aud": "launch", "jti": "a-1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(),
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testLogger writes the Verifier's log lines to the test's log.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

var _ io.Writer = tbWriter{}

func mustVerifier(tb testing.TB, cfg Config) *Verifier {
	tb.Helper()
	if cfg.Room == "" {
		cfg.Room = "launch"
	}
	if cfg.Logger == nil {
		cfg.Logger = discard()
	}
	v, err := New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// world is one Crowdgate deployment publishing an Ed25519 and a P-256 key, and a Verifier
// for room "launch" in front of it.
type world struct {
	clock  *clock
	ed, ec *signer
	jwks   *jwksServer
	v      *Verifier
}

func newWorld(tb testing.TB) *world {
	tb.Helper()
	w := &world{clock: newClock()}
	w.ed = newEd25519Signer(tb, w.clock)
	w.ec = newP256Signer(tb, w.clock)
	w.jwks = newJWKSServer(tb, func() []byte { return mergeJWKS(w.ed.ring.JWKS(), w.ec.ring.JWKS()) })
	w.v = mustVerifier(tb, Config{JWKSURL: w.jwks.URL(), Now: w.clock.Now, Logger: testLogger(tb)})
	return w
}
