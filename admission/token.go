package admission

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	// ErrTokenInvalid means the token is not an admission token this keyring issued: it is
	// malformed, its signature or algorithm is wrong, its key is unknown or retired, its
	// issuer is wrong, or a claim is missing.
	ErrTokenInvalid = errors.New("admission: invalid token")
	// ErrTokenExpired means a genuine token used outside its validity window: exp has
	// passed, or nbf or iat is more than the allowed clock skew in the future.
	ErrTokenExpired = errors.New("admission: token expired or not yet valid")
	// ErrWrongRoom means a genuine, current token that admits to another room.
	ErrWrongRoom = errors.New("admission: token is for another room")
)

const (
	// clockSkew is how far nbf and iat may lie in the future, for instances whose clocks
	// disagree a little. exp gets none: a session must not outlive its end on any instance.
	clockSkew = 5 * time.Second
	// maxTokenBytes caps what the parser is handed; our tokens are a few hundred bytes.
	maxTokenBytes = 4096
)

// Pass is one admission: who (queue id) may enter which room until when.
type Pass struct {
	Room      string    // aud
	Subject   string    // sub, the queue id
	ID        string    // jti
	IssuedAt  time.Time // iat, second precision
	NotBefore time.Time // nbf, second precision
	Expires   time.Time // exp, second precision
}

// Sign returns p as a JWT signed with this instance's current key: header alg (EdDSA, or
// ES256 for a P-256 key file), typ and kid; claims iss, sub, aud (a single string), iat,
// nbf, exp and jti. Times are truncated to seconds. With an Ed25519 key the result is
// deterministic: the same Pass gives the same token.
func (k *Keyring) Sign(p Pass) (string, error) {
	if p.Room == "" || p.Subject == "" || p.ID == "" ||
		p.IssuedAt.IsZero() || p.NotBefore.IsZero() || p.Expires.IsZero() {
		return "", errors.New("admission: pass needs room, subject, id, issued-at, not-before and expiry")
	}
	if !p.Expires.After(p.NotBefore) {
		return "", errors.New("admission: pass expires before it becomes valid")
	}
	signer := k.current().signer
	t := jwt.NewWithClaims(signer.method, claims{
		Issuer:    k.cfg.Issuer,
		Subject:   p.Subject,
		Audience:  p.Room,
		IssuedAt:  p.IssuedAt.Unix(),
		NotBefore: p.NotBefore.Unix(),
		Expires:   p.Expires.Unix(),
		ID:        p.ID,
	})
	t.Header["kid"] = signer.kid
	s, err := t.SignedString(signer.priv)
	if err != nil {
		return "", fmt.Errorf("admission: sign: %w", err)
	}
	return s, nil
}

// Verify checks that token is an admission token signed by a published key of this keyring
// and admits to room now, and returns its Pass. Errors wrap exactly one of ErrTokenInvalid,
// ErrTokenExpired and ErrWrongRoom, in that order of precedence. It costs a signature
// verification; the request path should go through a PassCache.
func (k *Keyring) Verify(token, room string) (Pass, error) {
	p, err := k.verify(token)
	if err != nil {
		return Pass{}, err
	}
	if p.Room != room {
		return Pass{}, ErrWrongRoom
	}
	return p, nil
}

// verify checks everything but the room, which is what PassCache may remember.
func (k *Keyring) verify(token string) (Pass, error) {
	if len(token) > maxTokenBytes {
		return Pass{}, fmt.Errorf("%w: token too long", ErrTokenInvalid)
	}
	var c claims
	if _, err := k.parser.ParseWithClaims(token, &c, k.keyFunc); err != nil {
		return Pass{}, classify(err)
	}
	return Pass{
		Room:      c.Audience,
		Subject:   c.Subject,
		ID:        c.ID,
		IssuedAt:  time.Unix(c.IssuedAt, 0).UTC(),
		NotBefore: time.Unix(c.NotBefore, 0).UTC(),
		Expires:   time.Unix(c.Expires, 0).UTC(),
	}, nil
}

// keyFunc picks the key by kid and insists that the token's alg is that key's algorithm, so a
// token cannot choose how its signature is checked (alg none, HMAC keyed with a public key).
func (k *Keyring) keyFunc(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errors.New("missing kid")
	}
	key := k.lookup(kid)
	if key == nil {
		return nil, errors.New("unknown kid")
	}
	if t.Method.Alg() != key.alg {
		return nil, errors.New("alg does not match the key")
	}
	return key.pub, nil
}

// classify turns the parser's error into one of our sentinels. A token that fails for a
// timing reason and for another one as well is invalid, not expired.
func classify(err error) error {
	timing := errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) ||
		errors.Is(err, jwt.ErrTokenUsedBeforeIssued)
	other := !errors.Is(err, jwt.ErrTokenInvalidClaims) || errors.Is(err, jwt.ErrTokenInvalidIssuer) ||
		errors.Is(err, jwt.ErrTokenRequiredClaimMissing) || errors.Is(err, errMissingClaim)
	if timing && !other {
		return fmt.Errorf("%w: %v", ErrTokenExpired, err)
	}
	return fmt.Errorf("%w: %v", ErrTokenInvalid, err)
}

var errMissingClaim = errors.New("missing sub, aud, jti, iat or nbf")

// claims is the JWT payload. Our own type rather than jwt.RegisteredClaims because aud must
// be a single string (RegisteredClaims writes an array unless a package global is flipped)
// and times must be integers, so a token has one encoding.
type claims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	Expires   int64  `json:"exp"`
	ID        string `json:"jti"`
}

func (c claims) GetExpirationTime() (*jwt.NumericDate, error) { return date(c.Expires, 0), nil }

// GetNotBefore and GetIssuedAt move the claim back by clockSkew because the parser has one
// leeway for all times, and exp must get none.
func (c claims) GetNotBefore() (*jwt.NumericDate, error) { return date(c.NotBefore, -clockSkew), nil }
func (c claims) GetIssuedAt() (*jwt.NumericDate, error)  { return date(c.IssuedAt, -clockSkew), nil }

func (c claims) GetIssuer() (string, error)             { return c.Issuer, nil }
func (c claims) GetSubject() (string, error)            { return c.Subject, nil }
func (c claims) GetAudience() (jwt.ClaimStrings, error) { return jwt.ClaimStrings{c.Audience}, nil }

// Validate is called by the parser after its own checks.
func (c claims) Validate() error {
	if c.Subject == "" || c.Audience == "" || c.ID == "" || c.IssuedAt == 0 || c.NotBefore == 0 {
		return errMissingClaim
	}
	return nil
}

func date(unix int64, shift time.Duration) *jwt.NumericDate {
	if unix == 0 {
		return nil
	}
	return &jwt.NumericDate{Time: time.Unix(unix, 0).Add(shift)}
}
