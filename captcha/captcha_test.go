package captcha_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/captcha"
	"github.com/crowdgate/crowdgate/captcha/captchatest"
)

const secret = "0x4AAAAAAA-the-deployment-secret"

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func now() time.Time { return t0 }

func mustVerifier(tb testing.TB, provider, url string, timeout time.Duration) *captcha.Verifier {
	tb.Helper()
	v, err := captcha.New(captcha.Config{Provider: provider, Secret: secret, VerifyURL: url, Timeout: timeout, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// TestVerifySpeaksEachProvidersSiteverify runs every outcome of the
// protocol against a local provider of each kind: a good token passes once
// (the second time the provider says it is a duplicate), and every error
// code lands on the side of the line it belongs to: the fan's token
// (rejected, the fan solves again) or the deployment and the provider
// (unavailable, the room falls back or refuses for now).
func TestVerifySpeaksEachProvidersSiteverify(t *testing.T) {
	t.Parallel()
	for _, provider := range []string{captcha.Turnstile, captcha.HCaptcha, captcha.ReCAPTCHA} {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			p := captchatest.New(t, provider, secret, now)
			v := mustVerifier(t, provider, p.URL, 0)
			ctx := context.Background()
			check := func(tok string) captcha.Check {
				return captcha.Check{Response: tok, RemoteIP: netip.MustParseAddr("203.0.113.7"), SiteKey: "sitekey-1", Hostname: "tickets.example", Action: "join"}
			}
			action := "join"
			if provider == captcha.HCaptcha {
				action = "" // hCaptcha reports no action; rooms using it set none
			}
			plain := check("")
			plain.Action = ""

			tok := p.Solve("tickets.example", action)
			c := check(tok)
			if provider == captcha.HCaptcha {
				c.Action = ""
			}
			if _, err := v.Verify(ctx, c); err != nil {
				t.Fatalf("a solved token: %v", err)
			}
			form := p.Forms()[0]
			if form.Get("secret") != secret || form.Get("response") != tok || form.Get("remoteip") != "203.0.113.7" {
				t.Errorf("form = %v", form)
			}
			if got, want := form.Get("sitekey"), map[bool]string{true: "sitekey-1"}[provider == captcha.HCaptcha]; got != want {
				t.Errorf("sitekey = %q, want %q", got, want)
			}
			if _, err := v.Verify(ctx, c); !isRejected(err) {
				t.Errorf("the same token twice: %v, want rejected", err)
			}

			stale := p.SolveWith("tickets.example", "", nil, t0.Add(-captcha.DefaultMaxAge-time.Second))
			future := p.SolveWith("tickets.example", "", nil, t0.Add(2*time.Minute))
			elsewhere := p.Solve("evil.example", "")
			otherAction := p.Solve("tickets.example", "login")
			low, high := 0.3, 0.9
			lowScore := p.SolveWith("tickets.example", "", &low, t0)
			highScore := p.SolveWith("tickets.example", "", &high, t0)
			for _, tc := range []struct {
				name  string
				check captcha.Check
				want  func(error) bool
			}{
				{"an unknown token", withResponse(plain, "never-issued"), isRejected},
				{"a stale one", withResponse(plain, stale), isRejected},
				{"one from the future", withResponse(plain, future), isRejected},
				{"one solved on another site", withResponse(plain, elsewhere), isRejected},
				{"another action", withResponse(check(""), otherAction), isRejected},
				{"a score", withResponse(plain, highScore), isNil},
				{"a low score", withResponse(plain, lowScore), map[bool]func(error) bool{true: isRejected, false: isNil}[provider == captcha.ReCAPTCHA]},
				{"an empty response, never sent", withResponse(plain, ""), isRejected},
				{"a response with a space, never sent", withResponse(plain, "a b"), isRejected},
				{"an oversized response, never sent", withResponse(plain, strings.Repeat("a", captcha.MaxResponseBytes+1)), isRejected},
			} {
				if err := verify(v, tc.check); !tc.want(err) {
					t.Errorf("%s: %v", tc.name, err)
				}
			}

			for _, tc := range []struct {
				code string
				want func(error) bool
			}{
				{"missing-input-response", isRejected},
				{"invalid-input-response", isRejected},
				{"bad-request", isRejected},
				{"timeout-or-duplicate", isRejected},
				{"expired-input-response", isRejected},
				{"already-seen-response", isRejected},
				{"invalid-or-already-seen-response", isRejected},
				{"missing-remoteip", isRejected},
				{"invalid-remoteip", isRejected},
				{"some-future-code", isRejected},
				{"internal-error", isUnavailable},
				{"missing-input-secret", isMisconfigured},
				{"invalid-input-secret", isMisconfigured},
				{"invalid-parsed-secret", isMisconfigured},
				{"invalid-widget-id", isMisconfigured},
				{"sitekey-secret-mismatch", isMisconfigured},
				{"not-using-dummy-passcode", isMisconfigured},
			} {
				tok := "code-" + tc.code
				p.Reply(tok, http.StatusOK, `{"success":false,"error-codes":["`+tc.code+`"]}`)
				if err := verify(v, withResponse(plain, tok)); !tc.want(err) {
					t.Errorf("error code %s: %v", tc.code, err)
				}
			}
			p.Reply("no-codes", http.StatusOK, `{"success":false}`)
			if err := verify(v, withResponse(plain, "no-codes")); !isRejected(err) {
				t.Errorf("success false without codes: %v", err)
			}

			for name, body := range map[string]string{
				"not JSON":            `<html>oops</html>`,
				"no success":          `{"hostname":"tickets.example"}`,
				"success of a string": `{"success":"true"}`,
				"two objects":         `{"success":true}{"success":true}`,
				"an array":            `[{"success":true}]`,
				"null":                `null`,
				"too large":           `{"success":false,"x":"` + strings.Repeat("a", captcha.MaxAnswerBytes) + `"}`,
			} {
				tok := "raw-" + strings.ReplaceAll(name, " ", "-")
				p.Reply(tok, http.StatusOK, body)
				if err := verify(v, withResponse(plain, tok)); !isUnavailable(err) {
					t.Errorf("an answer that is %s: %v", name, err)
				}
			}
			p.Reply("http-500", http.StatusInternalServerError, `{"success":false,"error-codes":["internal-error"]}`)
			if err := verify(v, withResponse(plain, "http-500")); !isUnavailable(err) {
				t.Errorf("HTTP 500: %v", err)
			}

			// A wrong secret is the deployment's fault, not the fan's.
			wrong, err := captcha.New(captcha.Config{Provider: provider, Secret: "wrong", VerifyURL: p.URL, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := wrong.Verify(ctx, withResponse(plain, p.Solve("tickets.example", ""))); !isMisconfigured(err) {
				t.Errorf("a wrong secret: %v", err)
			}
		})
	}
}

// TestVerifyUnreachableProvider: a provider that is down, does not answer
// in time or cannot be connected to is unavailable, never a pass.
func TestVerifyUnreachableProvider(t *testing.T) {
	t.Parallel()
	p := captchatest.New(t, captcha.Turnstile, secret, now)
	check := captcha.Check{Response: p.Solve("", ""), Hostname: ""}

	p.Down(http.StatusServiceUnavailable)
	if err := verify(mustVerifier(t, captcha.Turnstile, p.URL, 0), check); !isUnavailable(err) {
		t.Errorf("HTTP 503: %v", err)
	}
	p.Down(http.StatusTooManyRequests)
	if err := verify(mustVerifier(t, captcha.Turnstile, p.URL, 0), check); !isUnavailable(err) {
		t.Errorf("HTTP 429: %v", err)
	}
	p.Down(0)
	p.Hang(true)
	if err := verify(mustVerifier(t, captcha.Turnstile, p.URL, 20*time.Millisecond), check); !isUnavailable(err) {
		t.Errorf("no answer: %v", err)
	}
	p.Hang(false)

	closed := captchatest.New(t, captcha.Turnstile, secret, now)
	closed.Close()
	if err := verify(mustVerifier(t, captcha.Turnstile, closed.URL, 0), check); !isUnavailable(err) {
		t.Errorf("nobody listening: %v", err)
	}
	if err := (captcha.Set{}).Verify(context.Background(), captcha.HCaptcha, check); !isMisconfigured(err) {
		t.Errorf("a provider without a secret: %v", err)
	}
}

// TestConfigValidate: a Verifier needs a known provider, a secret and, when
// given, an absolute verify URL.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []captcha.Config{
		{Provider: "friendlycaptcha", Secret: "s"},
		{Provider: captcha.Turnstile, Secret: "  "},
		{Provider: captcha.HCaptcha, Secret: "s", VerifyURL: "/siteverify"},
		{Provider: captcha.ReCAPTCHA, Secret: "s", VerifyURL: "ftp://x/y"},
	} {
		if _, err := captcha.New(c); err == nil {
			t.Errorf("%+v: accepted", c)
		}
	}
	if _, err := captcha.New(captcha.Config{Provider: captcha.ReCAPTCHA, Secret: "s\n"}); err != nil {
		t.Error(err)
	}
}

// TestErrorsNeverCarryTheSecret: whatever fails, the secret is in no error
// text (errors reach log lines).
func TestErrorsNeverCarryTheSecret(t *testing.T) {
	t.Parallel()
	p := captchatest.New(t, captcha.ReCAPTCHA, secret, now)
	v := mustVerifier(t, captcha.ReCAPTCHA, p.URL, 0)
	p.Down(http.StatusBadGateway)
	err := verify(v, captcha.Check{Response: "x"})
	p.Down(0)
	err2 := verify(v, captcha.Check{Response: "x"})
	for _, e := range []error{err, err2} {
		if e == nil || strings.Contains(e.Error(), secret) {
			t.Errorf("error %v", e)
		}
	}
}

func withResponse(c captcha.Check, tok string) captcha.Check {
	c.Response = tok
	return c
}

func verify(v *captcha.Verifier, c captcha.Check) error {
	_, err := v.Verify(context.Background(), c)
	return err
}

func isNil(err error) bool { return err == nil }

func isRejected(err error) bool {
	return errors.Is(err, captcha.ErrRejected) && crowdgate.KindOf(err) == crowdgate.CaptchaFailed && crowdgate.MessageOf(err) != ""
}

func isUnavailable(err error) bool {
	return errors.Is(err, captcha.ErrUnavailable) && crowdgate.KindOf(err) == crowdgate.Unavailable
}

func isMisconfigured(err error) bool {
	return isUnavailable(err) && errors.Is(err, captcha.ErrMisconfigured)
}

// tally is a Config.Observe that counts outcomes per provider.
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (t *tally) observe(provider, outcome string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = map[string]int{}
	}
	t.n[provider+"/"+outcome]++
}

func (t *tally) counts() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.n)
}

// TestObserveOutcomes: every siteverify call is reported with its outcome,
// a provider that is down, silent or gone as unreachable and one that
// refuses the secret as misconfigured, so that they can be told apart from
// fans' failures; a response refused before any call is not reported.
func TestObserveOutcomes(t *testing.T) {
	t.Parallel()
	var seen tally
	p := captchatest.New(t, captcha.Turnstile, secret, now)
	gone := captchatest.New(t, captcha.HCaptcha, secret, now)
	gone.Close()
	set := captcha.Set{}
	for provider, url := range map[string]string{captcha.Turnstile: p.URL, captcha.HCaptcha: gone.URL} {
		v, err := captcha.New(captcha.Config{Provider: provider, Secret: secret, VerifyURL: url, Timeout: time.Second, Now: now, Observe: seen.observe})
		if err != nil {
			t.Fatal(err)
		}
		set[provider] = v
	}
	ctx := context.Background()
	run := func(provider string, tok string) error {
		return set.Verify(ctx, provider, captcha.Check{Response: tok})
	}
	tok := p.Solve("", "")
	for _, step := range []struct {
		provider, tok string
		setup         func()
		want          string
	}{
		{captcha.Turnstile, tok, nil, captcha.OutcomeOK},
		{captcha.Turnstile, tok, nil, captcha.OutcomeFailed}, // used already
		{captcha.Turnstile, "made-up", nil, captcha.OutcomeFailed},
		{captcha.Turnstile, "x", func() { p.Down(http.StatusServiceUnavailable) }, captcha.OutcomeUnreachable},
		{captcha.Turnstile, "x", func() { p.Down(0); p.Hang(true) }, captcha.OutcomeUnreachable},
		{captcha.Turnstile, "internal", func() {
			p.Hang(false)
			p.Reply("internal", 200, `{"success":false,"error-codes":["internal-error"]}`)
		}, captcha.OutcomeUnreachable},
		{captcha.Turnstile, "secret", func() { p.Reply("secret", 200, `{"success":false,"error-codes":["invalid-input-secret"]}`) }, captcha.OutcomeMisconfigured},
		{captcha.Turnstile, "html", func() { p.Reply("html", 200, `<html>`) }, captcha.OutcomeUnreachable},
		{captcha.HCaptcha, "x", nil, captcha.OutcomeUnreachable}, // nobody listening
	} {
		if step.setup != nil {
			step.setup()
		}
		before := seen.counts()[step.provider+"/"+step.want]
		err := run(step.provider, step.tok)
		if got := captcha.Outcome(err); got != step.want {
			t.Errorf("%s %q: outcome %s (%v), want %s", step.provider, step.tok, got, err, step.want)
		}
		if seen.counts()[step.provider+"/"+step.want] != before+1 {
			t.Errorf("%s %q: not reported as %s: %v", step.provider, step.tok, step.want, seen.counts())
		}
	}
	// Refused before any call, no verifier at all, or a caller who gave up
	// first: nothing to report.
	before := seen.counts()
	p.Hang(true)
	gaveUp, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	if err := set.Verify(gaveUp, captcha.Turnstile, captcha.Check{Response: "x"}); !isUnavailable(err) {
		t.Errorf("a caller who gave up: %v", err)
	}
	cancel()
	p.Hang(false)
	for _, tok := range []string{"", "has space", strings.Repeat("x", captcha.MaxResponseBytes+1)} {
		if err := run(captcha.Turnstile, tok); !isRejected(err) {
			t.Errorf("%q: %v", tok, err)
		}
	}
	if err := run(captcha.ReCAPTCHA, "x"); !isMisconfigured(err) {
		t.Errorf("no verifier: %v", err)
	}
	if got := seen.counts(); !maps.Equal(got, before) {
		t.Errorf("reported without a call: %v, was %v", got, before)
	}
	want := map[string]int{"turnstile/ok": 1, "turnstile/failed": 2, "turnstile/unreachable": 4, "turnstile/misconfigured": 1, "hcaptcha/unreachable": 1}
	if got := seen.counts(); !maps.Equal(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
}

// TestSetObserved: a set built before its metrics reports through the copy
// Observed returns, and the original is left as it was.
func TestSetObserved(t *testing.T) {
	t.Parallel()
	var seen tally
	p := captchatest.New(t, captcha.ReCAPTCHA, secret, now)
	set := captcha.Set{captcha.ReCAPTCHA: mustVerifier(t, captcha.ReCAPTCHA, p.URL, 0), captcha.HCaptcha: nil}
	observed := set.Observed(seen.observe)
	if !observed.Configured(captcha.ReCAPTCHA) || observed.Configured(captcha.HCaptcha) {
		t.Fatalf("Observed changed what is configured: %v", observed)
	}
	if err := observed.Verify(context.Background(), captcha.ReCAPTCHA, captcha.Check{Response: p.Solve("", "")}); err != nil {
		t.Fatal(err)
	}
	if err := set.Verify(context.Background(), captcha.ReCAPTCHA, captcha.Check{Response: p.Solve("", "")}); err != nil {
		t.Fatal(err)
	}
	if got := seen.counts(); !maps.Equal(got, map[string]int{"recaptcha/ok": 1}) {
		t.Errorf("counts %v, want the observed set's one call", got)
	}
}
