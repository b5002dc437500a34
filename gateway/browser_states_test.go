package gateway_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserEndStates walks a fan through what the waiting room tells
// them beyond their place, at a desktop's and a phone's size: when the
// page last heard from the server, the time of day of their turn, how long
// they will have once in, the queue id labelled as a support reference;
// then the organizer pauses the room (the page says so, and that places
// are kept) and closes it (no "notify me", no note about being told, and
// the live marker is off once the server has closed the socket).
// Screenshots of each state go to a folder under the test's temp dir (or
// $CROWDGATE_SCREENSHOTS, to keep them), logged.
func TestBrowserEndStates(t *testing.T) {
	browser := startBrowser(t)
	dir := screenshotDir(t)
	en := table(t, "pages/i18n", "en")
	s := newStackWith(t, stackOptions{booking: true, sockets: true, running: true})

	for _, size := range screenSizes {
		t.Run(size.name, func(t *testing.T) {
			tab, b := sizedTab(t, browser, size.width, size.height, size.phone)
			snap := func(name string) { t.Helper(); shot(t, tab, dir, "states-"+size.name+"-"+name) }

			// A slow line (1 a minute, people ahead): the turn is minutes away.
			room := "states-" + size.name
			s.putRoom(room, `{"admit_per_minute": 1, "session_seconds": 900, "title": "Launch"}`)
			for range 3 {
				if r := s.do("POST", "/api/v1/rooms/"+room+"/join", ""); r.status != 200 {
					t.Fatalf("join ahead: %d %s", r.status, r.body)
				}
			}
			b.run("open the page", chromedp.Navigate(s.srv.URL+"/rooms/"+room))
			b.until("waiting, live", `document.body.dataset.status === 'waiting' && document.body.dataset.transport === 'ws' && !document.getElementById('cg-turn').hidden`)

			if got, prefix := b.text("cg-updated"), strings.Split(en["last_update"], "{")[0]; !strings.HasPrefix(got, prefix) || len(got) <= len(prefix) {
				t.Errorf("last update %q, want %q and a time", got, en["last_update"])
			}
			if got, prefix := b.text("cg-turn"), strings.Split(en["turn_at"], "{")[0]; !strings.HasPrefix(got, prefix) || !strings.Contains(got, ":") {
				t.Errorf("turn time %q, want %q and a time of day", got, en["turn_at"])
			}
			if got, want := b.text("cg-session"), strings.ReplaceAll(en["session_length"], "{t}", "15 min"); got != want {
				t.Errorf("session line %q, want %q", got, want)
			}
			qid, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.dataset.queueId`))
			if got, want := b.text("cg-qid"), strings.ReplaceAll(en["queue_id"], "{id}", qid); got != want || qid == "" {
				t.Errorf("queue id shown as %q, want %q", got, want)
			}
			if inStats, _ := chromedp.Run(tab, chromedp.Evaluate[bool](`!!document.getElementById('cg-qid').closest('.stats, .meta')`)); inStats {
				t.Error("the support reference sits among the place's figures")
			}
			snap("waiting")

			// Paused: the page says so and that the place is kept.
			if r := s.admin("PATCH", "/admin/v1/rooms/"+room, `{"paused": true}`); r.status != 200 {
				t.Fatalf("pause: %d %s", r.status, r.body)
			}
			b.until("paused", `document.body.dataset.paused === '1'`)
			if got := b.text("cg-state"); got != en["state_paused"] {
				t.Errorf("paused room's heading %q, want %q", got, en["state_paused"])
			}
			if got := b.text("cg-help"); got != en["help_paused"] || !strings.Contains(got, "place is kept") {
				t.Errorf("paused room's help %q, want %q", got, en["help_paused"])
			}
			if got := b.text("cg-eta"); got != en["eta_paused"] {
				t.Errorf("paused room's wait %q, want %q", got, en["eta_paused"])
			}
			if got := b.text("cg-turn"); got != "" {
				t.Errorf("a paused room still promises a turn: %q", got)
			}
			snap("paused")

			// Closed: the server ends the socket; nothing is offered, the
			// marker is off.
			if r := s.admin("PATCH", "/admin/v1/rooms/"+room, `{"paused": false, "closed": true}`); r.status != 200 {
				t.Fatalf("close: %d %s", r.status, r.body)
			}
			b.until("closed", `document.body.dataset.status === 'closed'`)
			if got := b.text("cg-state"); got != en["state_closed"] {
				t.Errorf("closed heading %q", got)
			}
			if got := b.text("cg-notify"); got != "" {
				t.Errorf("a closed room offers notify me: %q", got)
			}
			if got := b.text("cg-note"); got != "" {
				t.Errorf("a closed room's note says %q", got)
			}
			transport, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.dataset.transport + '|' + document.getElementById('cg-transport').textContent + '|' + getComputedStyle(document.getElementById('cg-transport'), '::before').content`))
			if want := "ended|" + en["via_ended"] + "|none"; transport != want {
				t.Errorf("after the server closed the socket the marker is %q, want %q", transport, want)
			}
			snap("closed")
			if problems, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`window.__problems`)); err != nil || len(problems) > 0 {
				t.Errorf("script errors or CSP violations: %q %v", problems, err)
			}
		})
	}
}
