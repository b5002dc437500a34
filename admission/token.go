package admission

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/crowdgate/crowdgate/internal/claims"
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

// maxTokenBytes caps what the parser is handed (the claim checks, the clock skew
// among them, are internal/claims', shared with guard).
const maxTokenBytes = claims.MaxTokenBytes

// Pass is one admission: who (queue id) may enter which room until when.
type Pass struct {
	Room      string    // aud
	Subject   string    // sub, the queue id
	ID        string    // jti
	IssuedAt  time.Time // iat, second precision
	NotBefore time.Time // nbf, second precision
	Expires   time.Time // exp, second precision
	// UserID is uid: the user id of the enqueue token the place was made
	// with, "" for none.
	UserID string
}

// Sign returns p as a JWT signed with this instance's current key: header alg (EdDSA, or
// ES256 for a P-256 key file), typ and kid; claims iss, sub, aud (a single string), iat,
// nbf, exp and jti, and uid when the place has a user id. Times are truncated to seconds. With an Ed25519 key the result is
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
	t := jwt.NewWithClaims(signer.method, claims.Payload{
		Issuer:    k.cfg.Issuer,
		Subject:   p.Subject,
		Audience:  p.Room,
		IssuedAt:  p.IssuedAt.Unix(),
		NotBefore: p.NotBefore.Unix(),
		Expires:   p.Expires.Unix(),
		ID:        p.ID,
		UserID:    p.UserID,
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
	var c claims.Payload
	if _, err := k.parser.ParseWithClaims(token, &c, claims.KeyFunc(k.keyFunc)); err != nil {
		return Pass{}, classify(err)
	}
	return Pass{
		Room:      c.Audience,
		Subject:   c.Subject,
		ID:        c.ID,
		IssuedAt:  time.Unix(c.IssuedAt, 0).UTC(),
		NotBefore: time.Unix(c.NotBefore, 0).UTC(),
		Expires:   time.Unix(c.Expires, 0).UTC(),
		UserID:    c.UserID,
	}, nil
}

// keyFunc is the published key for kid, for claims.KeyFunc, which insists that the token's
// alg is that key's algorithm, so a token cannot choose how its signature is checked (alg
// none, HMAC keyed with a public key).
func (k *Keyring) keyFunc(kid string) (alg string, pub any, ok bool) {
	key := k.lookup(kid)
	if key == nil {
		return "", nil, false
	}
	return key.alg, key.pub, true
}

// classify turns the parser's error into one of our sentinels. A token that fails for a
// timing reason and for another one as well is invalid, not expired.
func classify(err error) error {
	if claims.OnlyTiming(err) {
		return fmt.Errorf("%w: %v", ErrTokenExpired, err)
	}
	return fmt.Errorf("%w: %v", ErrTokenInvalid, err)
}
