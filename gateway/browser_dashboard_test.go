package gateway_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crowdgate/crowdgate/queue"
)

// TestBrowserDashboardStates opens the control room in a real Chromium, at
// a desktop's and a phone's size, over rooms in every state an organizer
// must tell apart at a glance: each card's badge says its state in words,
// in colours whose contrast holds, and the chart of a room with history is
// drawn at the size it is shown, its labels (clock times below, both value
// scales) at least 12 px on screen, also once the window is resized. Any
// script error or CSP violation fails it. Screenshots go to a folder under
// the test's temp dir (or $CROWDGATE_SCREENSHOTS, to keep them), logged.
func TestBrowserDashboardStates(t *testing.T) {
	browser := startBrowser(t)
	dir := screenshotDir(t)

	s := newStack(t)
	now := time.Now()
	at := func(d time.Duration) string { return now.Add(d).UTC().Format(time.RFC3339) }
	// Cards are in the order of the rooms' names.
	rooms := []struct{ name, config, class, text string }{
		{"a-live", `{"admit_per_minute": 60}`, "b-go", `^Admitting$`},
		{"b-paused", `{"paused": true}`, "b-paused", `^Paused: places kept`},
		{"c-closed", `{"closed": true}`, "b-closed", `^Closed$`},
		{"d-prequeue", `{"sale_starts_at": "` + at(2*time.Hour) + `"}`, "b-pre", `^Pre-queue \(sale starts .*\d:\d\d.*\)$`},
		{"e-early", `{"queue_opens_at": "` + at(time.Hour) + `", "sale_starts_at": "` + at(2*time.Hour) + `"}`, "b-early", `^Queue not open yet \(opens .*\d:\d\d.*\)$`},
		{"f-passthrough", `{"passthrough": true}`, "b-pass", `^Passthrough: everyone admitted`},
		{"g-quiet", `{"admit_per_minute": 600, "trigger": {"active_users": 5}}`, "b-quiet", `^Quiet \(traffic-triggered\): everyone passes$`},
		{"h-busy", `{"admit_per_minute": 600, "trigger": {"active_users": 1}}`, "b-go", `^Queueing: traffic threshold reached$`},
		{"i-stopped", `{"admit_per_minute": 0}`, "b-paused", `^Admitting nobody: rate 0$`},
	}
	for _, r := range rooms {
		s.putRoom(r.name, r.config)
	}
	for range 5 {
		s.do("POST", "/api/v1/rooms/a-live/join", "")
	}
	for range 2 { // the first is let in, the second reaches the threshold
		s.do("POST", "/api/v1/rooms/h-busy/join", "")
	}
	// Half an hour of a line that grew and drained, one sample a minute.
	for i := range 30 {
		w := int64(40 * (15 - max(i-15, 15-i)))
		err := s.store.RecordHistory(context.Background(), "a-live", queue.HistorySample{
			At: now.Add(time.Duration(i-29) * time.Minute), Waiting: w, AdmitRatePerMinute: min(int64(i*3), 60), TargetRate: 60,
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	for _, size := range []struct {
		name          string
		width, height int64
		phone         bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
		t.Run(size.name, func(t *testing.T) {
			tab, b := sizedTab(t, browser, size.width, size.height, size.phone)
			b.run("open the login page", chromedp.Navigate(s.srv.URL+"/admin"))
			b.until("the login form", `!!document.getElementById('token')`)
			b.run("log in", chromedp.SendKeys(chromedp.ID("token"), adminToken), chromedp.Submit(chromedp.ID("token")))
			b.until("every card with its state and the chart drawn", fmt.Sprintf(
				`document.querySelectorAll('.room [data-f=state]:not(:empty)').length === %d && !!document.querySelector('[data-room="a-live"] svg polyline')`, len(rooms)))

			badges, err := chromedp.Run(tab, chromedp.Evaluate[map[string]badge](badgesJS))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rooms {
				got := badges[r.name]
				if got.Class != "badge "+r.class || !regexp.MustCompile(r.text).MatchString(got.Text) {
					t.Errorf("room %s: badge %q (%s), want %s (%s)", r.name, got.Text, got.Class, r.text, r.class)
				}
				if got.Contrast < 6 {
					t.Errorf("room %s: badge %q contrast %.2f:1, want at least 6:1", r.name, got.Text, got.Contrast)
				}
			}
			checkChart(t, b, "a-live")
			shot := func(name string, a chromedp.Action[[]byte]) {
				t.Helper()
				if png, err := chromedp.Run(tab, a); err != nil {
					t.Fatalf("screenshot %s: %v", name, err)
				} else if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			shot("dashboard-"+size.name, chromedp.FullScreenshot(100))
			shot("dashboard-card-"+size.name, chromedp.Screenshot(chromedp.CSS(`[data-room="a-live"]`)))
			if !size.phone {
				// A narrower window: the chart is drawn again at its new
				// width, and its text stays readable.
				b.run("narrow the window", chromedp.EmulateViewport(700, size.height, chromedp.EmulateScale(1)))
				b.until("the chart drawn again", `Math.abs(document.querySelector('[data-room="a-live"] svg').getScreenCTM().a - 1) < 0.01 && document.querySelector('[data-room="a-live"] svg').viewBox.baseVal.width < 700`)
				checkChart(t, b, "a-live")
				shot("dashboard-card-narrow", chromedp.Screenshot(chromedp.CSS(`[data-room="a-live"]`)))
			}
			problems, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`window.__problems || []`))
			if err != nil || len(problems) > 0 {
				t.Errorf("script errors or CSP violations: %q %v", problems, err)
			}
		})
	}
}

// badge is a room card's state badge as shown.
type badge struct {
	Class, Text string
	Contrast    float64
}

// badgesJS reads each card's state badge: its class, its words and the
// contrast of its text on its background (WCAG's ratio).
const badgesJS = `(function () {
  function lum(c) {
    var v = c.match(/[\d.]+/g).slice(0, 3).map(function (x) {
      x = x / 255;
      return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
  }
  var out = {};
  document.querySelectorAll('.room').forEach(function (c) {
    var b = c.querySelector('[data-f=state]'), st = getComputedStyle(b);
    var l1 = lum(st.color), l2 = lum(st.backgroundColor);
    out[c.dataset.room] = { class: b.className, text: b.textContent,
      contrast: (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05) };
  });
  return out;
})()`

// checkChart checks room's chart as shown: every label at least 12 px on
// screen (the font size times the SVG's scale, and the box it takes), clock
// times along the bottom and both scales' labels.
func checkChart(t *testing.T, b tabSteps, room string) {
	t.Helper()
	type label struct {
		Text         string
		Px, Height   float64
		Y, SVGHeight float64
	}
	chart, err := chromedp.Run(b.tab, chromedp.Evaluate[struct {
		Scale  float64
		Labels []label
	}](`(function () {
  var svg = document.querySelector('[data-room="`+room+`"] svg'), m = svg.getScreenCTM().a, box = svg.getBoundingClientRect();
  return { scale: m, labels: Array.prototype.map.call(svg.querySelectorAll('text'), function (t) {
    var r = t.getBoundingClientRect();
    return { text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * m, height: r.height,
      y: r.top - box.top, svgHeight: box.height };
  }) };
})()`))
	if err != nil {
		t.Fatal(err)
	}
	clock := regexp.MustCompile(`^\d{1,2}:\d\d`)
	times, values := 0, 0
	for _, l := range chart.Labels {
		if l.Px < 12 || l.Height < 12 {
			t.Errorf("chart label %q: %.1f px on screen, %.1f px high; want at least 12", l.Text, l.Px, l.Height)
		}
		switch {
		case clock.MatchString(l.Text) && l.Y > l.SVGHeight*2/3:
			times++
		case regexp.MustCompile(`^[\d.,]+[KM]?$`).MatchString(l.Text):
			values++
		}
	}
	if times < 3 || values != 6 {
		t.Errorf("chart labels %+v: %d clock times along the bottom (want 3 or more), %d scale labels (want 3 a side)", chart.Labels, times, values)
	}
	t.Logf("chart at scale %.3f: %d labels, %d of them times", chart.Scale, len(chart.Labels), times)
}
