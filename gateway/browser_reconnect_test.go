package gateway_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserReconnectAndHold covers two things a fan reads that no other
// browser test did: how long tickets are held once in (beside the session
// length, in a room an event sells through), and the live marker while the
// socket is lost: "Reconnecting…" as soon as the connection drops, and
// "Live updates" again once a new socket is up, with the same place. The
// page reaches the gateway through a TCP relay the test can cut.
func TestBrowserReconnectAndHold(t *testing.T) {
	browser := startBrowser(t)
	dir := screenshotDir(t)
	en := table(t, "pages/i18n", "en")
	s := newStackWith(t, stackOptions{booking: true, sockets: true})
	relay := newRelay(t, s.srv.Listener.Addr().String())

	for _, size := range screenSizes {
		t.Run(size.name, func(t *testing.T) {
			room := "hold-" + size.name
			s.putRoom(room, `{"admit_per_minute": 1, "session_seconds": 900, "title": "The Final"}`)
			if r := s.admin("PUT", "/admin/v1/events/final-"+size.name, strings.Replace(eventDoc, `"launch"`, `"`+room+`"`, 1)); r.status/100 != 2 {
				t.Fatalf("event: %d %s", r.status, r.body)
			}
			if err := s.core.Sweep(context.Background()); err != nil { // as the booking core's loop does: the page learns the room's event
				t.Fatal(err)
			}
			s.do("POST", "/api/v1/rooms/"+room+"/join", "") // one ahead
			tab, b := sizedTab(t, browser, size.width, size.height, size.phone)

			b.run("open the page", chromedp.Navigate("http://"+relay.addr+"/rooms/"+room))
			b.until("waiting, live", `document.body.dataset.status === 'waiting' && document.body.dataset.transport === 'ws'`)
			want := strings.ReplaceAll(en["session_length"], "{t}", "15 min") + " " + strings.ReplaceAll(en["hold_length"], "{t}", "10 min")
			if got := b.text("cg-session"); got != want {
				t.Errorf("session and hold: %q, want %q", got, want)
			}
			place := b.text("cg-position")

			// The marker's every change, as the fan saw it: a reconnect can
			// take well under the 50 ms between two looks.
			if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.__marks = [];
				new MutationObserver(function () { __marks.push(document.body.dataset.transport + '|' + document.getElementById('cg-transport').textContent); })
					.observe(document.body, {attributes: true, attributeFilter: ['data-transport']}); true`)); err != nil {
				t.Fatal(err)
			}
			relay.cut()
			b.until("reconnected", `__marks.length >= 2 && __marks[__marks.length - 1] === 'ws|`+en["via_ws"]+`'`)
			if marks, _ := chromedp.Run(tab, chromedp.Evaluate[[]string](`__marks`)); marks[0] != "reconnecting|"+en["via_reconnecting"] {
				t.Errorf("the marker went %q, want %q first", marks, "reconnecting|"+en["via_reconnecting"])
			}
			shot(t, tab, dir, "reconnect-"+size.name+"-live-again")
			if got := b.text("cg-position"); got != place {
				t.Errorf("after reconnecting the place is %q, not %q", got, place)
			}
			if problems, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`window.__problems`)); err != nil || len(problems) > 0 {
				t.Errorf("script errors or CSP violations: %q %v", problems, err)
			}
		})
	}
}

// relay forwards TCP connections to a server, and can cut them all at once
// (a phone's network dropping) while it keeps accepting new ones.
type relay struct {
	addr  string
	mu    sync.Mutex
	conns []net.Conn
}

func newRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{addr: ln.Addr().String()}
	t.Cleanup(func() {
		ln.Close()
		r.cut()
	})
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, in, out)
			r.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	return r
}

// cut closes every connection relayed so far.
func (r *relay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}
