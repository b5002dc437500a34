package jwks

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/golang-jwt/jwt/v5"
)

// MaxBytes caps the key set read from the network; Crowdgate's holds two or three keys
// in well under a kilobyte, and a site's a few more.
const MaxBytes = 1 << 20

// ErrNoUsableKey is returned for a key set without a single key we can verify with. It is
// an error rather than an empty set so that a broken publication keeps the last good set.
var ErrNoUsableKey = errors.New("jwks: key set has no Ed25519 or P-256 signing key with a kid")

// Set is an immutable view of the published keys.
type Set struct {
	ByKID map[string]*Key
}

// Key is one published public key and the one algorithm it verifies.
type Key struct {
	KID string
	Alg string // "EdDSA" or "ES256"
	Pub crypto.PublicKey
}

// Reuse takes old's *Key for every kid whose key has not changed, so that cached tokens,
// which remember their *Key, survive a refresh that changes nothing about their key.
func (s *Set) Reuse(old *Set) {
	for kid, k := range s.ByKID {
		if o := old.ByKID[kid]; o != nil && o.Alg == k.Alg && equalKeys(o.Pub, k.Pub) {
			s.ByKID[kid] = o
		}
	}
}

func equalKeys(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// Fetch GETs and parses the key set at url. ignored explains the keys left out.
func Fetch(ctx context.Context, client *http.Client, url string) (set *Set, ignored []string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("jwks: key set request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	res, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("jwks: fetch key set: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096)) // lets the connection be reused
		return nil, nil, fmt.Errorf("jwks: fetch key set %s: %s", url, res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("jwks: read key set: %w", err)
	}
	if len(body) > MaxBytes {
		return nil, nil, fmt.Errorf("jwks: key set %s is over %d bytes", url, MaxBytes)
	}
	return Parse(body)
}

// jsonKey is the part of an RFC 7517 JSON Web Key that we read. Private members ("d")
// are never read.
type jsonKey struct {
	Kty    string   `json:"kty"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
}

// Parse parses an RFC 7517 key set {"keys":[...]}. It keeps Ed25519 (kty OKP) and
// P-256 (kty EC) keys that have a kid and may verify signatures, pinning each to its one
// algorithm, and ignores every other key with a reason: other types and curves, a
// conflicting alg, use or key_ops, bad coordinates (an EC point must be on the curve), a
// repeated kid (the first one counts). A set that is not JSON, or keeps no key, is an error.
func Parse(data []byte) (set *Set, ignored []string, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("jwks: decode key set: %w", err)
	}
	set = &Set{ByKID: make(map[string]*Key, len(doc.Keys))}
	for i, raw := range doc.Keys {
		var j jsonKey
		if err := json.Unmarshal(raw, &j); err != nil {
			ignored = append(ignored, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		k, err := j.parse()
		if err != nil {
			ignored = append(ignored, fmt.Sprintf("key %d (kid %q): %v", i, j.Kid, err))
			continue
		}
		if _, dup := set.ByKID[k.KID]; dup {
			ignored = append(ignored, fmt.Sprintf("key %d: kid %q repeated", i, j.Kid))
			continue
		}
		set.ByKID[k.KID] = k
	}
	if len(set.ByKID) == 0 {
		return nil, ignored, ErrNoUsableKey
	}
	return set, ignored, nil
}

func (j jsonKey) parse() (*Key, error) {
	if j.Kid == "" {
		return nil, errors.New("no kid")
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("use %q", j.Use)
	}
	if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
		return nil, errors.New("key_ops without verify")
	}
	dec := base64.RawURLEncoding.Strict().DecodeString
	switch {
	case j.Kty == "OKP" && j.Crv == "Ed25519":
		alg := jwt.SigningMethodEdDSA.Alg()
		if j.Alg != "" && j.Alg != alg {
			return nil, fmt.Errorf("alg %q on an Ed25519 key", j.Alg)
		}
		x, err := dec(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize || j.Y != "" {
			return nil, errors.New("not an Ed25519 public key")
		}
		return &Key{KID: j.Kid, Alg: alg, Pub: ed25519.PublicKey(x)}, nil
	case j.Kty == "EC" && j.Crv == "P-256":
		alg := jwt.SigningMethodES256.Alg()
		if j.Alg != "" && j.Alg != alg {
			return nil, fmt.Errorf("alg %q on a P-256 key", j.Alg)
		}
		x, errX := dec(j.X)
		y, errY := dec(j.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("not a P-256 public key")
		}
		// ParseUncompressedPublicKey refuses points off the curve and the point at infinity.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), slices.Concat([]byte{4}, x, y))
		if err != nil {
			return nil, fmt.Errorf("not a P-256 public key: %w", err)
		}
		return &Key{KID: j.Kid, Alg: alg, Pub: pub}, nil
	}
	return nil, fmt.Errorf("unsupported kty %q crv %q", j.Kty, j.Crv)
}
