package admission

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func testPass(now time.Time, room string) Pass {
	return Pass{
		Room:      room,
		Subject:   "q7k2m9",
		ID:        "adm-" + now.Format("150405"),
		IssuedAt:  now,
		NotBefore: now,
		Expires:   now.Add(15 * time.Minute),
	}
}

func mustSign(tb testing.TB, k *Keyring, p Pass) string {
	tb.Helper()
	tok, err := k.Sign(p)
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return tok
}

func segment(tb testing.TB, tok string, i int) []byte {
	tb.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		tb.Fatalf("token has %d segments", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func kidOf(tb testing.TB, tok string) string {
	tb.Helper()
	var h struct{ Kid string }
	if err := json.Unmarshal(segment(tb, tok, 0), &h); err != nil {
		tb.Fatal(err)
	}
	return h.Kid
}

// craft builds a token from arbitrary parts, signing header.payload with sign.
func craft(tb testing.TB, header, payload any, sign func(input []byte) []byte) string {
	tb.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(payload)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

func signWith(tb testing.TB, m jwt.SigningMethod, priv crypto.Signer) func([]byte) []byte {
	return func(input []byte) []byte {
		sig, err := m.Sign(string(input), priv)
		if err != nil {
			tb.Fatal(err)
		}
		return sig
	}
}

func hs256(secret []byte) func([]byte) []byte {
	return func(input []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(input)
		return m.Sum(nil)
	}
}

func testClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": "crowdgate", "sub": "q7k2m9", "aud": "launch", "jti": "adm-1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	edPEM, _ := mustEd25519PEM(t)
	secPEM, _ := mustP256SEC1PEM(t)
	for _, tc := range []struct {
		name, alg string
		pem       []byte
	}{
		{"generated", "EdDSA", nil},
		{"ed25519 file", "EdDSA", edPEM},
		{"p256 pkcs8 file", "ES256", mustPKCS8(t, mustP256(t))},
		{"p256 sec1 file", "ES256", secPEM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			k := mustKeyring(t, &MemKeyStore{}, KeyringConfig{KeyPEM: tc.pem, Now: clock.Now})
			in := testPass(clock.Now().Add(300*time.Millisecond), "launch")
			tok := mustSign(t, k, in)

			var header map[string]any
			if err := json.Unmarshal(segment(t, tok, 0), &header); err != nil {
				t.Fatal(err)
			}
			if header["alg"] != tc.alg || header["typ"] != "JWT" || header["kid"] != k.CurrentKID() {
				t.Errorf("header = %v", header)
			}
			var payload map[string]any
			if err := json.Unmarshal(segment(t, tok, 1), &payload); err != nil {
				t.Fatal(err)
			}
			if payload["aud"] != "launch" || payload["iss"] != "crowdgate" || payload["exp"] != float64(in.Expires.Unix()) {
				t.Errorf("payload = %v", payload)
			}

			got, err := k.Verify(tok, "launch")
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := in
			want.IssuedAt = in.IssuedAt.Truncate(time.Second)
			want.NotBefore = in.NotBefore.Truncate(time.Second)
			want.Expires = in.Expires.Truncate(time.Second)
			if got.Room != want.Room || got.Subject != want.Subject || got.ID != want.ID ||
				!got.IssuedAt.Equal(want.IssuedAt) || !got.NotBefore.Equal(want.NotBefore) || !got.Expires.Equal(want.Expires) {
				t.Errorf("Verify = %+v, want %+v", got, want)
			}
		})
	}
}

func TestSignIsDeterministicForEd25519(t *testing.T) {
	clock := newClock()
	k := mustKeyring(t, &MemKeyStore{}, KeyringConfig{Now: clock.Now})
	p := testPass(clock.Now(), "launch")
	if a, b := mustSign(t, k, p), mustSign(t, k, p); a != b {
		t.Errorf("two signatures of one pass differ:\n%s\n%s", a, b)
	}
	p.ID = "other"
	if a, b := mustSign(t, k, testPass(clock.Now(), "launch")), mustSign(t, k, p); a == b {
		t.Error("different passes gave the same token")
	}
}

func TestSignRejectsIncompletePass(t *testing.T) {
	clock := newClock()
	k := mustKeyring(t, &MemKeyStore{}, KeyringConfig{Now: clock.Now})
	for name, edit := range map[string]func(*Pass){
		"room":       func(p *Pass) { p.Room = "" },
		"subject":    func(p *Pass) { p.Subject = "" },
		"id":         func(p *Pass) { p.ID = "" },
		"issued at":  func(p *Pass) { p.IssuedAt = time.Time{} },
		"not before": func(p *Pass) { p.NotBefore = time.Time{} },
		"expires":    func(p *Pass) { p.Expires = time.Time{} },
		"backwards":  func(p *Pass) { p.Expires = p.NotBefore },
	} {
		t.Run(name, func(t *testing.T) {
			p := testPass(clock.Now(), "launch")
			edit(&p)
			if tok, err := k.Sign(p); err == nil {
				t.Errorf("Sign = %s, want an error", tok)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	clock := newClock()
	now := clock.Now()
	store := &MemKeyStore{}
	k := mustKeyring(t, store, KeyringConfig{Now: clock.Now})
	ours := k.current().signer
	kid := ours.kid
	pub := ours.pub.(ed25519.PublicKey)
	pkix, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	_, foreignPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := newKey(foreignPriv.Public(), foreignPriv)
	if err != nil {
		t.Fatal(err)
	}
	ecPriv := mustP256(t)

	valid := mustSign(t, k, testPass(now, "launch"))
	parts := strings.Split(valid, ".")
	header := func(alg, kid string) map[string]any { return map[string]any{"alg": alg, "typ": "JWT", "kid": kid} }
	edSign := signWith(t, jwt.SigningMethodEdDSA, ours.priv)
	claimsWith := func(edit func(map[string]any)) map[string]any {
		c := testClaims(now)
		edit(c)
		return c
	}
	tampered := func() string {
		var c map[string]any
		if err := json.Unmarshal(segment(t, valid, 1), &c); err != nil {
			t.Fatal(err)
		}
		c["sub"] = "someoneelse"
		b, _ := json.Marshal(c)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	}()
	badSig := func() string {
		sig := segment(t, valid, 2)
		sig[10] ^= 1
		return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	}()
	// The last character of an 86-character signature carries 4 unused bits; a lenient decoder
	// would accept this second spelling of the same signature.
	respelled := func() string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		last := strings.IndexByte(alphabet, valid[len(valid)-1])
		return valid[:len(valid)-1] + string(alphabet[last^1])
	}()

	otherIssuer := mustKeyring(t, store, KeyringConfig{Issuer: "elsewhere", Now: clock.Now})

	for _, tc := range []struct {
		name  string
		token string
		room  string
		want  error
	}{
		{"empty", "", "launch", ErrTokenInvalid},
		{"garbage", "not a token", "launch", ErrTokenInvalid},
		{"two segments", parts[0] + "." + parts[1], "launch", ErrTokenInvalid},
		{"four segments", valid + ".x", "launch", ErrTokenInvalid},
		{"padded", valid + "=", "launch", ErrTokenInvalid},
		{"respelled signature", respelled, "launch", ErrTokenInvalid},
		{"too long", valid + strings.Repeat("A", maxTokenBytes), "launch", ErrTokenInvalid},
		{"alg none", craft(t, header("none", kid), testClaims(now), func([]byte) []byte { return nil }), "launch", ErrTokenInvalid},
		{"alg none no kid", craft(t, map[string]any{"alg": "none"}, testClaims(now), func([]byte) []byte { return nil }), "launch", ErrTokenInvalid},
		{"hs256 keyed with public key bytes", craft(t, header("HS256", kid), testClaims(now), hs256(pub)), "launch", ErrTokenInvalid},
		{"hs256 keyed with public key pem", craft(t, header("HS256", kid), testClaims(now), hs256(pemBlock("PUBLIC KEY", pkix))), "launch", ErrTokenInvalid},
		{"foreign key and kid", craft(t, header("EdDSA", foreign.kid), testClaims(now), signWith(t, jwt.SigningMethodEdDSA, foreignPriv)), "launch", ErrTokenInvalid},
		{"foreign key, our kid", craft(t, header("EdDSA", kid), testClaims(now), signWith(t, jwt.SigningMethodEdDSA, foreignPriv)), "launch", ErrTokenInvalid},
		{"es256 labelled with our eddsa kid", craft(t, header("ES256", kid), testClaims(now), signWith(t, jwt.SigningMethodES256, ecPriv)), "launch", ErrTokenInvalid},
		{"es384", craft(t, header("ES384", kid), testClaims(now), func([]byte) []byte { return make([]byte, 96) }), "launch", ErrTokenInvalid},
		{"no kid", craft(t, map[string]any{"alg": "EdDSA", "typ": "JWT"}, testClaims(now), edSign), "launch", ErrTokenInvalid},
		{"numeric kid", craft(t, map[string]any{"alg": "EdDSA", "kid": 7}, testClaims(now), edSign), "launch", ErrTokenInvalid},
		{"tampered payload", tampered, "launch", ErrTokenInvalid},
		{"tampered signature", badSig, "launch", ErrTokenInvalid},
		{"wrong issuer", mustSign(t, otherIssuer, testPass(now, "launch")), "launch", ErrTokenInvalid},
		{"no issuer", craft(t, header("EdDSA", kid), claimsWith(func(c map[string]any) { delete(c, "iss") }), edSign), "launch", ErrTokenInvalid},
		{"no exp", craft(t, header("EdDSA", kid), claimsWith(func(c map[string]any) { delete(c, "exp") }), edSign), "launch", ErrTokenInvalid},
		{"no nbf", craft(t, header("EdDSA", kid), claimsWith(func(c map[string]any) { delete(c, "nbf") }), edSign), "launch", ErrTokenInvalid},
		{"no iat", craft(t, header("EdDSA", kid), claimsWith(func(c map[string]any) { delete(c, "iat") }), edSign), "launch", ErrTokenInvalid},
		{"no jti", craft(t, header("EdDSA", kid), claimsWith(func(c map[string]any) { delete(c, "jti") }), edSign), "launch", ErrTokenInvalid},
		{"no sub", craft(t, header("EdDSA", kid), claimsWith(func(c map[string]any) { delete(c, "sub") }), edSign), "launch", ErrTokenInvalid},
		{"no aud", craft(t, header("EdDSA", kid), claimsWith(func(c map[string]any) { delete(c, "aud") }), edSign), "launch", ErrTokenInvalid},
		{"aud array", craft(t, header("EdDSA", kid), claimsWith(func(c map[string]any) { c["aud"] = []string{"launch"} }), edSign), "launch", ErrTokenInvalid},
		{"fractional exp", craft(t, header("EdDSA", kid), claimsWith(func(c map[string]any) { c["exp"] = float64(now.Unix()) + 60.5 }), edSign), "launch", ErrTokenInvalid},
		{"expired and wrong issuer", craft(t, header("EdDSA", kid), claimsWith(func(c map[string]any) { c["iss"] = "x"; c["exp"] = now.Unix() - 1 }), edSign), "launch", ErrTokenInvalid},
		{"expired", craft(t, header("EdDSA", kid), claimsWith(func(c map[string]any) { c["exp"] = now.Unix() }), edSign), "launch", ErrTokenExpired},
		{"expired, other room", craft(t, header("EdDSA", kid), claimsWith(func(c map[string]any) { c["exp"] = now.Unix() - 1 }), edSign), "other", ErrTokenExpired},
		{"nbf in the future", craft(t, header("EdDSA", kid), claimsWith(func(c map[string]any) { c["nbf"] = now.Unix() + 6 }), edSign), "launch", ErrTokenExpired},
		{"iat in the future", craft(t, header("EdDSA", kid), claimsWith(func(c map[string]any) { c["iat"] = now.Unix() + 6 }), edSign), "launch", ErrTokenExpired},
		{"other room", valid, "other", ErrWrongRoom},
		{"no room", valid, "", ErrWrongRoom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := k.Verify(tc.token, tc.room)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %+v, %v; want %v", p, err, tc.want)
			}
			assertOneSentinel(t, err)
			if p != (Pass{}) {
				t.Errorf("Verify returned a pass with an error: %+v", p)
			}
		})
	}
}

func assertOneSentinel(tb testing.TB, err error) {
	tb.Helper()
	n := 0
	for _, s := range []error{ErrTokenInvalid, ErrTokenExpired, ErrWrongRoom} {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		tb.Errorf("error %q wraps %d of the sentinels, want 1", err, n)
	}
}

func TestVerifyValidityWindow(t *testing.T) {
	clock := newClock()
	k := mustKeyring(t, &MemKeyStore{}, KeyringConfig{Now: clock.Now})
	now := clock.Now()
	for _, tc := range []struct {
		name    string
		nbf     time.Duration // relative to now; iat is the same
		exp     time.Duration
		wantErr error
	}{
		{"current", -time.Minute, time.Minute, nil},
		{"last second", -time.Minute, time.Second, nil},
		{"at exp", -time.Minute, 0, ErrTokenExpired},
		{"after exp", -time.Minute, -time.Second, ErrTokenExpired},
		{"nbf within skew", 5 * time.Second, time.Minute, nil},
		{"nbf beyond skew", 6 * time.Second, time.Minute, ErrTokenExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPass(now, "launch")
			p.IssuedAt, p.NotBefore, p.Expires = now.Add(tc.nbf), now.Add(tc.nbf), now.Add(tc.exp)
			_, err := k.Verify(mustSign(t, k, p), "launch")
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("Verify: %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestVerifyKeyTypeMustMatchAlg(t *testing.T) {
	// One document holding a P-256 file key and a generated Ed25519 key: each kid accepts
	// only its own algorithm.
	clock := newClock()
	store := &MemKeyStore{}
	ecPriv := mustP256(t)
	ec := mustKeyring(t, store, KeyringConfig{KeyPEM: mustPKCS8(t, ecPriv), Now: clock.Now})
	ed := mustKeyring(t, store, KeyringConfig{Now: clock.Now})
	mustRefresh(t, ec)
	edPriv := ed.current().signer.priv
	now := clock.Now()
	for _, tc := range []struct {
		name  string
		token string
	}{
		{"eddsa labelled with the p256 kid", craft(t, map[string]any{"alg": "EdDSA", "kid": ec.CurrentKID()}, testClaims(now), signWith(t, jwt.SigningMethodEdDSA, edPriv))},
		{"es256 labelled with the ed25519 kid", craft(t, map[string]any{"alg": "ES256", "kid": ed.CurrentKID()}, testClaims(now), signWith(t, jwt.SigningMethodES256, ecPriv))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []*Keyring{ec, ed} {
				if _, err := k.Verify(tc.token, "launch"); !errors.Is(err, ErrTokenInvalid) {
					t.Errorf("Verify: %v, want ErrTokenInvalid", err)
				}
			}
		})
	}
	for _, k := range []*Keyring{ec, ed} {
		for _, signer := range []*Keyring{ec, ed} {
			if _, err := k.Verify(mustSign(t, signer, testPass(now, "launch")), "launch"); err != nil {
				t.Errorf("genuine token: %v", err)
			}
		}
	}
}

func FuzzVerify(f *testing.F) {
	clock := newClock()
	k := mustKeyring(f, &MemKeyStore{}, KeyringConfig{Now: clock.Now})
	cache := NewPassCache(k, 16, clock.Now)
	valid := mustSign(f, k, testPass(clock.Now(), "launch"))
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("..")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		for _, verify := range []func(string, string) (Pass, error){k.Verify, cache.Verify} {
			p, err := verify(token, "launch")
			if err == nil && token != valid {
				t.Fatalf("accepted a token we did not sign: %q (%+v)", token, p)
			}
			if err != nil {
				assertOneSentinel(t, err)
			}
		}
	})
}

func ExampleKeyring() {
	ctx := context.Background()
	// Production instances share a Redis-backed KeyStore.
	k, err := NewKeyring(ctx, &MemKeyStore{}, KeyringConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Now()
	token, err := k.Sign(Pass{
		Room: "launch", Subject: "q7k2m9", ID: "a1",
		IssuedAt: now, NotBefore: now, Expires: now.Add(15 * time.Minute),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	cache := NewPassCache(k, 0, nil)
	pass, err := cache.Verify(token, "launch")
	fmt.Println(pass.Subject, err)
	_, err = cache.Verify(token, "encore")
	fmt.Println(errors.Is(err, ErrWrongRoom))
	// Output:
	// q7k2m9 <nil>
	// true
}
