package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserAccessCode: an invitation's link (?code=) joins with its code
// and leaves the address bar without it; a fan who comes without one is
// asked for it, told when it is wrong, and joins with the right one.
func TestBrowserAccessCode(t *testing.T) {
	s := newStack(t)
	s.putRoom("presale", `{"admit_per_minute": 0, "access_code_required": true}`)
	if r := s.admin("POST", "/admin/v1/rooms/presale/codes", `{"codes": ["invite-aaaa", "invite-bbbb"], "uses": 1}`); r.status != 201 {
		t.Fatalf("add codes: %d %s", r.status, r.body)
	}
	tab := newFanTab(t)
	tab.do("open the invitation", chromedp.Navigate(s.srv.URL+"/rooms/presale?code=invite-aaaa"))
	tab.waitFor("a place", 10*time.Second, func(st shownState) bool { return st.Status == "waiting" && st.QueueID != "" })
	href, err := chromedp.Run(tab.ctx, chromedp.Evaluate[string](`location.href`))
	if err != nil || strings.Contains(href, "code=") {
		t.Fatalf("address bar %q (%v) still holds the code", href, err)
	}

	tab = newFanTab(t)
	tab.do("open the page without a code", chromedp.Navigate(s.srv.URL+"/rooms/presale"))
	tab.waitFor("the code form", 10*time.Second, func(st shownState) bool {
		return st.Status == "code" && strings.Contains(st.Heading, "access code")
	})
	tab.do("type a wrong code", chromedp.SendKeys(chromedp.ID("cg-code-input"), "invite-aaaa"), chromedp.Click(chromedp.CSS("#cg-code button")))
	if _, err := chromedp.Run(tab.ctx, chromedp.Poll[bool](`document.getElementById('cg-note').textContent.includes('not valid') && !document.getElementById('cg-code').hidden`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("no note on a wrong code: %v", err)
	}
	tab.do("type the right code", chromedp.SetValue(chromedp.ID("cg-code-input"), "invite-bbbb"), chromedp.Click(chromedp.CSS("#cg-code button")))
	tab.waitFor("a place", 10*time.Second, func(st shownState) bool { return st.Status == "waiting" && st.QueueID != "" })
	problems, err := chromedp.Run(tab.ctx, chromedp.Evaluate[[]string](`window.__problems`))
	if err != nil || len(problems) > 0 {
		t.Fatalf("problems on the page: %v %v", problems, err)
	}
}
