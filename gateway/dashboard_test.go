package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/queue"
	"github.com/crowdgate/crowdgate/queue/queuetest"
)

// newClockStack is a gateway with admin token token and clock now over
// the Redis rs, which other gateways may share (instances of one
// deployment).
func newClockStack(t *testing.T, rs *queuetest.Server, token string, now func() time.Time) (*stack, *gateway.Server) {
	t.Helper()
	store, err := queue.NewStore(rs.Client(t), queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	keys, err := admission.NewKeyring(context.Background(), store, admission.KeyringConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := admission.NewController(store, keys, admission.Config{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{AdminToken: token, Ready: store.Ping, Store: store, Now: now}, ctl, keys)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	return &stack{t: t, srv: srv, redis: rs, store: store, keys: keys, ctl: ctl}, g
}

var (
	loginCSRFField = regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]+)">`)
	pageCSRFMeta   = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)
)

func submatch(t testing.TB, re *regexp.Regexp, body []byte) string {
	t.Helper()
	m := re.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in %s", re, body)
	}
	return html.UnescapeString(string(m[1]))
}

// loginForm opens the login page as a browser would and returns its
// pre-session cookie and the form's CSRF token.
func (s *stack) loginForm() (pre, csrf string) {
	s.t.Helper()
	r := s.getPage("/admin")
	c := cookie(r, "cg_admin_login")
	if r.status != 200 || c == nil {
		s.t.Fatalf("login page: %d %v %s", r.status, r.header, r.body)
	}
	return c.Value, submatch(s.t, loginCSRFField, r.body)
}

// postLogin sends the login form with token, as a same-site browser form.
func (s *stack) postLogin(pre, csrf, token string, header ...string) response {
	s.t.Helper()
	h := append([]string{"Accept", "text/html", "Cookie", "cg_admin_login=" + pre}, header...)
	return s.form("/admin/login", url.Values{"token": {token}, "csrf": {csrf}}.Encode(), h...)
}

// login logs in and returns the session cookie's value and the page's
// CSRF token.
func (s *stack) login() (session, csrf string) {
	s.t.Helper()
	pre, lc := s.loginForm()
	r := s.postLogin(pre, lc, adminToken)
	c := cookie(r, "cg_admin")
	if r.status != http.StatusSeeOther || c == nil {
		s.t.Fatalf("login: %d %v %s", r.status, r.header, r.body)
	}
	page := s.getPage("/admin", "Cookie", "cg_admin="+c.Value)
	if page.status != 200 {
		s.t.Fatalf("dashboard page: %d %s", page.status, page.body)
	}
	return c.Value, submatch(s.t, pageCSRFMeta, page.body)
}

// withSession is an admin API request made by the dashboard's script.
func (s *stack) withSession(session, csrf, method, path, body string) response {
	s.t.Helper()
	h := []string{"Cookie", "cg_admin=" + session, "Content-Type", "application/json"}
	if csrf != "" {
		h = append(h, "X-CSRF-Token", csrf)
	}
	return s.do(method, path, body, h...)
}

func TestDashboardLogin(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	r := s.getPage("/admin")
	body := string(r.body)
	if r.status != 200 || !strings.Contains(body, `action="/admin/login"`) || !strings.Contains(body, `name="token" type="password"`) {
		t.Fatalf("login page: %d %s", r.status, body)
	}
	pre := cookie(r, "cg_admin_login")
	if pre == nil || !pre.HttpOnly || pre.SameSite != http.SameSiteStrictMode || pre.Path != "/admin" {
		t.Fatalf("pre-session cookie %+v", pre)
	}
	// The same browser keeps its pre-session, so its open forms stay good.
	if again := s.getPage("/admin", "Cookie", "cg_admin_login="+pre.Value); cookie(again, "cg_admin_login") != nil ||
		submatch(t, loginCSRFField, again.body) != submatch(t, loginCSRFField, r.body) {
		t.Errorf("a second look at the login page replaced the pre-session")
	}

	pre2, csrf := pre.Value, submatch(t, loginCSRFField, r.body)
	wrong := s.postLogin(pre2, csrf, "not-the-token")
	if wrong.status != 401 || !strings.Contains(string(wrong.body), "not the admin token") || cookie(wrong, "cg_admin") != nil {
		t.Fatalf("wrong token: %d %v %s", wrong.status, wrong.header, wrong.body)
	}
	// A script, not a browser, gets the contract's error.
	if r := s.form("/admin/login", url.Values{"token": {"nope"}, "csrf": {csrf}}.Encode(), "Cookie", "cg_admin_login="+pre2); r.status != 401 || r.errorCode(t) != "unauthorized" {
		t.Fatalf("wrong token, as JSON: %d %s", r.status, r.body)
	}

	ok := s.postLogin(pre2, csrf, adminToken)
	c := cookie(ok, "cg_admin")
	if ok.status != http.StatusSeeOther || ok.header.Get("Location") != "/admin" || c == nil {
		t.Fatalf("login: %d %v", ok.status, ok.header)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/admin" || c.Secure ||
		c.MaxAge != int((8*time.Hour).Seconds()) {
		t.Errorf("session cookie %+v", c)
	}
	if strings.Contains(c.Value, adminToken) || strings.Contains(ok.header.Get("Location"), adminToken) {
		t.Errorf("the admin token is in the session cookie or the redirect")
	}
	if gone := cookie(ok, "cg_admin_login"); gone == nil || gone.MaxAge >= 0 {
		t.Errorf("the pre-session was not cleared: %+v", gone)
	}

	dash := s.getPage("/admin", "Cookie", "cg_admin="+c.Value)
	if dash.status != 200 || !strings.Contains(string(dash.body), `id="cg-rooms"`) {
		t.Fatalf("dashboard: %d %s", dash.status, dash.body)
	}
	if strings.Contains(string(dash.body), adminToken) {
		t.Fatal("the dashboard page embeds the admin token")
	}
	pageCSRF := submatch(t, pageCSRFMeta, dash.body)
	if pageCSRF == csrf || len(pageCSRF) < 40 {
		t.Errorf("page CSRF token %q", pageCSRF)
	}
	for _, p := range []response{r, dash} {
		checkAdminHeaders(t, p)
	}

	// Behind a trusted proxy that says https, the cookie is Secure; an
	// untrusted client saying so is not believed.
	for _, tc := range []struct {
		trusted string
		secure  bool
	}{{"127.0.0.0/8", true}, {"", false}} {
		s := newStackWith(t, stackOptions{trusted: tc.trusted})
		pre, csrf := s.loginForm()
		r := s.postLogin(pre, csrf, adminToken, "X-Forwarded-Proto", "https")
		if c := cookie(r, "cg_admin"); c == nil || c.Secure != tc.secure {
			t.Errorf("trusted %q, X-Forwarded-Proto https: cookie %+v, want Secure %v", tc.trusted, c, tc.secure)
		}
	}
}

// checkAdminHeaders holds an admin page to its security headers: nothing
// inline may run or style it, nothing may frame it, nobody may cache it.
func checkAdminHeaders(t *testing.T, r response) {
	t.Helper()
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "style-src 'self';", "connect-src 'self';", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "nonce") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v", r.header)
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAll(r.body, -1) {
		if !strings.Contains(string(tag), ` src="/admin/_assets/`) {
			t.Errorf("inline script %s", tag)
		}
	}
	if regexp.MustCompile(`<style|\sstyle=|\son[a-z]+=`).Match(r.body) {
		t.Errorf("inline style or handler in %s", r.body)
	}
}

func TestDashboardLoginRateLimited(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	pre, csrf := s.loginForm()
	var limited response
	for i := range 20 {
		r := s.postLogin(pre, csrf, fmt.Sprintf("guess-%d", i))
		if r.status == 429 {
			limited = r
			break
		}
		if r.status != 401 {
			t.Fatalf("guess %d: %d", i, r.status)
		}
	}
	if limited.status != 429 || limited.header.Get("Retry-After") == "" || !strings.Contains(string(limited.body), "Too many wrong tokens") {
		t.Fatalf("20 wrong tokens were never rate-limited: %d %v", limited.status, limited.header)
	}
	// Limited: even the right token is not looked at, on the form or as
	// the bearer token (one budget for both).
	if r := s.postLogin(pre, csrf, adminToken); r.status != 429 || cookie(r, "cg_admin") != nil {
		t.Fatalf("while limited, the right token: %d", r.status)
	}
	if r := s.form("/admin/login", url.Values{"token": {adminToken}, "csrf": {csrf}}.Encode(), "Cookie", "cg_admin_login="+pre); r.status != 429 || r.errorCode(t) != "rate_limited" {
		t.Fatalf("while limited, as JSON: %d %s", r.status, r.body)
	}
	if r := s.admin("GET", "/admin/v1/rooms", ""); r.status != 429 {
		t.Fatalf("while limited, the bearer token: %d", r.status)
	}
}

func TestDashboardLoginCSRF(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	pre, csrf := s.loginForm()
	otherPre, otherCSRF := s.loginForm()
	if otherPre == pre {
		t.Fatal("two browsers got one pre-session")
	}
	form := func(token, csrf string) string { return url.Values{"token": {token}, "csrf": {csrf}}.Encode() }
	for name, h := range map[string][]string{
		// A cross-site page posting the form has neither the cookie (it is
		// SameSite=Strict) nor the token that goes with it.
		"no pre-session, no token": {},
		"no pre-session":           {"X-Test", "1"},
		"wrong token for cookie":   {"Cookie", "cg_admin_login=" + pre},
		"forged pre-session":       {"Cookie", "cg_admin_login=AAAAAAAAAAAAAAAAAAAAAA"},
		// Even with a good pair, a browser that says it comes from another site.
		"cross-site browser": {"Cookie", "cg_admin_login=" + pre, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"},
	} {
		body := form(adminToken, csrf)
		switch name {
		case "no pre-session, no token":
			body = form(adminToken, "")
		case "wrong token for cookie":
			body = form(adminToken, otherCSRF)
		}
		r := s.form("/admin/login", body, append([]string{"Accept", "text/html"}, h...)...)
		if r.status != 403 || cookie(r, "cg_admin") != nil {
			t.Errorf("%s: %d %v", name, r.status, r.header)
		}
	}
	if r := s.postLogin(pre, csrf, adminToken); r.status != http.StatusSeeOther {
		t.Fatalf("the good pair: %d", r.status)
	}
}

func TestDashboardSessionAPI(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("launch", `{"admit_per_minute": 600}`)
	session, csrf := s.login()

	if r := s.withSession(session, "", "GET", "/admin/v1/rooms/launch", ""); r.status != 200 || r.json(t)["admit_per_minute"] != 600.0 {
		t.Fatalf("GET with the session: %d %s", r.status, r.body)
	}
	if r := s.withSession(session, "", "GET", "/admin/v1/dashboard", ""); r.status != 200 {
		t.Fatalf("dashboard with the session: %d %s", r.status, r.body)
	}
	// Writes without the page's CSRF token are refused, and change nothing.
	for _, bad := range []string{"", "wrong", csrf + "x", strings.ToUpper(csrf)} {
		for _, m := range []string{"PATCH", "PUT", "DELETE"} {
			r := s.withSession(session, bad, m, "/admin/v1/rooms/launch", `{"admit_per_minute": 900}`)
			if r.status != 403 || r.errorCode(t) != "forbidden" {
				t.Fatalf("%s with CSRF %q: %d %s", m, bad, r.status, r.body)
			}
		}
	}
	if r := s.withSession(session, "", "POST", "/admin/v1/keys/rotate", ""); r.status != 403 {
		t.Fatalf("rotate without CSRF: %d", r.status)
	}
	if m := s.admin("GET", "/admin/v1/rooms/launch", "").json(t); m["admit_per_minute"] != 600.0 {
		t.Fatalf("a refused write changed the room: %v", m)
	}
	r := s.withSession(session, csrf, "PATCH", "/admin/v1/rooms/launch", `{"admit_per_minute": 900}`)
	if r.status != 200 || r.json(t)["admit_per_minute"] != 900.0 {
		t.Fatalf("PATCH with CSRF: %d %s", r.status, r.body)
	}
	// The bearer token is no browser credential: no CSRF token needed.
	if r := s.admin("PATCH", "/admin/v1/rooms/launch", `{"paused": true}`); r.status != 200 {
		t.Fatalf("bearer PATCH: %d %s", r.status, r.body)
	}
	// Another session's CSRF token does not fit this one.
	_, otherCSRF := s.login()
	if r := s.withSession(session, otherCSRF, "PATCH", "/admin/v1/rooms/launch", `{"paused": false}`); r.status != 403 {
		t.Fatalf("PATCH with another session's CSRF token: %d", r.status)
	}

	// Logging out needs the CSRF token too, then clears the cookie.
	if r := s.form("/admin/logout", "", "Cookie", "cg_admin="+session); r.status != 403 {
		t.Fatalf("logout without CSRF: %d", r.status)
	}
	out := s.form("/admin/logout", url.Values{"csrf": {csrf}}.Encode(), "Cookie", "cg_admin="+session)
	if c := cookie(out, "cg_admin"); out.status != http.StatusSeeOther || c == nil || c.MaxAge >= 0 {
		t.Fatalf("logout: %d %v", out.status, out.header)
	}
	// Without a session, logging out just clears.
	if r := s.form("/admin/logout", ""); r.status != http.StatusSeeOther {
		t.Fatalf("logout without a session: %d", r.status)
	}
}

func TestDashboardSessionExpiry(t *testing.T) {
	t.Parallel()
	clk := queuetest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	rs := queuetest.Run(t)
	s, _ := newClockStack(t, rs, adminToken, clk.Now)
	s.putRoom("launch", `{}`)
	session, csrf := s.login()

	clk.Add(8*time.Hour - time.Second)
	if r := s.withSession(session, "", "GET", "/admin/v1/rooms", ""); r.status != 200 {
		t.Fatalf("at 7:59:59: %d", r.status)
	}
	clk.Add(time.Second)
	r := s.withSession(session, csrf, "PATCH", "/admin/v1/rooms/launch", `{"paused": true}`)
	if r.status != 401 || r.errorCode(t) != "unauthorized" {
		t.Fatalf("after 8 h, the API: %d %s", r.status, r.body)
	}
	page := s.getPage("/admin", "Cookie", "cg_admin="+session)
	if page.status != 200 || !strings.Contains(string(page.body), "session ended") || !strings.Contains(string(page.body), `action="/admin/login"`) {
		t.Fatalf("after 8 h, the page: %d %s", page.status, page.body)
	}
	if c := cookie(page, "cg_admin"); c == nil || c.MaxAge >= 0 {
		t.Errorf("the expired session was not cleared: %v", page.header)
	}

	// Forged sessions: a changed byte anywhere, another deployment's
	// (another admin token: rotating the token logs everyone out), junk.
	session, _ = s.login()
	rot, _ := newClockStack(t, rs, "another-admin-token", clk.Now)
	if r := rot.withSession(session, "", "GET", "/admin/v1/rooms", ""); r.status != 401 {
		t.Errorf("a session after the admin token changed: %d", r.status)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	forged := []string{"", "x", "junk.junk", session + "A", session[:len(session)-1], flip(session, 0), flip(session, 5), flip(session, len(session)-2),
		strings.Replace(session, ".", "", 1), adminToken}
	for _, f := range forged {
		if r := s.withSession(f, "", "GET", "/admin/v1/rooms", ""); r.status != 401 || r.errorCode(t) != "unauthorized" {
			t.Errorf("forged session %q: %d %s", f, r.status, r.body)
		}
	}
	if r := s.withSession(session, "", "GET", "/admin/v1/rooms", ""); r.status != 200 {
		t.Fatalf("the real session: %d", r.status)
	}
}

func TestDashboardAudit(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("launch", `{"admit_per_minute": 600}`)
	session, csrf := s.login()
	s.withSession(session, csrf, "PATCH", "/admin/v1/rooms/launch", `{"admit_per_minute": 900}`)
	s.withSession(session, "", "PATCH", "/admin/v1/rooms/launch", `{"admit_per_minute": 1}`) // refused: no entry
	s.admin("PATCH", "/admin/v1/rooms/launch", `{"admit_per_minute": -5}`)
	s.admin("PATCH", "/admin/v1/rooms/launch", `{"title": "`+adminToken+`", "api_token": "s3cret"}`)
	s.admin("PATCH", "/admin/v1/rooms/launch", `{"message": "`+strings.Repeat("é", 700)+`"}`)
	s.admin("GET", "/admin/v1/rooms/launch", "") // a read: no entry
	s.do("PATCH", "/admin/v1/rooms/launch", `{"paused": true}`, "Authorization", "Bearer wrong")

	r := s.withSession(session, "", "GET", "/admin/v1/audit?limit=10", "")
	if r.status != 200 {
		t.Fatalf("audit: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), adminToken) || strings.Contains(string(r.body), session) || strings.Contains(string(r.body), csrf) ||
		strings.Contains(string(r.body), "s3cret") {
		t.Fatalf("a secret reached the audit log: %s", r.body)
	}
	var got struct{ Entries []queue.AuditEntry }
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	type want struct {
		actor, method, path string
		status              int
		summary             string
	}
	wants := []want{ // newest first
		{"api", "PATCH", "/admin/v1/rooms/launch", 200, ""},
		{"api", "PATCH", "/admin/v1/rooms/launch", 400, `{"api_token":"[redacted]","title":"[redacted]"}`},
		{"api", "PATCH", "/admin/v1/rooms/launch", 400, `{"admit_per_minute":-5}`},
		{"dashboard", "PATCH", "/admin/v1/rooms/launch", 200, `{"admit_per_minute":900}`},
		{"dashboard", "POST", "/admin/login", 303, "logged in"},
		{"api", "PUT", "/admin/v1/rooms/launch", 201, `{"admit_per_minute":600}`},
	}
	if len(got.Entries) != len(wants) {
		t.Fatalf("%d entries, want %d: %+v", len(got.Entries), len(wants), got.Entries)
	}
	for i, w := range wants {
		e := got.Entries[i]
		if e.Actor != w.actor || e.Method != w.method || e.Path != w.path || e.Status != w.status || e.IP != "127.0.0.1" ||
			time.Since(e.At) > time.Minute || (w.summary != "" && e.Summary != w.summary) {
			t.Errorf("entry %d: %+v, want %+v", i, e, w)
		}
	}
	if long := got.Entries[0].Summary; len(long) > 512 || !strings.HasPrefix(long, `{"message":"éé`) || !strings.HasSuffix(long, "…") {
		t.Errorf("long body summary (%d bytes): %q", len(long), long)
	}
}

func TestDashboardJSON(t *testing.T) {
	t.Parallel()
	s := newShop(t) // room launch (passthrough) selling event gig: 10 tickets
	ctx := context.Background()
	s.putRoom("line", `{"admit_per_minute": 60000, "max_active": 50, "title": "The line"}`)
	s.putRoom("stopped", `{"admit_per_minute": 300, "paused": true}`)
	for range 3 {
		s.do("POST", "/api/v1/rooms/line/join", "")
	}
	s.do("POST", "/api/v1/rooms/stopped/join", "")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		a, err := s.store.Admit(ctx, "line", 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.IDs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nobody admitted")
		}
	}

	// The sale: a paid order, a declined one, then sold out.
	buy := func(qty int, approve bool) {
		fan := s.fan("launch")
		r := s.as(fan, "POST", "/api/v1/events/gig/holds", fmt.Sprintf(`{"ticket_type":"ga","quantity":%d}`, qty))
		if r.status != http.StatusCreated {
			t.Fatalf("hold: %d %s", r.status, r.body)
		}
		r = s.as(fan, "POST", "/api/v1/holds/"+r.json(t)["hold_id"].(string)+"/checkout", `{"provider":"sandbox"}`)
		if r.status != http.StatusCreated {
			t.Fatalf("checkout: %d %s", r.status, r.body)
		}
		if _, err := s.sandbox.Decide(ctx, r.json(t)["payment"].(map[string]any)["id"].(string), approve); err != nil {
			t.Fatal(err)
		}
	}
	buy(2, true)
	buy(1, false)
	for left, _, _ := s.inventory(); left > 0; left, _, _ = s.inventory() { // a declined order keeps its hold
		if r := s.as(s.fan("launch"), "POST", "/api/v1/events/gig/holds", fmt.Sprintf(`{"ticket_type":"ga","quantity":%d}`, min(left, 4))); r.status != http.StatusCreated {
			t.Fatalf("hold: %d %s", r.status, r.body)
		}
	}
	if r := s.as(s.fan("launch"), "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`); r.status != http.StatusConflict {
		t.Fatalf("hold when sold out: %d %s", r.status, r.body)
	}
	avail, held, sold := s.inventory()

	r := s.admin("GET", "/admin/v1/dashboard", "")
	if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("dashboard: %d %s", r.status, r.body)
	}
	var d struct {
		Now   time.Time
		Rooms []struct {
			Room, Title string
			MaxActive   int64 `json:"max_active"`
			Paused      bool
			Stats       struct {
				Waiting, Active     int64
				AdmittedTotal       int64     `json:"admitted_total"`
				AdmitRatePerMinute  int64     `json:"admit_rate_per_minute"`
				TargetRatePerMinute int64     `json:"target_rate_per_minute"`
				DrainETASeconds     int64     `json:"drain_eta_seconds"`
				AsOf                time.Time `json:"as_of"`
			}
			Events []struct {
				Event                                            string
				Capacity, Available, Held, Sold, Checkouts, Paid int64
				Conversion                                       *float64
				PaymentFailures                                  int64 `json:"payment_failures"`
				SoldOutRefusals                                  int64 `json:"sold_out_refusals"`
			}
			History []queue.HistorySample
		}
		Audit []queue.AuditEntry
	}
	if err := json.Unmarshal(r.body, &d); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	if time.Since(d.Now).Abs() > 2*time.Second || len(d.Rooms) != 3 {
		t.Fatalf("now %v, %d rooms", d.Now, len(d.Rooms))
	}
	launch, line, stopped := d.Rooms[0], d.Rooms[1], d.Rooms[2]
	if launch.Room != "launch" || line.Room != "line" || stopped.Room != "stopped" {
		t.Fatalf("rooms not in order: %s %s %s", launch.Room, line.Room, stopped.Room)
	}
	for _, room := range d.Rooms {
		if age := time.Since(room.Stats.AsOf); age > 2*time.Second || age < 0 {
			t.Errorf("%s: figures as of %v, %v old", room.Room, room.Stats.AsOf, age)
		}
	}
	ls := line.Stats
	if line.Title != "The line" || line.MaxActive != 50 || ls.Waiting != 2 || ls.Active != 1 || ls.AdmittedTotal != 1 ||
		ls.AdmitRatePerMinute != 1 || ls.TargetRatePerMinute != 60000 || ls.DrainETASeconds != 120 {
		t.Errorf("line: %+v", line)
	}
	if ss := stopped.Stats; !stopped.Paused || ss.Waiting != 1 || ss.TargetRatePerMinute != 0 || ss.DrainETASeconds != -1 {
		t.Errorf("paused room: %+v", stopped)
	}
	if len(line.Events) != 0 || len(launch.Events) != 1 {
		t.Fatalf("events: line %v, launch %v", line.Events, launch.Events)
	}
	ev := launch.Events[0]
	if ev.Event != "gig" || ev.Capacity != 10 || ev.Available != int64(avail) || ev.Held != int64(held) || ev.Sold != int64(sold) ||
		ev.Sold != 2 || ev.Checkouts != 2 || ev.Paid != 1 || ev.Conversion == nil || *ev.Conversion != 0.5 ||
		ev.PaymentFailures != 1 || ev.SoldOutRefusals != 1 {
		t.Errorf("event: %+v (conversion %v)", ev, ev.Conversion)
	}
	// The audit log: the rooms and the event put above, newest first.
	if len(d.Audit) != 4 || d.Audit[0].Path != "/admin/v1/rooms/stopped" || d.Audit[2].Path != "/admin/v1/events/gig" {
		t.Errorf("audit: %+v", d.Audit)
	}
	if len(line.History) != 0 {
		t.Errorf("history before any sample: %+v", line.History)
	}

	// brief=1: figures and events, no history or audit log.
	b := s.admin("GET", "/admin/v1/dashboard?brief=1", "")
	if m := b.json(t); m["audit"] != nil || len(m["rooms"].([]any)) != 3 {
		t.Errorf("brief: %s", b.body)
	}
	if r := s.do("GET", "/admin/v1/dashboard", ""); r.status != 401 {
		t.Errorf("dashboard without credentials: %d", r.status)
	}
}

// TestDashboardHistorySampling runs two gateways (two instances of one
// deployment) sampling on the same Redis: each 10-s step has one sample,
// whichever instance took it, and the dashboard shows them.
func TestDashboardHistorySampling(t *testing.T) {
	t.Parallel()
	clk := queuetest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	rs := queuetest.Run(t)
	a, ga := newClockStack(t, rs, adminToken, clk.Now)
	_, gb := newClockStack(t, rs, adminToken, clk.Now)
	a.putRoom("launch", `{"admit_per_minute": 600}`)
	a.putRoom("other", `{"admit_per_minute": 60, "paused": true}`)
	a.do("POST", "/api/v1/rooms/launch/join", "")
	ctx := context.Background()
	start := clk.Now()
	for range 20 { // 60 s in 3-s steps: 6 buckets, each sampled by both, several times
		for _, g := range []*gateway.Server{ga, gb, gb, ga} {
			if err := g.SampleHistory(ctx); err != nil {
				t.Fatal(err)
			}
		}
		clk.Add(3 * time.Second)
	}
	for _, room := range []string{"launch", "other"} {
		h, err := a.store.History(ctx, room, start.Add(-time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 6 {
			t.Fatalf("%s: %d samples over 6 buckets: %+v", room, len(h), h)
		}
		for i, s := range h {
			if want := start.Add(time.Duration(i) * 10 * time.Second); s.At.Sub(want) < 0 || s.At.Sub(want) >= 10*time.Second {
				t.Errorf("%s sample %d at %v, want in the bucket of %v", room, i, s.At, want)
			}
			if room == "launch" && (s.Waiting != 1 || s.TargetRate != 600) || room == "other" && s.TargetRate != 0 {
				t.Errorf("%s sample %+v", room, s)
			}
		}
	}
	r := a.admin("GET", "/admin/v1/dashboard", "")
	var d struct {
		Rooms []struct{ History []queue.HistorySample }
	}
	if err := json.Unmarshal(r.body, &d); err != nil || len(d.Rooms) != 2 || len(d.Rooms[0].History) != 6 {
		t.Fatalf("dashboard history: %v %s", err, r.body)
	}

	// RunHistory ends with its context.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ga.RunHistory(cctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("RunHistory did not return when its context ended")
	}
}

// FuzzAdminSession: no cookie value is a session but the ones the server
// made; anything else is a 401, never a 5xx.
func FuzzAdminSession(f *testing.F) {
	for _, seed := range []string{"", ".", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x.y", "%00", strings.Repeat("A", 5000)} {
		f.Add(seed)
	}
	s := newStack(f)
	f.Fuzz(func(t *testing.T, v string) {
		s := *s
		s.t = t
		if !validCookieValue(v) {
			return
		}
		r := s.do("GET", "/admin/v1/rooms", "", "Cookie", "cg_admin="+v)
		if r.status != 401 {
			t.Fatalf("cookie %q: %d %s", v, r.status, r.body)
		}
	})
}

// validCookieValue reports whether v can travel in a Cookie header as is.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f || c == ';' || c == '"' || c == ',' || c == '\\' {
			return false
		}
	}
	return true
}

// dashboardBudget bounds the dashboard's embedded files, apart from the
// fans' page budget: organizers load it once, but often on a phone.
const dashboardBudget = 32 << 10

func TestDashboardPageSize(t *testing.T) {
	t.Parallel()
	var total int64
	err := filepath.WalkDir("pages/admin", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		total += info.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if total >= dashboardBudget {
		t.Errorf("dashboard files: %d bytes, budget %d", total, dashboardBudget)
	}
	s := newStack(t)
	session, _ := s.login()
	page := s.getPage("/admin", "Cookie", "cg_admin="+session)
	visit, gzipped := len(page.body), len(page.body)
	links := regexp.MustCompile(`(?:src|href)="(/admin/_assets/[^"]+)"`).FindAllSubmatch(page.body, -1)
	if len(links) != 2 {
		t.Fatalf("asset links %q", links)
	}
	for _, m := range links {
		plain := s.do("GET", string(m[1]), "", "Accept-Encoding", "identity")
		gz := s.do("GET", string(m[1]), "", "Accept-Encoding", "gzip")
		if plain.status != 200 || !strings.Contains(plain.header.Get("Cache-Control"), "immutable") || gz.header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%s: %d %v", m[1], plain.status, plain.header)
		}
		visit += len(plain.body)
		gzipped += len(gz.body)
	}
	if visit >= dashboardBudget {
		t.Errorf("the dashboard downloads %d bytes, budget %d", visit, dashboardBudget)
	}
	if r := s.do("GET", "/admin/_assets/admin.0000000000.js", ""); r.status != 404 {
		t.Errorf("unknown asset: %d", r.status)
	}
	t.Logf("dashboard files %d bytes; one visit %d bytes (%d gzipped)", total, visit, gzipped)
}

// TestBrowserDashboard walks an organizer through the control room in a
// real Chromium: log in, watch the figures, change the rate with the form
// (and see the API refuse an absurd one), pause, and log out.
func TestBrowserDashboard(t *testing.T) {
	tab := startBrowser(t, chromedp.WindowSize(390, 844)) // a phone
	if _, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchProblems}); err != nil {
		t.Fatal(err)
	}

	s := newShop(t)
	s.putRoom("line", `{"admit_per_minute": 600, "title": "Big launch"}`)
	for range 3 {
		s.do("POST", "/api/v1/rooms/line/join", "")
	}
	const line = `[data-room="line"] `
	card := `document.querySelector('[data-room="line"]')`
	figure := func(f string) string { return card + `.querySelector('[data-f="` + f + `"]').textContent` }
	steps := tabSteps{t, tab}
	run, until := steps.run, steps.until
	noProblems := func(where string) {
		t.Helper()
		problems, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`window.__problems || []`))
		if err != nil || len(problems) > 0 {
			t.Errorf("%s: %q %v", where, problems, err)
		}
	}
	room := func() map[string]any { return s.admin("GET", "/admin/v1/rooms/line", "").json(t) }

	run("open the login page", chromedp.Navigate(s.srv.URL+"/admin"))
	until("the login form", `!!document.querySelector('form[action="/admin/login"] input[name=token]')`)
	run("a wrong token", chromedp.SendKeys(chromedp.ID("token"), "not-it"), chromedp.Submit(chromedp.ID("token")))
	until("refused", `/not the admin token/.test(document.body.textContent) && !!document.getElementById('token')`)
	run("the token", chromedp.SendKeys(chromedp.ID("token"), adminToken), chromedp.Submit(chromedp.ID("token")))
	until("the dashboard with live figures", card+` && `+figure("waiting")+` === '3' && `+figure("target")+` === '600'`)
	if cookies, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.cookie`)); err != nil || strings.Contains(cookies, "cg_admin") {
		t.Errorf("the session cookie is readable by scripts: %q %v", cookies, err)
	}
	until("fresh figures", `/^Live: figures [0-9.]+ s old$/.test(document.getElementById('cg-age').textContent) && +document.getElementById('cg-age').dataset.ageMs <= 2000`)
	until("the event block", `/General|gig/.test((document.querySelector('[data-room="launch"] table') || {}).textContent)`)
	noProblems("dashboard")

	// The rate form: a live preview, then the API's refusal shown inline.
	rate, apply := chromedp.CSS(line+`[name=admit_per_minute]`), chromedp.CSS(line+`[data-form=rate] button`)
	run("type a rate", chromedp.SetValue(rate, ""), chromedp.SendKeys(rate, "-5"))
	run("apply it", chromedp.Click(apply))
	until("the API's refusal", card+`.querySelector('[data-form=rate] .msg.err').textContent.indexOf('admit_per_minute must be between 0 and') >= 0`)
	if m := room(); m["admit_per_minute"] != 600.0 {
		t.Fatalf("a refused rate changed the room: %v", m)
	}
	run("a good rate", chromedp.SetValue(rate, ""), chromedp.SendKeys(rate, "180"))
	until("the preview", card+`.querySelector('[data-f=preview]').textContent === 'At 180/min the line of 3 drains in 1 s.'`)
	run("apply it", chromedp.Click(apply))
	until("the new target on the page", figure("target")+` === '180' && `+card+`.querySelector('[data-form=rate] .msg').textContent === 'Applied.'`)
	if m := room(); m["admit_per_minute"] != 180.0 {
		t.Fatalf("after applying 180/min, the API says %v", m["admit_per_minute"])
	}

	// Adaptive admission: refused without a target, then on, and the card
	// shows the adaptive rate (a tenth of 180/min to start) as the target.
	run("open the adaptive form", chromedp.Click(chromedp.CSS(line+`details:has([data-form=adaptive]) > summary`)))
	run("tick adaptive", chromedp.Click(chromedp.CSS(line+`[name=adaptive]`)), chromedp.Click(chromedp.CSS(line+`[data-form=adaptive] button`)))
	until("the API's refusal", card+`.querySelector('[data-form=adaptive] .msg.err').textContent.indexOf('needs a target') >= 0`)
	p99 := chromedp.CSS(line + `[name=adaptive_p99_ms]`)
	run("a p99 target", chromedp.SetValue(p99, ""), chromedp.SendKeys(p99, "250"), chromedp.Click(chromedp.CSS(line+`[data-form=adaptive] button`)))
	until("adaptive on the card", figure("arate")+` === "18/min, capped at the organizer's 180/min" && `+figure("target")+` === '18' && /180 → 18\/min: adaptive admission on/.test(`+figure("adecisions")+`)`)
	if m := room(); m["adaptive"] != true || m["adaptive_p99_ms"] != 250.0 {
		t.Fatalf("after switching adaptive admission on, the API says %v", m)
	}

	// Pause, and see it paused.
	pause := card + `.querySelector('[data-act=paused]')`
	until("the pause button", pause+`.textContent === 'Pause admission'`)
	run("pause", chromedp.Click(chromedp.CSS(line+`[data-act=paused]`)))
	until("paused on the page", figure("badges")+`.indexOf('Paused') >= 0 && `+pause+`.textContent === 'Resume admission' && `+figure("target")+` === '0'`)
	if m := room(); m["paused"] != true {
		t.Fatalf("after pausing, the API says paused=%v", m["paused"])
	}
	noProblems("after the changes")

	// The audit log shows who did it.
	until("the audit log", `/PATCH \/admin\/v1\/rooms\/line → 200 \(dashboard/.test(document.getElementById('cg-audit').textContent)`)

	// Log out: back to the login form; the API refuses the old page.
	run("log out", chromedp.Click(chromedp.CSS(`form[action="/admin/logout"] button`)))
	until("the login form again", `location.pathname === '/admin' && !!document.getElementById('token')`)
	noProblems("logged out")
}
