package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/captcha"
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

// CaptchaMetrics counts the deployment's siteverify calls by provider and
// outcome, crowdgate_captcha_verifications_total{provider,outcome}: a
// provider that cannot be reached shows as outcome="unreachable" (and one
// that refuses the deployment's secret as "misconfigured") before fans
// notice, where otherwise a log line once a minute says so. captcha may
// not import Prometheus, so the counter lives here, beside the gateway's
// other metrics; its Observe is what the verifiers report to
// (captcha.Config.Observe, captcha.Set.Observed).
type CaptchaMetrics struct {
	total *prometheus.CounterVec
}

// NewCaptchaMetrics registers the counter on reg, with every outcome of
// each of providers at 0, so that a rate of failures exists before the
// first one.
func NewCaptchaMetrics(reg prometheus.Registerer, providers ...string) (*CaptchaMetrics, error) {
	m := &CaptchaMetrics{total: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crowdgate_captcha_verifications_total",
		Help: "CAPTCHA siteverify calls by provider and outcome: ok, failed (the response was rejected), unreachable (no answer, an HTTP error, an unreadable answer or internal-error), misconfigured (the provider refuses the deployment's secret).",
	}, []string{"provider", "outcome"})}
	if err := reg.Register(m.total); err != nil {
		return nil, fmt.Errorf("gateway: register CAPTCHA metrics: %w", err)
	}
	for _, p := range providers {
		for _, o := range captcha.Outcomes {
			m.total.WithLabelValues(p, o)
		}
	}
	return m, nil
}

// Observe counts one siteverify call. The labels come from captcha: a
// provider the deployment has a secret for, and one of captcha.Outcomes.
func (m *CaptchaMetrics) Observe(provider, outcome string) {
	m.total.WithLabelValues(provider, outcome).Inc()
}
