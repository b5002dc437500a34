package admission

import (
	"context"
	"crypto"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/internal/claims"
	"github.com/crowdgate/crowdgate/queue"
)

// Enqueue tokens are how an organizer's site vouches for a fan: a short JWT
// it signs with the fan's user id (sub), the room (aud) and an expiry (exp),
// with an HS256 secret it shares with the room (and, for an overlap after a
// rotation, the secret it replaced: queue.RotateEnqueueSecret), or with an
// EdDSA or ES256 key it publishes in a JWKS. A verified token's user id
// holds one place in the room (queue.Gate.UserID), and the admission
// carries it (Pass.UserID).
//
// The room, never the token, decides how the signature is checked: HS256
// alone for a room with a secret; EdDSA or ES256 alone, by the key the kid
// names in the site's key set, for a room with a JWKS URL. So "none", an
// HMAC keyed with a public key, or a header that names another algorithm
// than its key's are all refused.
const (
	// MaxEnqueueTokenLifetime bounds exp − iat, and how far exp may lie
	// ahead: a token is a hand-off from the site's page to the waiting room,
	// not a credential to keep.
	MaxEnqueueTokenLifetime = 10 * time.Minute
	// MaxUserIDBytes bounds sub.
	MaxUserIDBytes = 128
)

// EnqueueKeys finds the public keys with which organizers' sites sign
// enqueue tokens, in the key sets (JWKS) they publish. The gateway's
// implementation fetches them over HTTPS with a cache; admission knows no
// HTTP.
type EnqueueKeys interface {
	// Key returns the key named kid in the key set at jwksURL and
	// the one algorithm it verifies ("EdDSA" or "ES256"). found is false
	// when the set has no such key (an unknown kid may cause a fetch, at a
	// bounded rate). err is for a set that cannot be had at all
	// (unreachable, or not a key set, and none fetched before): the join
	// is not refused for it but answered as unavailable. Safe for
	// concurrent use.
	Key(ctx context.Context, jwksURL, kid string) (alg string, pub crypto.PublicKey, found bool, err error)
}

// ErrEnqueueToken is wrapped by every reason an enqueue token is refused: a
// *crowdgate.Error of kind EnqueueTokenInvalid whose Message says why.
var ErrEnqueueToken = errors.New("admission: invalid enqueue token")

// errNoEnqueueKeys is a room with a JWKS URL on a controller that was given
// no way to fetch key sets.
var errNoEnqueueKeys = &crowdgate.Error{Kind: crowdgate.Unavailable, Message: "this room's enqueue tokens cannot be checked now; try again shortly", Err: errors.New("admission: no EnqueueKeys configured")}

// VerifyEnqueueToken checks token as room r takes enqueue tokens, at now,
// and returns its user id. keys is asked for the key of a room with a JWKS
// URL (nil: such rooms' tokens cannot be checked). Errors: a
// *crowdgate.Error of kind EnqueueTokenInvalid wrapping ErrEnqueueToken, or
// of kind Unavailable when the site's key set cannot be had.
func VerifyEnqueueToken(ctx context.Context, r queue.Room, token string, now time.Time, keys EnqueueKeys) (string, error) {
	bad := func(why string) error {
		return &crowdgate.Error{Kind: crowdgate.EnqueueTokenInvalid, Message: "enqueue token: " + why, Err: ErrEnqueueToken}
	}
	if len(token) > claims.MaxTokenBytes {
		return "", bad("too long")
	}
	var (
		methods []string
		keyFunc jwt.Keyfunc
		keysErr error
	)
	switch {
	case r.EnqueueSecret != "":
		methods = []string{jwt.SigningMethodHS256.Alg()}
		// During a rotation's overlap the replaced secret verifies too.
		var set jwt.VerificationKeySet
		for _, secret := range r.EnqueueSecrets(now) {
			set.Keys = append(set.Keys, []byte(secret))
		}
		keyFunc = func(*jwt.Token) (any, error) { return set, nil }
	case r.EnqueueJWKSURL != "":
		if keys == nil {
			return "", errNoEnqueueKeys
		}
		methods = []string{jwt.SigningMethodEdDSA.Alg(), jwt.SigningMethodES256.Alg()}
		keyFunc = claims.KeyFunc(func(kid string) (string, any, bool) {
			alg, pub, found, err := keys.Key(ctx, r.EnqueueJWKSURL, kid)
			keysErr = err
			return alg, pub, found && err == nil
		})
	default:
		return "", bad("this room takes no enqueue tokens")
	}
	p := jwt.NewParser(jwt.WithValidMethods(methods), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithLeeway(claims.ClockSkew), jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithStrictDecoding())
	var c jwt.RegisteredClaims
	if _, err := p.ParseWithClaims(token, &c, keyFunc); err != nil {
		switch {
		case keysErr != nil:
			return "", &crowdgate.Error{Kind: crowdgate.Unavailable, Message: "the site's key set cannot be fetched now; try again shortly", Err: keysErr}
		case errors.Is(err, jwt.ErrTokenMalformed):
			return "", bad("not a JWT")
		case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
			return "", bad("its algorithm or signature does not match the room's key")
		case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
			return "", bad("exp is required")
		case errors.Is(err, jwt.ErrTokenExpired):
			return "", bad("expired")
		case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
			return "", bad("not valid yet (nbf or iat ahead)")
		}
		return "", bad("it does not verify")
	}
	exp := c.ExpiresAt.Time
	switch {
	case len(c.Audience) != 1 || c.Audience[0] != r.Name:
		return "", bad("for another room (aud must be the room id)")
	case exp.Sub(now) > MaxEnqueueTokenLifetime+claims.ClockSkew,
		c.IssuedAt != nil && exp.Sub(c.IssuedAt.Time) > MaxEnqueueTokenLifetime:
		return "", bad("lives longer than 10 minutes")
	case !ValidUserID(c.Subject):
		return "", bad("sub must be a user id of 1 to 128 visible ASCII characters")
	}
	return c.Subject, nil
}

// ValidUserID reports whether s may be a user id: 1 to MaxUserIDBytes
// visible ASCII characters (no space, no control), so it reaches an
// origin's header, a log line and Redis exactly as the site wrote it.
func ValidUserID(s string) bool {
	if len(s) == 0 || len(s) > MaxUserIDBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
