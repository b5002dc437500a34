package queue

import "time"

// Rotating a room's HS256 enqueue secret. The organizer's site and the room
// cannot switch at the same instant, and tokens the site signed just before
// it switched are still on their way (they live up to ten minutes). So the
// secret a change replaces stays accepted for an overlap, after which only
// the new one verifies.
const (
	// DefaultEnqueueSecretOverlap is how long a replaced secret is still
	// accepted when the change does not say: a token's longest life and
	// some minutes for the site's own roll.
	DefaultEnqueueSecretOverlap = 15 * time.Minute
	// MaxEnqueueSecretOverlap bounds the overlap an organizer may ask for.
	MaxEnqueueSecretOverlap = 7 * 24 * time.Hour
)

// RotateEnqueueSecret returns next, the room cur becomes, with its
// previous enqueue secret set as the change leaves it at now:
//   - a new HS256 secret keeps cur's as the previous one for overlap (none
//     when overlap <= 0: a leaked secret is dropped at once);
//   - the same secret keeps cur's previous one until its end;
//   - no HS256 secret (none, or a JWKS URL instead) keeps none.
//
// A previous secret whose end has passed is dropped either way.
func RotateEnqueueSecret(cur, next Room, overlap time.Duration, now time.Time) Room {
	next.EnqueuePreviousSecret, next.EnqueuePreviousSecretUntil = "", time.Time{}
	switch {
	case next.EnqueueSecret == "":
	case cur.EnqueueSecret != "" && cur.EnqueueSecret != next.EnqueueSecret:
		if overlap > 0 {
			next.EnqueuePreviousSecret, next.EnqueuePreviousSecretUntil = cur.EnqueueSecret, now.Add(overlap).UTC()
		}
	case cur.EnqueuePreviousSecret != "" && now.Before(cur.EnqueuePreviousSecretUntil):
		next.EnqueuePreviousSecret, next.EnqueuePreviousSecretUntil = cur.EnqueuePreviousSecret, cur.EnqueuePreviousSecretUntil
	}
	return next
}

// SetEnqueueSecretOverlap returns r with its previous enqueue secret, if
// any, accepted for overlap from now on, and dropped when overlap <= 0: an
// organizer ending a rotation's overlap early, or giving the site's roll
// more time.
func SetEnqueueSecretOverlap(r Room, overlap time.Duration, now time.Time) Room {
	if r.EnqueuePreviousSecret == "" || overlap <= 0 {
		r.EnqueuePreviousSecret, r.EnqueuePreviousSecretUntil = "", time.Time{}
		return r
	}
	r.EnqueuePreviousSecretUntil = now.Add(overlap).UTC()
	return r
}

// EnqueueSecrets returns the HS256 secrets a token may be signed with at
// now: the room's, then the previous one while its overlap lasts.
func (r Room) EnqueueSecrets(now time.Time) []string {
	if r.EnqueueSecret == "" {
		return nil
	}
	if r.EnqueuePreviousSecret != "" && now.Before(r.EnqueuePreviousSecretUntil) {
		return []string{r.EnqueueSecret, r.EnqueuePreviousSecret}
	}
	return []string{r.EnqueueSecret}
}

// previousSecretUntilField is the stored enq_prev_ms of r: its previous
// secret's end, kept only beside the secret.
func previousSecretUntilField(r Room) string {
	if r.EnqueuePreviousSecret == "" {
		return "0"
	}
	return msString(r.EnqueuePreviousSecretUntil)
}
