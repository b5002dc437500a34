package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue"
)

// TestBrowserNotifyMe: a fan leaves an email address on the page and is
// told to confirm it; the confirmation's link (#resume=<queue token>&
// confirm=<code>) brings a browser that has lost its cookie back to the
// same place and confirms the contact; a browser that holds another place
// is asked which to keep.
func TestBrowserNotifyMe(t *testing.T) {
	tab := newFanTab(t)
	s := newStackWith(t, stackOptions{booking: true, sockets: true, running: true})
	s.putRoom("launch", `{"admit_per_minute": 0, "title": "Launch"}`)
	s.do("POST", "/api/v1/rooms/launch/join", "") // someone ahead
	tab.do("open the page", chromedp.Navigate(s.srv.URL+"/rooms/launch"))
	first := tab.waitFor("waiting", 5*time.Second, func(st shownState) bool { return st.Status == "waiting" && st.Position == "2" })

	tab.do("leave an email", chromedp.SendKeys(chromedp.ID("cg-contact"), "fan@example.com"), chromedp.Click(chromedp.CSS("#cg-notify button")))
	tab.waitNote("asked to confirm", "We sent a message to fan@example.com: open the link in it to confirm.", 5*time.Second)
	ws, err := s.store.NotifyWaiters(context.Background(), "launch")
	if err != nil || len(ws) != 1 || ws[0].ID != first.QueueID || ws[0].Email != "fan@example.com" || ws[0].Stage != queue.NotifyUnconfirmed {
		t.Fatalf("stored %+v %v, want the fan's place %s, unconfirmed", ws, err, first.QueueID)
	}
	sent, err := s.redis.Client(t).XRange(context.Background(), notify.Named("waiters.launch").Outbox(), "-", "+").Result()
	if err != nil || len(sent) != 1 {
		t.Fatalf("sent %v %v, want the confirmation", sent, err)
	}
	link := sent[0].Values["link"].(string)

	// The fan's phone lost the cookie; the confirmation's link brings them
	// back to the same place, confirms the contact, and leaves the address
	// bar clean.
	if _, err := chromedp.Call(tab.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatalf("forget the cookies: %v", err)
	}
	tab.do("follow the link", chromedp.Navigate("about:blank"), chromedp.Navigate(s.srv.URL+link))
	back := tab.waitFor("back in line", 5*time.Second, func(st shownState) bool { return st.Status == "waiting" && st.Position != "" })
	if back.QueueID != first.QueueID || back.Position != "2" {
		t.Fatalf("after the link: queue id %q at %q, want %q at 2", back.QueueID, back.Position, first.QueueID)
	}
	tab.waitNote("confirmed", "We will write to you when your turn is near.", 5*time.Second)
	if ws, _ := s.store.NotifyWaiters(context.Background(), "launch"); len(ws) != 1 || ws[0].Stage != "" {
		t.Fatalf("after the link: %+v, want the contact confirmed", ws)
	}
	if u, err := chromedp.Run(tab.ctx, chromedp.Evaluate[string](`location.href`)); err != nil || strings.Contains(u, "resume") || strings.Contains(u, "confirm") {
		t.Errorf("the address bar still has the token or the code: %q %v", u, err)
	}
	// Without the link, a browser without the cookie is a new fan: the
	// link, not luck, brought the place back.
	if _, err := chromedp.Call(tab.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	tab.do("open the page afresh", chromedp.Navigate(s.srv.URL+"/rooms/launch"))
	if st := tab.waitFor("a new place", 5*time.Second, func(st shownState) bool { return st.Status == "waiting" && st.Position != "" }); st.QueueID == first.QueueID || st.Position != "3" {
		t.Fatalf("without the link: %+v", st)
	}

	// This browser now waits at place 3; a link for place 2 must not take
	// its place silently. The fan is asked, picks the link's place, and
	// the browser's own is given up.
	mine := s.do("GET", "/api/v1/rooms/launch/status", "", "Authorization", "Bearer "+s.keys.QueueToken("launch", first.QueueID))
	if mine.status != 200 {
		t.Fatalf("first place: %d %s", mine.status, mine.body)
	}
	tab.do("follow the link again", chromedp.Navigate("about:blank"), chromedp.Navigate(s.srv.URL+"/rooms/launch#resume="+s.keys.QueueToken("launch", first.QueueID)))
	tab.do("see the choice", chromedp.WaitVisible(chromedp.ID("cg-choose")))
	text, err := chromedp.Run(tab.ctx, chromedp.Evaluate[string](`document.getElementById('cg-choose-text').textContent`))
	if err != nil || !strings.Contains(text, "place 3") || !strings.Contains(text, "place 2") {
		t.Fatalf("the choice says %q (%v)", text, err)
	}
	if st, _ := tab.now(); st.QueueID == first.QueueID {
		t.Fatalf("the link's place was taken before the fan chose: %+v", st)
	}
	tab.do("keep the link's place", chromedp.Click(chromedp.ID("cg-keep-bearer")))
	chosen := tab.waitFor("the link's place", 5*time.Second, func(st shownState) bool { return st.Status == "waiting" && st.QueueID == first.QueueID })
	if chosen.Position != "2" {
		t.Fatalf("the link's place shows at %q, want 2", chosen.Position)
	}
	tab.noProblems("notify me", "409")
}

// TestBrowserStoreDownBeforeAPlace: while Redis cannot be reached, a fan
// who never got a place is told the page keeps trying, not that a place is
// kept.
func TestBrowserStoreDownBeforeAPlace(t *testing.T) {
	tab := newFanTab(t)
	s := newStackWith(t, stackOptions{sockets: true, running: true})
	s.putRoom("launch", `{"admit_per_minute": 0, "title": "Launch"}`)
	time.Sleep(200 * time.Millisecond) // the room reaches the controller's cache
	s.redis.Stop()
	tab.do("open the page", chromedp.Navigate(s.srv.URL+"/rooms/launch"))
	deadline := time.Now().Add(15 * time.Second)
	for {
		note, err := chromedp.Run(tab.ctx, chromedp.Evaluate[string](`document.getElementById('cg-note').hidden ? '' : document.getElementById('cg-note').textContent`))
		if err == nil && note != "" {
			if note != "Connection problem. Retrying to get you a place in line…" {
				t.Fatalf("the note says %q", note)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no note while the store is down (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
