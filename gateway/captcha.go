package gateway

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/queue"
)

// Failed CAPTCHAs per address (IPv4, or IPv6 /64), per instance: 20 at
// once, then one every 3 s. A fan fails one now and then; a script that
// floods a CAPTCHA room with made-up responses would otherwise have every
// instance ask the provider about each of them.
const (
	captchaFailBurst = 20
	captchaFailEvery = 3 * time.Second
)

// captchaGuard refuses, with 429 and before the provider is asked, a join
// that brings a CAPTCHA response from an address whose responses keep
// failing; failed records the join's outcome. Addresses no per-address
// limit counts (--limit-bypass) are not limited here either.
func (s *Server) captchaGuard(c echo.Context, response string) (failed func(error), err error) {
	addr := s.gateAddr(c)
	if response == "" || !addr.IsValid() {
		return func(error) {}, nil
	}
	key, _ := queue.AddressKey(addr)
	now := s.cfg.Now()
	lim := s.captchaFails.get(key.String(), now)
	if lim.TokensAt(now) < 1 {
		return nil, &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited",
			Message: "too many failed CAPTCHAs from your network; wait a moment", RetryAfter: int(captchaFailEvery / time.Second)}
	}
	return func(err error) {
		var r *admission.JoinRefused
		if errors.As(err, &r) && r.Reason == admission.RefusedCaptchaFailed {
			lim.AllowN(now, 1)
		}
	}, nil
}
