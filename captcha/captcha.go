package captcha

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate"
)

// The providers' names, as rooms name them.
const (
	Turnstile = "turnstile"
	HCaptcha  = "hcaptcha"
	ReCAPTCHA = "recaptcha"
)

// Provider is what a deployment and a page need to know of one provider:
// where to verify, which script draws the widget, and which origins the
// page's Content-Security-Policy must allow for it (and only for it).
type Provider struct {
	Name string
	// VerifyURL is the siteverify endpoint.
	VerifyURL string
	// Script is the widget's script, loaded with ?render=explicit so the
	// page draws the widget where and when it needs it.
	Script string
	// CSP lists, per directive (script-src, frame-src, style-src,
	// connect-src), the sources the widget needs.
	CSP map[string][]string
}

// Providers are the supported providers by name. Their URLs and CSP
// sources are the providers' documented ones.
var Providers = map[string]Provider{
	Turnstile: {
		Name:      Turnstile,
		VerifyURL: "https://challenges.cloudflare.com/turnstile/v0/siteverify",
		Script:    "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit",
		CSP: map[string][]string{
			"script-src":  {"https://challenges.cloudflare.com"},
			"frame-src":   {"https://challenges.cloudflare.com"},
			"connect-src": {"https://challenges.cloudflare.com"},
		},
	},
	HCaptcha: {
		Name:      HCaptcha,
		VerifyURL: "https://api.hcaptcha.com/siteverify",
		Script:    "https://js.hcaptcha.com/1/api.js?render=explicit",
		CSP: map[string][]string{
			"script-src":  {"https://hcaptcha.com", "https://*.hcaptcha.com"},
			"frame-src":   {"https://hcaptcha.com", "https://*.hcaptcha.com"},
			"style-src":   {"https://hcaptcha.com", "https://*.hcaptcha.com"},
			"connect-src": {"https://hcaptcha.com", "https://*.hcaptcha.com"},
		},
	},
	ReCAPTCHA: {
		Name:      ReCAPTCHA,
		VerifyURL: "https://www.google.com/recaptcha/api/siteverify",
		Script:    "https://www.google.com/recaptcha/api.js?render=explicit",
		CSP: map[string][]string{
			"script-src": {"https://www.google.com/recaptcha/", "https://www.gstatic.com/recaptcha/"},
			"frame-src":  {"https://www.google.com/recaptcha/", "https://recaptcha.google.com/recaptcha/"},
		},
	},
}

// Limits and defaults.
const (
	// DefaultTimeout bounds one siteverify call, connection included.
	DefaultTimeout = 3 * time.Second
	// DefaultMaxAge is how old a solved challenge may be: the providers'
	// own token lifetime (Turnstile and hCaptcha: 300 s; reCAPTCHA: 120 s,
	// which the provider enforces itself).
	DefaultMaxAge = 5 * time.Minute
	// MinScore is the lowest reCAPTCHA v3 score that passes (1.0 is very
	// likely a person, 0.0 very likely a bot); Google's suggested default.
	MinScore = 0.5
	// MaxResponseBytes bounds the widget's token a fan may send; the
	// providers' tokens are a few hundred bytes to a few KiB (Turnstile's
	// at most 2048).
	MaxResponseBytes = 8192
	// MaxAnswerBytes bounds the provider's answer.
	MaxAnswerBytes = 64 << 10
	// clockSkew is how far in the future a challenge_ts may be.
	clockSkew = time.Minute
)

// Sentinels of the two ways a verification fails (see the package comment);
// every error Verify returns is a *crowdgate.Error wrapping one of them.
var (
	ErrRejected    = errors.New("captcha: response rejected")
	ErrUnavailable = errors.New("captcha: provider unavailable")
	// ErrMisconfigured is the deployment's fault (a wrong secret); such an
	// error wraps ErrUnavailable too.
	ErrMisconfigured = fmt.Errorf("%w: misconfigured", ErrUnavailable)
)

// Config configures a Verifier for one provider.
type Config struct {
	// Provider is Turnstile, HCaptcha or ReCAPTCHA. Required.
	Provider string
	// Secret is the deployment's secret key for the provider. Required;
	// it never reaches a log line.
	Secret string
	// VerifyURL overrides the provider's siteverify endpoint (tests, or a
	// proxy the deployment must go through).
	VerifyURL string
	// Client sends the requests. Default: a client of its own.
	Client *http.Client
	// Timeout bounds each call. Default DefaultTimeout.
	Timeout time.Duration
	// MaxAge is how old a solved challenge may be. Default DefaultMaxAge.
	MaxAge time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Observe, when set, hears the provider and the Outcome of every
	// siteverify call (not of responses refused before one is made: empty,
	// too long or malformed; nor of a call whose caller's context ended
	// first), for metrics. It must not block.
	Observe func(provider, outcome string)
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	if _, ok := Providers[c.Provider]; !ok {
		return fmt.Errorf("captcha: unknown provider %q (turnstile, hcaptcha or recaptcha)", c.Provider)
	}
	if strings.TrimSpace(c.Secret) == "" {
		return fmt.Errorf("captcha: %s needs a secret", c.Provider)
	}
	if c.VerifyURL != "" {
		u, err := url.Parse(c.VerifyURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("captcha: %s verify URL %q must be an absolute http(s) URL", c.Provider, c.VerifyURL)
		}
	}
	return nil
}

// Verifier checks responses with one provider.
type Verifier struct {
	cfg Config
}

// New returns a Verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Secret = strings.TrimSpace(cfg.Secret)
	if cfg.VerifyURL == "" {
		cfg.VerifyURL = Providers[cfg.Provider].VerifyURL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg}, nil
}

// Provider is the provider v verifies with.
func (v *Verifier) Provider() string { return v.cfg.Provider }

// Check is one response to verify and what its answer must show.
type Check struct {
	// Response is the widget's token, as the fan sent it.
	Response string
	// RemoteIP is the fan's address; the zero Addr is not sent.
	RemoteIP netip.Addr
	// SiteKey is the room's site key (sent to hCaptcha, which checks it).
	SiteKey string
	// Hostname is the host the page was served on; "" checks none.
	Hostname string
	// Action is the action the widget was given; "" checks none.
	Action string
}

// Answer is a provider's answer to siteverify, as parsed.
type Answer struct {
	Success     bool     `json:"success"`
	ChallengeTS string   `json:"challenge_ts"`
	Hostname    string   `json:"hostname"`
	ErrorCodes  []string `json:"error-codes"`
	Action      string   `json:"action"`
	Score       *float64 `json:"score"`
}

// Verify asks the provider about c.Response, once, and checks its answer.
// Errors are *crowdgate.Error: kind CaptchaFailed wrapping ErrRejected, or
// kind Unavailable wrapping ErrUnavailable (see the package comment).
func (v *Verifier) Verify(ctx context.Context, c Check) (_ Answer, err error) {
	if msg := checkResponse(c.Response); msg != "" {
		return Answer{}, rejected(msg)
	}
	if v.cfg.Observe != nil {
		caller := ctx
		defer func() {
			// A caller that gave up first (a fan who left) says nothing
			// of the provider.
			if err == nil || caller.Err() == nil {
				v.cfg.Observe(v.cfg.Provider, Outcome(err))
			}
		}()
	}
	form := url.Values{"secret": {v.cfg.Secret}, "response": {c.Response}}
	if c.RemoteIP.IsValid() {
		form.Set("remoteip", c.RemoteIP.Unmap().WithZone("").String())
	}
	if v.cfg.Provider == HCaptcha && c.SiteKey != "" {
		form.Set("sitekey", c.SiteKey)
	}
	ctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.cfg.VerifyURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Answer{}, unavailable(ErrUnavailable, "cannot build the request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := v.cfg.Client.Do(req)
	if err != nil {
		// The error names the URL, never the secret (it is in the body).
		return Answer{}, unavailable(ErrUnavailable, "no answer: "+errors.Unwrap(err).Error())
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxAnswerBytes+1))
	if err != nil {
		return Answer{}, unavailable(ErrUnavailable, "answer cut short")
	}
	if res.StatusCode != http.StatusOK {
		return Answer{}, unavailable(ErrUnavailable, fmt.Sprintf("HTTP %d", res.StatusCode))
	}
	a, err := ParseAnswer(body)
	if err != nil {
		return Answer{}, unavailable(ErrUnavailable, err.Error())
	}
	return a, v.judge(a, c)
}

// ParseAnswer parses a siteverify answer strictly: one JSON object of at
// most MaxAnswerBytes, with success present, each known field (spelled
// exactly) of its type, no field twice, and nothing after it. Unknown
// fields are allowed: providers add them.
func ParseAnswer(body []byte) (Answer, error) {
	var a Answer
	if len(body) > MaxAnswerBytes {
		return a, errors.New("answer too large")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return a, errors.New("answer is not a JSON object")
	}
	fields := map[string]any{"success": &a.Success, "challenge_ts": &a.ChallengeTS, "hostname": &a.Hostname,
		"error-codes": &a.ErrorCodes, "action": &a.Action, "score": &a.Score}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Answer{}, errors.New("answer is not the siteverify JSON")
		}
		key, _ := tok.(string)
		if seen[key] {
			return Answer{}, fmt.Errorf("answer has %q twice", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Answer{}, errors.New("answer is not the siteverify JSON")
		}
		dst, known := fields[key]
		switch {
		case key == "success" && string(raw) != "true" && string(raw) != "false":
			return Answer{}, errors.New("answer's success is not a boolean")
		case !known || string(raw) == "null":
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return Answer{}, fmt.Errorf("answer's %s has the wrong type", key)
		}
	}
	if _, err := dec.Token(); err != nil {
		return Answer{}, errors.New("answer is not the siteverify JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return Answer{}, errors.New("answer has data after its JSON")
	}
	if !seen["success"] {
		return Answer{}, errors.New("answer has no success field")
	}
	if a.Score != nil && (math.IsNaN(*a.Score) || *a.Score < 0 || *a.Score > 1) {
		return Answer{}, errors.New("answer's score is outside 0..1")
	}
	return a, nil
}

// misconfigured are the error codes that blame the deployment's secret or
// site key, not the fan's token.
var misconfigured = map[string]bool{
	"missing-input-secret":     true,
	"invalid-input-secret":     true,
	"invalid-parsed-secret":    true, // Turnstile
	"invalid-widget-id":        true, // Turnstile
	"sitekey-secret-mismatch":  true, // hCaptcha
	"not-using-dummy-passcode": true, // hCaptcha's test keys
}

// judge turns a parsed answer into the verdict.
func (v *Verifier) judge(a Answer, c Check) error {
	if !a.Success {
		for _, code := range a.ErrorCodes {
			switch {
			case misconfigured[code]:
				return unavailable(ErrMisconfigured, "the provider refuses the deployment's "+code)
			case code == "internal-error":
				return unavailable(ErrUnavailable, "the provider failed (internal-error)")
			}
		}
		return rejected(rejectedText(a.ErrorCodes))
	}
	if c.Hostname != "" && !strings.EqualFold(strings.TrimSuffix(a.Hostname, "."), strings.TrimSuffix(c.Hostname, ".")) {
		return rejected("the CAPTCHA was solved on another site")
	}
	if c.Action != "" && a.Action != c.Action {
		return rejected("the CAPTCHA was solved for another action")
	}
	ts, err := parseTime(a.ChallengeTS)
	if err != nil {
		return rejected("the CAPTCHA's time is unreadable")
	}
	now := v.cfg.Now()
	if now.Sub(ts) > v.cfg.MaxAge || ts.Sub(now) > clockSkew {
		return rejected("the CAPTCHA was solved too long ago; solve it again")
	}
	if v.cfg.Provider == ReCAPTCHA && a.Score != nil && *a.Score < MinScore {
		return rejected("the CAPTCHA's score is too low")
	}
	return nil
}

// rejectedText is the fan's message for a provider's refusal.
func rejectedText(codes []string) string {
	for _, code := range codes {
		switch code {
		case "timeout-or-duplicate", "expired-input-response", "already-seen-response", "invalid-or-already-seen-response":
			return "the CAPTCHA expired or was used already; solve it again"
		}
	}
	return "the CAPTCHA was not solved; solve it again"
}

// parseTime reads challenge_ts: RFC 3339 (Turnstile and hCaptcha, with
// fractions) or reCAPTCHA's "2006-01-02T15:04:05ZZ" (a zone like +0000 or
// -07:00).
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("captcha: bad challenge_ts")
}

// checkResponse says what is wrong with a fan's token before anyone is
// asked about it: empty, too long, or not printable ASCII.
func checkResponse(s string) string {
	if s == "" {
		return "the CAPTCHA response is empty"
	}
	if len(s) > MaxResponseBytes {
		return "the CAPTCHA response is too long"
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return "the CAPTCHA response is malformed"
		}
	}
	return ""
}

func rejected(msg string) error {
	return &crowdgate.Error{Kind: crowdgate.CaptchaFailed, Message: msg, Err: ErrRejected}
}

func unavailable(sentinel error, detail string) error {
	return &crowdgate.Error{Kind: crowdgate.Unavailable, Message: "the CAPTCHA provider cannot be reached; try again shortly", Err: fmt.Errorf("%w: %s", sentinel, detail)}
}

// Outcomes of a siteverify call (Outcome, Config.Observe).
const (
	// OutcomeOK: the response passed.
	OutcomeOK = "ok"
	// OutcomeFailed: the provider, or a check of its answer, rejected the
	// response (ErrRejected): the fan's doing, or a script's.
	OutcomeFailed = "failed"
	// OutcomeUnreachable: no answer, an HTTP error, an answer that is not
	// the protocol's, or internal-error (ErrUnavailable).
	OutcomeUnreachable = "unreachable"
	// OutcomeMisconfigured: the provider answered, and blames the
	// deployment's secret or site key (ErrMisconfigured): the operator's
	// to fix, not the provider's.
	OutcomeMisconfigured = "misconfigured"
)

// Outcomes are every Outcome, in the order dashboards show them.
var Outcomes = []string{OutcomeOK, OutcomeFailed, OutcomeUnreachable, OutcomeMisconfigured}

// Outcome names what Verify's error says of the call: OutcomeOK for nil.
func Outcome(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrMisconfigured):
		return OutcomeMisconfigured
	case errors.Is(err, ErrUnavailable):
		return OutcomeUnreachable
	}
	return OutcomeFailed
}

// Set is the deployment's verifiers by provider name.
type Set map[string]*Verifier

// Observed returns a copy of s whose verifiers report each siteverify
// call to observe (Config.Observe), for a deployment that builds its
// verifiers before its metrics.
func (s Set) Observed(observe func(provider, outcome string)) Set {
	out := make(Set, len(s))
	for p, v := range s {
		if v == nil {
			out[p] = nil
			continue
		}
		c := *v
		c.cfg.Observe = observe
		out[p] = &c
	}
	return out
}

// Configured reports whether s can verify provider's responses.
func (s Set) Configured(provider string) bool { return s[provider] != nil }

// Verify verifies c with provider's Verifier; a provider s has no verifier
// for is unavailable (and misconfigured).
func (s Set) Verify(ctx context.Context, provider string, c Check) error {
	v := s[provider]
	if v == nil {
		return unavailable(ErrMisconfigured, "no secret for "+provider)
	}
	_, err := v.Verify(ctx, c)
	return err
}
