package guard

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func FuzzParseJWKS(f *testing.F) {
	c := newClock()
	f.Add(newEd25519Signer(f, c).ring.JWKS())
	f.Add(newP256Signer(f, c).ring.JWKS())
	f.Add(newGeneratedRing(f, c, time.Hour).JWKS())
	for _, s := range []string{
		`{"keys":[]}`, `{}`, `[]`, `null`, `{"keys":null}`, `{"keys":[null,1,"x",{}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`,
		`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB","alg":"RS256"}]}`,
		`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0","alg":"HS256"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, _, err := parseJWKS(data)
		if err != nil {
			if set != nil {
				t.Fatal("a set with an error")
			}
			return
		}
		if len(set.ByKID) == 0 {
			t.Fatal("an empty set without an error")
		}
		for kid, k := range set.ByKID {
			if kid == "" || k.KID != kid {
				t.Fatalf("key filed under %q has kid %q", kid, k.KID)
			}
			switch pub := k.Pub.(type) {
			case ed25519.PublicKey:
				if k.Alg != "EdDSA" || len(pub) != ed25519.PublicKeySize {
					t.Fatalf("Ed25519 key with alg %s, %d bytes", k.Alg, len(pub))
				}
			case *ecdsa.PublicKey:
				if k.Alg != "ES256" || pub.Curve.Params().Name != "P-256" {
					t.Fatalf("ECDSA key with alg %s on %s", k.Alg, pub.Curve.Params().Name)
				}
				if _, err := pub.Bytes(); err != nil {
					t.Fatalf("kept an invalid P-256 point: %v", err)
				}
			default:
				t.Fatalf("kept a %T", pub)
			}
		}
	})
}

// FuzzVerify: Verify never panics, and never accepts a token unless its signature checks
// out, by an independent implementation, under the published key its kid names, with that
// key's algorithm, and its claims admit to the room now.
func FuzzVerify(f *testing.F) {
	w := newWorld(f)
	w.v.log = discard()
	now := w.clock.Now()
	stranger := newEd25519Signer(f, w.clock)
	seeds := []string{
		mustSign(f, w.ed.ring, pass(now)),
		mustSign(f, w.ec.ring, pass(now)),
		mustSign(f, w.ed.ring, pass(now.Add(-time.Hour))),
		mustSign(f, stranger.ring, pass(now)),
		w.ec.forge(f, claimsAt(now), map[string]any{"kid": w.ed.kid()}),
		"", "a.b.c", "eyJhbGciOiJub25lIn0.e30.",
	}
	tk := jwt.NewWithClaims(jwt.SigningMethodHS256, claimsAt(now))
	tk.Header["kid"] = w.ed.kid()
	hs, _ := tk.SignedString(w.ed.ring.JWKS())
	seeds = append(seeds, hs)
	for _, s := range seeds {
		f.Add(s)
	}
	published := w.v.keys.Load()
	f.Fuzz(func(t *testing.T, token string) {
		c, err := w.v.Verify(token)
		if err != nil {
			return
		}
		if c.Room != "launch" || !now.Before(c.Expires) || c.Subject == "" || c.ID == "" {
			t.Fatalf("accepted claims %+v", c)
		}
		if !signedByPublishedKey(token, published) {
			t.Fatalf("accepted %q, which no published key signed", token)
		}
	})
}

// signedByPublishedKey checks token's signature with crypto/ed25519 and crypto/ecdsa
// directly, not through the JWT library.
func signedByPublishedKey(token string, set *keySet) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	dec := base64.RawURLEncoding.Strict().DecodeString
	hdr, err1 := dec(parts[0])
	sig, err2 := dec(parts[2])
	if err1 != nil || err2 != nil {
		return false
	}
	var h struct{ Alg, Kid string }
	if json.Unmarshal(hdr, &h) != nil {
		return false
	}
	k := set.ByKID[h.Kid]
	if k == nil || k.Alg != h.Alg {
		return false
	}
	signed := []byte(parts[0] + "." + parts[1])
	switch pub := k.Pub.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(pub, signed, sig)
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			return false
		}
		sum := sha256.Sum256(signed)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub, sum[:], r, s)
	}
	return false
}
