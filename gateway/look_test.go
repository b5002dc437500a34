package gateway_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// ownTemplate is an organizer's page template: a header with the logo, the
// waiting room, a footer, and styles of its own.
const ownTemplate = `<style nonce="{{.Nonce}}">.site-head{color:rgb(200, 0, 0)}</style>
<header class="site-head">{{with .LogoURL}}<img src="{{.}}" alt="{{$.LogoAlt}}">{{end}}<p>Example Live presents</p></header>
<main>{{.WaitingRoom}}</main>
<footer lang="{{.Lang}}">{{.T.position}} · Example Live {{.Room}}</footer>`

// TestPageTemplate: an organizer's template lays out the room's page around
// the waiting room, in the page's language, under the page's own policy;
// GET gives it back and DELETE gives the room Crowdgate's page again.
func TestPageTemplate(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("own", `{"admit_per_minute": 60, "title": "Final", "logo_url": "/static/logo.png"}`)
	plain := s.do("GET", "/rooms/own", "", "Accept", "text/html")

	put := s.do("PUT", "/admin/v1/rooms/own/template", ownTemplate, "Authorization", "Bearer "+adminToken, "Content-Type", "text/html")
	if put.status != http.StatusOK {
		t.Fatalf("upload: %d %s", put.status, put.body)
	}
	sha := put.json(t)["sha256"].(string)
	if len(sha) != 64 || put.json(t)["bytes"].(float64) != float64(len(ownTemplate)) {
		t.Fatalf("upload answer: %s", put.body)
	}
	if got := s.admin("GET", "/admin/v1/rooms/own", "").json(t)["page_template_sha256"]; got != sha {
		t.Fatalf("room names template %v, want %s", got, sha)
	}
	if r := s.admin("GET", "/admin/v1/rooms/own/template", ""); r.status != http.StatusOK || string(r.body) != ownTemplate || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("download: %d %s %q", r.status, r.header.Get("Content-Type"), r.body)
	}

	page := s.do("GET", "/rooms/own?lang=ta", "", "Accept", "text/html")
	body := string(page.body)
	for _, want := range []string{
		`<header class="site-head"><img src="/static/logo.png" alt="Final"><p>Example Live presents</p></header>`,
		`<main><section class="cg-card"><h1>Final</h1>`,
		`<footer lang="ta">`,
		`<body data-room="own"`, // Crowdgate's body, data and scripts
		`<script id="cg-i18n" type="application/json">`,
		`<details class="langs">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if strings.Count(body, `id="cg-state"`) != 1 || strings.Count(body, "<script") != 3 { // pow.js, room.js and the string table: no other
		t.Errorf("the page's scripts and waiting room: %d scripts, %d waiting rooms", strings.Count(body, "<script"), strings.Count(body, `id="cg-state"`))
	}
	nonce := between(body, `<style nonce="`, `"`)
	if !strings.Contains(body, `<style nonce="`+nonce+`">.site-head`) {
		t.Errorf("the template's style does not carry the page's nonce %q", nonce)
	}
	if csp := page.header.Get("Content-Security-Policy"); csp != strings.Replace(plain.header.Get("Content-Security-Policy"), between(plain.header.Get("Content-Security-Policy"), "'nonce-", "'"), nonce, 1) {
		t.Errorf("a template changed the page's policy:\n%s\n%s", csp, plain.header.Get("Content-Security-Policy"))
	}

	// A template that passed the upload's samples but fails on a real page
	// (here: it drops the waiting room for every room but the sample's)
	// gives way to Crowdgate's page, never a broken one.
	tricky := `{{if eq .Room "sample"}}{{.WaitingRoom}}{{else}}<p>nothing to wait for</p>{{end}}`
	if r := s.do("PUT", "/admin/v1/rooms/own/template", tricky, "Authorization", "Bearer "+adminToken); r.status != http.StatusOK {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	if body := string(s.do("GET", "/rooms/own", "", "Accept", "text/html").body); strings.Contains(body, "nothing to wait for") || strings.Count(body, `id="cg-state"`) != 1 {
		t.Errorf("a template failing on the real page was shown:\n%s", body)
	}

	if r := s.admin("DELETE", "/admin/v1/rooms/own/template", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if body := string(s.do("GET", "/rooms/own", "", "Accept", "text/html").body); strings.Contains(body, "site-head") || !strings.Contains(body, `<main class="cg-card">`) {
		t.Errorf("after DELETE the page is still the template's")
	}
	if r := s.admin("GET", "/admin/v1/rooms/own/template", ""); r.status != http.StatusNotFound || r.errorCode(t) != "not_found" {
		t.Errorf("download of no template: %d %s", r.status, r.body)
	}
	if r := s.do("PUT", "/admin/v1/rooms/nope/template", ownTemplate, "Authorization", "Bearer "+adminToken); r.status != http.StatusNotFound {
		t.Errorf("template of a missing room: %d %s", r.status, r.body)
	}
	if r := s.do("PUT", "/admin/v1/rooms/own/template", ownTemplate); r.status != http.StatusUnauthorized {
		t.Errorf("template without the admin token: %d", r.status)
	}
}

// TestPageTemplateRefused: a template that would break the page's promises,
// or fails, is refused with a 400 that says why, and the stored one stays.
func TestPageTemplateRefused(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("own", `{"admit_per_minute": 60}`)
	upload := func(text string) response {
		return s.do("PUT", "/admin/v1/rooms/own/template", text, "Authorization", "Bearer "+adminToken, "Content-Type", "text/html")
	}
	if r := upload(ownTemplate); r.status != http.StatusOK {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	for _, c := range []struct{ text, says string }{
		{`<p>no room</p>`, "exactly once"},
		{`{{.WaitingRoom}}{{.WaitingRoom}}`, "exactly once"},
		{`{{if .Message}}{{.WaitingRoom}}{{end}}`, "exactly once"},
		{`<a title="{{.WaitingRoom}}">x</a>`, "exactly once"}, // escaped in an attribute: no room
		{`{{.WaitingRoom}}<script>alert(1)</script>`, "<script>"},
		{`{{.WaitingRoom}}<SCRIPT src="/x.js"></SCRIPT>`, "<script>"},
		{`{{.WaitingRoom}}<iframe src="/"></iframe>`, "frames"},
		{`{{.WaitingRoom}}<base href="https://evil.example/">`, "<base>,"},
		{`{{.WaitingRoom}}<meta http-equiv="refresh" content="0">`, "<meta>"},
		{`{{.WaitingRoom}}<link rel="stylesheet" href="https://cdn.example.com/site.css">`, "<link>"},
		{`{{.WaitingRoom}}<form action="/x"></form>`, "forms"},
		{`{{.WaitingRoom}}<img src="/x.png" onerror="alert(1)">`, "event handler"},
		{`{{.WaitingRoom}}<p style="color:red">x</p>`, "style attributes"},
		{`{{.WaitingRoom}}<style>p{color:red}</style>`, "nonce"},
		{`{{.WaitingRoom}}<p id="cg-position">1</p>`, `"cg-"`},
		{`{{.WaitingRoom}}{{.Nope}}`, "Nope"},
		{`{{.WaitingRoom}}{{template "head" .}}`, "head"},
		{`{{.WaitingRoom}}{{if}}`, "missing value for if"},
		{`{{.WaitingRoom}}{{range .T}}{{range $.T}}{{range $.T}}{{.}}{{end}}{{end}}{{end}}`, "512 KiB"},
		{"{{.WaitingRoom}}\xff", "UTF-8"},
		{"   ", "empty"},
	} {
		r := upload(c.text)
		if r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_request" || !strings.Contains(r.json(t)["error"].(map[string]any)["message"].(string), c.says) {
			t.Errorf("%.60q: %d %s, want 400 saying %q", c.text, r.status, r.body, c.says)
		}
	}
	if r := upload(strings.Repeat("x", 64<<10+1)); r.status != http.StatusRequestEntityTooLarge || r.errorCode(t) != "too_large" {
		t.Errorf("oversized template: %d %s", r.status, r.body)
	}
	if r := s.admin("GET", "/admin/v1/rooms/own/template", ""); string(r.body) != ownTemplate {
		t.Errorf("a refused upload changed the stored template: %q", r.body)
	}
}

// TestRoomLook: a room's logo shows above its title, its site is allowed for
// images, and only the sites a room lists may frame its page.
func TestRoomLook(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("look", `{"admit_per_minute": 60, "title": "Final", "logo_url": "https://cdn.example.com/l.svg", "logo_alt": "Example Live", "embed_origins": ["https://shop.example.com", "http://localhost:8080"]}`)
	got := s.admin("GET", "/admin/v1/rooms/look", "").json(t)
	if got["logo_url"] != "https://cdn.example.com/l.svg" || got["logo_alt"] != "Example Live" || len(got["embed_origins"].([]any)) != 2 || got["page_template_sha256"] != "" {
		t.Fatalf("room: %v", got)
	}
	page := s.do("GET", "/rooms/look", "", "Accept", "text/html")
	if !strings.Contains(string(page.body), `<img class="logo" src="https://cdn.example.com/l.svg" alt="Example Live">`) || !strings.Contains(string(page.body), `data-embed="https://shop.example.com http://localhost:8080"`) {
		t.Errorf("page: %s", page.body)
	}
	csp := page.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "img-src 'self' data: https://cdn.example.com;") || !strings.HasSuffix(csp, "frame-ancestors 'self' https://shop.example.com http://localhost:8080") {
		t.Errorf("policy: %s", csp)
	}

	s.putRoom("plain", `{"admit_per_minute": 60}`)
	plain := s.do("GET", "/rooms/plain", "", "Accept", "text/html")
	if csp := plain.header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors 'none'") || strings.Contains(csp, "example") || !strings.Contains(string(plain.body), `data-status=`) || strings.Contains(string(plain.body), "data-embed") {
		t.Errorf("a room that lists no site: %s", csp)
	}

	for _, bad := range []string{
		`{"logo_url": "javascript:alert(1)"}`, `{"logo_url": "http://cdn.example.com/l.png"}`, `{"logo_url": "//cdn.example.com/l.png"}`,
		`{"embed_origins": ["https://shop.example.com/page"]}`, `{"embed_origins": ["*"]}`, `{"embed_origins": ["https://a.example https://b.example"]}`,
		`{"embed_origins": ["http://shop.example.com"]}`, `{"embed_origins": ["https://SHOP.example.com"]}`, `{"embed_origins": "https://shop.example.com"}`,
		`{"logo_alt": "` + strings.Repeat("x", 201) + `"}`,
	} {
		if r := s.admin("PATCH", "/admin/v1/rooms/look", bad); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, r.status, r.body)
		}
	}
	if again := s.admin("GET", "/admin/v1/rooms/look", "").json(t); again["logo_url"] != got["logo_url"] || len(again["embed_origins"].([]any)) != 2 {
		t.Errorf("refused changes changed the room: %v", again)
	}
	if r := s.admin("PATCH", "/admin/v1/rooms/look", `{"embed_origins": []}`); r.status != http.StatusOK || len(r.json(t)["embed_origins"].([]any)) != 0 {
		t.Errorf("clearing embed_origins: %d %s", r.status, r.body)
	}
}

// TestEnterFromFrame: the framed page's last step sets the admission cookie
// in the top window and sends the fan on; a token that does not admit sends
// the fan back to the room, with their place.
func TestEnterFromFrame(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("framed", `{"admit_per_minute": 60000, "embed_origins": ["https://shop.example.com"]}`)
	join := s.do("POST", "/api/v1/rooms/framed/join", "", "Accept", "application/json")
	queueToken := join.json(t)["queue_token"].(string)
	time.Sleep(5 * time.Millisecond) // let the room's bucket fill (60000/min = 1/ms)
	s.admit("framed")
	st := s.do("GET", "/api/v1/rooms/framed/status", "", "Authorization", "Bearer "+queueToken)
	admissionToken, _ := st.json(t)["admission_token"].(string)
	if admissionToken == "" {
		t.Fatalf("status after admission: %s", st.body)
	}
	post := func(form url.Values) response {
		return s.do("POST", "/rooms/framed/enter", form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Origin", s.srv.URL, "Sec-Fetch-Site", "same-origin")
	}
	r := post(url.Values{"admission_token": {admissionToken}, "queue_token": {queueToken}, "return_to": {"/checkout/?step=1"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/checkout/?step=1" {
		t.Fatalf("enter: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	if c := cookie(r, "cg_a_framed"); c == nil || c.Value != admissionToken || !c.HttpOnly {
		t.Fatalf("enter set no admission cookie: %v", r.header)
	}
	if r := post(url.Values{"admission_token": {admissionToken}, "return_to": {"https://evil.example/"}}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Errorf("enter to another site: %d %s", r.status, r.header.Get("Location"))
	}
	r = post(url.Values{"admission_token": {"forged"}, "queue_token": {queueToken}, "return_to": {"/checkout/"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/rooms/framed?return_to=%2Fcheckout%2F" || cookie(r, "cg_a_framed") != nil {
		t.Fatalf("forged admission: %d %s %v", r.status, r.header.Get("Location"), r.header)
	}
	if c := cookie(r, "cg_q_framed"); c == nil || c.Value != queueToken {
		t.Errorf("a fan sent back keeps no place: %v", r.header)
	}
	if r := post(url.Values{"admission_token": {admissionToken}, "queue_token": {"forged"}}); cookie(r, "cg_q_framed") != nil {
		t.Errorf("a forged queue token became a cookie")
	}
	if r := s.do("POST", "/rooms/framed/enter", url.Values{"admission_token": {admissionToken}}.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Origin", "https://evil.example"); r.status != http.StatusForbidden || cookie(r, "cg_a_framed") != nil {
		t.Errorf("another site's form: %d %v", r.status, r.header)
	}
	if r := s.do("POST", "/rooms/nope/enter", "admission_token=x", "Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html"); r.status != http.StatusNotFound {
		t.Errorf("enter to a missing room: %d", r.status)
	}
}

// FuzzEnterForm: whatever a form posts to the enter step, the answer is a
// redirect or a 4xx, and no forged admission becomes a cookie.
func FuzzEnterForm(f *testing.F) {
	s := newStack(f)
	s.putRoom("framed", `{"admit_per_minute": 60}`)
	for _, b := range []string{"", "admission_token=x", "admission_token=a.b.c&return_to=%2F%2Fevil", "queue_token=1.x&return_to=/a", "%zz", strings.Repeat("a=b&", 5000)} {
		f.Add(b, "application/x-www-form-urlencoded")
	}
	f.Add("--x\r\n", "multipart/form-data; boundary=x")
	f.Fuzz(func(t *testing.T, body, ctype string) {
		req, err := http.NewRequest("POST", s.srv.URL+"/rooms/framed/enter", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ctype)
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return // a request Go will not send (a header it refuses)
		}
		res.Body.Close()
		r := response{status: res.StatusCode, header: res.Header}
		if r.status != http.StatusSeeOther && (r.status < 400 || r.status >= 500) {
			t.Fatalf("%q (%s): %d", body, ctype, r.status)
		}
		if cookie(r, "cg_a_framed") != nil {
			t.Fatalf("%q set an admission cookie", body)
		}
		if loc := r.header.Get("Location"); loc != "" && !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
			t.Fatalf("%q sent the fan to %q", body, loc)
		}
	})
}

// between is the text of s after the first start, up to end.
func between(s, start, end string) string {
	_, rest, _ := strings.Cut(s, start)
	v, _, _ := strings.Cut(rest, end)
	return v
}
