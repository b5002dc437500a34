package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/captcha"
	"github.com/crowdgate/crowdgate/captcha/captchatest"
	"github.com/crowdgate/crowdgate/gateway"
)

// captchaVerifier hands the test stack's controller the local providers'
// verifiers, as serve hands it the deployment's.
type captchaVerifier struct{ captcha.Set }

func (v captchaVerifier) VerifyCaptcha(ctx context.Context, provider string, c admission.CaptchaCheck) error {
	return v.Verify(ctx, provider, captcha.Check(c))
}

const captchaSecret = "test-captcha-secret"

// captchaStack is a stack whose deployment holds a secret for each of the
// given providers, each served by a local siteverify endpoint.
func captchaStack(t *testing.T, providers ...string) (*stack, map[string]*captchatest.Server) {
	t.Helper()
	set, servers := captcha.Set{}, map[string]*captchatest.Server{}
	for _, p := range providers {
		servers[p] = captchatest.New(t, p, captchaSecret, nil)
		v, err := captcha.New(captcha.Config{Provider: p, Secret: captchaSecret, VerifyURL: servers[p].URL, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		set[p] = v
	}
	return newStackWith(t, stackOptions{trusted: "127.0.0.1/32", captcha: set}), servers
}

// captchaOf reads the CAPTCHA of an error answer.
func captchaOf(t *testing.T, r response, status int, code string) api.Captcha {
	t.Helper()
	var b api.ErrorResponse
	if err := json.Unmarshal(r.body, &b); err != nil || r.status != status || b.Error.Code != code || b.Captcha == nil {
		t.Fatalf("want %d %s with a captcha, got %d %s", status, code, r.status, r.body)
	}
	return *b.Captcha
}

func captchaBody(tok string) string {
	b, _ := json.Marshal(api.JoinRequest{Captcha: tok})
	return string(b)
}

// TestJoinCaptcha walks a join through each provider's CAPTCHA: 428 with
// the widget to draw; a bad, replayed or foreign response is 400
// captcha_failed and changes nothing; a solved one makes the place, with
// one siteverify call that carries the fan's address (and, for hCaptcha,
// the site key); re-joining and asking for the status with the place's
// token never call the provider again. The CAPTCHA stands in for the
// room's proof-of-work ("always" here).
func TestJoinCaptcha(t *testing.T) {
	t.Parallel()
	s, providers := captchaStack(t, captcha.Turnstile, captcha.HCaptcha, captcha.ReCAPTCHA)
	from := []string{"X-Forwarded-For", "203.0.113.7", "Content-Type", "application/json"}
	for _, tc := range []struct{ provider, key, action string }{
		{captcha.Turnstile, "0x4AAAAAAAtest", "join"},
		{captcha.HCaptcha, "10000000-ffff-ffff-ffff-000000000001", ""},
		{captcha.ReCAPTCHA, "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI", ""},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			p := providers[tc.provider]
			room := "cap-" + tc.provider
			doc, _ := json.Marshal(map[string]any{"admit_per_minute": 0, "challenge": "always", "challenge_bits": 20,
				"captcha": tc.provider, "captcha_site_key": tc.key, "captcha_action": tc.action})
			s.putRoom(room, string(doc))
			path := "/api/v1/rooms/" + room + "/join"
			waiting := func() float64 {
				return s.admin("GET", "/admin/v1/rooms/"+room, "").json(t)["stats"].(map[string]any)["waiting"].(float64)
			}

			ask := captchaOf(t, s.do("POST", path, "", from...), 428, "captcha_required")
			if ask != (api.Captcha{Provider: tc.provider, SiteKey: tc.key, Action: tc.action}) {
				t.Fatalf("captcha %+v", ask)
			}
			used := p.Solve("127.0.0.1", tc.action)
			if r := s.do("POST", path, captchaBody(used), from...); r.status != 200 {
				t.Fatalf("a solved CAPTCHA: %d %s", r.status, r.body)
			}
			tok := p.Solve("127.0.0.1", tc.action)
			r := s.do("POST", path, captchaBody(tok), from...)
			if r.status != 200 {
				t.Fatalf("a solved CAPTCHA: %d %s", r.status, r.body)
			}
			queueToken := r.json(t)["queue_token"].(string)
			calls := len(p.Forms())
			form := p.Forms()[calls-1]
			if form.Get("response") != tok || form.Get("remoteip") != "203.0.113.7" || form.Get("secret") != captchaSecret {
				t.Errorf("siteverify form %v", form)
			}
			if (form.Get("sitekey") == tc.key) != (tc.provider == captcha.HCaptcha) {
				t.Errorf("sitekey %q sent to %s", form.Get("sitekey"), tc.provider)
			}

			before := waiting()
			for name, body := range map[string]string{
				"never issued":         captchaBody("not-a-token"),
				"used already":         captchaBody(used),
				"solved on other site": captchaBody(p.Solve("evil.example", tc.action)),
				"with a space":         captchaBody("a b"),
				"too long":             captchaBody(strings.Repeat("a", captcha.MaxResponseBytes+1)),
			} {
				if r := s.do("POST", path, body, from...); r.status != 400 || r.errorCode(t) != "captcha_failed" {
					t.Errorf("%s: %d %s, want 400 captcha_failed", name, r.status, r.body)
				}
			}
			if r := s.do("POST", path, `{"captcha": 7}`, from...); r.status != 400 || r.errorCode(t) != "invalid_request" {
				t.Errorf("a number for the captcha: %d %s", r.status, r.body)
			}
			if got := waiting(); got != before {
				t.Errorf("waiting %v after the refusals, want %v", got, before)
			}
			// Refused before join.lua, they reach the room's counts at a refresh.
			if err := s.ctl.FlushRefusals(context.Background()); err != nil {
				t.Fatal(err)
			}
			refused, err := s.store.Refusals(context.Background(), room)
			if err != nil || refused["captcha_failed"] < 3 {
				t.Errorf("refusals %v (%v): want captcha_failed counted", refused, err)
			}

			calls = len(p.Forms())
			bearer := append(append([]string{}, from...), "Authorization", "Bearer "+queueToken)
			if r := s.do("POST", path, "", bearer...); r.status != 200 || r.json(t)["queue_token"] != queueToken {
				t.Errorf("re-join with the place's token: %d %s", r.status, r.body)
			}
			if r := s.do("GET", "/api/v1/rooms/"+room+"/status", "", bearer...); r.status != 200 {
				t.Errorf("status: %d %s", r.status, r.body)
			}
			if n := len(p.Forms()); n != calls {
				t.Errorf("re-join and status called siteverify %d times", n-calls)
			}
		})
	}
}

// TestJoinCaptchaProviderDown: while the provider cannot be reached (down,
// silent, or refusing the deployment's secret), a "pow" room asks for a
// proof-of-work challenge instead, which then makes the place; a "refuse"
// room answers 503 with Retry-After and makes none. Only a challenge minted
// for that purpose stands in for the CAPTCHA: the gate's own do not.
func TestJoinCaptchaProviderDown(t *testing.T) {
	t.Parallel()
	s, providers := captchaStack(t, captcha.Turnstile)
	p := providers[captcha.Turnstile]
	from := []string{"X-Forwarded-For", "203.0.113.9", "Content-Type", "application/json"}
	s.putRoom("pow", `{"admit_per_minute": 0, "challenge": "off", "challenge_bits": 8, "captcha": "turnstile", "captcha_site_key": "k1"}`)
	s.putRoom("refuse", `{"admit_per_minute": 0, "captcha": "turnstile", "captcha_site_key": "k1", "captcha_fallback": "refuse"}`)
	if got := s.admin("GET", "/admin/v1/rooms/pow", "").json(t)["captcha_fallback"]; got != "pow" {
		t.Fatalf("default fallback %v, want pow", got)
	}

	for name, down := range map[string]func() (restore func()){
		"HTTP 503":  func() func() { p.Down(http.StatusServiceUnavailable); return func() { p.Down(0) } },
		"no answer": func() func() { p.Hang(true); return func() { p.Hang(false) } },
		"bad secret": func() func() {
			p.Reply("bad-secret", 200, `{"success":false,"error-codes":["invalid-input-secret"]}`)
			return func() {}
		},
		"not JSON": func() func() { p.Reply("bad-secret", 200, `<html>`); return func() {} },
	} {
		restore := down()
		ch := challengeOf(t, s.do("POST", "/api/v1/rooms/pow/join", captchaBody("bad-secret"), from...))
		r := s.do("POST", "/api/v1/rooms/refuse/join", captchaBody("bad-secret"), from...)
		restore()
		if r.status != 503 || r.errorCode(t) != "unavailable" || r.header.Get("Retry-After") == "" {
			t.Errorf("%s, refuse room: %d %s (Retry-After %q)", name, r.status, r.body, r.header.Get("Retry-After"))
		}
		captchaOf(t, r, 503, "unavailable")
		if r := s.do("POST", "/api/v1/rooms/pow/join", solutionBody(ch, solveFor(ch)), from...); r.status != 200 {
			t.Errorf("%s: the fallback challenge solved: %d %s", name, r.status, r.body)
		}
	}
	if n := s.admin("GET", "/admin/v1/rooms/refuse", "").json(t)["stats"].(map[string]any)["waiting"].(float64); n != 0 {
		t.Errorf("the refuse room has %v waiting", n)
	}

	// The gate's own challenge, another room's fallback, a replay: no.
	gateCh := s.keys.Challenge("pow", 8, time.Now())
	p.Down(http.StatusServiceUnavailable)
	fallback := challengeOf(t, s.do("POST", "/api/v1/rooms/pow/join", captchaBody("x"), from...))
	p.Down(0)
	nonce := solveFor(fallback)
	if r := s.do("POST", "/api/v1/rooms/pow/join", solutionBody(fallback, nonce), from...); r.status != 200 {
		t.Fatalf("fallback: %d %s", r.status, r.body)
	}
	for name, body := range map[string]string{
		"the gate's challenge": solutionBody(api.Challenge{Token: gateCh.Token, Bits: gateCh.Bits}, solveFor(api.Challenge{Token: gateCh.Token, Bits: gateCh.Bits})),
		"a replay":             solutionBody(fallback, nonce),
		"in another room":      solutionBody(fallback, nonce),
	} {
		path := "/api/v1/rooms/pow/join"
		if name == "in another room" {
			path = "/api/v1/rooms/refuse/join"
		}
		if r := s.do("POST", path, body, from...); r.status != 400 || r.errorCode(t) != "challenge_failed" {
			t.Errorf("%s: %d %s, want 400 challenge_failed", name, r.status, r.body)
		}
	}
}

// TestCaptchaRoomNeedsTheSecret: a room may name only a provider the
// deployment holds a secret for (400 on PUT and PATCH, nothing stored),
// and its settings are checked.
func TestCaptchaRoomNeedsTheSecret(t *testing.T) {
	t.Parallel()
	s, _ := captchaStack(t, captcha.Turnstile)
	s.putRoom("plain", `{"admit_per_minute": 10}`)
	for _, tc := range []struct{ method, room, body string }{
		{"PUT", "r1", `{"captcha": "hcaptcha", "captcha_site_key": "k"}`},
		{"PATCH", "plain", `{"captcha": "recaptcha", "captcha_site_key": "k"}`},
		{"PUT", "r2", `{"captcha": "friendlycaptcha", "captcha_site_key": "k"}`},
		{"PUT", "r3", `{"captcha": "turnstile"}`},
		{"PUT", "r4", `{"captcha": "turnstile", "captcha_site_key": "k<script>"}`},
		{"PUT", "r5", `{"captcha": "turnstile", "captcha_site_key": "k", "captcha_action": "a b"}`},
		{"PUT", "r6", `{"captcha": "turnstile", "captcha_site_key": "k", "captcha_fallback": "open"}`},
		{"PUT", "r7", `{"captcha": 1}`},
	} {
		if r := s.admin(tc.method, "/admin/v1/rooms/"+tc.room, tc.body); r.status != 400 || r.errorCode(t) != "invalid_request" {
			t.Errorf("%s %s %s: %d %s", tc.method, tc.room, tc.body, r.status, r.body)
		}
	}
	if r := s.admin("GET", "/admin/v1/rooms/r1", ""); r.status != 404 {
		t.Errorf("refused room stored: %d", r.status)
	}
	if got := s.admin("GET", "/admin/v1/rooms/plain", "").json(t)["captcha"]; got != "" {
		t.Errorf("refused PATCH stored captcha %v", got)
	}
	if r := s.admin("PATCH", "/admin/v1/rooms/plain", `{"captcha": "turnstile", "captcha_site_key": "0x4AAA_b-c", "captcha_action": "join"}`); r.status != 200 || r.json(t)["captcha"] != "turnstile" {
		t.Errorf("PATCH to turnstile: %d %s", r.status, r.body)
	}
	if r := s.admin("PATCH", "/admin/v1/rooms/plain", `{"captcha": ""}`); r.status != 200 || r.json(t)["captcha"] != "" {
		t.Errorf("PATCH off: %d %s", r.status, r.body)
	}
}

// TestCaptchaPageCSP: only a CAPTCHA room's page names its provider, and
// its CSP allows that provider's origins and no other's; other pages allow
// no origin but their own.
func TestCaptchaPageCSP(t *testing.T) {
	t.Parallel()
	s, _ := captchaStack(t, captcha.Turnstile, captcha.HCaptcha, captcha.ReCAPTCHA)
	s.putRoom("plain", `{"admit_per_minute": 10}`)
	s.putRoom("t", `{"captcha": "turnstile", "captcha_site_key": "k"}`)
	s.putRoom("h", `{"captcha": "hcaptcha", "captcha_site_key": "k"}`)
	s.putRoom("g", `{"captcha": "recaptcha", "captcha_site_key": "k"}`)
	origins := map[string]string{"t": "challenges.cloudflare.com", "h": "hcaptcha.com", "g": "www.google.com/recaptcha/"}
	for room, own := range origins {
		r := s.do("GET", "/rooms/"+room, "", "Accept", "text/html")
		csp := r.header.Get("Content-Security-Policy")
		for _, dir := range []string{"script-src", "frame-src"} {
			if !strings.Contains(directive(csp, dir), own) {
				t.Errorf("room %s: %s of %q lacks %s", room, dir, csp, own)
			}
		}
		for other, theirs := range origins {
			if other != room && strings.Contains(csp, theirs) {
				t.Errorf("room %s: CSP %q allows %s", room, csp, theirs)
			}
		}
		if !strings.Contains(string(r.body), `data-captcha-script="https://`) {
			t.Errorf("room %s: page names no widget script", room)
		}
	}
	r := s.do("GET", "/rooms/plain", "", "Accept", "text/html")
	if csp := r.header.Get("Content-Security-Policy"); strings.Contains(csp, "https:") || strings.Contains(csp, "frame-src") {
		t.Errorf("plain room CSP %q", csp)
	}
	if strings.Contains(string(r.body), "data-captcha") {
		t.Error("plain room page names a CAPTCHA")
	}
}

// directive returns one directive of a CSP.
func directive(csp, name string) string {
	for d := range strings.SplitSeq(csp, ";") {
		if d = strings.TrimSpace(d); strings.HasPrefix(d, name+" ") {
			return d
		}
	}
	return ""
}

// FuzzCaptchaJoins throws arbitrary join bodies at a CAPTCHA room whose
// provider never issued a token: the answer is always a 4xx in the
// contract's shape, and nobody gets a place.
func FuzzCaptchaJoins(f *testing.F) {
	set, p := captcha.Set{}, captchatest.New(f, captcha.Turnstile, captchaSecret, nil)
	v, err := captcha.New(captcha.Config{Provider: captcha.Turnstile, Secret: captchaSecret, VerifyURL: p.URL})
	if err != nil {
		f.Fatal(err)
	}
	set[captcha.Turnstile] = v
	s := newStackWith(f, stackOptions{captcha: set})
	s.putRoom("launch", `{"admit_per_minute": 0, "captcha": "turnstile", "captcha_site_key": "k", "captcha_action": "join"}`)
	for _, seed := range []string{``, `{}`, `{"captcha":""}`, `{"captcha":"XXXX.DUMMY.TOKEN.XXXX"}`, `{"captcha":"a\u0000b"}`,
		`{"captcha":"x","challenge":"c1.launch.1.8.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA","solution":"1"}`, `{"captcha":["x"]}`,
		`{"captcha":"` + strings.Repeat("z", 9000) + `"}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) { mustRefuseJoin(t, s, "launch", body) })
}

// mustRefuseJoin posts body as a join to room and fails unless the answer
// is a 4xx in the contract's error shape.
func mustRefuseJoin(t *testing.T, s *stack, room, body string) {
	t.Helper()
	res, err := http.Post(s.srv.URL+"/api/v1/rooms/"+room+"/join", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	r := response{status: res.StatusCode, header: res.Header, body: b}
	if r.status < 400 || r.status >= 500 {
		t.Fatalf("body %.80q: %d %s", body, r.status, r.body)
	}
	r.errorCode(t)
}

// TestCaptchaFailuresAreLimited: an address whose CAPTCHA responses keep
// failing is refused with 429 before the provider is asked again, so a
// flood of made-up responses does not become a flood of siteverify calls;
// other addresses are not affected.
func TestCaptchaFailuresAreLimited(t *testing.T) {
	t.Parallel()
	s, providers := captchaStack(t, captcha.Turnstile)
	p := providers[captcha.Turnstile]
	s.putRoom("r", `{"admit_per_minute": 0, "captcha": "turnstile", "captcha_site_key": "k"}`)
	join := func(from, tok string) response {
		return s.do("POST", "/api/v1/rooms/r/join", captchaBody(tok), "X-Forwarded-For", from, "Content-Type", "application/json")
	}
	for i := range 20 {
		if r := join("203.0.113.50", "made-up"); r.status != 400 || r.errorCode(t) != "captcha_failed" {
			t.Fatalf("failure %d: %d %s", i+1, r.status, r.body)
		}
	}
	calls := len(p.Forms())
	r := join("203.0.113.50", "made-up")
	if r.status != 429 || r.errorCode(t) != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("the 21st failure in a row: %d %s", r.status, r.body)
	}
	if n := len(p.Forms()); n != calls {
		t.Errorf("the provider was asked %d more times", n-calls)
	}
	if r := join("203.0.113.51", "made-up"); r.status != 400 || len(p.Forms()) != calls+1 {
		t.Errorf("another address: %d %s", r.status, r.body)
	}
}

// TestCaptchaResponseUsedOnce: even a provider that would verify the same
// response twice cannot make two places of it: join.lua marks each verified
// response used, for every instance, and joining with it again is a failed
// CAPTCHA.
func TestCaptchaResponseUsedOnce(t *testing.T) {
	t.Parallel()
	s, providers := captchaStack(t, captcha.ReCAPTCHA)
	p := providers[captcha.ReCAPTCHA]
	v, err := captcha.New(captcha.Config{Provider: captcha.ReCAPTCHA, Secret: captchaSecret, VerifyURL: p.URL})
	if err != nil {
		t.Fatal(err)
	}
	other := newStackWith(t, stackOptions{redis: s.redis, trusted: "127.0.0.1/32", captcha: captcha.Set{captcha.ReCAPTCHA: v}})
	s.putRoom("r", `{"admit_per_minute": 0, "captcha": "recaptcha", "captcha_site_key": "k"}`)
	p.Reply("lenient", 200, `{"success":true,"hostname":"127.0.0.1","challenge_ts":"`+time.Now().UTC().Format(time.RFC3339)+`","error-codes":[]}`)
	from := []string{"X-Forwarded-For", "203.0.113.60", "Content-Type", "application/json"}
	if r := s.do("POST", "/api/v1/rooms/r/join", captchaBody("lenient"), from...); r.status != 200 {
		t.Fatalf("first use: %d %s", r.status, r.body)
	}
	for _, inst := range []*stack{s, other} {
		if r := inst.do("POST", "/api/v1/rooms/r/join", captchaBody("lenient"), from...); r.status != 400 || r.errorCode(t) != "captcha_failed" {
			t.Fatalf("used again: %d %s", r.status, r.body)
		}
	}
}

// TestCaptchaVerificationsCounted: each siteverify call of a join is
// counted by provider and outcome, a provider that is down or gone as
// unreachable (whatever the room then does), and every provider's outcomes
// are there from the start.
func TestCaptchaVerificationsCounted(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := gateway.NewCaptchaMetrics(reg, captcha.Turnstile, captcha.HCaptcha)
	if err != nil {
		t.Fatal(err)
	}
	up := captchatest.New(t, captcha.Turnstile, captchaSecret, nil)
	gone := captchatest.New(t, captcha.HCaptcha, captchaSecret, nil)
	gone.Close()
	set := captcha.Set{}
	for p, url := range map[string]string{captcha.Turnstile: up.URL, captcha.HCaptcha: gone.URL} {
		v, err := captcha.New(captcha.Config{Provider: p, Secret: captchaSecret, VerifyURL: url, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		set[p] = v
	}
	s := newStackWith(t, stackOptions{trusted: "127.0.0.1/32", captcha: set.Observed(m.Observe)})
	s.putRoom("t", `{"admit_per_minute": 0, "captcha": "turnstile", "captcha_site_key": "k1"}`)
	s.putRoom("h", `{"admit_per_minute": 0, "captcha": "hcaptcha", "captcha_site_key": "k2", "captcha_fallback": "refuse"}`)
	join := func(room, tok string, status int) {
		t.Helper()
		r := s.do("POST", "/api/v1/rooms/"+room+"/join", captchaBody(tok), "X-Forwarded-For", "203.0.113.7", "Content-Type", "application/json")
		if r.status != status {
			t.Fatalf("join %s with %q: %d %s, want %d", room, tok, r.status, r.body, status)
		}
	}
	join("t", up.Solve("127.0.0.1", ""), 200)
	join("t", "made-up", 400)
	join("t", "", 428) // nothing to verify: no call
	up.Down(http.StatusBadGateway)
	join("t", "x", 428) // the proof-of-work instead
	up.Down(0)
	join("h", "y", 503)
	want := map[string]float64{
		"hcaptcha/ok": 0, "hcaptcha/failed": 0, "hcaptcha/unreachable": 1, "hcaptcha/misconfigured": 0,
		"turnstile/ok": 1, "turnstile/failed": 1, "turnstile/unreachable": 1, "turnstile/misconfigured": 0,
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "crowdgate_captcha_verifications_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["provider"]+"/"+labels["outcome"]] = s.GetCounter().GetValue()
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("crowdgate_captcha_verifications_total %v, want %v", got, want)
	}
	if _, err := gateway.NewCaptchaMetrics(reg); err == nil {
		t.Error("registered twice on one registry")
	}
}
