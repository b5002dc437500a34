package admission_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/queue"
)

const testSecret = "an-hs256-secret-of-at-least-32-bytes!"

var enqueueNow = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// siteKeys is a site's key set as EnqueueKeys gives it: kid → key.
type siteKeys map[string]crypto.PublicKey

func (s siteKeys) Key(_ context.Context, _, kid string) (string, crypto.PublicKey, bool, error) {
	switch k := s[kid].(type) {
	case ed25519.PublicKey:
		return "EdDSA", k, true, nil
	case *ecdsa.PublicKey:
		return "ES256", k, true, nil
	}
	return "", nil, false, nil
}

// downKeys is a key set that cannot be fetched.
type downKeys struct{}

func (downKeys) Key(context.Context, string, string) (string, crypto.PublicKey, bool, error) {
	return "", nil, false, errors.New("connection refused")
}

func enqueueClaims(edit func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "user-42", "aud": "launch", "iat": enqueueNow.Unix(), "exp": enqueueNow.Add(5 * time.Minute).Unix()}
	if edit != nil {
		edit(c)
	}
	return c
}

func sign(tb testing.TB, m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	tb.Helper()
	t := jwt.NewWithClaims(m, c)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestEnqueueTokens: each way a token can be wrong is refused with a
// reason, and only the room's own algorithm and key pass.
func TestEnqueueTokens(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys := siteKeys{"ed": edPub, "ec": &ecPriv.PublicKey}
	edDER, _ := x509.MarshalPKIXPublicKey(edPub)
	hsRoom := queue.Room{Name: "launch", EnqueueSecret: testSecret}
	jwksRoom := queue.Room{Name: "launch", EnqueueJWKSURL: "https://shop.example/.well-known/jwks.json"}
	hs := func(edit func(jwt.MapClaims)) string {
		return sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", enqueueClaims(edit))
	}
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "ed", enqueueClaims(nil))
	for _, tc := range []struct {
		name  string
		room  queue.Room
		token string
		keys  admission.EnqueueKeys
		why   string // "" passes; else part of the refusal
	}{
		{"HS256 with the room's secret", hsRoom, hs(nil), nil, ""},
		{"EdDSA by the site's key", jwksRoom, sign(t, jwt.SigningMethodEdDSA, edPriv, "ed", enqueueClaims(nil)), keys, ""},
		{"ES256 by the site's key", jwksRoom, sign(t, jwt.SigningMethodES256, ecPriv, "ec", enqueueClaims(nil)), keys, ""},
		{"aud as a one-room array", hsRoom, hs(func(c jwt.MapClaims) { c["aud"] = []string{"launch"} }), nil, ""},
		{"without iat, short", hsRoom, hs(func(c jwt.MapClaims) { delete(c, "iat") }), nil, ""},
		{"forged: another secret", hsRoom, sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 40)), "", enqueueClaims(nil)), nil, "signature"},
		{"forged: another site's key", jwksRoom, sign(t, jwt.SigningMethodEdDSA, ed25519.NewKeyFromSeed(make([]byte, 32)), "ed", enqueueClaims(nil)), keys, "signature"},
		{"unknown kid", jwksRoom, sign(t, jwt.SigningMethodEdDSA, edPriv, "gone", enqueueClaims(nil)), keys, "signature"},
		{"no kid", jwksRoom, sign(t, jwt.SigningMethodEdDSA, edPriv, "", enqueueClaims(nil)), keys, "signature"},
		{"alg none", jwksRoom, none, keys, "signature"},
		{"alg none in an HS256 room", hsRoom, none, nil, "signature"},
		{"HS256 keyed with the site's public key", jwksRoom, sign(t, jwt.SigningMethodHS256, edDER, "ed", enqueueClaims(nil)), keys, "signature"},
		{"HS256 keyed with raw public key bytes", jwksRoom, sign(t, jwt.SigningMethodHS256, []byte(edPub), "ed", enqueueClaims(nil)), keys, "signature"},
		{"ES256 header on the Ed25519 kid", jwksRoom, sign(t, jwt.SigningMethodES256, ecPriv, "ed", enqueueClaims(nil)), keys, "signature"},
		{"EdDSA in an HS256 room", hsRoom, sign(t, jwt.SigningMethodEdDSA, edPriv, "ed", enqueueClaims(nil)), nil, "signature"},
		{"other room", hsRoom, hs(func(c jwt.MapClaims) { c["aud"] = "other" }), nil, "another room"},
		{"two rooms", hsRoom, hs(func(c jwt.MapClaims) { c["aud"] = []string{"launch", "other"} }), nil, "another room"},
		{"no aud", hsRoom, hs(func(c jwt.MapClaims) { delete(c, "aud") }), nil, "another room"},
		{"expired", hsRoom, hs(func(c jwt.MapClaims) { c["exp"] = enqueueNow.Add(-time.Minute).Unix() }), nil, "expired"},
		{"no exp", hsRoom, hs(func(c jwt.MapClaims) { delete(c, "exp") }), nil, "exp is required"},
		{"not yet valid", hsRoom, hs(func(c jwt.MapClaims) { c["nbf"] = enqueueNow.Add(time.Minute).Unix() }), nil, "not valid yet"},
		{"issued in the future", hsRoom, hs(func(c jwt.MapClaims) { c["iat"] = enqueueNow.Add(time.Minute).Unix() }), nil, "not valid yet"},
		{"lives an hour", hsRoom, hs(func(c jwt.MapClaims) { c["exp"] = enqueueNow.Add(time.Hour).Unix() }), nil, "longer than 10 minutes"},
		{"issued long before", hsRoom, hs(func(c jwt.MapClaims) { c["iat"] = enqueueNow.Add(-time.Hour).Unix() }), nil, "longer than 10 minutes"},
		{"no sub", hsRoom, hs(func(c jwt.MapClaims) { delete(c, "sub") }), nil, "sub must be"},
		{"sub with a space", hsRoom, hs(func(c jwt.MapClaims) { c["sub"] = "a b" }), nil, "sub must be"},
		{"sub with a newline", hsRoom, hs(func(c jwt.MapClaims) { c["sub"] = "a\nX-Crowdgate-Room: x" }), nil, "sub must be"},
		{"sub too long", hsRoom, hs(func(c jwt.MapClaims) { c["sub"] = strings.Repeat("u", 129) }), nil, "sub must be"},
		{"not a JWT", hsRoom, "not.a.jwt", nil, "not a JWT"},
		{"too long", hsRoom, strings.Repeat("a", 5000), nil, "too long"},
		{"a room without enqueue tokens", queue.Room{Name: "launch"}, hs(nil), nil, "takes no enqueue tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uid, err := admission.VerifyEnqueueToken(context.Background(), tc.room, tc.token, enqueueNow, tc.keys)
			if tc.why == "" {
				if err != nil || uid != "user-42" {
					t.Fatalf("= %q, %v; want user-42", uid, err)
				}
				return
			}
			if !errors.Is(err, admission.ErrEnqueueToken) || crowdgate.KindOf(err) != crowdgate.EnqueueTokenInvalid {
				t.Fatalf("err = %v, want an invalid enqueue token", err)
			}
			if !strings.Contains(crowdgate.MessageOf(err), tc.why) {
				t.Errorf("message %q does not say %q", crowdgate.MessageOf(err), tc.why)
			}
		})
	}
}

// TestEnqueueKeySetDown: a key set that cannot be fetched (or a controller
// with no way to fetch one) makes a JWKS room unavailable, not the token
// invalid: the fan is not told their genuine token is forged.
func TestEnqueueKeySetDown(t *testing.T) {
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	room := queue.Room{Name: "launch", EnqueueJWKSURL: "https://shop.example/jwks.json"}
	tok := sign(t, jwt.SigningMethodEdDSA, edPriv, "ed", enqueueClaims(nil))
	for _, keys := range []admission.EnqueueKeys{downKeys{}, nil} {
		_, err := admission.VerifyEnqueueToken(context.Background(), room, tok, enqueueNow, keys)
		if crowdgate.KindOf(err) != crowdgate.Unavailable || errors.Is(err, admission.ErrEnqueueToken) {
			t.Errorf("keys %T: err = %v, want unavailable", keys, err)
		}
	}
}

// FuzzVerifyEnqueueToken: whatever the token, the verifier neither panics
// nor accepts anything but an HS256 token signed with the room's secret,
// for the room, naming a valid user id.
func FuzzVerifyEnqueueToken(f *testing.F) {
	room := queue.Room{Name: "launch", EnqueueSecret: testSecret}
	f.Add(sign(f, jwt.SigningMethodHS256, []byte(testSecret), "", enqueueClaims(nil)))
	f.Add(sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", enqueueClaims(nil)))
	f.Add(sign(f, jwt.SigningMethodHS256, []byte(testSecret), "", enqueueClaims(func(c jwt.MapClaims) { c["aud"] = []any{"launch", 1} })))
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		uid, err := admission.VerifyEnqueueToken(context.Background(), room, token, enqueueNow, nil)
		if err != nil {
			if !errors.Is(err, admission.ErrEnqueueToken) {
				t.Fatalf("err %v is not an invalid enqueue token", err)
			}
			return
		}
		if !admission.ValidUserID(uid) {
			t.Fatalf("accepted user id %q", uid)
		}
		var c jwt.MapClaims
		if _, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return enqueueNow })).
			ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return []byte(testSecret), nil }); err != nil {
			t.Fatalf("accepted a token the reference check refuses: %v", err)
		}
	})
}

// BenchmarkVerifyEnqueueToken is the cost an enqueue token adds to a join
// that brings one (a new place, or a second device), by algorithm.
func BenchmarkVerifyEnqueueToken(b *testing.B) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys := siteKeys{"ed": edPub, "ec": &ecPriv.PublicKey}
	jwksRoom := queue.Room{Name: "launch", EnqueueJWKSURL: "https://shop.example/jwks.json"}
	for _, bc := range []struct {
		name  string
		room  queue.Room
		token string
	}{
		{"HS256", queue.Room{Name: "launch", EnqueueSecret: testSecret}, sign(b, jwt.SigningMethodHS256, []byte(testSecret), "", enqueueClaims(nil))},
		{"EdDSA", jwksRoom, sign(b, jwt.SigningMethodEdDSA, edPriv, "ed", enqueueClaims(nil))},
		{"ES256", jwksRoom, sign(b, jwt.SigningMethodES256, ecPriv, "ec", enqueueClaims(nil))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := admission.VerifyEnqueueToken(context.Background(), bc.room, bc.token, enqueueNow, keys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestEnqueueSecretRotation: after the room's HS256 secret is replaced,
// tokens signed with the old one pass until the overlap ends and never
// after; the new one passes throughout; a rotation with no overlap drops
// the old secret at once.
func TestEnqueueSecretRotation(t *testing.T) {
	const newSecret = "the-new-hs256-secret-of-32-bytes-or-more"
	old := queue.Room{Name: "launch", EnqueueSecret: testSecret}
	rotated := queue.RotateEnqueueSecret(old, queue.Room{Name: "launch", EnqueueSecret: newSecret}.WithDefaults(), 15*time.Minute, enqueueNow)
	if err := rotated.Validate(); err != nil {
		t.Fatalf("rotated room: %v", err)
	}
	signedWith := func(secret string, at time.Time) string {
		return sign(t, jwt.SigningMethodHS256, []byte(secret), "", jwt.MapClaims{"sub": "user-42", "aud": "launch", "iat": at.Unix(), "exp": at.Add(5 * time.Minute).Unix()})
	}
	for _, tc := range []struct {
		name   string
		room   queue.Room
		secret string
		at     time.Time
		ok     bool
	}{
		{"new secret at once", rotated, newSecret, enqueueNow, true},
		{"old secret during the overlap", rotated, testSecret, enqueueNow.Add(14 * time.Minute), true},
		{"old secret after the overlap", rotated, testSecret, enqueueNow.Add(15 * time.Minute), false},
		{"new secret after the overlap", rotated, newSecret, enqueueNow.Add(time.Hour), true},
		{"old secret, rotated with no overlap", queue.RotateEnqueueSecret(old, queue.Room{Name: "launch", EnqueueSecret: newSecret}, 0, enqueueNow), testSecret, enqueueNow, false},
		{"old secret, overlap ended early", queue.SetEnqueueSecretOverlap(rotated, 0, enqueueNow.Add(time.Minute)), testSecret, enqueueNow.Add(2 * time.Minute), false},
		{"another secret during the overlap", rotated, strings.Repeat("x", 40), enqueueNow, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := admission.VerifyEnqueueToken(context.Background(), tc.room, signedWith(tc.secret, tc.at), tc.at, nil)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && err == nil:
				t.Fatal("accepted")
			case !tc.ok && !strings.Contains(err.Error(), "signature"):
				t.Fatalf("refused for another reason: %v", err)
			}
		})
	}
}
