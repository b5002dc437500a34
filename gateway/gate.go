package gateway

import (
	"errors"
	"net/http"
	"net/netip"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/api"
)

// gateAddr is the address a join is counted against (queue/gate.go): the
// real client address (behind --trusted-proxies, the forwarded one). The
// zero Addr, which no limit counts, for loopback (the box itself, or a proxy
// in front that was not declared trusted: one address for everyone must not
// lock everyone out) and for the operator's bypass networks (venues,
// partners).
func (s *Server) gateAddr(c echo.Context) netip.Addr {
	ip, err := netip.ParseAddr(c.RealIP())
	if err != nil {
		return netip.Addr{}
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsLoopback() {
		return netip.Addr{}
	}
	for _, p := range s.cfg.LimitBypass {
		if p.Contains(ip) {
			return netip.Addr{}
		}
	}
	return ip
}

// joinRefusal is the contract form of a join the room's gate refused: 428
// challenge_required with the challenge to solve, 400 challenge_failed, or
// 429 rate_limited with Retry-After.
func joinRefusal(r *admission.JoinRefused) *apiError {
	ae := &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many new places from your network"}
	var ce *crowdgate.Error
	if errors.As(r, &ce) {
		if e := fromKind(ce); e != nil {
			ae = e
		}
	}
	if r.RetryAfter > 0 {
		ae.RetryAfter = int((r.RetryAfter + time.Second - 1) / time.Second)
	}
	if ch := r.Challenge; ch != nil {
		ae.Challenge = &api.Challenge{Token: ch.Token, Bits: ch.Bits, Algorithm: admission.ChallengeAlgorithm, ExpiresAt: ch.Expires.UTC()}
	}
	return ae
}
