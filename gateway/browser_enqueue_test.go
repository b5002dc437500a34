package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserEnqueueToken: the organizer's site links a signed-in fan to
// the page with an enqueue token; the page joins with it and takes it out
// of the address bar, and the fan's second device (the same user, a link
// of its own) shows the same place. A fan who comes without a token is
// told to go through the organizer's site, with no script error.
func TestBrowserEnqueueToken(t *testing.T) {
	s := newStack(t)
	s.putRoom("launch", `{"admit_per_minute": 0, "enqueue_token": {"required": true, "hs256_secret": "`+siteSecret+`"}}`)
	var first string
	for _, link := range []string{"#enqueue_token=", "?enqueue_token="} {
		tab := newFanTab(t)
		tab.do("open the site's link", chromedp.Navigate(s.srv.URL+"/rooms/launch"+link+enqueueToken(t, "fan-1", "launch", 5*time.Minute)))
		st := tab.waitFor("a place", 10*time.Second, func(st shownState) bool { return st.Status == "waiting" && st.QueueID != "" })
		if first == "" {
			first = st.QueueID
		} else if st.QueueID != first {
			t.Fatalf("the second device shows %q, want the first's %q", st.QueueID, first)
		}
		href, err := chromedp.Run(tab.ctx, chromedp.Evaluate[string](`location.href`))
		if err != nil || strings.Contains(href, "enqueue_token") {
			t.Fatalf("address bar %q (%v) still holds the token", href, err)
		}
	}
	tab := newFanTab(t)
	tab.do("open the page without a token", chromedp.Navigate(s.srv.URL+"/rooms/launch"))
	tab.waitFor("the sign-in notice", 10*time.Second, func(st shownState) bool {
		return st.Status == "signin" && strings.Contains(st.Help, "organizer’s site")
	})
	problems, err := chromedp.Run(tab.ctx, chromedp.Evaluate[[]string](`window.__problems`))
	if err != nil || len(problems) > 0 {
		t.Fatalf("problems on the page: %v %v", problems, err)
	}
}
