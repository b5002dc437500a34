package admission

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/queue"
)

// Entry is who asks for a new place, as a room's gate weighs them
// (queue/gate.go).
type Entry struct {
	// Addr is the client's real address. The zero Addr is not counted
	// against per-address limits: an address the operator exempts (a venue,
	// a partner), or a caller inside the deployment.
	Addr netip.Addr
	// Challenge and Solution are a challenge token the caller was given
	// and the nonce that solves it; "" when the caller brings none.
	Challenge, Solution string
	// EnqueueToken is the enqueue token the organizer's site gave the fan
	// (enqueue.go); "" when the caller brings none.
	EnqueueToken string
	// Captcha is the response of the room's CAPTCHA widget ("" for none);
	// RemoteIP (the client's address even where Addr is not counted) and
	// Host (the host the page was served on) are checked with it
	// (captcha.go).
	Captcha  string
	RemoteIP netip.Addr
	Host     string
	// Code is the access code the fan brings ("" for none); only a room
	// that requires one looks at it (queue/codes.go).
	Code string
}

// JoinRefused is a join refused a new place by the room's gate; nothing
// changed. It wraps a *crowdgate.Error of kind ChallengeRequired (Challenge
// is the one to solve), ChallengeFailed, RateLimited (RetryAfter says when),
// EnqueueTokenRequired, EnqueueTokenInvalid, CodeRequired or BadCode.
type JoinRefused struct {
	// Reason is one of queue.RefusedReasons.
	Reason     string
	Challenge  *Challenge
	RetryAfter time.Duration
	// Captcha is the room's CAPTCHA, when the refusal concerns it: the
	// widget to draw and solve before joining again.
	Captcha *CaptchaAsk
	err     *crowdgate.Error
}

func (e *JoinRefused) Error() string { return e.err.Error() }
func (e *JoinRefused) Unwrap() error { return e.err }

// gate turns e into what join.lua checks, verifying the enqueue token
// (signature, room, lifetime, user id) and the challenge (MAC, room,
// expiry, solution) here, so a wrong one never reaches the store.
func (c *Controller) gate(ctx context.Context, room string, e Entry) (queue.Gate, error) {
	g := queue.Gate{Address: e.Addr, Code: e.Code}
	if e.EnqueueToken != "" {
		r, err := c.Room(ctx, room)
		if err != nil {
			return g, err
		}
		uid, err := VerifyEnqueueToken(ctx, r, e.EnqueueToken, c.cfg.Now(), c.cfg.EnqueueKeys)
		if errors.Is(err, ErrEnqueueToken) {
			var ce *crowdgate.Error
			errors.As(err, &ce)
			// Counted whether or not the cache holds the room yet: it was
			// just read, so it exists.
			c.tallyRefusal(room, queue.RefusedBadEnqueueToken)
			return g, &JoinRefused{Reason: queue.RefusedBadEnqueueToken, err: ce}
		}
		if err != nil {
			return g, err
		}
		g.UserID = uid
	}
	if e.Challenge == "" && e.Solution == "" {
		return g, nil
	}
	s, err := c.keys.VerifyChallenge(room, e.Challenge, e.Solution, c.cfg.Now())
	if err != nil {
		var ce *crowdgate.Error
		errors.As(err, &ce)
		c.countRefusal(room, queue.RefusedChallengeFailed)
		return g, &JoinRefused{Reason: queue.RefusedChallengeFailed, err: ce}
	}
	g.ChallengeID, g.ChallengeBits, g.ChallengeExpires = s.ID, s.Bits, s.Expires
	return g, nil
}

// refused turns the store's refusal of a new place for address a into a
// *JoinRefused (with a fresh challenge when one is needed) and counts it;
// other errors pass.
func (c *Controller) refused(room string, a netip.Addr, err error) error {
	var r *queue.Refusal
	if !errors.As(err, &r) {
		return err
	}
	// join.lua counted it in the room's counts already.
	c.label(room)
	c.refusals.WithLabelValues(room, r.Reason).Inc()
	c.learn(room, a, r)
	out := &JoinRefused{Reason: r.Reason, RetryAfter: r.RetryAfter}
	switch r.Reason {
	case queue.RefusedChallengeRequired:
		return c.challengeRefusal(room, r.Bits, err)
	case queue.RefusedChallengeFailed:
		out.err = &crowdgate.Error{Kind: crowdgate.ChallengeFailed, Message: "this challenge was used already; join again for a new one", Err: err}
	case queue.RefusedPlaceCap:
		out.err = &crowdgate.Error{Kind: crowdgate.RateLimited, Message: "too many places in this line from your network; try again later", Err: err}
	case queue.RefusedBadEnqueueToken:
		out.err = &crowdgate.Error{Kind: crowdgate.EnqueueTokenRequired, Message: "this line is for fans the organizer's site sends: open the link it gave you", Err: err}
	case queue.RefusedBadCode:
		if r.NoCode {
			out.err = &crowdgate.Error{Kind: crowdgate.CodeRequired, Message: "this sale needs an access code", Err: err}
		} else {
			out.err = &crowdgate.Error{Kind: crowdgate.BadCode, Message: "this access code is not valid, or has been used", Err: err}
		}
	default:
		out.err = &crowdgate.Error{Kind: crowdgate.RateLimited, Message: "too many new places from your network; try again shortly", Err: err}
	}
	return out
}

// countRefusal counts a refusal decided before join.lua, which join.lua
// therefore did not count: in the metrics and in the room's deployment-wide
// counts the dashboard shows. Only rooms known to exist are counted.
func (c *Controller) countRefusal(room, reason string) {
	if _, known := (*c.rooms.Load())[room]; known {
		c.tallyRefusal(room, reason)
	}
}

// tallyRefusal is countRefusal for a room known to exist.
func (c *Controller) tallyRefusal(room, reason string) {
	c.label(room)
	c.refusals.WithLabelValues(room, reason).Inc()
	c.tally.add(room, reason, 1)
}
