package claims

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// ClockSkew is how far nbf and iat may lie in the future, for clocks that disagree a
	// little. exp gets none: an admission must not outlive its end on any clock.
	ClockSkew = 5 * time.Second
	// MaxTokenBytes caps what the parser is handed; admission tokens are a few hundred
	// bytes.
	MaxTokenBytes = 4096
)

// ErrMissing is the parser's error (wrapped) for a token without sub, aud, jti, iat or
// nbf.
var ErrMissing = errors.New("missing sub, aud, jti, iat or nbf")

// Payload is the JWT payload as Crowdgate writes it. It is its own type rather than
// jwt.RegisteredClaims because aud must be a single string (RegisteredClaims writes an
// array unless a package global is flipped) and times must be integers, so a token has
// one encoding; anything else (an aud array, fractional times) fails to decode.
type Payload struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	Expires   int64  `json:"exp"`
	ID        string `json:"jti"`
	// UserID is the user id of the enqueue token the place was made with
	// (the organizer's site vouched for it); absent for an anonymous place.
	UserID string `json:"uid,omitempty"`
}

var _ jwt.Claims = Payload{}

// GetExpirationTime is exp, with no leeway.
func (c Payload) GetExpirationTime() (*jwt.NumericDate, error) { return date(c.Expires, 0), nil }

// GetNotBefore and GetIssuedAt move the claim back by ClockSkew because the parser has one
// leeway for all times, and exp must get none.
func (c Payload) GetNotBefore() (*jwt.NumericDate, error) { return date(c.NotBefore, -ClockSkew), nil }

// GetIssuedAt is iat moved back by ClockSkew; see GetNotBefore.
func (c Payload) GetIssuedAt() (*jwt.NumericDate, error) { return date(c.IssuedAt, -ClockSkew), nil }

// GetIssuer is iss.
func (c Payload) GetIssuer() (string, error) { return c.Issuer, nil }

// GetSubject is sub.
func (c Payload) GetSubject() (string, error) { return c.Subject, nil }

// GetAudience is aud, the room.
func (c Payload) GetAudience() (jwt.ClaimStrings, error) { return jwt.ClaimStrings{c.Audience}, nil }

// Validate is called by the parser after its own checks: it returns ErrMissing unless
// sub, aud, jti, iat and nbf are all present (exp is the parser's, WithExpirationRequired).
func (c Payload) Validate() error {
	if c.Subject == "" || c.Audience == "" || c.ID == "" || c.IssuedAt == 0 || c.NotBefore == 0 {
		return ErrMissing
	}
	return nil
}

func date(unix int64, shift time.Duration) *jwt.NumericDate {
	if unix == 0 {
		return nil
	}
	return &jwt.NumericDate{Time: time.Unix(unix, 0).Add(shift)}
}

// NewParser returns the parser for admission tokens issued by issuer, judged at now():
// EdDSA and ES256 only, iss must be issuer, exp required, iat checked. Strict base64 keeps
// one token string per signature, so a verified token is exactly one Crowdgate signed (and
// one cache entry).
func NewParser(issuer string, now func() time.Time) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg(), jwt.SigningMethodES256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithTimeFunc(now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	)
}

// KeyFunc picks a token's key by its kid through lookup, which returns the key's
// algorithm and public key, and false when the kid is unknown. The token's alg must be
// the key's: the key decides how the signature is checked, never the token (no alg none,
// no HMAC keyed with public key bytes, no ES256 header on an Ed25519 kid).
func KeyFunc(lookup func(kid string) (alg string, pub any, ok bool)) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("missing kid")
		}
		alg, pub, ok := lookup(kid)
		if !ok {
			return nil, errors.New("unknown kid")
		}
		if t.Method.Alg() != alg {
			return nil, errors.New("alg does not match the key")
		}
		return pub, nil
	}
}

// OnlyTiming reports whether err, from a parser made by NewParser with a Payload, fails
// for a timing reason alone: exp has passed, or nbf or iat is more than ClockSkew ahead.
// A token that fails for a timing reason and for another one as well is invalid, not
// expired.
func OnlyTiming(err error) bool {
	timing := errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) ||
		errors.Is(err, jwt.ErrTokenUsedBeforeIssued)
	other := !errors.Is(err, jwt.ErrTokenInvalidClaims) || errors.Is(err, jwt.ErrTokenInvalidIssuer) ||
		errors.Is(err, jwt.ErrTokenRequiredClaimMissing) || errors.Is(err, ErrMissing)
	return timing && !other
}
