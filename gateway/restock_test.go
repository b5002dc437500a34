package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// soldOutRoom is a stack whose room "launch" sold out event "gig" (one
// ticket, bought by a fan let in by passthrough) and closed by itself,
// while waiter waits in line (their queue token).
func soldOutRoom(t *testing.T, o stackOptions) (s *stack, waiter string) {
	t.Helper()
	o.booking = true
	s = newStackWith(t, o)
	s.putRoom("launch", `{"passthrough": true, "title": "Launch"}`)
	buyer := s.fan("launch")
	if r := s.admin("PATCH", "/admin/v1/rooms/launch", `{"passthrough": false, "admit_per_minute": 0}`); r.status != http.StatusOK {
		t.Fatalf("patch room: %d %s", r.status, r.body)
	}
	waiter = s.do("POST", "/api/v1/rooms/launch/join", "").json(t)["queue_token"].(string)
	s.putEvent(1)
	hold := s.as(buyer, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`)
	if hold.status != http.StatusCreated {
		t.Fatalf("hold: %d %s", hold.status, hold.body)
	}
	order := s.as(buyer, "POST", "/api/v1/holds/"+hold.json(t)["hold_id"].(string)+"/checkout", `{"provider":"sandbox"}`)
	if _, err := s.sandbox.Decide(context.Background(), order.json(t)["payment"].(map[string]any)["id"].(string), true); err != nil {
		t.Fatal(err)
	}
	s.sweep()
	if r := s.admin("GET", "/admin/v1/rooms/launch", "").json(t); r["closed"] != true || r["closed_reason"] != "sold_out" {
		t.Fatalf("sold out, the room is %v", r)
	}
	return s, waiter
}

// putEvent puts event "gig" behind room "launch" with capacity tickets.
func (s *stack) putEvent(capacity int) {
	s.t.Helper()
	r := s.admin("PUT", "/admin/v1/events/gig", fmt.Sprintf(`{"room": "launch", "hold_seconds": 600,
		"ticket_types": [{"id": "ga", "name": "General", "capacity": %d, "price_minor": 150000, "currency": "INR", "per_order_limit": 4}]}`, capacity))
	if r.status != http.StatusOK && r.status != http.StatusCreated {
		s.t.Fatalf("put event: %d %s", r.status, r.body)
	}
}

// sweep runs the booking core's sweep now, rather than wait for its period.
func (s *stack) sweep() {
	s.t.Helper()
	if err := s.core.Sweep(context.Background()); err != nil {
		s.t.Fatal(err)
	}
}

// TestAddingTicketsReopensTheRoom: the organizer raises the capacity of a
// sold-out event, and the room that closed by itself is open again when
// the PUT returns, the waiter in the same place, with when and why it had
// closed gone; the audit log has both changes. A room the organizer closed
// stays closed when tickets are added.
func TestAddingTicketsReopensTheRoom(t *testing.T) {
	t.Parallel()
	s, waiter := soldOutRoom(t, stackOptions{})
	status := func() map[string]any {
		t.Helper()
		return s.do("GET", "/api/v1/rooms/launch/status", "", "Authorization", "Bearer "+waiter).json(t)
	}
	room := s.admin("GET", "/admin/v1/rooms/launch", "").json(t)
	at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(room["closed_at"]))
	if err != nil || time.Since(at) > time.Minute || time.Since(at) < 0 {
		t.Errorf("closed_at %v: %v", room["closed_at"], err)
	}
	if w := status(); w["status"] != "closed" || w["closed_reason"] != "sold_out" {
		t.Fatalf("the waiter, sold out: %v", w)
	}

	s.putEvent(3)
	room = s.admin("GET", "/admin/v1/rooms/launch", "").json(t)
	if room["closed"] != false || room["closed_reason"] != nil || room["closed_at"] != nil {
		t.Fatalf("after adding tickets, the room is %v", room)
	}
	if w := status(); w["status"] != "waiting" || w["position"] != 1.0 {
		t.Fatalf("the waiter after the reopening: %v", w)
	}
	audit := s.admin("GET", "/admin/v1/audit?limit=10", "").json(t)["entries"].([]any)
	var crowdgate []string
	for _, e := range audit {
		if e := e.(map[string]any); e["actor"] == "crowdgate" {
			crowdgate = append(crowdgate, e["summary"].(string))
		}
	}
	if len(crowdgate) != 2 || !strings.HasPrefix(crowdgate[0], "reopened by itself") || !strings.HasPrefix(crowdgate[1], "closed by itself: sold out") {
		t.Errorf("audit log entries by Crowdgate, newest first: %q", crowdgate)
	}

	// Closed by the organizer: adding tickets changes nothing.
	if r := s.admin("PATCH", "/admin/v1/rooms/launch", `{"closed": true}`); r.status != http.StatusOK {
		t.Fatalf("close: %d %s", r.status, r.body)
	}
	s.putEvent(5)
	s.sweep()
	if room := s.admin("GET", "/admin/v1/rooms/launch", "").json(t); room["closed"] != true || room["closed_reason"] != nil {
		t.Fatalf("the organizer's close, after more tickets: %v", room)
	}
}

// TestBrowserSoldOutReopens: a fan whose page said "sold out" keeps it
// open; the organizer adds tickets; the page takes the fan back to the
// same place in line, with the tickets left, by itself.
func TestBrowserSoldOutReopens(t *testing.T) {
	t.Parallel()
	tab := newFanTab(t)
	// The page asks whether the sale reopened every 30 s or so; the test
	// has it ask every 0.3 s.
	const hurry = `(function () {
  var st = window.setTimeout;
  window.setTimeout = function (fn, ms) { return st.call(window, fn, ms >= 24000 && ms <= 36000 ? 300 : ms); };
})();`
	if _, err := chromedp.Call(tab.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: hurry}); err != nil {
		t.Fatal(err)
	}
	s := newStackWith(t, stackOptions{booking: true, sockets: true, running: true})
	s.putRoom("launch", `{"passthrough": true, "title": "Launch"}`)
	buyer := s.fan("launch")
	if r := s.admin("PATCH", "/admin/v1/rooms/launch", `{"passthrough": false, "admit_per_minute": 0}`); r.status != http.StatusOK {
		t.Fatalf("patch room: %d %s", r.status, r.body)
	}
	s.putEvent(1)
	s.sweep()

	tab.do("open the page", chromedp.Navigate(s.srv.URL+"/rooms/launch"))
	tab.waitFor("in line", 5*time.Second, func(st shownState) bool {
		return st.Status == "waiting" && st.Position == "1" && st.Tickets == "1 ticket left"
	})
	hold := s.as(buyer, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`)
	order := s.as(buyer, "POST", "/api/v1/holds/"+hold.json(t)["hold_id"].(string)+"/checkout", `{"provider":"sandbox"}`)
	if _, err := s.sandbox.Decide(context.Background(), order.json(t)["payment"].(map[string]any)["id"].(string), true); err != nil {
		t.Fatal(err)
	}
	s.sweep()
	soldOut := tab.waitFor("sold out", 5*time.Second, func(st shownState) bool { return st.Status == "sold_out" })
	if soldOut.Help != "Thank you for waiting. Keep this page open: if more tickets are released, it takes you back to the line by itself." {
		t.Errorf("sold out, the page says %q", soldOut.Help)
	}
	time.Sleep(time.Second) // the page asks a few times while it is sold out
	if st, _ := tab.now(); st.Status != "sold_out" {
		t.Fatalf("while sold out the page left that state: %+v", st)
	}

	s.putEvent(3)
	s.sweep()
	back := tab.waitFor("back in line", 5*time.Second, func(st shownState) bool {
		return st.Status == "waiting" && st.Tickets == "2 tickets left"
	})
	if back.Position != "1" || back.Heading != "You are in line" {
		t.Errorf("back in line: %+v", back)
	}
	// Live again: the socket carries the tickets left as they change.
	s.putEvent(4)
	s.sweep()
	tab.waitFor("live tickets", 5*time.Second, func(st shownState) bool { return st.Status == "waiting" && st.Tickets == "3 tickets left" })
	tab.noProblems("sold out, then reopened")
}

// TestBrowserDashboardSoldOut: the dashboard says why a room is closed and
// since when, and offers what fits: a sold-out room reopens by itself when
// tickets are added (and the audit log says so), or the organizer keeps it
// closed, and then it is theirs to reopen.
func TestBrowserDashboardSoldOut(t *testing.T) {
	tab := startBrowser(t)
	for _, src := range []string{watchProblems, `window.confirm = function () { return true; };`} {
		if _, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := soldOutRoom(t, stackOptions{})
	steps := tabSteps{t, tab}
	run, until := steps.run, steps.until
	card := `document.querySelector('[data-room="launch"]')`
	figure := func(f string) string { return card + `.querySelector('[data-f="` + f + `"]')` }
	room := func() map[string]any { return s.admin("GET", "/admin/v1/rooms/launch", "").json(t) }

	run("log in", chromedp.Navigate(s.srv.URL+"/admin"))
	until("the login form", `!!document.getElementById('token')`)
	run("the token", chromedp.SendKeys(chromedp.ID("token"), adminToken), chromedp.Submit(chromedp.ID("token")))
	until("sold out, and why", card+` && `+figure("badges")+`.textContent === 'Sold out' && `+
		`/^Sold out: closed by itself at .+, when nothing was left to sell and nothing held\. It reopens by itself when you add tickets/.test(`+figure("why")+`.textContent) && !`+figure("why")+`.hidden`)
	until("the offer to keep it closed", `!`+card+`.querySelector('[data-act=keep]').hidden && `+card+`.querySelector('[data-act=closed]').textContent === 'Reopen the sale'`)
	until("the close in the audit log", `/Room launch closed by itself: sold out.*\(Crowdgate\)/.test(document.getElementById('cg-audit').textContent)`)

	// More tickets: open again, by itself, and the audit log says so.
	s.putEvent(2)
	// Open again, at the room's rate of 0 (the badge says so).
	until("reopened", figure("badges")+`.textContent === 'Admitting nobody: rate 0' && `+figure("why")+`.hidden && `+card+`.querySelector('[data-act=keep]').hidden`)
	run("reload (the audit log is read every 10 s)", chromedp.Reload())
	until("the reopening in the audit log", `/Room launch reopened by itself: tickets are on sale again \(Crowdgate\)/.test(document.getElementById('cg-audit').textContent)`)

	// Sold out again; this time the organizer keeps it closed.
	if r := s.admin("PATCH", "/admin/v1/rooms/launch", `{"passthrough": true}`); r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	second := s.fan("launch")
	if r := s.admin("PATCH", "/admin/v1/rooms/launch", `{"passthrough": false}`); r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	hold := s.as(second, "POST", "/api/v1/events/gig/holds", `{"ticket_type":"ga","quantity":1}`)
	order := s.as(second, "POST", "/api/v1/holds/"+hold.json(t)["hold_id"].(string)+"/checkout", `{"provider":"sandbox"}`)
	if _, err := s.sandbox.Decide(context.Background(), order.json(t)["payment"].(map[string]any)["id"].(string), true); err != nil {
		t.Fatal(err)
	}
	s.sweep()
	until("sold out again", figure("badges")+`.textContent === 'Sold out'`)
	run("keep it closed", chromedp.Click(chromedp.CSS(`[data-room="launch"] [data-act=keep]`)))
	until("closed by the organizer", figure("badges")+`.textContent === 'Closed' && `+
		figure("why")+`.textContent === 'Closed by the organizer. It stays closed, even if tickets are added, until you reopen it.' && `+card+`.querySelector('[data-act=keep]').hidden`)
	if r := room(); r["closed"] != true || r["closed_reason"] != nil {
		t.Fatalf("kept closed: %v", r)
	}
	s.putEvent(3)
	s.sweep()
	if r := room(); r["closed"] != true {
		t.Fatalf("kept closed, then tickets added: %v", r)
	}
	run("reopen", chromedp.Click(chromedp.CSS(`[data-room="launch"] [data-act=closed]`)))
	until("open", figure("badges")+`.textContent === 'Admitting nobody: rate 0'`)
	if r := room(); r["closed"] != false {
		t.Fatalf("reopened by the organizer: %v", r)
	}
	problems, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`window.__problems || []`))
	if err != nil || len(problems) > 0 {
		t.Errorf("%q %v", problems, err)
	}
}
