package gateway_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"html"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/gateway"
)

// pageBudget is the limit on everything the page needs.
const pageBudget = 50 << 10

// getPage fetches a page as a browser would ask for it.
func (s *stack) getPage(path string, header ...string) response {
	s.t.Helper()
	return s.do("GET", path, "", append([]string{"Accept", "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Encoding", "identity"}, header...)...)
}

// attr returns the unescaped value of the first name="..." in body.
func attr(t testing.TB, body []byte, name string) string {
	t.Helper()
	m := regexp.MustCompile(`\s` + regexp.QuoteMeta(name) + `="([^"]*)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no %s attribute in %s", name, body)
	}
	return html.UnescapeString(string(m[1]))
}

func TestPageRenders(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("launch", `{"admit_per_minute": 60, "title": "<script>alert(1)</script> & \"Co\"",
		"message": "Doors at 7.\n<img src=x onerror=alert(1)>", "primary_color": "#FFEE00", "background_color": "#000000"}`)
	r := s.getPage("/rooms/launch")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", r.status, r.header.Get("Content-Type"))
	}
	body := string(r.body)
	for _, want := range []string{
		`<html lang="en"`,
		`<title>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Co&#34;</title>`,
		`<h1>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Co&#34;</h1>`,
		`&lt;img src=x onerror=alert(1)&gt;`,
		// Organizer colours, with black text on the yellow and white on the black.
		`--cg-primary:#ffee00;--cg-on-primary:#000000;--cg-bg:#000000;--cg-on-bg:#ffffff`,
		`aria-live="polite"`,
		`role="progressbar"`,
		`data-room="launch"`,
		`data-return-to="/"`,
		// No channel reaches people: no "notify me" offered.
		`data-notify=""`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, bad := range []string{"<script>alert", "<img src=x"} {
		if strings.Contains(body, bad) {
			t.Errorf("organizer text reached the page unescaped: %s", bad)
		}
	}

	// No title or colours set: the room id and the defaults.
	s.putRoom("plain", `{}`)
	body = string(s.getPage("/rooms/plain").body)
	if !strings.Contains(body, "<h1>plain</h1>") || !strings.Contains(body, "--cg-primary:#1a56db;--cg-on-primary:#ffffff") {
		t.Errorf("defaults not rendered: %s", body)
	}
	if r := s.do("HEAD", "/rooms/plain", ""); r.status != 200 {
		t.Errorf("HEAD: %d", r.status)
	}
	// With one, it is.
	n := newStackWith(t, stackOptions{booking: true})
	n.putRoom("launch", `{}`)
	if got := attr(t, n.getPage("/rooms/launch").body, "data-notify"); got != "1" {
		t.Errorf("data-notify %q with a channel that reaches people", got)
	}
	if r := s.do("POST", "/api/v1/rooms/launch/notify", `{"email":"fan@example.com"}`, "Content-Type", "application/json"); r.status != 404 {
		t.Errorf("notify me without such a channel: %d %s", r.status, r.body)
	}
}

func TestPageSecurityHeaders(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("launch", `{}`)
	r := s.getPage("/rooms/launch")
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "connect-src 'self' ws://", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	nonce := attr(t, r.body, "nonce")
	if len(nonce) < 16 || !strings.Contains(csp, "style-src 'self' 'nonce-"+nonce+"'") {
		t.Errorf("the <style> nonce %q is not the CSP's: %q", nonce, csp)
	}
	if again := attr(t, s.getPage("/rooms/launch").body, "nonce"); again == nonce {
		t.Error("the nonce is the same on two responses")
	}
	// Every script is either external or inert data: nothing inline runs.
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAll(r.body, -1) {
		if !bytes.Contains(tag, []byte(` src="`)) && !bytes.Contains(tag, []byte(`type="application/json"`)) {
			t.Errorf("inline script %s", tag)
		}
	}
	for h, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "same-origin",
		"Cache-Control":          "no-store",
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}

	// Assets: long-cached under a content hash, typed, and gzipped on request.
	for _, link := range assetLinks(r.body) {
		plain := s.do("GET", link, "", "Accept-Encoding", "identity")
		if plain.status != 200 || !strings.Contains(plain.header.Get("Cache-Control"), "immutable") || plain.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %v", link, plain.status, plain.header)
		}
		ctype := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}[filepath.Ext(link)]
		if plain.header.Get("Content-Type") != ctype {
			t.Errorf("%s: Content-Type %q", link, plain.header.Get("Content-Type"))
		}
		gz := s.do("GET", link, "", "Accept-Encoding", "gzip, br")
		if gz.header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%s: not gzipped: %v", link, gz.header)
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz.body))
		if err != nil {
			t.Fatal(err)
		}
		if unz, _ := io.ReadAll(zr); !bytes.Equal(unz, plain.body) {
			t.Errorf("%s: gzip body differs", link)
		}
	}
	for _, p := range []string{"/rooms/_assets/room.0000000000.js", "/rooms/_assets/page.tmpl", "/rooms/_assets/..%2fpage.go"} {
		if r := s.do("GET", p, ""); r.status != 404 {
			t.Errorf("%s: %d", p, r.status)
		}
	}
}

// continueHref is the target of the page's "Continue to the site" link.
func continueHref(body []byte) string {
	m := regexp.MustCompile(`<a id="cg-continue"[^>]* href="([^"]*)"`).FindSubmatch(body)
	if m == nil {
		return "(none)"
	}
	return html.UnescapeString(string(m[1]))
}

// assetLinks returns the page's own script and stylesheet URLs.
func assetLinks(body []byte) []string {
	var links []string
	for _, m := range regexp.MustCompile(`(?:src|href)="(/rooms/_assets/[^"]+)"`).FindAllSubmatch(body, -1) {
		links = append(links, string(m[1]))
	}
	return links
}

func TestPageReturnTo(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("launch", `{}`)
	cases := []struct{ in, want string }{
		{"", "/"},
		{"/target", "/target"},
		{"/checkout/pay?x=1&y=2#seat", "/checkout/pay?x=1&y=2#seat"},
		{"/caf%C3%A9", "/caf%C3%A9"},
		{"/events/2026/../coldplay", "/events/2026/../coldplay"},
		{"https://evil.example/", "/"},
		{"http:/evil.example", "/"},
		{"//evil.example/x", "/"},
		{"///evil.example", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"/x\\..\\\\evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"JaVaScRiPt:alert(1)", "/"},
		{"data:text/html,<script>alert(1)</script>", "/"},
		{"evil.example", "/"},
		{" /target", "/"},
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/%2F/evil.example", "/"},
		{"/%2f%2fevil.example", "/"},
		{"%2F%2Fevil.example", "/"},
		{"/%5Cevil.example", "/"},
		{"/%252F%252Fevil.example", "/"},
		{"/%09/evil.example", "/"},
		{"/a%zz", "/"},
		{"/rooms/launch", "/"},               // back into the waiting room: a loop
		{"/./rooms/launch?return_to=/", "/"}, // the same, dressed up
		{"/%72ooms/launch", "/"},
		{"/" + strings.Repeat("a", 3000), "/"},
	}
	for _, c := range cases {
		r := s.getPage("/rooms/launch?return_to=" + url.QueryEscape(c.in))
		if r.status != 200 {
			t.Fatalf("%q: %d", c.in, r.status)
		}
		if got := attr(t, r.body, "data-return-to"); got != c.want {
			t.Errorf("return_to %q: page uses %q, want %q", c.in, got, c.want)
		}
		if got := continueHref(r.body); got != c.want {
			t.Errorf("return_to %q: continue link %q, want %q", c.in, got, c.want)
		}
	}
	// The language switch keeps the fan's return_to.
	r := s.getPage("/rooms/launch?return_to=%2Ftarget")
	if !strings.Contains(string(r.body), `href="?lang=hi&amp;return_to=%2Ftarget"`) {
		t.Errorf("language link loses return_to: %s", r.body)
	}
}

// FuzzReturnTo holds safeReturnTo to its promise for any input: what the page
// sends an admitted fan to is "/" or the input itself, and in both cases a
// path that a browser resolves to this site.
func FuzzReturnTo(f *testing.F) {
	for _, seed := range []string{"/target", "//evil.example", "/\\evil", "/%2F%2Fevil", "javascript:x", "/\t/evil", "/a?b=//c"} {
		f.Add(seed)
	}
	s := newStack(f)
	s.putRoom("launch", `{}`)
	base, _ := url.Parse("https://crowdgate.example/rooms/launch")
	f.Fuzz(func(t *testing.T, in string) {
		s := *s
		s.t = t // helpers must report to the iteration, not to f
		r := s.getPage("/rooms/launch?return_to=" + url.QueryEscape(in))
		if r.status != 200 {
			t.Fatalf("%d", r.status)
		}
		got := attr(t, r.body, "data-return-to")
		if got == "/" {
			return
		}
		if got != in {
			t.Fatalf("return_to %q became %q", in, got)
		}
		u, err := base.Parse(got)
		if err != nil || u.Host != base.Host || strings.ContainsAny(got, "\\\t\r\n") || strings.HasPrefix(got, "//") {
			t.Fatalf("return_to %q leaves the site: %v %v", in, u, err)
		}
	})
}

func TestPageLanguage(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("en", `{"language": "en"}`)
	s.putRoom("hi", `{"language": "hi", "title": "कोल्डप्ले"}`)
	const hindi, english = "आपको कतार में जोड़ा जा रहा है", "Joining the line"
	cases := []struct {
		path, acceptLanguage, lang, text string
	}{
		{"/rooms/hi", "", "hi", hindi},
		{"/rooms/hi?lang=en", "", "en", english},
		{"/rooms/en", "", "en", english},
		{"/rooms/en?lang=hi", "", "hi", hindi},
		{"/rooms/en?lang=hi-IN", "", "hi", hindi},
		{"/rooms/en?lang=ja", "", "en", english},
		{"/rooms/en?lang=%3Cx%3E", "", "en", english},
		{"/rooms/en", "hi-IN,hi;q=0.9", "en", english}, // the organizer's choice wins over the browser's
		// A page without a room follows the browser.
		{"/rooms/missing", "hi-IN,hi;q=0.9,en;q=0.8", "hi", "प्रतीक्षा कक्ष नहीं मिला"},
		{"/rooms/missing", "ja-JP, hi;q=0.5, en;q=0.4", "hi", "प्रतीक्षा कक्ष नहीं मिला"},
		{"/rooms/missing", "hi;q=0, en", "en", "Waiting room not found"},
		{"/rooms/missing", "ja", "en", "Waiting room not found"},
		{"/rooms/missing?lang=hi", "en", "hi", "प्रतीक्षा कक्ष नहीं मिला"},
	}
	for _, c := range cases {
		var h []string
		if c.acceptLanguage != "" {
			h = []string{"Accept-Language", c.acceptLanguage}
		}
		r := s.getPage(c.path, h...)
		body := string(r.body)
		if !strings.Contains(body, `<html lang="`+c.lang+`"`) || !strings.Contains(body, c.text) {
			t.Errorf("%s (Accept-Language %q): want lang %s with %q; got %d %.300s", c.path, c.acceptLanguage, c.lang, c.text, r.status, body)
		}
	}
	// The script gets the same language's strings.
	var strs map[string]string
	m := regexp.MustCompile(`(?s)<script id="cg-i18n" type="application/json">(.*?)</script>`).FindSubmatch(s.getPage("/rooms/hi").body)
	if m == nil || json.Unmarshal(m[1], &strs) != nil || strs["state_waiting"] != "आप कतार में हैं" {
		t.Errorf("the script's Hindi strings: %q", m)
	}
}

// TestPageSchedule: the page carries the room's schedule and the server's
// clock to the millisecond, for the script's countdowns.
func TestPageSchedule(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("drop", `{"mode": "random_prequeue", "queue_opens_at": "2030-01-02T03:04:05.678Z", "sale_starts_at": "2030-01-02T04:00:00Z"}`)
	body := s.getPage("/rooms/drop").body
	if got := attr(t, body, "data-opens-at"); got != "2030-01-02T03:04:05.678Z" {
		t.Errorf("data-opens-at %q", got)
	}
	if got := attr(t, body, "data-sale-at"); got != "2030-01-02T04:00:00.000Z" {
		t.Errorf("data-sale-at %q", got)
	}
	if got := attr(t, body, "data-mode"); got != "random_prequeue" {
		t.Errorf("data-mode %q", got)
	}
	now, err := time.Parse(time.RFC3339Nano, attr(t, body, "data-now"))
	if d := time.Since(now); err != nil || d < 0 || d > 5*time.Second {
		t.Errorf("data-now %v (%v ago): %v", now, d, err)
	}
	if !strings.Contains(string(body), `href="/api/v1/rooms/drop/fairness"`) {
		t.Error("no link to the fairness proof")
	}
}

func TestPageErrors(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.putRoom("launch", `{}`)
	for _, p := range []string{"/rooms/missing", "/rooms/BAD", "/rooms/-x", "/rooms/" + strings.Repeat("a", 65)} {
		r := s.getPage(p)
		if r.status != 404 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.body), "Waiting room not found") {
			t.Errorf("%s, as a browser: %d %s", p, r.status, r.body)
		}
		if r.header.Get("Content-Security-Policy") == "" || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: 404 page without security headers: %v", p, r.header)
		}
		r = s.do("GET", p, "", "Accept", "application/json")
		if r.status != 404 || r.errorCode(t) != "not_found" {
			t.Errorf("%s, as an API client: %d %s", p, r.status, r.body)
		}
	}

	// The store is away: a page that says so and reloads itself, with the
	// request id to quote; API clients get the contract's error.
	if !s.redis.Real {
		return
	}
	s.redis.Stop()
	r := s.getPage("/rooms/launch")
	body := string(r.body)
	if r.status != 503 || r.header.Get("Retry-After") == "" || !strings.Contains(body, `<meta http-equiv="refresh" content="`) ||
		!strings.Contains(body, "Something went wrong") || !strings.Contains(body, r.header.Get("X-Request-Id")) {
		t.Errorf("page without a store: %d %v %s", r.status, r.header, body)
	}
	if r := s.do("GET", "/rooms/launch", ""); r.status < 500 || r.errorCode(t) == "" {
		t.Errorf("API client, without a store: %d %s", r.status, r.body)
	}
}

// TestPageSize holds the page to the budget, 50 KB. The page's
// code (its template, its assets as served, without the scripts' comment
// lines (leanScript), and the English strings) is held to it as it lies
// uncompressed. A visit carries its language's strings only, and is
// held to it in every language as a phone downloads it: the assets gzipped,
// as every browser asks for them, the page as it is sent (uncompressed: it
// reflects the fan's return_to beside its CSP nonce). In raw bytes the
// budget cannot hold the Indian languages: a Tamil sentence takes three
// bytes a letter in UTF-8, two and a half times its English's bytes.
func TestPageSize(t *testing.T) {
	t.Parallel()
	code := 0
	for _, f := range []string{"pages/page.tmpl", "pages/i18n/en.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		code += len(b)
	}
	for _, a := range gateway.PageAssets() {
		code += len(a)
	}
	if code >= pageBudget {
		t.Errorf("page code: %d bytes, budget %d", code, pageBudget)
	}

	s := newStack(t)
	s.putRoom("launch", `{"title": "Launch"}`)
	langs, _ := filepath.Glob("pages/i18n/*.json")
	var most struct {
		lang            string
		raw, downloaded int
	}
	for _, f := range langs {
		lang := strings.TrimSuffix(filepath.Base(f), ".json")
		page := s.getPage("/rooms/launch?lang=" + lang)
		raw, downloaded := len(page.body), len(page.body)
		for _, link := range assetLinks(page.body) {
			raw += len(s.do("GET", link, "", "Accept-Encoding", "identity").body)
			downloaded += len(s.do("GET", link, "", "Accept-Encoding", "gzip").body)
		}
		if downloaded >= pageBudget {
			t.Errorf("one visit in %s downloads %d bytes, budget %d", lang, downloaded, pageBudget)
		}
		if downloaded > most.downloaded {
			most.lang, most.raw, most.downloaded = lang, raw, downloaded
		}
	}
	t.Logf("page code %d bytes; the largest visit (%s) downloads %d bytes (%d uncompressed)", code, most.lang, most.downloaded, most.raw)
}
