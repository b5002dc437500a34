package admission

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/queue"
)

// A room may require a CAPTCHA (queue.Room.Captcha): every new place then
// needs a response from the room's provider's widget, verified once with
// the provider (CaptchaVerifier; package captcha speaks the protocol) before
// join.lua makes the place. A caller who still holds a place gets it back
// without one: a refresh, a second tab or a re-join never meets the
// CAPTCHA, and status and the WebSocket never do.
//
// The CAPTCHA stands in for the proof-of-work challenge: a verified
// response reaches join.lua as a solved challenge of the highest difficulty
// (so the room's challenge setting asks nothing more of it) whose id is a
// hash of the response, so join.lua's used-once mark refuses the same
// response twice on any instance even if a provider accepted it twice.
// Per-address limits apply as for every new place.
//
// While the provider cannot be reached (or refuses the deployment's
// secret), the room does what its CaptchaFallback says: "refuse" answers
// 503 with Retry-After; "pow" (the default) asks for a proof-of-work
// challenge instead, at the room's challenge_bits. Those challenges are
// MACed in a domain of their own (captchaFallbackDomain), so only one
// minted while the provider was down stands in for a CAPTCHA, on any
// instance, until it expires; a gate challenge, or one from another room,
// does not. If join.lua then asks for more work (pressure), the harder
// challenge is minted in the same domain.

// captchaFallbackDomain separates the MACs of challenges that stand in for
// a CAPTCHA from the gate's (challengeMACDomain).
const captchaFallbackDomain = "c1-captcha-fallback\x00"

// captchaRetry is the Retry-After of a join refused because the provider
// cannot be reached (CaptchaFallback "refuse").
const captchaRetry = 5 * time.Second

// captchaLogEvery bounds how often an unreachable provider is logged.
const captchaLogEvery = time.Minute

// Reasons a CAPTCHA room refuses a join for (JoinRefused.Reason), besides
// queue.RefusedReasons' captcha_failed. captcha_required is every new fan's
// first answer in such a room, so it is no refusal worth counting.
const (
	RefusedCaptchaRequired    = "captcha_required"
	RefusedCaptchaFailed      = "captcha_failed"
	RefusedCaptchaUnavailable = "captcha_unavailable"
)

// CaptchaVerifier asks CAPTCHA providers about responses (cmd wires
// package captcha's).
type CaptchaVerifier interface {
	// Configured reports whether the deployment holds provider's secret.
	Configured(provider string) bool
	// VerifyCaptcha asks provider about c.Response, once: nil when it
	// passes. Errors are *crowdgate.Error of kind CaptchaFailed (the
	// response is bad: the fan solves again) or Unavailable (the provider
	// cannot be asked, or refuses the deployment's secret).
	VerifyCaptcha(ctx context.Context, provider string, c CaptchaCheck) error
}

// CaptchaCheck is one response to verify and what the provider's answer
// must show.
type CaptchaCheck struct {
	// Response is the widget's token, as the fan sent it.
	Response string
	// RemoteIP is the fan's address; the zero Addr is not sent.
	RemoteIP netip.Addr
	// SiteKey is the room's site key.
	SiteKey string
	// Hostname is the host the page was served on; "" checks none.
	Hostname string
	// Action is the room's action; "" checks none.
	Action string
}

// CaptchaAsk is what a client needs to draw the room's widget: the answer
// to a join that needs a CAPTCHA.
type CaptchaAsk struct {
	Provider, SiteKey, Action string
}

// captchaRoom returns room name when it requires a CAPTCHA.
func (c *Controller) captchaRoom(ctx context.Context, name string) (queue.Room, bool) {
	r, err := c.Room(ctx, name)
	return r, err == nil && r.Captcha != ""
}

// captchaGate is the gate of a join into room r, which requires a CAPTCHA.
// When done, the join is over: t and err are its answer (the caller's
// place as it stands, the room closed, or a refusal). Otherwise g is what
// join.lua is to check for the new place.
func (c *Controller) captchaGate(ctx context.Context, r queue.Room, queueToken string, e Entry) (g queue.Gate, t Ticket, done bool, err error) {
	if queueToken != "" {
		t, err := c.ticket(ctx, r.Name, queueToken, false, queue.Gate{})
		if !errors.Is(err, queue.ErrNotInLine) {
			return g, t, true, err
		}
	}
	now := c.cfg.Now()
	switch {
	case r.Closed:
		return g, Ticket{Room: r.Name, Status: StatusClosed, ClosedReason: r.ClosedReason, ETA: unknownETA}, true, nil
	case now.Before(r.QueueOpensAt):
		return g, Ticket{}, true, &NotOpenError{OpensAt: r.QueueOpensAt}
	}
	plain := e
	plain.Challenge, plain.Solution = "", ""
	if g, err = c.gate(ctx, r.Name, plain); err != nil {
		return g, Ticket{}, true, err
	}
	ask := &CaptchaAsk{Provider: r.Captcha, SiteKey: r.CaptchaSiteKey, Action: r.CaptchaAction}
	switch {
	case e.Challenge != "" || e.Solution != "":
		s, err := c.keys.verifyChallenge(captchaFallbackDomain, r.Name, e.Challenge, e.Solution, now)
		if err != nil {
			var ce *crowdgate.Error
			errors.As(err, &ce)
			c.tallyRefusal(r.Name, queue.RefusedChallengeFailed)
			return g, Ticket{}, true, &JoinRefused{Reason: queue.RefusedChallengeFailed, Captcha: ask, err: ce}
		}
		g.ChallengeID, g.ChallengeBits, g.ChallengeExpires = s.ID, s.Bits, s.Expires
		return g, Ticket{}, false, nil
	case e.Captcha == "":
		return g, Ticket{}, true, &JoinRefused{Reason: RefusedCaptchaRequired, Captcha: ask,
			err: &crowdgate.Error{Kind: crowdgate.CaptchaRequired, Message: "solve the CAPTCHA and join again with its response"}}
	}
	err = c.verifyCaptcha(ctx, r, e)
	var ce *crowdgate.Error
	errors.As(err, &ce)
	switch {
	case err == nil:
		g.ChallengeID, g.ChallengeBits, g.ChallengeExpires = captchaID(r.Captcha, e.Captcha), queue.MaxChallengeBits, now.Add(captchaMarkTTL)
		return g, Ticket{}, false, nil
	case ce != nil && ce.Kind == crowdgate.CaptchaFailed:
		c.tallyRefusal(r.Name, RefusedCaptchaFailed)
		return g, Ticket{}, true, &JoinRefused{Reason: RefusedCaptchaFailed, Captcha: ask, err: ce}
	}
	c.captchaDown(r, err)
	if r.CaptchaFallback == queue.CaptchaFallbackRefuse {
		return g, Ticket{}, true, &JoinRefused{Reason: RefusedCaptchaUnavailable, Captcha: ask, RetryAfter: captchaRetry,
			err: &crowdgate.Error{Kind: crowdgate.Unavailable, Message: "the CAPTCHA provider cannot be reached; try again shortly", Err: err}}
	}
	ch := c.keys.challenge(captchaFallbackDomain, r.Name, r.ChallengeBits, now)
	return g, Ticket{}, true, &JoinRefused{Reason: queue.RefusedChallengeRequired, Challenge: &ch,
		err: &crowdgate.Error{Kind: crowdgate.ChallengeRequired, Message: fmt.Sprintf("the CAPTCHA provider cannot be reached: solve this challenge (%d bits) instead and join again with it", ch.Bits)}}
}

// captchaMarkTTL is how long join.lua remembers a verified response: longer
// than any provider keeps one valid.
const captchaMarkTTL = 10 * time.Minute

// verifyCaptcha asks the room's provider about e's response.
func (c *Controller) verifyCaptcha(ctx context.Context, r queue.Room, e Entry) error {
	if c.cfg.Captcha == nil {
		return &crowdgate.Error{Kind: crowdgate.Unavailable, Message: "no CAPTCHA provider is configured"}
	}
	return c.cfg.Captcha.VerifyCaptcha(ctx, r.Captcha, CaptchaCheck{
		Response: e.Captcha, RemoteIP: e.RemoteIP, SiteKey: r.CaptchaSiteKey, Hostname: e.Host, Action: r.CaptchaAction,
	})
}

// captchaDown logs that a provider cannot be reached, at most once a minute.
func (c *Controller) captchaDown(r queue.Room, err error) {
	now := c.cfg.Now().UnixNano()
	last := c.captchaSaid.Load()
	if now-last < int64(captchaLogEvery) || !c.captchaSaid.CompareAndSwap(last, now) {
		return
	}
	c.log.Warn("CAPTCHA provider unavailable: joins fall back", "room", r.Name, "provider", r.Captcha, "fallback", r.CaptchaFallback, "err", err)
}

// captchaID is the used-once id of a verified response in join.lua: not
// the response itself (up to 8 KiB), and never like a challenge's id
// (exactly 16 characters).
func captchaID(provider, response string) string {
	sum := sha256.Sum256([]byte(provider + "\x00" + response))
	return "cap-" + base64.RawURLEncoding.EncodeToString(sum[:18])
}

// captchaRefused adjusts join.lua's refusal of a join into a CAPTCHA room:
// the harder challenge it asks of a join that brought a fallback challenge
// is minted in the fallback's domain, so that it too stands in for the
// CAPTCHA; and a verified response join.lua has seen already (a provider
// that verified it twice) is a failed CAPTCHA, not a used challenge.
func (c *Controller) captchaRefused(room string, g queue.Gate, err error) {
	var r *JoinRefused
	if !errors.As(err, &r) {
		return
	}
	if r.Challenge != nil {
		ch := c.keys.challenge(captchaFallbackDomain, room, r.Challenge.Bits, c.cfg.Now())
		r.Challenge = &ch
	}
	if r.Reason == queue.RefusedChallengeFailed && strings.HasPrefix(g.ChallengeID, "cap-") {
		r.Reason = RefusedCaptchaFailed
		r.err = &crowdgate.Error{Kind: crowdgate.CaptchaFailed, Message: "this CAPTCHA response was used already; solve it again", Err: r.err}
	}
}

// checkCaptcha refuses a room whose CAPTCHA provider this deployment holds
// no secret for.
func (c *Controller) checkCaptcha(r queue.Room) error {
	if !queue.CaptchaProviders[r.Captcha] || (c.cfg.Captcha != nil && c.cfg.Captcha.Configured(r.Captcha)) {
		return nil
	}
	return &crowdgate.Error{Kind: crowdgate.Invalid, Err: queue.ErrInvalidRoom, Message: fmt.Sprintf(
		"captcha %q: this deployment has no secret for it (CROWDGATE_%s_SECRET or --%s-secret-file)", r.Captcha, strings.ToUpper(r.Captcha), r.Captcha)}
}
