package gateway

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/api"
)

// gateAddr is the address a join is counted against (queue/gate.go): the
// real client address (behind --trusted-proxies, the forwarded one). The
// zero Addr, which no limit counts, for the operator's bypass networks
// (venues, partners). Loopback is an address like any other: a script on
// the gateway's own box is a script, and a proxy on loopback must be named
// in --trusted-proxies (or the whole crowd is one address, and the limits
// and challenges say so from its 30th new place in a minute).
func (s *Server) gateAddr(c echo.Context) netip.Addr {
	ip := realAddr(c)
	if !ip.IsValid() {
		return netip.Addr{}
	}
	for _, p := range s.cfg.LimitBypass {
		if p.Contains(ip) {
			return netip.Addr{}
		}
	}
	return ip
}

// realAddr is the real client address (behind --trusted-proxies, the
// forwarded one), or the zero Addr when it cannot be read.
func realAddr(c echo.Context) netip.Addr {
	ip, err := netip.ParseAddr(c.RealIP())
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap().WithZone("")
}

// pageHost is the host name fans load the waiting-room page from, which a
// CAPTCHA provider reports as where its widget was solved: the public
// URL's, else the request's (without a port).
func (s *Server) pageHost(r *http.Request) string {
	if s.cfg.PublicURL != nil {
		return s.cfg.PublicURL.Hostname()
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.Trim(host, "[]")
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
	if a := r.Captcha; a != nil {
		ae.Captcha = &api.Captcha{Provider: a.Provider, SiteKey: a.SiteKey, Action: a.Action}
	}
	if ch := r.Challenge; ch != nil {
		ae.Challenge = &api.Challenge{Token: ch.Token, Bits: ch.Bits, Algorithm: admission.ChallengeAlgorithm, ExpiresAt: ch.Expires.UTC()}
	}
	return ae
}
