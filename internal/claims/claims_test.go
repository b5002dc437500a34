package claims_test

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/crowdgate/crowdgate/internal/claims"
)

func TestParserAllowsSkewOnlyToNbfAndIat(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	p := claims.NewParser("crowdgate", func() time.Time { return now })
	lookup := func(kid string) (string, any, bool) {
		if kid != "k1" {
			return "", nil, false
		}
		return jwt.SigningMethodEdDSA.Alg(), pub, true
	}
	good := func() claims.Payload {
		return claims.Payload{Issuer: "crowdgate", Subject: "q1", Audience: "launch", ID: "j1",
			IssuedAt: now.Unix(), NotBefore: now.Unix(), Expires: now.Add(time.Minute).Unix()}
	}
	for _, tc := range []struct {
		name   string
		edit   func(*claims.Payload)
		kid    string
		ok     bool
		timing bool
	}{
		{"a current token passes", func(*claims.Payload) {}, "k1", true, false},
		{"nbf and iat 5 s ahead pass", func(c *claims.Payload) { c.NotBefore += 5; c.IssuedAt += 5 }, "k1", true, false},
		{"nbf 6 s ahead is timing", func(c *claims.Payload) { c.NotBefore += 6 }, "k1", false, true},
		{"iat 6 s ahead is timing", func(c *claims.Payload) { c.IssuedAt += 6 }, "k1", false, true},
		{"exp now is timing: exp gets no skew", func(c *claims.Payload) { c.Expires = now.Unix() }, "k1", false, true},
		{"expired with a missing jti is not only timing", func(c *claims.Payload) { c.Expires, c.ID = now.Unix()-1, "" }, "k1", false, false},
		{"expired from another issuer is not only timing", func(c *claims.Payload) { c.Expires, c.Issuer = now.Unix()-1, "other" }, "k1", false, false},
		{"a missing sub is invalid", func(c *claims.Payload) { c.Subject = "" }, "k1", false, false},
		{"an unknown kid is invalid", func(*claims.Payload) {}, "k2", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.edit(&c)
			tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
			tok.Header["kid"] = tc.kid
			s, err := tok.SignedString(priv)
			if err != nil {
				t.Fatal(err)
			}
			var got claims.Payload
			_, err = p.ParseWithClaims(s, &got, claims.KeyFunc(lookup))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if err != nil && claims.OnlyTiming(err) != tc.timing {
				t.Errorf("OnlyTiming(%v) = %v, want %v", err, !tc.timing, tc.timing)
			}
			if err == nil && got != c {
				t.Errorf("parsed %+v, want %+v", got, c)
			}
		})
	}
}

func TestKeyFuncRefusesAnAlgOtherThanTheKeys(t *testing.T) {
	kf := claims.KeyFunc(func(string) (string, any, bool) { return jwt.SigningMethodES256.Alg(), "key", true })
	tok := &jwt.Token{Method: jwt.SigningMethodEdDSA, Header: map[string]any{"kid": "k1"}}
	if _, err := kf(tok); err == nil {
		t.Error("an EdDSA token got an ES256 key")
	}
	tok.Header = map[string]any{}
	if _, err := kf(tok); err == nil {
		t.Error("a token without kid got a key")
	}
	if !errors.Is(claims.Payload{}.Validate(), claims.ErrMissing) {
		t.Error("an empty payload validated")
	}
}
