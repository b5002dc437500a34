package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crowdgate/crowdgate/captcha"
	"github.com/crowdgate/crowdgate/captcha/captchatest"
)

// fakeTurnstile is a stand-in for Turnstile's api.js: render draws a box,
// and a moment later "solves" it with the given token, as the real widget
// does for a person; the script calls the page back through ?onload=, as
// the real one does.
const fakeTurnstile = `window.turnstile = { render: function (el, o) {
  el.textContent = 'fake turnstile ' + o.sitekey + ' ' + o.action;
  window.__widget = o.sitekey + '/' + o.action;
  setTimeout(function () { o.callback(%q); }, 100);
} };
window[new URL(document.currentScript.src).searchParams.get('onload')]();`

// TestBrowserCaptcha: in a Turnstile room the page shows "One quick check",
// loads the widget's script from the provider's origin (served here by a
// stand-in: Chromium resolves challenges.cloudflare.com to a local TLS
// server), which the page's CSP lets through with no violation, and joins
// with the widget's token, which the local siteverify accepts once; a
// reload keeps the place without the widget or the provider.
func TestBrowserCaptcha(t *testing.T) {
	p := captchatest.New(t, captcha.Turnstile, captchaSecret, nil)
	tok := p.Solve("127.0.0.1", "join")
	widget := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/turnstile/v0/api.js" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprintf(w, fakeTurnstile, tok)
	}))
	t.Cleanup(widget.Close)
	tab := newFanTab(t,
		chromedp.Flag("host-resolver-rules", "MAP challenges.cloudflare.com "+strings.TrimPrefix(widget.URL, "https://")),
		chromedp.Flag("ignore-certificate-errors", true))

	v, err := captcha.New(captcha.Config{Provider: captcha.Turnstile, Secret: captchaSecret, VerifyURL: p.URL})
	if err != nil {
		t.Fatal(err)
	}
	s := newStackWith(t, stackOptions{captcha: captcha.Set{captcha.Turnstile: v}})
	s.putRoom("launch", `{"admit_per_minute": 0, "challenge": "always", "captcha": "turnstile", "captcha_site_key": "0x4AAAAAAAtest", "captcha_action": "join"}`)

	tab.do("open the page", chromedp.Navigate(s.srv.URL+"/rooms/launch"))
	first := tab.waitFor("a place after the CAPTCHA", 20*time.Second, func(st shownState) bool { return st.Status == "waiting" && st.Position == "1" })
	asked := false
	for _, st := range tab.seen() {
		asked = asked || st.Status == "captcha" && st.Heading == "One quick check"
	}
	if !asked {
		t.Fatalf("the page never showed the CAPTCHA step: %+v", tab.seen())
	}
	if drawn, err := chromedp.Run(tab.ctx, chromedp.Evaluate[string](`window.__widget || ''`)); err != nil || drawn != "0x4AAAAAAAtest/join" {
		t.Fatalf("the widget was drawn with %q (%v)", drawn, err)
	}
	if n := len(p.Forms()); n != 1 {
		t.Fatalf("siteverify called %d times, want 1", n)
	}
	if problems, err := chromedp.Run(tab.ctx, chromedp.Evaluate[[]string](`window.__problems`)); err != nil || len(problems) > 0 {
		t.Fatalf("problems on the page (a CSP violation?): %v %v", problems, err)
	}

	tab.do("reload", chromedp.Reload())
	again := tab.waitFor("the same place", 10*time.Second, func(st shownState) bool { return st.Status == "waiting" && st.Position != "" })
	if again.QueueID != first.QueueID || len(p.Forms()) != 1 {
		t.Fatalf("after a reload: queue id %q (want %q), %d siteverify calls", again.QueueID, first.QueueID, len(p.Forms()))
	}
	problems, err := chromedp.Run(tab.ctx, chromedp.Evaluate[[]string](`window.__problems`))
	if err != nil || len(problems) > 0 {
		t.Fatalf("problems on the page: %v %v", problems, err)
	}
}
