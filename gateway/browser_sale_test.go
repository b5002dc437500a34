package gateway_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/crowdgate/crowdgate/queue"
)

// recordStates is run by the browser before the page's own code. It keeps
// every state the waiting-room page shows (window.__seen), so a test can
// check a state that lasted only a moment, and window.__snap() gives the
// current one. A hidden element counts as empty.
const recordStates = `window.__seen = [];
window.__snap = function () {
  var b = document.body;
  if (!b || !b.dataset.room || !document.getElementById('cg-live')) return '';
  var shown = function (id) { var e = document.getElementById(id); return e && !e.hidden ? e.textContent : ''; };
  var a = document.querySelector('#cg-fair a');
  return JSON.stringify({status: b.dataset.status, heading: shown('cg-state'), help: shown('cg-help'),
    countdown: shown('cg-countdown'), tickets: shown('cg-tickets'), position: shown('cg-place') && shown('cg-position'),
    fair: shown('cg-fair'), fair_href: a ? a.getAttribute('href') : '', title: document.title, queue_id: b.dataset.queueId || ''});
};
(function () {
  var last = '';
  new MutationObserver(function () {
    var s = __snap();
    if (s && s !== last) { last = s; __seen.push(s); }
  }).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
})();`

// shownState is what the waiting-room page shows at one moment.
type shownState struct {
	Status    string `json:"status"` // body's data-status
	Heading   string `json:"heading"`
	Help      string `json:"help"`
	Countdown string `json:"countdown"`
	Tickets   string `json:"tickets"`
	Position  string `json:"position"` // "" while the place is hidden
	Fair      string `json:"fair"`
	FairHref  string `json:"fair_href"`
	Title     string `json:"title"`
	QueueID   string `json:"queue_id"`
}

// fanTab is one fan's browser tab on the waiting-room page, with what the
// page wrote to the console.
type fanTab struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	console []string
}

// newFanTab starts Chromium (skipping the test without one, unless in CI)
// and opens a tab that records the page's states and problems.
func newFanTab(t *testing.T, extra ...chromedp.ExecAllocatorOption) *fanTab {
	t.Helper()
	tab := startBrowser(t, extra...)
	for _, src := range []string{watchProblems, recordStates} {
		if _, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
			t.Fatal(err)
		}
	}
	f := &fanTab{t: t, ctx: tab}
	messages := chromedp.Console(tab)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			f.mu.Lock()
			f.console = append(f.console, m.String())
			f.mu.Unlock()
		}
	}()
	return f
}

func (f *fanTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	f.t.Helper()
	if err := chromedp.Do(f.ctx, actions...); err != nil {
		f.t.Fatalf("%s: %v", what, err)
	}
}

// now is what the page shows now.
func (f *fanTab) now() (shownState, error) {
	var st shownState
	s, err := chromedp.Run(f.ctx, chromedp.Evaluate[string](`window.__snap ? __snap() : ''`))
	if err == nil && s != "" {
		err = json.Unmarshal([]byte(s), &st)
	}
	return st, err
}

// waitFor waits until the page shows a state ok accepts, and returns it.
func (f *fanTab) waitFor(what string, within time.Duration, ok func(shownState) bool) shownState {
	f.t.Helper()
	start := time.Now()
	var st shownState
	var err error
	for deadline := start.Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st, err = f.now(); err == nil && ok(st) {
			f.t.Logf("%s: shown after %v", what, time.Since(start).Round(time.Millisecond))
			return st
		}
	}
	f.t.Fatalf("%s: not within %v (%v); the page shows %+v\nstates seen: %+v", what, within, err, st, f.seen())
	return st
}

// waitNote waits until the page's note (#cg-note) starts with prefix.
func (f *fanTab) waitNote(what, prefix string, within time.Duration) {
	f.t.Helper()
	var note string
	var err error
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		note, err = chromedp.Run(f.ctx, chromedp.Evaluate[string](`document.getElementById('cg-note').textContent`))
		if err == nil && strings.HasPrefix(note, prefix) {
			return
		}
	}
	f.t.Fatalf("%s: not within %v; the note says %q (%v)", what, within, note, err)
}

// seen is every state the page has shown since it was loaded.
func (f *fanTab) seen() []shownState {
	f.t.Helper()
	raw, err := chromedp.Run(f.ctx, chromedp.Evaluate[[]string](`window.__seen || []`))
	if err != nil {
		f.t.Fatal(err)
	}
	out := make([]shownState, len(raw))
	for i, s := range raw {
		if err := json.Unmarshal([]byte(s), &out[i]); err != nil {
			f.t.Fatal(err)
		}
	}
	return out
}

// noProblems fails the test on a script error, an unhandled rejection, a
// CSP violation or an error on the console, except for the failed requests
// the page expects (allowed: e.g. "409" while the queue is not open yet).
func (f *fanTab) noProblems(where string, allowed ...string) {
	f.t.Helper()
	problems, err := chromedp.Run(f.ctx, chromedp.Evaluate[[]string](`window.__problems || []`))
	if err != nil || len(problems) > 0 {
		f.t.Errorf("%s: %q %v", where, problems, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
next:
	for _, m := range f.console {
		if !strings.HasPrefix(m, "error") && !strings.HasPrefix(m, "exception") {
			continue
		}
		for _, a := range allowed {
			if strings.Contains(m, a) {
				continue next
			}
		}
		f.t.Errorf("%s: console: %s", where, m)
	}
}

// TestBrowserScheduledSale follows a fan through a random_prequeue room's
// schedule in a real Chromium, with the controller running the draw: a
// countdown to the queue opening, joining by itself when it opens, the
// pre-queue (with the draw's commitment and no position: the order of
// joining means nothing there), and after the sale starts the place the
// draw gave, with a link to check the draw.
func TestBrowserScheduledSale(t *testing.T) {
	tab := newFanTab(t)
	s := newStackWith(t, stackOptions{sockets: true, running: true})
	// Three seconds of pre-queue: the page joins within 2 s of the opening
	// (jitter), and must be drawn.
	opens, sale := time.Now().Add(2*time.Second), time.Now().Add(5*time.Second)
	s.putRoom("drop", fmt.Sprintf(`{"admit_per_minute": 0, "mode": "random_prequeue", "title": "Drop",
		"queue_opens_at": %q, "sale_starts_at": %q}`, opens.UTC().Format(time.RFC3339Nano), sale.UTC().Format(time.RFC3339Nano)))

	tab.do("open the page", chromedp.Navigate(s.srv.URL+"/rooms/drop"))
	notOpen := tab.waitFor("the countdown to the opening", 2*time.Second, func(st shownState) bool {
		return st.Status == "notopen" && strings.Contains(st.Countdown, "The line opens in 00:0")
	})
	if !regexp.MustCompile(`^The line opens in 00:0[0-2] \(at \S.*\)$`).MatchString(notOpen.Countdown) ||
		notOpen.Heading != "The line opens soon" || notOpen.Position != "" || notOpen.Fair != "" {
		t.Errorf("before the opening: %+v", notOpen)
	}

	// Others join the pre-queue as it opens.
	time.Sleep(time.Until(opens))
	for joined := 0; joined < 3; {
		switch r := s.do("POST", "/api/v1/rooms/drop/join", ""); {
		case r.status == http.StatusOK:
			joined++
		case r.status == http.StatusConflict && time.Since(opens) < time.Second:
			time.Sleep(20 * time.Millisecond) // the server's clock is not there yet
		default:
			t.Fatalf("join the pre-queue: %d %s", r.status, r.body)
		}
	}

	before, _ := s.fairness("drop")
	pre := tab.waitFor("the pre-queue", 3*time.Second, func(st shownState) bool { return st.Status == "prequeue" && st.Fair != "" })
	if !time.Now().Before(sale) {
		t.Fatal("the sale started before the pre-queue could be checked")
	}
	if pre.Heading != "You are in line before the sale" || !strings.Contains(pre.Help, "everyone here gets a random place in line, ahead of later arrivals") ||
		!regexp.MustCompile(`^The sale starts in 00:0[0-5]$`).MatchString(pre.Countdown) {
		t.Errorf("the pre-queue shows %+v", pre)
	}
	if want := "Draw commitment: " + before.Commitment[:12] + " — verify"; pre.Fair != want || pre.FairHref != "/api/v1/rooms/drop/fairness" {
		t.Errorf("the pre-queue shows the commitment %q (link %q), want %q", pre.Fair, pre.FairHref, want)
	}

	// The sale starts, the controller draws, and the socket brings the place.
	drawn := tab.waitFor("the drawn place", 10*time.Second, func(st shownState) bool {
		return st.Status == "waiting" && st.Position != "" && strings.HasPrefix(st.Fair, "Places")
	})
	after, _ := s.fairness("drop")
	seed, err := hex.DecodeString(after.Seed)
	if err != nil || after.DrawnAt == nil {
		t.Fatalf("fairness after the draw: %+v", after)
	}
	var parts struct {
		QueueIDs []string `json:"queue_ids"`
	}
	if err := json.Unmarshal(s.do("GET", "/api/v1/rooms/drop/fairness/participants", "").body, &parts); err != nil {
		t.Fatal(err)
	}
	place := slices.Index(queue.DrawOrder(seed, parts.QueueIDs), drawn.QueueID) + 1
	if len(parts.QueueIDs) != 4 || place == 0 || drawn.Position != strconv.Itoa(place) || drawn.Title != "#"+drawn.Position+" · Drop" {
		t.Errorf("after the draw the page shows place %s (title %q) for queue id %s; the draw of %v puts it at %d",
			drawn.Position, drawn.Title, drawn.QueueID, parts.QueueIDs, place)
	}
	if !regexp.MustCompile(`^Places were drawn at \S.* — verify$`).MatchString(drawn.Fair) || drawn.FairHref != "/api/v1/rooms/drop/fairness" {
		t.Errorf("after the draw: %q (link %q)", drawn.Fair, drawn.FairHref)
	}

	// In between, no position was ever shown in the pre-queue, and the
	// states came in order.
	order := map[string]int{"joining": 0, "notopen": 1, "prequeue": 2, "waiting": 3}
	last := 0
	for _, st := range tab.seen() {
		if st.Status == "prequeue" && (st.Position != "" || strings.Contains(st.Title, "#")) {
			t.Errorf("the pre-queue showed a position: %+v", st)
		}
		if o, ok := order[st.Status]; !ok || o < last {
			t.Errorf("state %q after %d", st.Status, last)
		} else {
			last = o
		}
	}
	tab.noProblems("scheduled sale", "409")
}

// TestBrowserTicketsLeft: a fan waiting in a room with an event behind it
// sees how many tickets are left, live; that all are held when they are;
// and, when the last ones are paid for and the room closes by itself, that
// the sale is sold out (and still after a reload).
func TestBrowserTicketsLeft(t *testing.T) {
	tab := newFanTab(t)
	s := newStackWith(t, stackOptions{booking: true, sockets: true, running: true})
	ctx := context.Background()
	// Two buyers get in on arrival; then the line stands still.
	s.putRoom("launch", `{"passthrough": true, "title": "Launch"}`)
	buyers := []string{s.fan("launch"), s.fan("launch")}
	if r := s.admin("PATCH", "/admin/v1/rooms/launch", `{"passthrough": false, "admit_per_minute": 0}`); r.status != http.StatusOK {
		t.Fatalf("patch room: %d %s", r.status, r.body)
	}
	if r := s.admin("PUT", "/admin/v1/events/gig", `{"room": "launch", "hold_seconds": 600,
		"ticket_types": [{"id": "ga", "name": "General", "capacity": 3, "price_minor": 150000, "currency": "INR", "per_order_limit": 4}]}`); r.status != http.StatusCreated {
		t.Fatalf("put event: %d %s", r.status, r.body)
	}
	// What is left is counted by the booking core's sweep; run it now
	// rather than wait for its period.
	sweep := func() {
		t.Helper()
		if err := s.core.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sweep()
	hold := func(buyer string, n int) string {
		t.Helper()
		r := s.as(buyer, "POST", "/api/v1/events/gig/holds", fmt.Sprintf(`{"ticket_type":"ga","quantity":%d}`, n))
		if r.status != http.StatusCreated {
			t.Fatalf("hold %d: %d %s", n, r.status, r.body)
		}
		sweep()
		return r.json(t)["hold_id"].(string)
	}

	tab.do("open the page", chromedp.Navigate(s.srv.URL+"/rooms/launch"))
	tab.waitFor("3 tickets left", 5*time.Second, func(st shownState) bool {
		return st.Status == "waiting" && st.Position == "1" && st.Tickets == "3 tickets left"
	})
	holds := []string{hold(buyers[0], 2)}
	tab.waitFor("1 ticket left", 5*time.Second, func(st shownState) bool { return st.Tickets == "1 ticket left" })
	holds = append(holds, hold(buyers[1], 1))
	const allHeld = "All tickets are held right now — some may come back if not paid for."
	tab.waitFor("all held", 5*time.Second, func(st shownState) bool { return st.Tickets == allHeld && st.Status == "waiting" })
	if said, err := chromedp.Run(tab.ctx, chromedp.Evaluate[string](`document.getElementById('cg-live').textContent`)); err != nil || said != allHeld {
		t.Errorf("screen readers were told %q, want %q (%v)", said, allHeld, err)
	}

	// Both pay: nothing is left, the room closes itself, the fan is told.
	for i, id := range holds {
		r := s.as(buyers[i], "POST", "/api/v1/holds/"+id+"/checkout", `{"provider":"sandbox"}`)
		if r.status != http.StatusCreated {
			t.Fatalf("checkout: %d %s", r.status, r.body)
		}
		if _, err := s.sandbox.Decide(ctx, r.json(t)["payment"].(map[string]any)["id"].(string), true); err != nil {
			t.Fatal(err)
		}
	}
	sweep()
	soldOut := func(st shownState) bool {
		return st.Status == "sold_out" && st.Heading == "Sold out — every ticket has been sold" && st.Tickets == "" && st.Position == ""
	}
	tab.waitFor("sold out", 5*time.Second, soldOut)
	if room := s.admin("GET", "/admin/v1/rooms/launch", "").json(t); room["closed"] != true || room["closed_reason"] != "sold_out" {
		t.Errorf("the room after the sell-out: %v", room)
	}
	// A fan arriving now (or reloading) is told the same by the join.
	tab.do("reload", chromedp.Reload())
	tab.waitFor("sold out after a reload", 5*time.Second, soldOut)
	if seen := tab.seen(); seen[0].Status != "joining" || slices.ContainsFunc(seen, func(st shownState) bool { return st.Status == "waiting" }) {
		t.Errorf("after the reload the page showed %+v", seen)
	}
	tab.noProblems("tickets left")
}
