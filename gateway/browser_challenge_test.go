package gateway_test

import (
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/crowdgate/crowdgate/queue"
)

// timeChecks records, in the page, how long each "Checking your browser…"
// step lasted (ms), in window.__checks.
const timeChecks = `window.__checks = [];
(function () {
  var since = 0;
  new MutationObserver(function () {
    var b = document.body;
    if (!b) return;
    if (b.dataset.status === 'checking' && !since) since = performance.now();
    if (b.dataset.status !== 'checking' && since) { __checks.push(performance.now() - since); since = 0; }
  }).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-status']});
})();`

// TestBrowserChallenge: in a room that always asks for a challenge, the
// page shows "Checking your browser…", solves it in a Web Worker (or, with
// workers unavailable, on the page itself) and takes its place, with no
// script error or CSP violation; a refresh keeps the place without a new
// challenge. A join refused for its address is explained.
func TestBrowserChallenge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		workers bool
	}{{"worker", true}, {"no workers", false}} {
		t.Run(tc.name, func(t *testing.T) {
			tab := newFanTab(t)
			if !tc.workers {
				if _, err := chromedp.Call(tab.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `delete window.Worker;`}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := chromedp.Call(tab.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: timeChecks}); err != nil {
				t.Fatal(err)
			}
			s := newStack(t)
			s.putRoom("launch", `{"admit_per_minute": 0, "challenge": "always", "challenge_bits": 14}`)
			tab.do("open the page", chromedp.Navigate(s.srv.URL+"/rooms/launch"))
			first := tab.waitFor("a place after the check", 20*time.Second, func(st shownState) bool { return st.Status == "waiting" && st.Position == "1" })
			checked := false
			for _, st := range tab.seen() {
				checked = checked || st.Status == "checking" && st.Heading == "Checking your browser…"
			}
			if !checked {
				t.Fatalf("the page never said it was checking the browser: %+v", tab.seen())
			}
			tab.do("reload", chromedp.Reload())
			again := tab.waitFor("the same place", 10*time.Second, func(st shownState) bool { return st.Status == "waiting" && st.Position != "" })
			if again.QueueID != first.QueueID {
				t.Fatalf("after a reload: queue id %q, want %q", again.QueueID, first.QueueID)
			}
			checks, err := chromedp.Run(tab.ctx, chromedp.Evaluate[[]float64](`window.__checks`))
			if err != nil || len(checks) != 0 {
				t.Fatalf("the reload was checked again: %v %v", checks, err)
			}
			problems, err := chromedp.Run(tab.ctx, chromedp.Evaluate[[]string](`window.__problems`))
			if err != nil || len(problems) > 0 {
				t.Fatalf("problems on the page: %v %v", problems, err)
			}
		})
	}
	t.Run("rate limited", func(t *testing.T) {
		tab := newFanTab(t)
		s := newStackWith(t, stackOptions{trusted: "127.0.0.1/32"})
		s.putRoom("launch", `{"admit_per_minute": 0, "challenge": "off", "address_joins_per_minute": 1}`)
		s.do("POST", "/api/v1/rooms/launch/join", "", "X-Forwarded-For", "203.0.113.7")
		if _, err := chromedp.Call(tab.ctx, network.Enable, network.EnableParams{}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(tab.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"X-Forwarded-For": "203.0.113.7"}}); err != nil {
			t.Fatal(err)
		}
		tab.do("open the page", chromedp.Navigate(s.srv.URL+"/rooms/launch"))
		tab.waitNote("the explanation", "Many places were just taken from your network", 10*time.Second)
	})
}

// TestBrowserChallengeTime measures how long the page's check takes at the
// room's default difficulty in Chromium, with the CPU throttled 4× (a
// mid-range phone, as DevTools counts one), over fresh fans. It is a
// measurement, not a test: it asserts nothing about time and runs only with
// CROWDGATE_MEASURE_POW=<fans> (docs/performance.md has the figures).
func TestBrowserChallengeTime(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CROWDGATE_MEASURE_POW"))
	if n <= 0 {
		t.Skip("a measurement: set CROWDGATE_MEASURE_POW=<fans> to run it")
	}
	for _, workers := range []bool{true, false} {
		ms := measureChecks(t, n, workers)
		sort.Float64s(ms)
		t.Logf("%d fans, %d bits, CPU throttled 4x, workers %v: median %.0f ms, p90 %.0f ms, max %.0f ms (all: %.0f)",
			n, queue.DefaultChallengeBits, workers, ms[len(ms)/2], ms[len(ms)*9/10], ms[len(ms)-1], ms)
	}
}

// measureChecks has n fresh fans join through the page, and returns how
// long each one's check took (ms).
func measureChecks(t *testing.T, n int, workers bool) []float64 {
	tab := newFanTab(t)
	s := newStack(t)
	s.putRoom("launch", `{"admit_per_minute": 0, "challenge": "always"}`)
	srcs := []string{timeChecks}
	if !workers {
		srcs = append(srcs, `delete window.Worker;`)
	}
	for _, src := range srcs {
		if _, err := chromedp.Call(tab.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := chromedp.Call(tab.ctx, emulation.SetCPUThrottlingRate, emulation.SetCPUThrottlingRateParams{Rate: 4}); err != nil {
		t.Fatal(err)
	}
	var ms []float64
	for i := range n {
		if _, err := chromedp.Call(tab.ctx, network.ClearBrowserCookies, struct{}{}); err != nil {
			t.Fatal(err)
		}
		tab.do("open the page", chromedp.Navigate(s.srv.URL+"/rooms/launch"))
		tab.waitFor("a place", 60*time.Second, func(st shownState) bool { return st.Status == "waiting" && st.Position == strconv.Itoa(i+1) })
		checks, err := chromedp.Run(tab.ctx, chromedp.Evaluate[[]float64](`window.__checks`))
		if err != nil || len(checks) != 1 {
			t.Fatalf("fan %d: checks %v %v", i, checks, err)
		}
		ms = append(ms, checks[0])
	}
	return ms
}
